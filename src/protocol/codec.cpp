// The JSON wire codec (protocol/codec.hpp; the format is specified in docs/protocol.md, "Wire format").
//
// Each message's fields are listed once, by a `fields(visitor, message)` template: the `Writer` visitor encodes
// them, the `Reader` visitor decodes them, so the two directions cannot disagree on a key, an order or whether a
// field may be left out.
//
// Decoding is total by construction: the frame's size and nesting depth are checked before nlohmann parses it,
// the parse itself runs with exceptions disabled (a malformed frame yields a discarded value), and every field is
// read through `Reader`, whose accessors check the JSON type before they touch the value and record the first
// problem instead of throwing. A catch-all at the boundary remains only for allocation failure.
//
// Encoding uses `ordered_json` so that frames read in a stable, human order ("v", "type", "id", then the fields
// in struct order); decoding uses `json` (std::map: logarithmic lookups even in hostile objects with many keys).
#include "protocol/codec.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "common/encoding.hpp"

namespace relink::proto {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

/// Deepest nesting accepted (the root object is level 1). The deepest valid frame (login_ok → channels →
/// snapshot → members → member → streams) needs 6; the bound keeps every recursive walk over the value short.
constexpr std::size_t kMaxDepth = 32;

/// The largest duration in milliseconds that fits relink::Duration (nanoseconds in an int64).
constexpr std::uint64_t kMaxDurationMs = static_cast<std::uint64_t>(Duration::max().count() / 1'000'000);

// ------------------------------------------------------------------------------------------- UTF-8, base64

// A payload that is well-formed UTF-8 goes out as text ("payload"), any other as strict padded base64
// ("payload_b64"); common/encoding.hpp has both.
using encoding::base64_decode;
using encoding::base64_encode;
using encoding::is_valid_utf8;

// ------------------------------------------------------------------------------------------- vocabulary

constexpr std::array<std::pair<CloseReason, std::string_view>, 8> kCloseReasons{{
    {CloseReason::remote_login, "remote_login"},
    {CloseReason::banned, "banned"},
    {CloseReason::kicked, "kicked"},
    {CloseReason::token_expired, "token_expired"},
    {CloseReason::keep_alive_timeout, "keep_alive_timeout"},
    {CloseReason::draining, "draining"},
    {CloseReason::invalid, "invalid"},
    {CloseReason::busy, "busy"},
}};

std::string_view close_reason_name(CloseReason reason) noexcept {
    for (const auto& [value, name] : kCloseReasons) {
        if (value == reason) {
            return name;
        }
    }
    return "unknown";
}

std::optional<CloseReason> close_reason_from_string(std::string_view name) noexcept {
    for (const auto& [value, text] : kCloseReasons) {
        if (text == name) {
            return value;
        }
    }
    return std::nullopt;
}

constexpr std::array<std::pair<PresenceChange::Kind, std::string_view>, 4> kPresenceChanges{{
    {PresenceChange::Kind::joined, "joined"},
    {PresenceChange::Kind::left, "left"},
    {PresenceChange::Kind::stream_added, "stream_added"},
    {PresenceChange::Kind::stream_removed, "stream_removed"},
}};

std::string_view presence_change_name(PresenceChange::Kind kind) noexcept {
    for (const auto& [value, name] : kPresenceChanges) {
        if (value == kind) {
            return name;
        }
    }
    return "unknown";
}

std::optional<PresenceChange::Kind> presence_change_from_string(std::string_view name) noexcept {
    for (const auto& [value, text] : kPresenceChanges) {
        if (text == name) {
            return value;
        }
    }
    return std::nullopt;
}

/// True for a non-zero code of relink's category that names one of its errors.
bool is_known_relink_error(std::error_code code) noexcept {
    return code && code.category() == error_category() && std::string_view(error_name(code)) != "UNKNOWN";
}

/// The wire carries relink codes only: an error of another category (or an unknown relink number) would not
/// decode, so it is sent as REJECTED_BY_SERVER.
std::error_code wire_error(std::error_code code) noexcept {
    return is_known_relink_error(code) ? code : make_error_code(errc::rejected_by_server);
}

/// Durations go out as whole milliseconds, rounded up, so that a positive duration never becomes 0 (which means
/// "never" / "no expiry"); a negative duration goes out as 0. Rounding up never goes past kMaxDurationMs, the
/// largest value the decoder accepts (within the last millisecond of Duration's range it would).
std::uint64_t to_wire_ms(Duration duration) noexcept {
    if (duration <= Duration::zero()) {
        return 0;
    }
    const auto ms = static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(duration).count());
    return std::min(ms, kMaxDurationMs);
}

// ------------------------------------------------------------------------------------------- wire names

template <class T>
struct Wire;
// clang-format off
template <> struct Wire<Login> { static constexpr std::string_view kName = "login"; };
template <> struct Wire<Logout> { static constexpr std::string_view kName = "logout"; };
template <> struct Wire<Join> { static constexpr std::string_view kName = "join"; };
template <> struct Wire<Leave> { static constexpr std::string_view kName = "leave"; };
template <> struct Wire<Publish> { static constexpr std::string_view kName = "publish"; };
template <> struct Wire<SendMessage> { static constexpr std::string_view kName = "send"; };
template <> struct Wire<SetAttributes> { static constexpr std::string_view kName = "set_attributes"; };
template <> struct Wire<GetAttributes> { static constexpr std::string_view kName = "get_attributes"; };
template <> struct Wire<RenewToken> { static constexpr std::string_view kName = "renew_token"; };
template <> struct Wire<Ping> { static constexpr std::string_view kName = "ping"; };
template <> struct Wire<LoginOk> { static constexpr std::string_view kName = "login_ok"; };
template <> struct Wire<Reply> { static constexpr std::string_view kName = "reply"; };
template <> struct Wire<JoinOk> { static constexpr std::string_view kName = "join_ok"; };
template <> struct Wire<AttributesReply> { static constexpr std::string_view kName = "attributes"; };
template <> struct Wire<RenewOk> { static constexpr std::string_view kName = "renew_ok"; };
template <> struct Wire<MemberJoined> { static constexpr std::string_view kName = "member_joined"; };
template <> struct Wire<MemberLeft> { static constexpr std::string_view kName = "member_left"; };
template <> struct Wire<StreamChanged> { static constexpr std::string_view kName = "stream_changed"; };
template <> struct Wire<Message> { static constexpr std::string_view kName = "message"; };
template <> struct Wire<Pong> { static constexpr std::string_view kName = "pong"; };
template <> struct Wire<Close> { static constexpr std::string_view kName = "close"; };
template <> struct Wire<Presence> { static constexpr std::string_view kName = "presence"; };
template <> struct Wire<RecoveryKey> { static constexpr std::string_view kName = "recovery_key"; };
template <> struct Wire<RecoveryKeyOk> { static constexpr std::string_view kName = "recovery_key_ok"; };
// clang-format on

template <class T>
concept HasRequestId = requires(T message) {
    message.request_id;
};

// ------------------------------------------------------------------------------------------- field lists

// Each message's fields are listed once, in wire order, by one `fields(visitor, message)`; the Writer (below)
// turns the list into JSON, the Reader (further below) reads it back with its checks. A list names each field with
// its wire key and its kind (text, count, flag, nested object ...): the kind carries the rule for both directions
// (an optional field, an empty list or a false flag is left out when writing and read as absent).

/// `T` as a visitor sees it: const for the Writer, which only reads the message; mutable for the Reader.
template <class T, class Visitor>
using Seen = std::conditional_t<Visitor::kWrites, const T, T>;

template <class V>
void fields(V& v, Seen<StreamPosition, V>& m) {
    v.u64("epoch", m.epoch);
    v.u64("seq", m.seq);
}

template <class V>
void fields(V& v, Seen<ChannelResume, V>& m) {
    v.text("channel", m.channel);
    v.optional_object("last_seen", m.last_seen);
    v.texts("streams", m.streams);
}

template <class V>
void fields(V& v, Seen<TimingsRequest, V>& m) {
    v.optional_milliseconds("heartbeat_interval_ms", m.heartbeat_interval);
    v.optional_milliseconds("presence_timeout_ms", m.presence_timeout);
    v.optional_milliseconds("backfill_window_ms", m.backfill_window);
    v.optional_count("backfill_count", m.backfill_count);
}

template <class V>
void fields(V& v, Seen<Login, V>& m) {
    v.version(m.version);  // the login frame's envelope version is the version the client speaks
    v.text("app_id", m.app_id);
    v.text("user_id", m.user_id);
    v.text("token", m.token);
    v.text("instance_id", m.instance_id);
    v.choice("profile", m.profile, to_string, profile_from_string);
    v.optional_text("resume_token", m.resume_token);
    v.optional_object("last_peer_seen", m.last_peer_seen);
    v.objects("channels", m.channels);
    v.attributes("attributes", m.attributes);
    v.object_unless_empty("timings", m.timings);     // absent from a client older than timing agreement
    v.flag("presence_batches", m.presence_batches);  // absent from a client older than presence batches
    v.optional_text("recovery", m.recovery);         // absent from a client older than recovery keys
}

template <class V>
void fields(V& /*v*/, Seen<Logout, V>& /*m*/) {}

template <class V>
void fields(V& v, Seen<Join, V>& m) {
    v.text("channel", m.channel);
}

template <class V>
void fields(V& v, Seen<Leave, V>& m) {
    v.text("channel", m.channel);
}

template <class V>
void fields(V& v, Seen<Publish, V>& m) {
    v.text("channel", m.channel);
    v.text("stream", m.stream);
    v.flag("unpublish", m.unpublish);
}

template <class V>
void fields(V& v, Seen<SendMessage, V>& m) {
    v.text("message_id", m.message_id);
    v.optional_text("to_user", m.to_user);
    v.optional_text("to_channel", m.to_channel);
    v.payload(m.payload);
    v.flag("store_offline", m.store_offline);
}

template <class V>
void fields(V& v, Seen<SetAttributes, V>& m) {
    v.attributes("attributes", m.attributes);
}

template <class V>
void fields(V& v, Seen<GetAttributes, V>& m) {
    v.text("user_id", m.user_id);
}

template <class V>
void fields(V& v, Seen<RenewToken, V>& m) {
    v.text("token", m.token);
}

template <class V>
void fields(V& /*v*/, Seen<Ping, V>& /*m*/) {}

template <class V>
void fields(V& /*v*/, Seen<RecoveryKey, V>& /*m*/) {}

template <class V>
void fields(V& v, Seen<RecoveryKeyOk, V>& m) {
    v.text("key", m.key);
}

template <class V>
void fields(V& v, Seen<Member, V>& m) {
    v.text("user_id", m.user_id);
    v.texts("streams", m.streams);
}

template <class V>
void fields(V& v, Seen<ChannelSnapshot, V>& m) {
    v.text("channel", m.channel);
    v.error("error", m.error);
    v.objects("members", m.members);
    v.object("position", m.position);
}

template <class V>
void fields(V& v, Seen<Negotiated, V>& m) {
    v.milliseconds("heartbeat_interval_ms", m.heartbeat_interval);
    v.milliseconds("presence_timeout_ms", m.presence_timeout);
    v.milliseconds("backfill_window_ms", m.backfill_window);
    v.count("backfill_count", m.backfill_count);
}

template <class V>
void fields(V& v, Seen<LoginOk, V>& m) {
    v.text("resume_token", m.resume_token);
    v.flag("resumed", m.resumed);
    v.object("negotiated", m.negotiated);
    v.milliseconds("token_ttl_ms", m.token_ttl);
    v.objects("channels", m.channels);
    v.u64("backfilled", m.backfilled);
    v.u64("dropped", m.dropped);
    v.object("peer_position", m.peer_position);
    v.flag("recovery_keys", m.recovery_keys);
}

template <class V>
void fields(V& v, Seen<Reply, V>& m) {
    v.error("error", m.error);
    v.flag("stored", m.stored);
}

template <class V>
void fields(V& v, Seen<JoinOk, V>& m) {
    v.object("snapshot", m.snapshot);
}

template <class V>
void fields(V& v, Seen<AttributesReply, V>& m) {
    v.text("user_id", m.user_id);
    v.attributes("attributes", m.attributes);
}

template <class V>
void fields(V& v, Seen<RenewOk, V>& m) {
    v.milliseconds("token_ttl_ms", m.token_ttl);
}

template <class V>
void fields(V& v, Seen<MemberJoined, V>& m) {
    v.text("channel", m.channel);
    v.text("user_id", m.user_id);
}

template <class V>
void fields(V& v, Seen<MemberLeft, V>& m) {
    v.text("channel", m.channel);
    v.text("user_id", m.user_id);
    v.choice("cause", m.cause, to_string, member_left_cause_from_string);
}

template <class V>
void fields(V& v, Seen<StreamChanged, V>& m) {
    v.text("channel", m.channel);
    v.text("user_id", m.user_id);
    v.text("stream", m.stream);
    v.boolean("added", m.added);
}

template <class V>
void fields(V& v, Seen<PresenceChange, V>& m) {
    v.choice("change", m.kind, presence_change_name, presence_change_from_string);
    v.text("user_id", m.user_id);
    // The decoder has read `change` by now: each kind has its own required field and no other.
    if (m.kind == PresenceChange::Kind::left) {
        v.choice("cause", m.cause, to_string, member_left_cause_from_string);
    } else if (m.kind != PresenceChange::Kind::joined) {
        v.text("stream", m.stream);
    }
}

template <class V>
void fields(V& v, Seen<Presence, V>& m) {
    v.text("channel", m.channel);
    v.objects("changes", m.changes);
}

template <class V>
void fields(V& v, Seen<Message, V>& m) {
    v.text("from", m.from);
    v.optional_text("channel", m.channel);
    v.text("message_id", m.message_id);
    v.payload(m.payload);
    v.object("position", m.position);
    v.flag("backfilled", m.backfilled);
}

template <class V>
void fields(V& /*v*/, Seen<Pong, V>& /*m*/) {}

template <class V>
void fields(V& v, Seen<Close, V>& m) {
    v.choice("reason", m.reason, close_reason_name, close_reason_from_string);
    v.milliseconds("reconnect_within_ms", m.reconnect_within);
}

// ------------------------------------------------------------------------------------------- encoding

/// Writes the fields a list names into a JSON object, in the list's order, leaving out what is absent or empty.
class Writer {
public:
    static constexpr bool kWrites = true;

    explicit Writer(OrderedJson& out) : out_(out) {}

    void version(int value) { put("v", value); }
    void text(std::string_view key, const std::string& value) { put(key, value); }
    void optional_text(std::string_view key, const std::optional<std::string>& value) {
        if (value) {
            put(key, *value);
        }
    }
    void u64(std::string_view key, std::uint64_t value) { put(key, value); }
    void count(std::string_view key, std::size_t value) { put(key, static_cast<std::uint64_t>(value)); }
    void optional_count(std::string_view key, const std::optional<std::size_t>& value) {
        if (value) {
            count(key, *value);
        }
    }
    void milliseconds(std::string_view key, Duration value) { put(key, to_wire_ms(value)); }
    void optional_milliseconds(std::string_view key, const std::optional<Duration>& value) {
        if (value) {
            milliseconds(key, *value);
        }
    }
    void boolean(std::string_view key, bool value) { put(key, value); }
    void flag(std::string_view key, bool value) {
        if (value) {
            put(key, true);
        }
    }
    template <class Enum>
    void choice(std::string_view key, Enum value, std::string_view (*name)(Enum) noexcept,
                std::optional<Enum> (* /*parse*/)(std::string_view) noexcept) {
        put(key, name(value));
    }
    template <class T>
    void object(std::string_view key, const T& value) {
        put(key, object_of(value));
    }
    template <class T>
    void optional_object(std::string_view key, const std::optional<T>& value) {
        if (value) {
            object(key, *value);
        }
    }
    template <class T>
    void object_unless_empty(std::string_view key, const T& value) {
        if (!value.empty()) {
            object(key, value);
        }
    }
    void texts(std::string_view key, const std::vector<std::string>& values) {
        if (values.empty()) {
            return;
        }
        OrderedJson out = OrderedJson::array();
        for (const auto& text : values) {
            out.push_back(text);
        }
        put(key, std::move(out));
    }
    template <class T>
    void objects(std::string_view key, const std::vector<T>& values) {
        if (values.empty()) {
            return;
        }
        OrderedJson out = OrderedJson::array();
        for (const auto& value : values) {
            out.push_back(object_of(value));
        }
        put(key, std::move(out));
    }
    void attributes(std::string_view key, const Attributes& attributes) {
        if (attributes.empty()) {
            return;
        }
        OrderedJson out = OrderedJson::object();
        for (const auto& [name, value] : attributes) {
            out[name] = value;
        }
        put(key, std::move(out));
    }
    /// An error goes out as {"code", "name"}, success as nothing.
    void error(std::string_view key, std::error_code code) {
        if (!code) {
            return;
        }
        const std::error_code sent = wire_error(code);
        OrderedJson out = OrderedJson::object();
        out["code"] = sent.value();
        out["name"] = error_name(sent);
        put(key, std::move(out));
    }
    /// UTF-8 text as "payload", anything else as "payload_b64".
    void payload(const std::string& payload) {
        if (is_valid_utf8(payload)) {
            put("payload", payload);
        } else {
            put("payload_b64", base64_encode(payload));
        }
    }

private:
    template <class T>
    static OrderedJson object_of(const T& value) {
        OrderedJson out = OrderedJson::object();
        Writer nested(out);
        fields(nested, value);
        return out;
    }

    template <class Value>
    void put(std::string_view key, Value&& value) {
        out_[std::string(key)] = std::forward<Value>(value);
    }

    OrderedJson& out_;
};

template <class Variant>
std::string encode_message(const Variant& message) {
    return std::visit(
        [](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            OrderedJson out = OrderedJson::object();
            out["v"] = kProtocolVersion;
            out["type"] = Wire<T>::kName;
            if constexpr (HasRequestId<T>) {
                out["id"] = m.request_id;
            }
            Writer writer(out);
            fields(writer, m);
            // Strings other than payloads must be UTF-8; an invalid byte is replaced by U+FFFD rather than making
            // encode() throw (payloads never need it: they go out as base64 when they are not UTF-8).
            return out.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
        },
        message);
}

// ------------------------------------------------------------------------------------------- decoding

/// The first thing found wrong with a frame. Once one is recorded, every Reader accessor returns a default at
/// once, so a decoder reads straight through and checks `found()` at the end.
class Problem {
public:
    [[nodiscard]] bool found() const noexcept { return found_; }
    [[nodiscard]] std::error_code code() const noexcept { return code_; }
    [[nodiscard]] const std::string& detail() const noexcept { return detail_; }
    /// The message type being decoded, prefixed to every detail ("join: channel: missing").
    void set_context(std::string_view type) noexcept { context_ = type; }

    void report(std::string_view where, std::string_view what, errc code = errc::protocol_error) {
        if (found_) {
            return;
        }
        found_ = true;
        code_ = make_error_code(code);
        detail_.clear();
        if (!context_.empty()) {
            detail_.append(context_).append(": ");
        }
        detail_.append(where).append(": ").append(what);
    }

private:
    bool found_{false};
    std::error_code code_;
    std::string detail_;
    std::string_view context_;
};

std::optional<std::uint64_t> as_u64(const Json& value) noexcept {
    // Integers only, written without sign, fraction or exponent: nlohmann gives those (up to 2^64 - 1) the
    // unsigned type; "-1", "1.0", "1e3" and "18446744073709551616" come out signed or floating and are refused.
    if (value.is_number_unsigned()) {
        return value.get<std::uint64_t>();
    }
    return std::nullopt;
}

/// Reads the fields a list names from one JSON object, checking each one's JSON type before it touches the value;
/// `path` names the object in details ("channels[2].last_seen"). After the first problem every field reads as its
/// default, so a list is read straight through and `found()` checked at the end.
class Reader {
public:
    static constexpr bool kWrites = false;

    Reader(const Json& object, std::string path, Problem& problem)
        : object_(object), path_(std::move(path)), problem_(problem) {}

    /// The envelope check accepted only this version.
    static void version(int& out) { out = kProtocolVersion; }

    void text(std::string_view key, std::string& out) {
        const Json* value = required(key);
        if (value == nullptr) {
            return;
        }
        if (!value->is_string()) {
            wrong(key, "must be a string");
            return;
        }
        out = value->get_ref<const std::string&>();
    }

    void optional_text(std::string_view key, std::optional<std::string>& out) {
        optional(key, out, [&](std::string& value) { text(key, value); });
    }

    void u64(std::string_view key, std::uint64_t& out) {
        const Json* value = required(key);
        if (value == nullptr) {
            return;
        }
        const auto number = as_u64(*value);
        if (!number) {
            wrong(key, "must be an unsigned 64-bit integer");
            return;
        }
        out = *number;
    }

    void count(std::string_view key, std::size_t& out) {
        std::uint64_t number = 0;
        u64(key, number);
        if (number > std::numeric_limits<std::size_t>::max()) {
            wrong(key, "out of range");
            return;
        }
        out = static_cast<std::size_t>(number);
    }

    void optional_count(std::string_view key, std::optional<std::size_t>& out) {
        optional(key, out, [&](std::size_t& value) { count(key, value); });
    }

    void milliseconds(std::string_view key, Duration& out) {
        std::uint64_t ms = 0;
        u64(key, ms);
        if (ms > kMaxDurationMs) {
            wrong(key, "out of range");
            return;
        }
        out = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
    }

    void optional_milliseconds(std::string_view key, std::optional<Duration>& out) {
        optional(key, out, [&](Duration& value) { milliseconds(key, value); });
    }

    void boolean(std::string_view key, bool& out) {
        const Json* value = required(key);
        if (value == nullptr) {
            return;
        }
        if (!value->is_boolean()) {
            wrong(key, "must be true or false");
            return;
        }
        out = value->get<bool>();
    }

    /// An optional flag: absent means false.
    void flag(std::string_view key, bool& out) {
        out = false;
        if (find(key) != nullptr) {
            boolean(key, out);
        }
    }

    template <class Enum>
    void choice(std::string_view key, Enum& out, std::string_view (* /*name*/)(Enum) noexcept,
                std::optional<Enum> (*parse)(std::string_view) noexcept) {
        const Json* value = required(key);
        if (value == nullptr) {
            return;
        }
        if (!value->is_string()) {
            wrong(key, "must be a string");
            return;
        }
        const std::optional<Enum> parsed = parse(value->get_ref<const std::string&>());
        if (!parsed) {
            wrong(key, "unknown value");
            return;
        }
        out = *parsed;
    }

    /// A required nested object; a missing or mistyped one is reported (and its fields read as absent).
    template <class T>
    void object(std::string_view key, T& out) {
        Reader reader = nested(key);
        fields(reader, out);
    }

    template <class T>
    void optional_object(std::string_view key, std::optional<T>& out) {
        optional(key, out, [&](T& value) { object(key, value); });
    }

    /// An optional object: absent means the default (what the writer leaves out).
    template <class T>
    void object_unless_empty(std::string_view key, T& out) {
        if (find(key) != nullptr) {
            object(key, out);
        }
    }

    /// An optional array of strings: absent means empty.
    void texts(std::string_view key, std::vector<std::string>& out) {
        out.clear();
        const Json* value = array(key);
        if (value == nullptr) {
            return;
        }
        out.reserve(value->size());
        for (const Json& item : *value) {
            if (!item.is_string()) {
                problem_.report(item_path(key, out.size()), "must be a string");
                out.clear();
                return;
            }
            out.push_back(item.get_ref<const std::string&>());
        }
    }

    /// An optional array of objects, each read by its field list: absent means empty.
    template <class T>
    void objects(std::string_view key, std::vector<T>& out) {
        out.clear();
        const Json* value = array(key);
        if (value == nullptr) {
            return;
        }
        out.reserve(value->size());
        for (const Json& item : *value) {
            std::string path = item_path(key, out.size());
            if (!item.is_object()) {
                problem_.report(path, "must be an object");
                out.clear();
                return;
            }
            Reader reader(item, std::move(path), problem_);
            fields(reader, out.emplace_back());
            if (problem_.found()) {
                out.clear();
                return;
            }
        }
    }

    /// Optional attributes: an object whose values are strings; absent means empty.
    void attributes(std::string_view key, Attributes& out) {
        out.clear();
        const Json* value = find(key);
        if (value == nullptr) {
            return;
        }
        if (!value->is_object()) {
            wrong(key, "must be an object of strings");
            return;
        }
        for (const auto& [name, item] : value->items()) {
            if (!item.is_string()) {
                wrong(key, "must be an object of strings");
                out.clear();
                return;
            }
            out.emplace(name, item.get_ref<const std::string&>());
        }
    }

    /// An optional error: absent means success. It is read by number; "name" is informative and ignored.
    void error(std::string_view key, std::error_code& out) {
        out.clear();
        if (find(key) == nullptr) {
            return;
        }
        Reader reader = nested(key);
        std::uint64_t number = 0;
        reader.u64("code", number);
        if (problem_.found()) {
            return;
        }
        const std::error_code code = number <= static_cast<std::uint64_t>(INT_MAX)
                                         ? make_error_code(static_cast<errc>(number))
                                         : std::error_code{};
        if (!is_known_relink_error(code)) {
            problem_.report(where(key) + ".code", "not a relink error code");
            return;
        }
        out = code;
    }

    /// "payload" (UTF-8 text) or "payload_b64" (base64): exactly one, at most kMaxPayloadBytes once decoded.
    void payload(std::string& out) {
        out.clear();
        const Json* text_value = find("payload");
        const Json* b64_value = find("payload_b64");
        if (problem_.found()) {
            return;
        }
        if (text_value != nullptr && b64_value != nullptr) {
            problem_.report(where("payload"), "payload and payload_b64 are exclusive");
            return;
        }
        if (text_value == nullptr && b64_value == nullptr) {
            problem_.report(where("payload"), "missing");
            return;
        }
        if (text_value != nullptr) {
            text("payload", out);
        } else {
            std::string encoded;
            text("payload_b64", encoded);
            if (problem_.found()) {
                return;
            }
            std::optional<std::string> decoded = base64_decode(encoded);
            if (!decoded) {
                wrong("payload_b64", "not canonical padded base64");
                return;
            }
            out = std::move(*decoded);
        }
        if (out.size() > kMaxPayloadBytes) {
            problem_.report(where(text_value != nullptr ? "payload" : "payload_b64"), "larger than 32 KiB",
                            errc::payload_too_large);
            out.clear();
        }
    }

private:
    /// An optional field: absent (or after a problem) leaves `out` empty; present, it is read by `read`.
    template <class T, class Read>
    void optional(std::string_view key, std::optional<T>& out, Read read) {
        out.reset();
        if (find(key) == nullptr) {
            return;
        }
        T value{};
        read(value);
        if (!problem_.found()) {
            out = std::move(value);
        }
    }

    /// A required nested object's reader; a missing or mistyped one reads as empty (and is reported).
    Reader nested(std::string_view key) {
        static const Json kEmpty = Json::object();
        const Json* value = required(key);
        if (value != nullptr && !value->is_object()) {
            wrong(key, "must be an object");
            value = nullptr;
        }
        return Reader(value != nullptr ? *value : kEmpty, where(key), problem_);
    }

    [[nodiscard]] std::string where(std::string_view key) const {
        std::string out = path_;
        if (!out.empty()) {
            out += '.';
        }
        out.append(key);
        return out;
    }

    [[nodiscard]] std::string item_path(std::string_view key, std::size_t index) const {
        return where(key) + '[' + std::to_string(index) + ']';
    }

    /// The field, or nullptr when it is absent (or a problem was already found).
    [[nodiscard]] const Json* find(std::string_view key) const {
        if (problem_.found()) {
            return nullptr;
        }
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }

    const Json* required(std::string_view key) {
        const Json* value = find(key);
        if (value == nullptr) {
            problem_.report(where(key), "missing");
        }
        return value;
    }

    const Json* array(std::string_view key) {
        const Json* value = find(key);
        if (value != nullptr && !value->is_array()) {
            wrong(key, "must be an array");
            return nullptr;
        }
        return value;
    }

    void wrong(std::string_view key, std::string_view what) { problem_.report(where(key), what); }

    const Json& object_;
    std::string path_;
    Problem& problem_;
};

template <class Variant, class T>
Variant read_message(Reader& r) {
    T message;
    if constexpr (HasRequestId<T>) {
        r.u64("id", message.request_id);
    }
    fields(r, message);
    return Variant(std::in_place_type<T>, std::move(message));
}

/// Everything the decoder knows about the alternatives of a message variant, in variant order.
template <class Variant>
struct Table;

template <class... Ts>
struct Table<std::variant<Ts...>> {
    using Variant = std::variant<Ts...>;
    static constexpr std::array<std::string_view, sizeof...(Ts)> kNames{Wire<Ts>::kName...};
    static constexpr std::array<bool, sizeof...(Ts)> kRequests{HasRequestId<Ts>...};
    static constexpr std::array<Variant (*)(Reader&), sizeof...(Ts)> kReaders{&read_message<Variant, Ts>...};

    static std::optional<std::size_t> index_of(std::string_view name) noexcept {
        for (std::size_t i = 0; i < kNames.size(); ++i) {
            if (kNames[i] == name) {
                return i;
            }
        }
        return std::nullopt;
    }
};

/// True when brackets (outside strings) nest deeper than `limit`. Runs before the parser so that a nesting bomb
/// costs one linear scan; for malformed JSON it may miscount, but then the parser rejects the frame anyway.
bool nested_deeper_than(std::string_view frame, std::size_t limit) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : frame) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"': in_string = true; break;
            case '[':
            case '{':
                if (++depth > limit) {
                    return true;
                }
                break;
            case ']':
            case '}':
                if (depth > 0) {
                    --depth;
                }
                break;
            default: break;
        }
    }
    return false;
}

/// Decodes one frame into `Variant`. `answerable`: set DecodeError::request_id for a malformed request (the
/// server's side); the client never answers the server, so its side leaves it empty.
template <class Variant>
std::optional<Variant> decode_frame(std::string_view frame, bool answerable, Problem& problem,
                                    std::optional<RequestId>& request_id) {
    using Types = Table<Variant>;
    if (frame.size() > kMaxFrameBytes) {
        problem.report("frame", "larger than " + std::to_string(kMaxFrameBytes) + " bytes", errc::payload_too_large);
        return std::nullopt;
    }
    if (nested_deeper_than(frame, kMaxDepth)) {
        problem.report("frame", "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        return std::nullopt;
    }
    const Json root = Json::parse(frame.data(), frame.data() + frame.size(), nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) {
        problem.report("frame", "not valid JSON in UTF-8");
        return std::nullopt;
    }
    if (!root.is_object()) {
        problem.report("frame", "not a JSON object");
        return std::nullopt;
    }

    // The type and the request id first, so that every later error can name the request it answers.
    const auto type_it = root.find("type");
    std::optional<std::size_t> index;
    if (type_it != root.end() && type_it->is_string()) {
        index = Types::index_of(type_it->get_ref<const std::string&>());
    }
    if (answerable && index && Types::kRequests[*index]) {
        const auto id_it = root.find("id");
        if (id_it != root.end()) {
            request_id = as_u64(*id_it);
        }
    }

    const auto version_it = root.find("v");
    if (version_it == root.end()) {
        problem.report("v", "missing");
        return std::nullopt;
    }
    const auto version = as_u64(*version_it);
    if (!version || *version != static_cast<std::uint64_t>(kProtocolVersion)) {
        problem.report("v", "unsupported protocol version (this end speaks " + std::to_string(kProtocolVersion) + ")");
        return std::nullopt;
    }
    if (type_it == root.end()) {
        problem.report("type", "missing");
        return std::nullopt;
    }
    if (!type_it->is_string()) {
        problem.report("type", "must be a string");
        return std::nullopt;
    }
    if (!index) {
        problem.report("type", "unknown message type");  // the value is not echoed: it is the peer's text
        return std::nullopt;
    }

    problem.set_context(Types::kNames[*index]);
    Reader reader(root, "", problem);
    Variant message = Types::kReaders[*index](reader);
    if (problem.found()) {
        return std::nullopt;
    }
    return message;
}

template <class Variant>
Decoded<Variant> decode_message(std::string_view frame, bool answerable) {
    Problem problem;
    std::optional<RequestId> request_id;
    std::optional<Variant> message;
    try {
        message = decode_frame<Variant>(frame, answerable, problem, request_id);
    } catch (...) {
        // Only allocation can throw on the paths above; the frame is refused rather than the exception escaping.
        message.reset();
        problem.report("frame", "could not be decoded");
    }
    if (message && !problem.found()) {
        return Decoded<Variant>{std::move(message), DecodeError{}};
    }
    return Decoded<Variant>{std::nullopt, DecodeError{problem.code(), problem.detail(), request_id}};
}

template <class Variant>
std::string_view variant_type_name(const Variant& message) noexcept {
    const std::size_t index = message.index();
    return index < Table<Variant>::kNames.size() ? Table<Variant>::kNames[index] : std::string_view("invalid");
}

}  // namespace

std::string encode(const ClientMessage& message) {
    return encode_message(message);
}
std::string encode(const ServerMessage& message) {
    return encode_message(message);
}

Decoded<ClientMessage> decode_client(std::string_view frame) {
    return decode_message<ClientMessage>(frame, /*answerable=*/true);
}

Decoded<ServerMessage> decode_server(std::string_view frame) {
    return decode_message<ServerMessage>(frame, /*answerable=*/false);
}

std::string_view type_name(const ClientMessage& message) noexcept {
    return variant_type_name(message);
}
std::string_view type_name(const ServerMessage& message) noexcept {
    return variant_type_name(message);
}

}  // namespace relink::proto
