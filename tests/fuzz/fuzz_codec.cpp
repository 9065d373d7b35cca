// tests/fuzz/fuzz_codec.cpp — libFuzzer target for the protocol decoder, both directions
// (src/protocol/codec.hpp: proto::decode_client, proto::decode_server). The input is one WebSocket text frame.
//
// Properties checked for every input (docs/fuzzing.md, docs/protocol.md "Errors"):
//  - decoding is total: no exception escapes either decoder;
//  - a frame decodes in at most one direction (types are per direction);
//  - an error has a non-empty detail made of field paths and fixed words only (it never quotes the frame), starts
//    with the stage or message type that failed, and a code that is PROTOCOL_ERROR or PAYLOAD_TOO_LARGE;
//  - DecodeError::request_id is set exactly when the frame is a JSON object naming a client request type with a
//    valid id (and then it is that id); decode_server never sets it;
//  - a decoded message has the frame's type and id, and decode → encode → decode gives the same message, whose
//    second encoding is byte for byte the first (the encoder's output is a fixed point).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "protocol/codec.hpp"

namespace {

using namespace relink::proto;
using Json = nlohmann::json;

constexpr std::string_view kClientRequests[] = {"login", "logout",         "join",           "leave",      "publish",
                                                "send",  "set_attributes", "get_attributes", "renew_token"};
constexpr std::string_view kClientTypes[] = {"login", "logout",         "join",           "leave",       "publish",
                                             "send",  "set_attributes", "get_attributes", "renew_token", "ping"};
constexpr std::string_view kServerTypes[] = {"login_ok", "reply",         "join_ok",     "attributes",
                                             "renew_ok", "member_joined", "member_left", "stream_changed",
                                             "message",  "pong",          "close"};

template <std::size_t N>
bool one_of(std::string_view text, const std::string_view (&names)[N]) {
    for (const std::string_view name : names) {
        if (name == text) {
            return true;
        }
    }
    return false;
}

/// Field paths and fixed words only: "login: channels[1].last_seen.epoch: must be an unsigned 64-bit integer".
bool is_clean_detail(std::string_view detail) {
    for (const char c : detail) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
                        c == '_' || c == '.' || c == ':' || c == '(' || c == ')' || c == '[' || c == ']' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/// The stage ("frame", "v", "type") or the message type a detail starts with.
template <std::size_t N>
bool has_known_prefix(std::string_view detail, const std::string_view (&types)[N]) {
    const auto colon = detail.find(": ");
    if (colon == std::string_view::npos) {
        return false;
    }
    const std::string_view head = detail.substr(0, colon);
    return head == "frame" || head == "v" || head == "type" || one_of(head, types);
}

/// The frame as JSON, when it is a JSON object (the reference the decoder's answers are compared with).
std::optional<Json> parse_object(std::string_view frame) {
    Json root = Json::parse(frame.data(), frame.data() + frame.size(), nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded() || !root.is_object()) {
        return std::nullopt;
    }
    return root;
}

std::optional<std::string> type_of(const Json& root) {
    const auto it = root.find("type");
    if (it == root.end() || !it->is_string()) {
        return std::nullopt;
    }
    return it->get<std::string>();
}

std::optional<RequestId> id_of(const Json& root) {
    const auto it = root.find("id");
    if (it == root.end() || !it->is_number_unsigned()) {
        return std::nullopt;
    }
    return it->get<std::uint64_t>();
}

/// The request id the server side must report for a frame it cannot decode: the "id" of a client request type.
std::optional<RequestId> answerable_id(const Json& root) {
    const auto type = type_of(root);
    if (!type || !one_of(*type, kClientRequests)) {
        return std::nullopt;
    }
    return id_of(root);
}

template <class Variant>
std::optional<RequestId> request_id_of(const Variant& message) {
    return std::visit(
        [](const auto& m) -> std::optional<RequestId> {
            if constexpr (requires { m.request_id; }) {
                return m.request_id;
            } else {
                return std::nullopt;
            }
        },
        message);
}

template <std::size_t N>
void check_error(const DecodeError& error, const std::string_view (&types)[N]) {
    FUZZ_CHECK(!error.detail.empty(), "a decode error without detail");
    FUZZ_CHECK(error.code == relink::make_error_code(relink::errc::protocol_error) ||
                   error.code == relink::make_error_code(relink::errc::payload_too_large),
               "unexpected error code for: " + error.detail);
    FUZZ_CHECK(is_clean_detail(error.detail),
               "the detail quotes something else than paths and fixed words: " + error.detail);
    FUZZ_CHECK(has_known_prefix(error.detail, types), "the detail names no stage or type: " + error.detail);
}

/// decode → encode → decode is stable, and the encoder's output is a fixed point.
template <class Variant, class Decode>
void check_round_trip(const Variant& message, Decode decode) {
    const std::string once = encode(message);
    if (once.size() > kMaxFrameBytes) {
        return;  // the encoder does not enforce limits (docs/protocol.md "Limits"); senders check sizes first
    }
    const auto again = decode(once);
    FUZZ_CHECK(again, "encode() of a decoded message does not decode: " + again.error.detail + "\n  " + once);
    FUZZ_CHECK(*again.message == message, "decode(encode(m)) != m for " + once);
    FUZZ_CHECK(encode(*again.message) == once, "encode(decode(encode(m))) != encode(m) for " + once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view frame = relink::fuzz::as_text(data, size);

    std::optional<Decoded<ClientMessage>> client;
    std::optional<Decoded<ServerMessage>> server;
    try {
        client.emplace(decode_client(frame));
        server.emplace(decode_server(frame));
    } catch (...) {
        FUZZ_CHECK(false, "an exception escaped a decoder");
    }
    FUZZ_CHECK(!(*client && *server), "a frame decoded in both directions");

    // The reference view of the frame, needed when a decoder got past the JSON stage or reported a request id.
    const bool past_json =
        *client || *server || !client->error.detail.starts_with("frame: ") || client->error.request_id.has_value();
    const std::optional<Json> root = past_json ? parse_object(frame) : std::nullopt;
    if (past_json) {
        FUZZ_CHECK(root.has_value(), "a frame that is no JSON object got past the frame checks");
    }

    // The client side (what the server decodes).
    if (*client) {
        FUZZ_CHECK(type_of(*root) == std::string(type_name(*client->message)), "decoded type != the frame's type");
        FUZZ_CHECK(request_id_of(*client->message) == answerable_id(*root), "decoded request id != the frame's id");
        check_round_trip(*client->message, decode_client);
    } else {
        check_error(client->error, kClientTypes);
        if (client->error.request_id) {
            FUZZ_CHECK(answerable_id(*root) == client->error.request_id,
                       "request_id reported for a frame that names no such request: " + client->error.detail);
        } else if (root) {
            FUZZ_CHECK(!answerable_id(*root), "a request with a valid id was not answerable: " + client->error.detail);
        }
    }

    // The server side (what the client decodes).
    if (*server) {
        FUZZ_CHECK(type_of(*root) == std::string(type_name(*server->message)), "decoded type != the frame's type");
        if (const auto id = request_id_of(*server->message)) {
            FUZZ_CHECK(id == id_of(*root), "decoded reply id != the frame's id");
        }
        check_round_trip(*server->message, decode_server);
    } else {
        check_error(server->error, kServerTypes);
        FUZZ_CHECK(!server->error.request_id, "decode_server set a request id");
    }
    return 0;
}
