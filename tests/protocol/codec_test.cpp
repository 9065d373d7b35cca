// The JSON wire codec (src/protocol/codec.hpp) against docs/protocol.md, "Wire format": every message type round
// trips with its optional fields present and absent, a few frames are pinned byte for byte, binary payloads travel
// as base64, and hostile input (each rejection rule, random bytes, truncations and mutations of valid frames,
// nesting bombs) always yields a DecodeError with the right code — never an exception, never a crash.
#include "protocol/codec.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/messages.hpp"
#include "relink/error.hpp"

namespace relink::proto {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// ------------------------------------------------------------------------------------------- samples

/// Every client message type twice: once with every optional field present, once with all of them absent.
std::vector<ClientMessage> client_samples() {
    Login full;
    full.request_id = 7;
    full.app_id = "app";
    full.user_id = "alice";
    full.token = "tok.en";
    full.instance_id = "3f9c0a";
    full.profile = Profile::rtc_web;
    full.resume_token = "resume-1";
    full.last_peer_seen = StreamPosition{3, 41};
    full.channels = {ChannelResume{"lobby", StreamPosition{2, 9}, {"cam", "mic"}}, ChannelResume{"quiet", {}, {}}};
    full.attributes = {{"mood", "happy"}, {"", ""}, {"emoji", "\xF0\x9F\x99\x82"}};
    full.timings = TimingsRequest{250ms, 5s, 0s, 0};
    full.presence_batches = true;

    Login some_timings;  // each timing is optional on its own
    some_timings.request_id = 20;
    some_timings.timings.presence_timeout = 7s;

    Login minimal;
    minimal.request_id = 0;
    minimal.profile = Profile::room;
    Login empty_resume = minimal;
    empty_resume.resume_token = "";  // present but empty stays distinct from absent

    SendMessage peer{std::numeric_limits<RequestId>::max(), "m-1", "bob", std::nullopt, "hi \"bob\"\n", true};
    SendMessage channel{2, "m-2", std::nullopt, "lobby", "", false};
    SendMessage binary{3, "m-3", "bob", std::nullopt, "\x00\xFF\xC0\x80 binary"s, false};
    SendMessage both{4, "m-4", "bob", "lobby", "x", false};  // the codec carries it; the hub refuses it

    return {
        full,
        minimal,
        empty_resume,
        some_timings,
        Login{9, 1, "a", "u", "t", "i-1", Profile::rtm, {}, {}, {}, {}, {}, false, std::nullopt},
        Login{10, 1, "a", "u", "t", "", Profile::rtc, {}, {}, {}, {}, {}, true, std::nullopt},
        Login{20, 1, "a", "u", "t", "i-2", Profile::rtm, {}, {}, {}, {}, {}, true, "AQFhAXUBcwACAmNoAA"},
        Logout{11},
        Join{12, "lobby"},
        Leave{13, "lobby"},
        Publish{14, "lobby", "cam", false},
        Publish{15, "lobby", "cam", true},
        peer,
        channel,
        binary,
        both,
        SetAttributes{16, {{"a", "1"}, {"b", ""}}},
        SetAttributes{17, {}},
        GetAttributes{18, "bob"},
        RenewToken{19, "fresh"},
        Ping{},
        RecoveryKey{21},
    };
}

ChannelSnapshot full_snapshot() {
    ChannelSnapshot snapshot;
    snapshot.channel = "lobby";
    snapshot.error = make_error_code(errc::not_joined);
    snapshot.members = {Member{"bob", {"cam"}}, Member{"carol", {}}};
    snapshot.position = StreamPosition{5, 77};
    return snapshot;
}

/// Every server message type twice: once with every optional field present, once with all of them absent.
std::vector<ServerMessage> server_samples() {
    LoginOk full;
    full.request_id = 1;
    full.resume_token = "r";
    full.resumed = true;
    full.negotiated = Negotiated{1s, 30s, 30s, 32};
    full.token_ttl = 3600s;
    full.channels = {full_snapshot(), ChannelSnapshot{"empty", {}, {}, {}}};
    full.backfilled = 12;
    full.dropped = 3;
    full.peer_position = StreamPosition{2, 8};

    using Change = PresenceChange::Kind;
    Presence batch{
        "lobby",
        {PresenceChange{Change::joined, "bob", {}, {}}, PresenceChange{Change::stream_added, "bob", {}, "cam"},
         PresenceChange{Change::stream_removed, "bob", {}, "cam"},
         PresenceChange{Change::left, "bob", MemberLeftCause::dropped, {}},
         PresenceChange{Change::left, "carol", MemberLeftCause::kicked, {}},
         PresenceChange{Change::joined, "bob", {}, {}}}};

    Message channel_message{"bob", "lobby", "m-1", "hello", StreamPosition{1, 2}, true};
    Message peer_message{"bob", std::nullopt, "m-2", "", StreamPosition{0, 0}, false};
    Message binary_message{"bob", std::nullopt, "m-3", "\xFE\xFF\x00"s, StreamPosition{1, 3}, false};

    return {
        full,
        LoginOk{},
        Reply{2, {}},
        Reply{3, make_error_code(errc::peer_offline)},
        JoinOk{4, full_snapshot()},
        JoinOk{5, ChannelSnapshot{"c", {}, {}, StreamPosition{}}},
        AttributesReply{6, "bob", {{"k", "v"}}},
        AttributesReply{7, "bob", {}},
        RenewOk{8, 90s},
        RenewOk{9, 0s},
        MemberJoined{"lobby", "bob"},
        MemberLeft{"lobby", "bob", MemberLeftCause::quit},
        MemberLeft{"lobby", "bob", MemberLeftCause::dropped},
        MemberLeft{"lobby", "bob", MemberLeftCause::kicked},
        StreamChanged{"lobby", "bob", "cam", true},
        StreamChanged{"lobby", "bob", "cam", false},
        batch,
        Presence{"lobby", {}},
        channel_message,
        peer_message,
        binary_message,
        Pong{},
        Close{CloseReason::remote_login, 0s},
        Close{CloseReason::banned, 0s},
        Close{CloseReason::kicked, 0s},
        Close{CloseReason::token_expired, 0s},
        Close{CloseReason::keep_alive_timeout, 0s},
        Close{CloseReason::draining, 5s},
        Close{CloseReason::invalid, 0s},
        RecoveryKeyOk{10, "0123456789abcdef0123456789abcdef"},
        RecoveryKeyOk{11, ""},
    };
}

// ------------------------------------------------------------------------------------------- helpers

/// Decodes a frame expected to be refused; the test fails if it is accepted.
DecodeError client_error(std::string_view frame) {
    const auto decoded = decode_client(frame);
    EXPECT_FALSE(decoded) << "accepted: " << frame.substr(0, 200);
    return decoded.error;
}

DecodeError server_error(std::string_view frame) {
    const auto decoded = decode_server(frame);
    EXPECT_FALSE(decoded) << "accepted: " << frame.substr(0, 200);
    return decoded.error;
}

const std::error_code kProtocolError = make_error_code(errc::protocol_error);
const std::error_code kTooLarge = make_error_code(errc::payload_too_large);

// ------------------------------------------------------------------------------------------- round trips

TEST(CodecRoundTrip, EveryClientMessage) {
    for (const ClientMessage& message : client_samples()) {
        const std::string frame = encode(message);
        const auto decoded = decode_client(frame);
        ASSERT_TRUE(decoded) << frame << " → " << decoded.error.detail;
        EXPECT_TRUE(*decoded.message == message) << frame;
        EXPECT_NE(frame.find(R"("type":")" + std::string(type_name(message)) + '"'), std::string::npos) << frame;
    }
}

TEST(CodecRoundTrip, EveryServerMessage) {
    for (const ServerMessage& message : server_samples()) {
        const std::string frame = encode(message);
        const auto decoded = decode_server(frame);
        ASSERT_TRUE(decoded) << frame << " → " << decoded.error.detail;
        EXPECT_TRUE(*decoded.message == message) << frame;
        EXPECT_NE(frame.find(R"("type":")" + std::string(type_name(message)) + '"'), std::string::npos) << frame;
    }
}

TEST(CodecRoundTrip, TypeNamesAreTheWireNames) {
    EXPECT_EQ(type_name(ClientMessage{Login{}}), "login");
    EXPECT_EQ(type_name(ClientMessage{Logout{}}), "logout");
    EXPECT_EQ(type_name(ClientMessage{Join{}}), "join");
    EXPECT_EQ(type_name(ClientMessage{Leave{}}), "leave");
    EXPECT_EQ(type_name(ClientMessage{Publish{}}), "publish");
    EXPECT_EQ(type_name(ClientMessage{SendMessage{}}), "send");
    EXPECT_EQ(type_name(ClientMessage{SetAttributes{}}), "set_attributes");
    EXPECT_EQ(type_name(ClientMessage{GetAttributes{}}), "get_attributes");
    EXPECT_EQ(type_name(ClientMessage{RenewToken{}}), "renew_token");
    EXPECT_EQ(type_name(ClientMessage{Ping{}}), "ping");
    EXPECT_EQ(type_name(ClientMessage{RecoveryKey{}}), "recovery_key");
    EXPECT_EQ(type_name(ServerMessage{RecoveryKeyOk{}}), "recovery_key_ok");
    EXPECT_EQ(type_name(ServerMessage{LoginOk{}}), "login_ok");
    EXPECT_EQ(type_name(ServerMessage{Reply{}}), "reply");
    EXPECT_EQ(type_name(ServerMessage{JoinOk{}}), "join_ok");
    EXPECT_EQ(type_name(ServerMessage{AttributesReply{}}), "attributes");
    EXPECT_EQ(type_name(ServerMessage{RenewOk{}}), "renew_ok");
    EXPECT_EQ(type_name(ServerMessage{MemberJoined{}}), "member_joined");
    EXPECT_EQ(type_name(ServerMessage{MemberLeft{}}), "member_left");
    EXPECT_EQ(type_name(ServerMessage{StreamChanged{}}), "stream_changed");
    EXPECT_EQ(type_name(ServerMessage{Message{}}), "message");
    EXPECT_EQ(type_name(ServerMessage{Pong{}}), "pong");
    EXPECT_EQ(type_name(ServerMessage{Close{}}), "close");
    EXPECT_EQ(type_name(ServerMessage{Presence{}}), "presence");
}

TEST(CodecRoundTrip, BinaryPayloadsOfEveryByteValue) {
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) {
        all_bytes += static_cast<char>(b);
    }
    // Lengths 0..5 cover every base64 padding case; the last ones are invalid UTF-8 of every kind.
    const std::vector<std::string> payloads{
        all_bytes,   "\xFF"s,         "\xFF\xFE"s,         "\xFF\xFE\xFD"s, "\xFF\xFE\xFD\xFC"s, "\x80"s,
        "\xC0\x80"s, "\xED\xA0\x80"s, "\xF4\x90\x80\x80"s, "\xE2\x82"s,     "ok\xF0\x9F\x99"s,
    };
    for (const std::string& payload : payloads) {
        const SendMessage send{1, "m", "bob", std::nullopt, payload, false};
        const std::string frame = encode(ClientMessage{send});
        const auto decoded = decode_client(frame);
        ASSERT_TRUE(decoded) << frame << " → " << decoded.error.detail;
        EXPECT_EQ(std::get<SendMessage>(*decoded.message).payload, payload);
        EXPECT_EQ(frame.find("\"payload\":"), std::string::npos) << frame;
        EXPECT_NE(frame.find("\"payload_b64\":"), std::string::npos) << frame;
    }
}

TEST(CodecRoundTrip, RandomPayloadsRoundTripExactly) {
    // Bytes drawn mostly from UTF-8's lead and continuation ranges, so that text, near-text and binary all occur:
    // whatever the codec sends as text must be text nlohmann's serializer keeps byte for byte.
    const std::string alphabet =
        "aZ\"\\\x01\x7F\x80\x8F\x90\x9F\xA0\xBF\xC0\xC1\xC2\xDF\xE0\xE1\xEC\xED\xEE\xEF"
        "\xF0\xF1\xF3\xF4\xF5\xFF"s;
    std::mt19937 rng(99);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<std::size_t> length(0, 12);
    int as_text = 0;
    for (int i = 0; i < 2'000; ++i) {
        std::string payload(length(rng), '\0');
        for (char& c : payload) {
            c = alphabet[pick(rng)];
        }
        const std::string frame = encode(ServerMessage{Message{"a", "c", "m", payload, {}, false}});
        as_text += frame.find("\"payload\":") != std::string::npos ? 1 : 0;
        const auto decoded = decode_server(frame);
        ASSERT_TRUE(decoded) << decoded.error.detail;
        ASSERT_EQ(std::get<Message>(*decoded.message).payload, payload) << frame;
    }
    EXPECT_GT(as_text, 100);  // both encodings were exercised
    EXPECT_LT(as_text, 1'800);
}

TEST(CodecRoundTrip, TextPayloadsStayText) {
    for (const std::string& payload : {"plain"s, "\xC3\xA9t\xC3\xA9"s, "\xF0\x9F\x99\x82"s, "\xEF\xBF\xBF"s,
                                       "\xF4\x8F\xBF\xBF"s, "tab\tquote\"backslash\\"s, std::string(1, '\0')}) {
        const std::string frame = encode(ServerMessage{Message{"a", std::nullopt, "m", payload, {}, false}});
        EXPECT_NE(frame.find("\"payload\":"), std::string::npos) << frame;
        EXPECT_EQ(frame.find("payload_b64"), std::string::npos) << frame;
        const auto decoded = decode_server(frame);
        ASSERT_TRUE(decoded) << decoded.error.detail;
        EXPECT_EQ(std::get<Message>(*decoded.message).payload, payload);
    }
}

TEST(CodecRoundTrip, LargestPayloadFitsTheFrameLimitEvenWhenEveryByteIsEscaped) {
    // A control character is escaped as \u00XX: six bytes on the wire for one byte of payload.
    const SendMessage send{1, "m", std::nullopt, "lobby", std::string(kMaxPayloadBytes, '\x01'), false};
    const std::string frame = encode(ClientMessage{send});
    EXPECT_LE(frame.size(), kMaxFrameBytes);
    const auto decoded = decode_client(frame);
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_EQ(std::get<SendMessage>(*decoded.message).payload.size(), kMaxPayloadBytes);

    const SendMessage binary{1, "m", std::nullopt, "lobby", std::string(kMaxPayloadBytes, '\xFF'), false};
    EXPECT_TRUE(decode_client(encode(ClientMessage{binary})));
}

TEST(CodecRoundTrip, DurationsGoOutAsWholeMillisecondsRoundedUp) {
    const auto ttl = [](Duration d) {
        const auto decoded = decode_server(encode(ServerMessage{RenewOk{1, d}}));
        EXPECT_TRUE(decoded) << decoded.error.detail;
        return decoded ? std::get<RenewOk>(*decoded.message).token_ttl : Duration{-1};
    };
    EXPECT_EQ(ttl(0ns), 0ms);
    EXPECT_EQ(ttl(1ns), 1ms);  // a positive duration never becomes 0 ("no expiry")
    EXPECT_EQ(ttl(1500us), 2ms);
    EXPECT_EQ(ttl(2ms), 2ms);
    EXPECT_EQ(ttl(-5s), 0ms);
    EXPECT_EQ(ttl(std::chrono::hours(24 * 365)), std::chrono::hours(24 * 365));
}

TEST(CodecRoundTrip, ErrorsOfAnotherCategoryGoOutAsRejectedByServer) {
    const auto decoded = decode_server(encode(ServerMessage{Reply{1, std::make_error_code(std::errc::io_error)}}));
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_EQ(std::get<Reply>(*decoded.message).error, make_error_code(errc::rejected_by_server));

    const auto unknown = decode_server(encode(ServerMessage{Reply{1, make_error_code(static_cast<errc>(999))}}));
    ASSERT_TRUE(unknown);
    EXPECT_EQ(std::get<Reply>(*unknown.message).error, make_error_code(errc::rejected_by_server));
}

TEST(CodecRoundTrip, EveryRelinkErrorCode) {
    for (int value = 1; value < 100; ++value) {
        const std::error_code code = make_error_code(static_cast<errc>(value));
        if (std::string_view(error_name(code)) == "UNKNOWN") {
            continue;
        }
        const std::string frame = encode(ServerMessage{Reply{1, code}});
        EXPECT_NE(frame.find("\"name\":\""s + error_name(code) + "\""), std::string::npos) << frame;
        const auto decoded = decode_server(frame);
        ASSERT_TRUE(decoded) << frame;
        EXPECT_EQ(std::get<Reply>(*decoded.message).error, code);
    }
}

TEST(CodecRoundTrip, InvalidUtf8OutsidePayloadsIsReplacedNotThrown) {
    const std::string frame = encode(ClientMessage{Join{1,
                                                        "lob\xFF"
                                                        "by"}});
    const auto decoded = decode_client(frame);
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_EQ(std::get<Join>(*decoded.message).channel,
              "lob\xEF\xBF\xBD"
              "by");
}

// ------------------------------------------------------------------------------------------- pinned frames

TEST(CodecFormat, PinnedClientFrames) {
    EXPECT_EQ(encode(ClientMessage{Join{42, "lobby"}}), R"({"v":1,"type":"join","id":42,"channel":"lobby"})");
    EXPECT_EQ(encode(ClientMessage{Ping{}}), R"({"v":1,"type":"ping"})");
    EXPECT_EQ(encode(ClientMessage{SendMessage{5, "m-1", "bob", std::nullopt, "hi", true}}),
              R"({"v":1,"type":"send","id":5,"message_id":"m-1","to_user":"bob","payload":"hi","store_offline":true})");
    EXPECT_EQ(encode(ClientMessage{SendMessage{6, "m-2", std::nullopt, "lobby", "\x00\xFF"s, false}}),
              R"({"v":1,"type":"send","id":6,"message_id":"m-2","to_channel":"lobby","payload_b64":"AP8="})");

    Login login;
    login.request_id = 1;
    login.app_id = "demo";
    login.user_id = "alice";
    login.token = "T";
    login.instance_id = "I";
    login.profile = Profile::rtc_web;
    login.resume_token = "R";
    login.last_peer_seen = StreamPosition{1, 4};
    login.channels = {ChannelResume{"lobby", StreamPosition{1, 17}, {"cam"}}};
    login.attributes = {{"mood", "ok"}};
    EXPECT_EQ(encode(ClientMessage{login}),
              R"({"v":1,"type":"login","id":1,"app_id":"demo","user_id":"alice","token":"T","instance_id":"I",)"
              R"("profile":"rtc-web",)"
              R"("resume_token":"R","last_peer_seen":{"epoch":1,"seq":4},)"
              R"("channels":[{"channel":"lobby","last_seen":{"epoch":1,"seq":17},"streams":["cam"]}],)"
              R"("attributes":{"mood":"ok"}})");

    login.timings = TimingsRequest{1s, 5s, 30s, 32};
    EXPECT_EQ(encode(ClientMessage{login}),
              R"({"v":1,"type":"login","id":1,"app_id":"demo","user_id":"alice","token":"T","instance_id":"I",)"
              R"("profile":"rtc-web",)"
              R"("resume_token":"R","last_peer_seen":{"epoch":1,"seq":4},)"
              R"("channels":[{"channel":"lobby","last_seen":{"epoch":1,"seq":17},"streams":["cam"]}],)"
              R"("attributes":{"mood":"ok"},)"
              R"("timings":{"heartbeat_interval_ms":1000,"presence_timeout_ms":5000,"backfill_window_ms":30000,)"
              R"("backfill_count":32}})");
}

TEST(CodecFormat, RecoveryKeyFramesAndTheLoginsRecoveryField) {
    EXPECT_EQ(encode(ClientMessage{RecoveryKey{4}}), R"({"v":1,"type":"recovery_key","id":4})");
    EXPECT_EQ(encode(ServerMessage{RecoveryKeyOk{4, "s3cr3t"}}),
              R"({"v":1,"type":"recovery_key_ok","id":4,"key":"s3cr3t"})");
    Login login;
    login.request_id = 1;
    login.app_id = "a";
    login.user_id = "u";
    login.token = "t";
    login.instance_id = "i";
    login.recovery = "KEY";
    EXPECT_EQ(encode(ClientMessage{login}),
              R"({"v":1,"type":"login","id":1,"app_id":"a","user_id":"u","token":"t","instance_id":"i",)"
              R"("profile":"rtm","recovery":"KEY"})");
    // A login without it (any older client) has none.
    const auto decoded = decode_client(
        R"({"v":1,"type":"login","id":3,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm"})");
    ASSERT_TRUE(decoded);
    EXPECT_FALSE(std::get<Login>(*decoded.message).recovery);
    // The key must be a string; the reply must carry one.
    EXPECT_EQ(client_error(R"({"v":1,"type":"login","id":3,"app_id":"a","user_id":"u","token":"t","instance_id":"i",)"
                           R"("profile":"rtm","recovery":5})")
                  .request_id,
              3U);
    EXPECT_EQ(server_error(R"({"v":1,"type":"recovery_key_ok","id":4})").code, kProtocolError);
}

TEST(CodecFormat, LoginWithoutTimingsAsksForNone) {
    // A client older than timing agreement sends no "timings": the server's defaults apply (docs/protocol.md).
    const auto decoded = decode_client(
        R"({"v":1,"type":"login","id":3,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm"})");
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_TRUE(std::get<Login>(*decoded.message).timings.empty());
    const auto empty_object = decode_client(R"({"v":1,"type":"login","id":3,"app_id":"a","user_id":"u","token":"t",)"
                                            R"("instance_id":"i","profile":"rtm","timings":{}})");
    ASSERT_TRUE(empty_object) << empty_object.error.detail;
    EXPECT_TRUE(std::get<Login>(*empty_object.message).timings.empty());
}

TEST(CodecFormat, LoginAsksForPresenceBatchesWithAFlagAnOlderClientLeavesOut) {
    Login login;
    login.request_id = 2;
    login.presence_batches = true;
    const std::string frame = encode(ClientMessage{login});
    EXPECT_NE(frame.find(R"(,"presence_batches":true})"), std::string::npos) << frame;
    login.presence_batches = false;
    EXPECT_EQ(encode(ClientMessage{login}).find("presence_batches"), std::string::npos);
    const auto older = decode_client(
        R"({"v":1,"type":"login","id":3,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm"})");
    ASSERT_TRUE(older) << older.error.detail;
    EXPECT_FALSE(std::get<Login>(*older.message).presence_batches);
}

TEST(CodecFormat, PresenceSingleFramesAndBatchesSayTheSame) {
    // presence_change() and single_presence() translate between the two forms without loss, for every kind.
    for (const ServerMessage& single :
         {ServerMessage{MemberJoined{"lobby", "bob"}}, ServerMessage{MemberLeft{"lobby", "bob", MemberLeftCause::quit}},
          ServerMessage{MemberLeft{"lobby", "bob", MemberLeftCause::kicked}},
          ServerMessage{StreamChanged{"lobby", "bob", "cam", true}},
          ServerMessage{StreamChanged{"lobby", "bob", "cam", false}}}) {
        const std::optional<PresenceChange> change = presence_change(single);
        ASSERT_TRUE(change) << encode(single);
        EXPECT_TRUE(single_presence("lobby", *change) == single) << encode(single);
    }
    EXPECT_FALSE(presence_change(ServerMessage{Pong{}}));
    EXPECT_FALSE(presence_change(ServerMessage{Message{}}));
}

TEST(CodecFormat, PinnedServerFrames) {
    EXPECT_EQ(encode(ServerMessage{Reply{3, {}}}), R"({"v":1,"type":"reply","id":3})");
    EXPECT_EQ(encode(ServerMessage{Reply{3, make_error_code(errc::not_logged_in)}}),
              R"({"v":1,"type":"reply","id":3,"error":{"code":1,"name":"NOT_LOGGED_IN"}})");
    EXPECT_EQ(encode(ServerMessage{MemberLeft{"lobby", "bob", MemberLeftCause::dropped}}),
              R"({"v":1,"type":"member_left","channel":"lobby","user_id":"bob","cause":"DROPPED"})");
    EXPECT_EQ(encode(ServerMessage{Close{CloseReason::keep_alive_timeout, 0s}}),
              R"({"v":1,"type":"close","reason":"keep_alive_timeout","reconnect_within_ms":0})");
    EXPECT_EQ(encode(ServerMessage{Message{"bob", "lobby", "m-9", "hey", StreamPosition{2, 10}, true}}),
              R"({"v":1,"type":"message","from":"bob","channel":"lobby","message_id":"m-9","payload":"hey",)"
              R"("position":{"epoch":2,"seq":10},"backfilled":true})");
    using Change = PresenceChange::Kind;
    EXPECT_EQ(encode(ServerMessage{Presence{"lobby",
                                            {PresenceChange{Change::joined, "bob", {}, {}},
                                             PresenceChange{Change::stream_added, "bob", {}, "cam"},
                                             PresenceChange{Change::left, "carol", MemberLeftCause::dropped, {}}}}}),
              R"({"v":1,"type":"presence","channel":"lobby","changes":[{"change":"joined","user_id":"bob"},)"
              R"({"change":"stream_added","user_id":"bob","stream":"cam"},)"
              R"({"change":"left","user_id":"carol","cause":"DROPPED"}]})");

    LoginOk ok;
    ok.request_id = 1;
    ok.resume_token = "R2";
    ok.negotiated = Negotiated{1s, 30s, 30s, 32};
    ok.token_ttl = 3600s;
    ok.channels = {ChannelSnapshot{"lobby", {}, {Member{"bob", {"cam"}}}, StreamPosition{1, 17}}};
    ok.backfilled = 2;
    ok.peer_position = StreamPosition{1, 4};
    EXPECT_EQ(encode(ServerMessage{ok}),
              R"({"v":1,"type":"login_ok","id":1,"resume_token":"R2",)"
              R"("negotiated":{"heartbeat_interval_ms":1000,"presence_timeout_ms":30000,"backfill_window_ms":30000,)"
              R"("backfill_count":32},"token_ttl_ms":3600000,)"
              R"("channels":[{"channel":"lobby","members":[{"user_id":"bob","streams":["cam"]}],)"
              R"("position":{"epoch":1,"seq":17}}],"backfilled":2,"dropped":0,"peer_position":{"epoch":1,"seq":4}})");
}

TEST(CodecFormat, LoginVersionIsTheEnvelopeVersion) {
    // Login.version travels as the login frame's "v": a client speaking another version is refused, and the
    // server can still answer its login with PROTOCOL_ERROR.
    Login login;
    login.request_id = 77;
    login.version = 2;
    const std::string frame = encode(ClientMessage{login});
    EXPECT_EQ(frame.rfind(R"({"v":2,"type":"login","id":77,)", 0), 0U) << frame;
    const DecodeError error = client_error(frame);
    EXPECT_EQ(error.code, kProtocolError);
    EXPECT_EQ(error.request_id, RequestId{77});
    EXPECT_NE(error.detail.find("v: unsupported protocol version"), std::string::npos) << error.detail;
}

TEST(CodecFormat, AcceptsKeysInAnyOrderWhitespaceAndUnknownFields) {
    const auto decoded = decode_client(
        " \n{ \"channel\" : \"lobby\", \"future_field\": {\"x\": [1, 2]}, \"id\": 42, \"type\": \"join\", \"v\": 1 "
        "}\t");
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_TRUE((*decoded.message == ClientMessage{Join{42, "lobby"}}));
}

TEST(CodecFormat, DuplicateKeysKeepTheLastValue) {
    const auto decoded = decode_client(R"({"v":1,"type":"join","id":1,"channel":"a","channel":"b"})");
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_EQ(std::get<Join>(*decoded.message).channel, "b");
}

TEST(CodecFormat, LargestRequestIdIsAccepted) {
    const auto decoded = decode_client(R"({"v":1,"type":"logout","id":18446744073709551615})");
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_EQ(std::get<Logout>(*decoded.message).request_id, std::numeric_limits<RequestId>::max());
}

TEST(CodecFormat, ErrorNameIsInformative) {
    // Decoded by number: a missing or different name does not matter.
    const auto decoded = decode_server(R"({"v":1,"type":"reply","id":1,"error":{"code":47}})");
    ASSERT_TRUE(decoded) << decoded.error.detail;
    EXPECT_EQ(std::get<Reply>(*decoded.message).error, make_error_code(errc::peer_offline));
}

// ------------------------------------------------------------------------------------------- rejections

struct Rejection {
    std::string frame;
    std::error_code code;
    std::optional<RequestId> request_id;
    std::string detail;  ///< expected substring of DecodeError::detail
};

TEST(CodecRejects, ClientFrames) {
    const std::string big_text(kMaxPayloadBytes + 1, 'x');
    const std::string big_b64(4 * ((kMaxPayloadBytes + 1 + 2) / 3), 'A');
    const std::string exact_text(kMaxPayloadBytes, 'x');
    const std::vector<Rejection> cases{
        // the frame itself
        {"", kProtocolError, std::nullopt, "frame: not valid JSON"},
        {"{", kProtocolError, std::nullopt, "frame: not valid JSON"},
        {"{\"v\":1,\"type\":\"ping\"} x", kProtocolError, std::nullopt, "not valid JSON"},
        {"{\"v\":1,\"type\":\"ping\",}", kProtocolError, std::nullopt, "not valid JSON"},
        {"{\"v\":1,\"type\":\"ping\"/*c*/}", kProtocolError, std::nullopt, "not valid JSON"},
        {"{\"v\":1,\"type\":\"join\",\"id\":1,\"channel\":\"\xFF\"}", kProtocolError, std::nullopt, "not valid JSON"},
        {R"({"v":1,"type":"join","id":1,"channel":"\ud800"})", kProtocolError, std::nullopt, "not valid JSON"},
        {"[1,2]", kProtocolError, std::nullopt, "frame: not a JSON object"},
        {"\"login\"", kProtocolError, std::nullopt, "not a JSON object"},
        {"null", kProtocolError, std::nullopt, "not a JSON object"},
        // envelope
        {R"({"type":"join","id":4,"channel":"c"})", kProtocolError, 4, "v: missing"},
        {R"({"v":2,"type":"join","id":4,"channel":"c"})", kProtocolError, 4, "v: unsupported protocol version"},
        {R"({"v":"1","type":"join","id":4,"channel":"c"})", kProtocolError, 4, "v: unsupported"},
        {R"({"v":1.0,"type":"join","id":4,"channel":"c"})", kProtocolError, 4, "v: unsupported"},
        {R"({"v":0,"type":"ping"})", kProtocolError, std::nullopt, "v: unsupported"},
        {R"({"v":1,"id":4})", kProtocolError, std::nullopt, "type: missing"},
        {R"({"v":1,"type":7,"id":4})", kProtocolError, std::nullopt, "type: must be a string"},
        {R"({"v":1,"type":"shutdown_server","id":4})", kProtocolError, std::nullopt, "type: unknown message type"},
        {R"({"v":1,"type":"join_ok","id":4})", kProtocolError, std::nullopt, "type: unknown"},  // a server type
        {R"({"v":1,"type":"JOIN","id":4})", kProtocolError, std::nullopt, "type: unknown"},
        // request ids
        {R"({"v":1,"type":"logout"})", kProtocolError, std::nullopt, "logout: id: missing"},
        {R"({"v":1,"type":"logout","id":-1})", kProtocolError, std::nullopt, "id: must be an unsigned 64-bit integer"},
        {R"({"v":1,"type":"logout","id":-0})", kProtocolError, std::nullopt, "id: must be an unsigned"},
        {R"({"v":1,"type":"logout","id":1.5})", kProtocolError, std::nullopt, "id: must be an unsigned"},
        {R"({"v":1,"type":"logout","id":1.0})", kProtocolError, std::nullopt, "id: must be an unsigned"},
        {R"({"v":1,"type":"logout","id":1e3})", kProtocolError, std::nullopt, "id: must be an unsigned"},
        {R"({"v":1,"type":"logout","id":18446744073709551616})", kProtocolError, std::nullopt, "id: must be"},
        {R"({"v":1,"type":"logout","id":"5"})", kProtocolError, std::nullopt, "id: must be an unsigned"},
        {R"({"v":1,"type":"logout","id":null})", kProtocolError, std::nullopt, "id: must be an unsigned"},
        // missing and mistyped fields: the request id is known, so the server can answer
        {R"({"v":1,"type":"join","id":8})", kProtocolError, 8, "join: channel: missing"},
        {R"({"v":1,"type":"join","id":8,"channel":null})", kProtocolError, 8, "join: channel: must be a string"},
        {R"({"v":1,"type":"join","id":8,"channel":["x"]})", kProtocolError, 8, "channel: must be a string"},
        {R"({"v":1,"type":"publish","id":8,"channel":"c","stream":"s","unpublish":1})", kProtocolError, 8,
         "publish: unpublish: must be true or false"},
        {R"({"v":1,"type":"get_attributes","id":8})", kProtocolError, 8, "user_id: missing"},
        {R"({"v":1,"type":"renew_token","id":8,"token":5})", kProtocolError, 8, "token: must be a string"},
        {R"({"v":1,"type":"set_attributes","id":8,"attributes":{"a":1}})", kProtocolError, 8,
         "attributes: must be an object of strings"},
        {R"({"v":1,"type":"set_attributes","id":8,"attributes":["a"]})", kProtocolError, 8,
         "attributes: must be an object of strings"},
        // login
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i"})", kProtocolError, 9,
         "login: profile: missing"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"RTM"})",
         kProtocolError, 9, "login: profile: unknown value"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("last_peer_seen":{"epoch":1}})",
         kProtocolError, 9, "login: last_peer_seen.seq: missing"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("last_peer_seen":[1,2]})",
         kProtocolError, 9, "last_peer_seen: must be an object"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("channels":{"c":{}}})",
         kProtocolError, 9, "login: channels: must be an array"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("channels":[{"channel":"a"},"b"]})",
         kProtocolError, 9, "login: channels[1]: must be an object"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("channels":[{"channel":"a"},{"channel":"b","last_seen":{"epoch":-1,"seq":0}}]})",
         kProtocolError, 9, "login: channels[1].last_seen.epoch: must be an unsigned 64-bit integer"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("channels":[{"channel":"a","streams":["cam",3]}]})",
         kProtocolError, 9, "login: channels[0].streams[1]: must be a string"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("timings":[1000]})",
         kProtocolError, 9, "login: timings: must be an object"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("timings":{"presence_timeout_ms":-5}})",
         kProtocolError, 9, "login: timings.presence_timeout_ms: must be an unsigned 64-bit integer"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("timings":{"heartbeat_interval_ms":"1000"}})",
         kProtocolError, 9, "login: timings.heartbeat_interval_ms: must be an unsigned 64-bit integer"},
        {R"({"v":1,"type":"login","id":9,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":"rtm",)"
         R"("timings":{"backfill_window_ms":18446744073709551615}})",
         kProtocolError, 9, "login: timings.backfill_window_ms: out of range"},
        // send and its payload
        {R"({"v":1,"type":"send","id":10,"message_id":"m","to_user":"b"})", kProtocolError, 10,
         "send: payload: missing"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","payload":"a","payload_b64":"YQ=="})", kProtocolError, 10,
         "payload and payload_b64 are exclusive"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","payload":7})", kProtocolError, 10,
         "payload: must be a string"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","payload_b64":"YQ="})", kProtocolError, 10,
         "payload_b64: not canonical padded base64"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","payload_b64":"YR=="})", kProtocolError, 10,
         "payload_b64: not canonical"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","payload_b64":"Y Q=="})", kProtocolError, 10,
         "payload_b64: not canonical"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","payload_b64":"YQ==YQ=="})", kProtocolError, 10,
         "payload_b64: not canonical"},
        {R"({"v":1,"type":"send","id":10,"message_id":"m","to_user":null,"payload":""})", kProtocolError, 10,
         "to_user: must be a string"},
        {R"({"v":1,"type":"send","id":11,"message_id":"m","payload":")" + big_text + "\"}", kTooLarge, 11,
         "send: payload: larger than 32 KiB"},
        {R"({"v":1,"type":"send","id":12,"message_id":"m","payload_b64":")" + big_b64 + "\"}", kTooLarge, 12,
         "send: payload_b64: larger than 32 KiB"},
        {"{\"v\":1,\"type\":\"send\",\"id\":13,\"message_id\":\"m\",\"payload\":\"" + exact_text + "\xC3\xA9\"}",
         kTooLarge, 13, "larger than 32 KiB"},  // counted in bytes, not characters
    };
    for (const Rejection& c : cases) {
        SCOPED_TRACE(c.frame.substr(0, 160));
        const DecodeError error = client_error(c.frame);
        EXPECT_EQ(error.code, c.code) << error.detail;
        EXPECT_EQ(error.request_id, c.request_id) << error.detail;
        EXPECT_NE(error.detail.find(c.detail), std::string::npos) << "detail: " << error.detail;
    }
}

TEST(CodecRejects, ServerFrames) {
    const std::vector<Rejection> cases{
        {R"({"v":1,"type":"login","id":1})", kProtocolError, std::nullopt, "type: unknown"},  // a client type
        {R"({"v":1,"type":"reply","id":1,"error":{"code":0,"name":"OK"}})", kProtocolError, std::nullopt,
         "reply: error.code: not a relink error code"},
        {R"({"v":1,"type":"reply","id":1,"error":{"code":999}})", kProtocolError, std::nullopt,
         "error.code: not a relink error code"},
        {R"({"v":1,"type":"reply","id":1,"error":{"code":4294967297}})", kProtocolError, std::nullopt,
         "error.code: not a relink error code"},
        {R"({"v":1,"type":"reply","id":1,"error":{"code":-1}})", kProtocolError, std::nullopt,
         "error.code: must be an unsigned"},
        {R"({"v":1,"type":"reply","id":1,"error":{"name":"NOT_LOGGED_IN"}})", kProtocolError, std::nullopt,
         "reply: error.code: missing"},
        {R"({"v":1,"type":"reply","id":1,"error":1})", kProtocolError, std::nullopt, "error: must be an object"},
        {R"({"v":1,"type":"member_left","channel":"c","user_id":"u","cause":"quit"})", kProtocolError, std::nullopt,
         "member_left: cause: unknown value"},
        {R"({"v":1,"type":"close","reason":"bored","reconnect_within_ms":0})", kProtocolError, std::nullopt,
         "close: reason: unknown value"},
        {R"({"v":1,"type":"close","reason":"draining"})", kProtocolError, std::nullopt,
         "close: reconnect_within_ms: missing"},
        {R"({"v":1,"type":"close","reason":"draining","reconnect_within_ms":1.5})", kProtocolError, std::nullopt,
         "reconnect_within_ms: must be an unsigned"},
        {R"({"v":1,"type":"close","reason":"draining","reconnect_within_ms":9223372036855})", kProtocolError,
         std::nullopt, "reconnect_within_ms: out of range"},
        {R"({"v":1,"type":"renew_ok","id":1,"token_ttl_ms":-5})", kProtocolError, std::nullopt,
         "token_ttl_ms: must be an unsigned"},
        {R"({"v":1,"type":"stream_changed","channel":"c","user_id":"u","stream":"s"})", kProtocolError, std::nullopt,
         "stream_changed: added: missing"},
        {R"({"v":1,"type":"join_ok","id":1})", kProtocolError, std::nullopt, "join_ok: snapshot: missing"},
        {R"({"v":1,"type":"join_ok","id":1,"snapshot":{"channel":"c","position":{"epoch":1,"seq":2},)"
         R"("members":[{"user_id":"a"},{"streams":[]}]}})",
         kProtocolError, std::nullopt, "join_ok: snapshot.members[1].user_id: missing"},
        {R"({"v":1,"type":"login_ok","id":1,"resume_token":"r","token_ttl_ms":0,"backfilled":0,"dropped":0,)"
         R"("peer_position":{"epoch":0,"seq":0}})",
         kProtocolError, std::nullopt, "login_ok: negotiated: missing"},
        {R"({"v":1,"type":"message","from":"a","message_id":"m","payload":"x"})", kProtocolError, std::nullopt,
         "message: position: missing"},
        {R"({"v":1,"type":"presence","changes":[]})", kProtocolError, std::nullopt, "presence: channel: missing"},
        {R"({"v":1,"type":"presence","channel":"c","changes":{}})", kProtocolError, std::nullopt,
         "presence: changes: must be an array"},
        {R"({"v":1,"type":"presence","channel":"c","changes":[{"change":"joined","user_id":"u"},"x"]})", kProtocolError,
         std::nullopt, "presence: changes[1]: must be an object"},
        {R"({"v":1,"type":"presence","channel":"c","changes":[{"change":"entered","user_id":"u"}]})", kProtocolError,
         std::nullopt, "presence: changes[0].change: unknown value"},
        {R"({"v":1,"type":"presence","channel":"c","changes":[{"user_id":"u"}]})", kProtocolError, std::nullopt,
         "presence: changes[0].change: missing"},
        {R"({"v":1,"type":"presence","channel":"c","changes":[{"change":"joined"}]})", kProtocolError, std::nullopt,
         "presence: changes[0].user_id: missing"},
        {R"({"v":1,"type":"presence","channel":"c","changes":[{"change":"left","user_id":"u"}]})", kProtocolError,
         std::nullopt, "presence: changes[0].cause: missing"},
        {R"({"v":1,"type":"presence","channel":"c","changes":[{"change":"stream_removed","user_id":"u"}]})",
         kProtocolError, std::nullopt, "presence: changes[0].stream: missing"},
    };
    for (const Rejection& c : cases) {
        SCOPED_TRACE(c.frame.substr(0, 160));
        const DecodeError error = server_error(c.frame);
        EXPECT_EQ(error.code, c.code) << error.detail;
        EXPECT_EQ(error.request_id, c.request_id) << error.detail;
        EXPECT_NE(error.detail.find(c.detail), std::string::npos) << "detail: " << error.detail;
    }
}

TEST(CodecRejects, OversizedFrameBeforeParsing) {
    std::string frame = R"({"v":1,"type":"send","id":3,"message_id":"m","payload":")";
    frame += std::string(kMaxFrameBytes, 'x') + "\"}";
    const DecodeError error = client_error(frame);
    EXPECT_EQ(error.code, kTooLarge);
    EXPECT_EQ(error.request_id, std::nullopt);  // never parsed
    EXPECT_NE(error.detail.find("frame: larger than"), std::string::npos) << error.detail;
}

TEST(CodecRejects, DetailNeverEchoesContents) {
    const std::string secret = "s3cr3t-payload";
    const std::vector<std::string> frames{
        R"({"v":1,"type":"send","id":1,"message_id":"m","payload":")" + secret + R"(","payload_b64":"AA=="})",
        R"({"v":1,"type":"send","id":1,"message_id":"m","payload_b64":")" + secret + R"("})",
        R"({"v":1,"type":")" + secret + R"(","id":1})",
        R"({"v":1,"type":"login","id":1,"app_id":"a","user_id":"u","token":"t","instance_id":"i","profile":")" +
            secret + R"("})",
        R"({"v":1,"type":"send","id":1,"message_id":"m","payload":")" + secret + std::string(kMaxPayloadBytes, 'x') +
            R"("})",
    };
    for (const std::string& frame : frames) {
        const DecodeError error = client_error(frame);
        EXPECT_EQ(error.detail.find(secret), std::string::npos) << error.detail;
        EXPECT_FALSE(error.detail.empty());
    }
}

TEST(CodecRejects, NestingIsBoundedBeforeParsing) {
    // 32 levels (the root object included) are accepted, in an unknown field; 33 are not.
    const auto nested = [](std::size_t extra) {
        return R"({"v":1,"type":"ping","x":)" + std::string(extra, '[') + std::string(extra, ']') + "}";
    };
    EXPECT_TRUE(decode_client(nested(31))) << decode_client(nested(31)).error.detail;
    const DecodeError error = client_error(nested(32));
    EXPECT_EQ(error.code, kProtocolError);
    EXPECT_NE(error.detail.find("nested deeper than 32"), std::string::npos) << error.detail;

    // Brackets inside strings (escaped quotes included) do not count.
    const std::string in_string =
        R"({"v":1,"type":"send","id":1,"message_id":"m","payload":"\"[[[[)" + std::string(1000, '[') + R"("})";
    EXPECT_TRUE(decode_client(in_string)) << decode_client(in_string).error.detail;
}

TEST(CodecRejects, NestingBombsQuickly) {
    const auto start = std::chrono::steady_clock::now();
    // Within the frame limit: refused by the depth scan.
    const DecodeError arrays = client_error(std::string(kMaxFrameBytes, '['));
    EXPECT_EQ(arrays.code, kProtocolError);
    const DecodeError objects = client_error(R"({"v":1,"type":"ping","x":)" + [] {
        std::string bomb;
        for (int i = 0; i < 30'000; ++i) {
            bomb += R"({"a":)";
        }
        return bomb;
    }());
    EXPECT_EQ(objects.code, kProtocolError);
    EXPECT_NE(objects.detail.find("nested deeper"), std::string::npos);
    // 1 MB: refused by size before anything else.
    const DecodeError megabyte = client_error(std::string(1 << 20, '['));
    EXPECT_EQ(megabyte.code, kTooLarge);
    const DecodeError server = server_error(std::string(1 << 20, '{'));
    EXPECT_EQ(server.code, kTooLarge);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// ------------------------------------------------------------------------------------------- hostile bytes

/// Decodes `frame` both ways; each must return normally, and whatever decodes re-encodes to a frame that decodes
/// to the same message (the codec has one meaning per accepted frame). Nothing may reach the codec's catch-all
/// either: the checked accessors never throw, so "could not be decoded" would be a bug. Returns how many of the
/// two sides accepted the frame.
int decode_anything(std::string_view frame) {
    int accepted = 0;
    EXPECT_NO_THROW({
        const auto client = decode_client(frame);
        accepted += client ? 1 : 0;
        if (client) {
            const auto again = decode_client(encode(*client.message));
            EXPECT_TRUE(again && *again.message == *client.message) << again.error.detail;
        } else {
            EXPECT_FALSE(client.error.detail.empty());
            EXPECT_EQ(client.error.detail.find("could not be decoded"), std::string::npos);
            EXPECT_TRUE(client.error.code == kProtocolError || client.error.code == kTooLarge);
        }
        const auto server = decode_server(frame);
        accepted += server ? 1 : 0;
        if (server) {
            const auto again = decode_server(encode(*server.message));
            EXPECT_TRUE(again && *again.message == *server.message) << again.error.detail;
        } else {
            EXPECT_FALSE(server.error.detail.empty());
            EXPECT_EQ(server.error.detail.find("could not be decoded"), std::string::npos);
            EXPECT_FALSE(server.error.request_id.has_value());
        }
    }) << frame.substr(0, 200);
    return accepted;
}

std::vector<std::string> valid_frames() {
    std::vector<std::string> frames;
    for (const auto& message : client_samples()) {
        frames.push_back(encode(message));
    }
    for (const auto& message : server_samples()) {
        frames.push_back(encode(message));
    }
    return frames;
}

TEST(CodecHostile, RandomBytes) {
    std::mt19937 rng(20240501);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(0, 64);
    for (int i = 0; i < 3'000; ++i) {
        std::string frame(length(rng), '\0');
        for (char& c : frame) {
            c = static_cast<char>(byte(rng));
        }
        if (i % 2 == 0 && !frame.empty()) {
            frame.front() = '{';  // get past the first byte more often
        }
        decode_anything(frame);
    }
}

TEST(CodecHostile, TruncationsOfValidFrames) {
    for (const std::string& frame : valid_frames()) {
        for (std::size_t n = 0; n <= frame.size(); ++n) {
            decode_anything(std::string_view(frame).substr(0, n));
        }
    }
}

TEST(CodecHostile, MutationsOfValidFrames) {
    const std::vector<std::string> frames = valid_frames();
    // Tokens that steer mutations into the interesting parts of the grammar.
    const std::vector<std::string> tokens{"{",        "}",         "[",         "]",
                                          ",",        ":",         "\"",        "\\",
                                          "null",     "true",      "false",     "-1",
                                          "1.5",      "1e3",       "0",         "18446744073709551616",
                                          "\"v\"",    "\"id\"",    "\"type\"",  "\\u0000",
                                          "\\ud800",  "\xFF",      "\xC0",      "\"payload_b64\"",
                                          "\"=\"",    "\"login\"", "\"reply\"", "{\"code\":999}",
                                          "[[[[[[[[", "        "};
    int accepted = 0;
    std::mt19937 rng(7);
    const auto pick = [&rng](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    for (int i = 0; i < 20'000; ++i) {
        std::string frame = frames[pick(frames.size())];
        const int edits = 1 + static_cast<int>(pick(3));
        for (int e = 0; e < edits && !frame.empty(); ++e) {
            const std::size_t at = pick(frame.size());
            switch (pick(5)) {
                case 0: frame[at] = static_cast<char>(pick(256)); break;
                case 1: frame.erase(at, 1 + pick(8)); break;
                case 2: frame.insert(at, tokens[pick(tokens.size())]); break;
                case 3: frame.replace(at, 1 + pick(4), tokens[pick(tokens.size())]); break;
                default: frame.insert(at, frame.substr(pick(frame.size()), pick(16))); break;  // splice itself
            }
        }
        accepted += decode_anything(frame);
    }
    // The mutations reach both outcomes: many frames are refused, and some (edits inside strings, swapped
    // whitespace, harmless tokens) still decode and must then round trip.
    EXPECT_GT(accepted, 200);
    EXPECT_LT(accepted, 15'000);
    std::cout << "[          ] " << accepted << " of 20000 mutated frames accepted by one side\n";
}

}  // namespace
}  // namespace relink::proto
