// The JSON wire codec (protocol/codec.hpp; the format is specified in docs/protocol.md, "Wire format").
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

constexpr std::array<std::pair<CloseReason, std::string_view>, 7> kCloseReasons{{
    {CloseReason::remote_login, "remote_login"},
    {CloseReason::banned, "banned"},
    {CloseReason::kicked, "kicked"},
    {CloseReason::token_expired, "token_expired"},
    {CloseReason::keep_alive_timeout, "keep_alive_timeout"},
    {CloseReason::draining, "draining"},
    {CloseReason::invalid, "invalid"},
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
// clang-format on

template <class T>
concept HasRequestId = requires(T message) {
    message.request_id;
};

// ------------------------------------------------------------------------------------------- encoding

OrderedJson position_json(const StreamPosition& position) {
    OrderedJson out = OrderedJson::object();
    out["epoch"] = position.epoch;
    out["seq"] = position.seq;
    return out;
}

OrderedJson strings_json(const std::vector<std::string>& strings) {
    OrderedJson out = OrderedJson::array();
    for (const auto& text : strings) {
        out.push_back(text);
    }
    return out;
}

OrderedJson attributes_json(const Attributes& attributes) {
    OrderedJson out = OrderedJson::object();
    for (const auto& [key, value] : attributes) {
        out[key] = value;
    }
    return out;
}

OrderedJson error_json(std::error_code code) {
    const std::error_code sent = wire_error(code);
    OrderedJson out = OrderedJson::object();
    out["code"] = sent.value();
    out["name"] = error_name(sent);
    return out;
}

void put_strings(OrderedJson& out, std::string_view key, const std::vector<std::string>& strings) {
    if (!strings.empty()) {
        out[std::string(key)] = strings_json(strings);
    }
}

void put_attributes(OrderedJson& out, const Attributes& attributes) {
    if (!attributes.empty()) {
        out["attributes"] = attributes_json(attributes);
    }
}

void put_flag(OrderedJson& out, std::string_view key, bool flag) {
    if (flag) {
        out[std::string(key)] = true;
    }
}

void put_optional(OrderedJson& out, std::string_view key, const std::optional<std::string>& text) {
    if (text) {
        out[std::string(key)] = *text;
    }
}

void put_payload(OrderedJson& out, const std::string& payload) {
    if (is_valid_utf8(payload)) {
        out["payload"] = payload;
    } else {
        out["payload_b64"] = base64_encode(payload);
    }
}

void put_error(OrderedJson& out, std::string_view key, std::error_code code) {
    if (code) {
        out[std::string(key)] = error_json(code);
    }
}

OrderedJson snapshot_json(const ChannelSnapshot& snapshot) {
    OrderedJson out = OrderedJson::object();
    out["channel"] = snapshot.channel;
    put_error(out, "error", snapshot.error);
    if (!snapshot.members.empty()) {
        OrderedJson members = OrderedJson::array();
        for (const auto& member : snapshot.members) {
            OrderedJson entry = OrderedJson::object();
            entry["user_id"] = member.user_id;
            put_strings(entry, "streams", member.streams);
            members.push_back(std::move(entry));
        }
        out["members"] = std::move(members);
    }
    out["position"] = position_json(snapshot.position);
    return out;
}

void write_fields(OrderedJson& out, const Login& m) {
    out["v"] = m.version;  // the login frame's envelope version is the version the client speaks
    out["app_id"] = m.app_id;
    out["user_id"] = m.user_id;
    out["token"] = m.token;
    out["instance_id"] = m.instance_id;
    out["profile"] = to_string(m.profile);
    put_optional(out, "resume_token", m.resume_token);
    if (m.last_peer_seen) {
        out["last_peer_seen"] = position_json(*m.last_peer_seen);
    }
    if (!m.channels.empty()) {
        OrderedJson channels = OrderedJson::array();
        for (const auto& channel : m.channels) {
            OrderedJson entry = OrderedJson::object();
            entry["channel"] = channel.channel;
            if (channel.last_seen) {
                entry["last_seen"] = position_json(*channel.last_seen);
            }
            put_strings(entry, "streams", channel.streams);
            channels.push_back(std::move(entry));
        }
        out["channels"] = std::move(channels);
    }
    put_attributes(out, m.attributes);
}

void write_fields(OrderedJson& /*out*/, const Logout& /*m*/) {}
void write_fields(OrderedJson& out, const Join& m) {
    out["channel"] = m.channel;
}
void write_fields(OrderedJson& out, const Leave& m) {
    out["channel"] = m.channel;
}

void write_fields(OrderedJson& out, const Publish& m) {
    out["channel"] = m.channel;
    out["stream"] = m.stream;
    put_flag(out, "unpublish", m.unpublish);
}

void write_fields(OrderedJson& out, const SendMessage& m) {
    out["message_id"] = m.message_id;
    put_optional(out, "to_user", m.to_user);
    put_optional(out, "to_channel", m.to_channel);
    put_payload(out, m.payload);
    put_flag(out, "store_offline", m.store_offline);
}

void write_fields(OrderedJson& out, const SetAttributes& m) {
    put_attributes(out, m.attributes);
}
void write_fields(OrderedJson& out, const GetAttributes& m) {
    out["user_id"] = m.user_id;
}
void write_fields(OrderedJson& out, const RenewToken& m) {
    out["token"] = m.token;
}
void write_fields(OrderedJson& /*out*/, const Ping& /*m*/) {}

void write_fields(OrderedJson& out, const LoginOk& m) {
    out["resume_token"] = m.resume_token;
    put_flag(out, "resumed", m.resumed);
    OrderedJson negotiated = OrderedJson::object();
    negotiated["heartbeat_interval_ms"] = to_wire_ms(m.negotiated.heartbeat_interval);
    negotiated["presence_timeout_ms"] = to_wire_ms(m.negotiated.presence_timeout);
    negotiated["backfill_window_ms"] = to_wire_ms(m.negotiated.backfill_window);
    negotiated["backfill_count"] = static_cast<std::uint64_t>(m.negotiated.backfill_count);
    out["negotiated"] = std::move(negotiated);
    out["token_ttl_ms"] = to_wire_ms(m.token_ttl);
    if (!m.channels.empty()) {
        OrderedJson channels = OrderedJson::array();
        for (const auto& snapshot : m.channels) {
            channels.push_back(snapshot_json(snapshot));
        }
        out["channels"] = std::move(channels);
    }
    out["backfilled"] = m.backfilled;
    out["dropped"] = m.dropped;
    out["peer_position"] = position_json(m.peer_position);
}

void write_fields(OrderedJson& out, const Reply& m) {
    put_error(out, "error", m.error);
    put_flag(out, "stored", m.stored);
}
void write_fields(OrderedJson& out, const JoinOk& m) {
    out["snapshot"] = snapshot_json(m.snapshot);
}

void write_fields(OrderedJson& out, const AttributesReply& m) {
    out["user_id"] = m.user_id;
    put_attributes(out, m.attributes);
}

void write_fields(OrderedJson& out, const RenewOk& m) {
    out["token_ttl_ms"] = to_wire_ms(m.token_ttl);
}

void write_fields(OrderedJson& out, const MemberJoined& m) {
    out["channel"] = m.channel;
    out["user_id"] = m.user_id;
}

void write_fields(OrderedJson& out, const MemberLeft& m) {
    out["channel"] = m.channel;
    out["user_id"] = m.user_id;
    out["cause"] = to_string(m.cause);
}

void write_fields(OrderedJson& out, const StreamChanged& m) {
    out["channel"] = m.channel;
    out["user_id"] = m.user_id;
    out["stream"] = m.stream;
    out["added"] = m.added;
}

void write_fields(OrderedJson& out, const Message& m) {
    out["from"] = m.from;
    put_optional(out, "channel", m.channel);
    out["message_id"] = m.message_id;
    put_payload(out, m.payload);
    out["position"] = position_json(m.position);
    put_flag(out, "backfilled", m.backfilled);
}

void write_fields(OrderedJson& /*out*/, const Pong& /*m*/) {}

void write_fields(OrderedJson& out, const Close& m) {
    out["reason"] = close_reason_name(m.reason);
    out["reconnect_within_ms"] = to_wire_ms(m.reconnect_within);
}

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
            write_fields(out, m);
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

/// Checked access to the fields of one JSON object; `path` names it in details ("channels[2].last_seen").
class Reader {
public:
    Reader(const Json& object, std::string path, Problem& problem)
        : object_(object), path_(std::move(path)), problem_(problem) {}

    std::string text(std::string_view key) {
        const Json* value = required(key);
        if (value == nullptr) {
            return {};
        }
        if (!value->is_string()) {
            wrong(key, "must be a string");
            return {};
        }
        return value->get_ref<const std::string&>();
    }

    std::optional<std::string> optional_text(std::string_view key) {
        if (find(key) == nullptr) {
            return std::nullopt;
        }
        std::string value = text(key);
        return problem_.found() ? std::nullopt : std::optional<std::string>(std::move(value));
    }

    std::uint64_t u64(std::string_view key) {
        const Json* value = required(key);
        if (value == nullptr) {
            return 0;
        }
        const auto number = as_u64(*value);
        if (!number) {
            wrong(key, "must be an unsigned 64-bit integer");
            return 0;
        }
        return *number;
    }

    std::size_t count(std::string_view key) {
        const std::uint64_t number = u64(key);
        if (number > std::numeric_limits<std::size_t>::max()) {
            wrong(key, "out of range");
            return 0;
        }
        return static_cast<std::size_t>(number);
    }

    Duration milliseconds(std::string_view key) {
        const std::uint64_t ms = u64(key);
        if (ms > kMaxDurationMs) {
            wrong(key, "out of range");
            return {};
        }
        return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
    }

    bool boolean(std::string_view key) {
        const Json* value = required(key);
        if (value == nullptr) {
            return false;
        }
        if (!value->is_boolean()) {
            wrong(key, "must be true or false");
            return false;
        }
        return value->get<bool>();
    }

    /// An optional flag: absent means false.
    bool flag(std::string_view key) { return find(key) != nullptr && boolean(key); }

    template <class Enum, class Parse>
    Enum choice(std::string_view key, Parse parse, Enum fallback) {
        const Json* value = required(key);
        if (value == nullptr) {
            return fallback;
        }
        if (!value->is_string()) {
            wrong(key, "must be a string");
            return fallback;
        }
        const std::optional<Enum> parsed = parse(value->get_ref<const std::string&>());
        if (!parsed) {
            wrong(key, "unknown value");
            return fallback;
        }
        return *parsed;
    }

    /// A required nested object; a missing or mistyped one reads as empty (and is reported).
    Reader object(std::string_view key) {
        static const Json kEmpty = Json::object();
        const Json* value = required(key);
        if (value != nullptr && !value->is_object()) {
            wrong(key, "must be an object");
            value = nullptr;
        }
        return Reader(value != nullptr ? *value : kEmpty, where(key), problem_);
    }

    StreamPosition position(std::string_view key) {
        Reader nested = object(key);
        return read_position(nested);
    }

    std::optional<StreamPosition> optional_position(std::string_view key) {
        if (find(key) == nullptr) {
            return std::nullopt;
        }
        const StreamPosition value = position(key);
        return problem_.found() ? std::nullopt : std::optional<StreamPosition>(value);
    }

    /// An optional array of strings: absent means empty.
    std::vector<std::string> texts(std::string_view key) {
        std::vector<std::string> out;
        const Json* value = array(key);
        if (value == nullptr) {
            return out;
        }
        out.reserve(value->size());
        for (const Json& item : *value) {
            if (!item.is_string()) {
                problem_.report(item_path(key, out.size()), "must be a string");
                return {};
            }
            out.push_back(item.get_ref<const std::string&>());
        }
        return out;
    }

    /// An optional array of objects, each read by `read_one(Reader&)`: absent means empty.
    template <class ReadOne>
    auto objects(std::string_view key, ReadOne read_one) {
        std::vector<decltype(read_one(std::declval<Reader&>()))> out;
        const Json* value = array(key);
        if (value == nullptr) {
            return out;
        }
        out.reserve(value->size());
        for (const Json& item : *value) {
            std::string path = item_path(key, out.size());
            if (!item.is_object()) {
                problem_.report(path, "must be an object");
                return decltype(out){};
            }
            Reader nested(item, std::move(path), problem_);
            out.push_back(read_one(nested));
            if (problem_.found()) {
                return decltype(out){};
            }
        }
        return out;
    }

    /// Optional attributes: an object whose values are strings; absent means empty.
    Attributes attributes(std::string_view key) {
        Attributes out;
        const Json* value = find(key);
        if (value == nullptr) {
            return out;
        }
        if (!value->is_object()) {
            wrong(key, "must be an object of strings");
            return out;
        }
        for (const auto& [name, item] : value->items()) {
            if (!item.is_string()) {
                wrong(key, "must be an object of strings");
                return {};
            }
            out.emplace(name, item.get_ref<const std::string&>());
        }
        return out;
    }

    /// An optional error: absent means success. It is read by number; "name" is informative and ignored.
    std::error_code error(std::string_view key) {
        const Json* value = find(key);
        if (value == nullptr) {
            return {};
        }
        Reader nested = object(key);
        const std::uint64_t number = nested.u64("code");
        if (problem_.found()) {
            return {};
        }
        const std::error_code code = number <= static_cast<std::uint64_t>(INT_MAX)
                                         ? make_error_code(static_cast<errc>(number))
                                         : std::error_code{};
        if (!is_known_relink_error(code)) {
            problem_.report(where(key) + ".code", "not a relink error code");
            return {};
        }
        return code;
    }

    /// "payload" (UTF-8 text) or "payload_b64" (base64): exactly one, at most kMaxPayloadBytes once decoded.
    std::string payload() {
        const Json* text_value = find("payload");
        const Json* b64_value = find("payload_b64");
        if (problem_.found()) {
            return {};
        }
        if (text_value != nullptr && b64_value != nullptr) {
            problem_.report(where("payload"), "payload and payload_b64 are exclusive");
            return {};
        }
        if (text_value == nullptr && b64_value == nullptr) {
            problem_.report(where("payload"), "missing");
            return {};
        }
        std::string out;
        if (text_value != nullptr) {
            out = text("payload");
        } else {
            const std::string encoded = text("payload_b64");
            if (problem_.found()) {
                return {};
            }
            std::optional<std::string> decoded = base64_decode(encoded);
            if (!decoded) {
                wrong("payload_b64", "not canonical padded base64");
                return {};
            }
            out = std::move(*decoded);
        }
        if (out.size() > kMaxPayloadBytes) {
            problem_.report(where(text_value != nullptr ? "payload" : "payload_b64"), "larger than 32 KiB",
                            errc::payload_too_large);
            return {};
        }
        return out;
    }

private:
    static StreamPosition read_position(Reader& reader) {
        StreamPosition out;
        out.epoch = reader.u64("epoch");
        out.seq = reader.u64("seq");
        return out;
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

ChannelSnapshot read_snapshot(Reader& r) {
    ChannelSnapshot out;
    out.channel = r.text("channel");
    out.error = r.error("error");
    out.members = r.objects("members", [](Reader& member) {
        Member m;
        m.user_id = member.text("user_id");
        m.streams = member.texts("streams");
        return m;
    });
    out.position = r.position("position");
    return out;
}

void read_fields(Reader& r, Login& m) {
    m.version = kProtocolVersion;  // the envelope check accepted only this version
    m.app_id = r.text("app_id");
    m.user_id = r.text("user_id");
    m.token = r.text("token");
    m.instance_id = r.text("instance_id");
    m.profile = r.choice("profile", profile_from_string, Profile::rtm);
    m.resume_token = r.optional_text("resume_token");
    m.last_peer_seen = r.optional_position("last_peer_seen");
    m.channels = r.objects("channels", [](Reader& channel) {
        ChannelResume c;
        c.channel = channel.text("channel");
        c.last_seen = channel.optional_position("last_seen");
        c.streams = channel.texts("streams");
        return c;
    });
    m.attributes = r.attributes("attributes");
}

void read_fields(Reader& /*r*/, Logout& /*m*/) {}
void read_fields(Reader& r, Join& m) {
    m.channel = r.text("channel");
}
void read_fields(Reader& r, Leave& m) {
    m.channel = r.text("channel");
}

void read_fields(Reader& r, Publish& m) {
    m.channel = r.text("channel");
    m.stream = r.text("stream");
    m.unpublish = r.flag("unpublish");
}

void read_fields(Reader& r, SendMessage& m) {
    m.message_id = r.text("message_id");
    m.to_user = r.optional_text("to_user");
    m.to_channel = r.optional_text("to_channel");
    m.payload = r.payload();
    m.store_offline = r.flag("store_offline");
}

void read_fields(Reader& r, SetAttributes& m) {
    m.attributes = r.attributes("attributes");
}
void read_fields(Reader& r, GetAttributes& m) {
    m.user_id = r.text("user_id");
}
void read_fields(Reader& r, RenewToken& m) {
    m.token = r.text("token");
}
void read_fields(Reader& /*r*/, Ping& /*m*/) {}

void read_fields(Reader& r, LoginOk& m) {
    m.resume_token = r.text("resume_token");
    m.resumed = r.flag("resumed");
    Reader negotiated = r.object("negotiated");
    m.negotiated.heartbeat_interval = negotiated.milliseconds("heartbeat_interval_ms");
    m.negotiated.presence_timeout = negotiated.milliseconds("presence_timeout_ms");
    m.negotiated.backfill_window = negotiated.milliseconds("backfill_window_ms");
    m.negotiated.backfill_count = negotiated.count("backfill_count");
    m.token_ttl = r.milliseconds("token_ttl_ms");
    m.channels = r.objects("channels", read_snapshot);
    m.backfilled = r.u64("backfilled");
    m.dropped = r.u64("dropped");
    m.peer_position = r.position("peer_position");
}

void read_fields(Reader& r, Reply& m) {
    m.error = r.error("error");
    m.stored = r.flag("stored");
}

void read_fields(Reader& r, JoinOk& m) {
    Reader snapshot = r.object("snapshot");
    m.snapshot = read_snapshot(snapshot);
}

void read_fields(Reader& r, AttributesReply& m) {
    m.user_id = r.text("user_id");
    m.attributes = r.attributes("attributes");
}

void read_fields(Reader& r, RenewOk& m) {
    m.token_ttl = r.milliseconds("token_ttl_ms");
}

void read_fields(Reader& r, MemberJoined& m) {
    m.channel = r.text("channel");
    m.user_id = r.text("user_id");
}

void read_fields(Reader& r, MemberLeft& m) {
    m.channel = r.text("channel");
    m.user_id = r.text("user_id");
    m.cause = r.choice("cause", member_left_cause_from_string, MemberLeftCause::quit);
}

void read_fields(Reader& r, StreamChanged& m) {
    m.channel = r.text("channel");
    m.user_id = r.text("user_id");
    m.stream = r.text("stream");
    m.added = r.boolean("added");
}

void read_fields(Reader& r, Message& m) {
    m.from = r.text("from");
    m.channel = r.optional_text("channel");
    m.message_id = r.text("message_id");
    m.payload = r.payload();
    m.position = r.position("position");
    m.backfilled = r.flag("backfilled");
}

void read_fields(Reader& /*r*/, Pong& /*m*/) {}

void read_fields(Reader& r, Close& m) {
    m.reason = r.choice("reason", close_reason_from_string, CloseReason::invalid);
    m.reconnect_within = r.milliseconds("reconnect_within_ms");
}

template <class Variant, class T>
Variant read_message(Reader& r) {
    T message;
    if constexpr (HasRequestId<T>) {
        message.request_id = r.u64("id");
    }
    read_fields(r, message);
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
