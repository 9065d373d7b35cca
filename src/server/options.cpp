// relinkd's options (server/options.hpp): flags, the JSON config file, validation and the scaled durations.
#include "server/options.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/command_line.hpp"

namespace relink::server {
namespace {

using Json = nlohmann::json;

/// The flags that take a value, and the boolean ones; a config file uses the same names without the dashes.
const std::set<std::string, std::less<>> kValueFlags{
    "config",       "listen",     "cert",    "key",       "write-ca",   "app",   "admin-listen",
    "admin-secret", "time-scale", "threads", "log-level", "log-format", "limit", "tls-ticket-key-file",
    "cluster",      "node-id",    "app-key"};

const std::set<std::string, std::less<>> kLogLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};

/// An app id and its secret, given apart (the config file's {"ID": "SECRET"}: the id may contain ':').
std::string add_app(Options& options, std::string_view app_id, std::string_view secret, std::set<std::string>& seen) {
    if (app_id.empty() || secret.empty()) {
        return "--app wants ID:SECRET with a non-empty id and secret";  // never echo a secret
    }
    std::string id{app_id};
    if (!is_valid_user_id(id)) {
        return "--app: invalid app id '" + id + "' (1-64 characters of a-zA-Z0-9 and !#$%&()+-:;<=.>?@[]^_{|}~,)";
    }
    if (!seen.insert(id).second) {
        return "--app: app id '" + id + "' given twice";
    }
    options.apps[id] = std::string(secret);
    return {};
}

/// "ID:SECRET": the id ends at the first colon (the secret may contain colons).
std::string add_app(Options& options, std::string_view text, std::set<std::string>& seen) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        return "--app wants ID:SECRET with a non-empty id and secret";  // never echo a secret
    }
    return add_app(options, text.substr(0, colon), text.substr(colon + 1), seen);
}

/// A public key for an app's JWTs, given apart: "ALG:PEMFILE" (the config file's {"ID": "ALG:PEMFILE"}). The file
/// is read now, so that a bad key stops relinkd at start with one line.
std::string add_app_key(Options& options, std::string_view app_id, std::string_view alg_and_file) {
    const std::string usage = "--app-key wants ID:ALG:PEMFILE with ALG ES256 or RS256";
    const auto colon = alg_and_file.find(':');
    if (app_id.empty() || colon == std::string_view::npos || colon + 1 == alg_and_file.size()) {
        return usage + ", got '" + std::string(app_id) + ":" + std::string(alg_and_file) + "'";
    }
    std::string id{app_id};
    if (!is_valid_user_id(id)) {
        return "--app-key: invalid app id '" + id + "' (1-64 characters of a-zA-Z0-9 and !#$%&()+-:;<=.>?@[]^_{|}~,)";
    }
    const auto alg_name = alg_and_file.substr(0, colon);
    const auto algorithm = token::parse_algorithm(alg_name);
    if (!algorithm || *algorithm == token::Algorithm::hs256) {
        return usage + " (HS256 uses the app's secret: --app ID:SECRET), got '" + std::string(alg_name) + "'";
    }
    const std::string path{alg_and_file.substr(colon + 1)};
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return "--app-key: cannot read '" + path + "'";
    }
    std::ostringstream pem;
    pem << in.rdbuf();  // an empty file leaves `pem` empty: from_pem() then says it holds no key
    try {
        options.app_public_keys[id].push_back(token::PublicKey::from_pem(*algorithm, pem.str()));
    } catch (const std::invalid_argument& e) {
        return "--app-key: '" + path + "': " + e.what();
    }
    return {};
}

/// "ID:ALG:PEMFILE": the id ends at the first colon, the algorithm at the second (the path may contain colons).
std::string add_app_key(Options& options, std::string_view text) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        return "--app-key wants ID:ALG:PEMFILE with ALG ES256 or RS256, got '" + std::string(text) + "'";
    }
    return add_app_key(options, text.substr(0, colon), text.substr(colon + 1));
}

std::optional<double> parse_double(std::string_view text);

/// The duration bound a --limit name sets (in milliseconds), or nullptr.
Duration* timing_bound(TimingBounds& bounds, std::string_view name) {
    if (name == "heartbeat-min-ms") {
        return &bounds.min_heartbeat_interval;
    }
    if (name == "heartbeat-max-ms") {
        return &bounds.max_heartbeat_interval;
    }
    if (name == "presence-timeout-min-ms") {
        return &bounds.min_presence_timeout;
    }
    if (name == "presence-timeout-max-ms") {
        return &bounds.max_presence_timeout;
    }
    if (name == "backfill-window-max-ms") {
        return &bounds.max_backfill_window;
    }
    return nullptr;
}

/// Applies "NAME=VALUE" to the hub's limits (docs/server.md lists the names); returns an error line or "".
std::string add_limit(Options& options, std::string_view text) {
    const auto equals = text.find('=');
    const std::string name{text.substr(0, equals == std::string_view::npos ? 0 : equals)};
    // A plain double (NaN when missing or unreadable), not an optional: GCC's -O2 flow analysis loses track of an
    // optional through the long chain below and warns that it may be uninitialized.
    double value = std::numeric_limits<double>::quiet_NaN();
    if (equals != std::string_view::npos) {
        value = parse_double(text.substr(equals + 1)).value_or(value);
    }
    const double least = name == "presence-batch-ms" ? 0.0 : 1.0;  // 0 turns presence batches off
    if (name.empty() || !std::isfinite(value) || value < least || value > 1e9) {
        return "--limit wants NAME=VALUE with VALUE in [1, 1e9] (presence-batch-ms: [0, 1e9]), got '" +
               std::string(text) + "'";
    }
    Limits& l = options.limits;
    const auto count = static_cast<std::size_t>(value);
    if (name == "messages-per-second") {
        l.messages_per_second = value;
    } else if (name == "message-burst") {
        l.message_burst = value;
    } else if (name == "logins-per-second") {
        l.logins_per_second_per_address = value;
    } else if (name == "login-burst") {
        l.login_burst = value;
    } else if (name == "channels-per-user") {
        l.max_channels_per_user = count;
    } else if (name == "members-per-channel") {
        l.max_members_per_channel = count;
    } else if (name == "peer-queue") {
        l.peer_queue_per_user = count;
    } else if (name == "history") {
        l.history_per_channel = count;
    } else if (name == "drain-logins-per-second") {
        l.drain_logins_per_second = value;
    } else if (name == "presence-batch-ms") {
        l.presence_batch_interval =
            std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(value));
    } else if (name == "server-logins-per-second") {
        l.server_logins_per_second = value;
    } else if (name == "server-login-burst") {
        l.server_login_burst = value;
    } else if (name == "logins-in-progress") {
        l.max_logins_in_progress = count;
    } else if (name == "busy-retry-min-ms") {
        l.busy_retry_min = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(value));
    } else if (name == "busy-retry-max-ms") {
        l.busy_retry_max = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(value));
    } else if (name == "write-queue-budget-mb") {
        l.write_queue_budget_bytes = static_cast<std::size_t>(value * 1024.0 * 1024.0);
    } else if (name == "write-queue-high-water-percent" && value <= 100.0) {
        l.write_queue_high_water_percent = value;
    } else if (name == "handshakes-in-progress") {
        l.max_handshakes_in_progress = count;
    } else if (name == "session-lifetime-seconds") {
        l.session_lifetime = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(value));
    } else if (auto* bound = timing_bound(options.timing_bounds, name)) {
        *bound = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(value));
    } else if (name == "backfill-count-max") {
        options.timing_bounds.max_backfill_count = count;
    } else {
        return "--limit: unknown limit '" + name +
               "' (messages-per-second, message-burst, logins-per-second, login-burst, channels-per-user, "
               "members-per-channel, peer-queue, history, drain-logins-per-second, session-lifetime-seconds, "
               "presence-batch-ms, "
               "server-logins-per-second, server-login-burst, logins-in-progress, busy-retry-min-ms, "
               "busy-retry-max-ms, write-queue-budget-mb, write-queue-high-water-percent (at most 100), "
               "handshakes-in-progress, "
               "heartbeat-min-ms, heartbeat-max-ms, presence-timeout-min-ms, presence-timeout-max-ms, "
               "backfill-window-max-ms, backfill-count-max)";
    }
    return {};
}

std::optional<double> parse_double(std::string_view text) {
    if (text.empty() || text.size() > 64) {
        return std::nullopt;
    }
    const std::string copy{text};
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(copy.c_str(), &end);
    if (errno != 0 || end != copy.c_str() + copy.size()) {
        return std::nullopt;
    }
    return value;
}

std::optional<unsigned> parse_unsigned(std::string_view text) {
    unsigned value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

/// Applies one flag (name without dashes) with its value; returns an error line or "".
std::string apply_flag(Options& options, std::string_view name, std::string_view value,
                       std::set<std::string>& apps_seen) {
    if (name == "listen" || name == "admin-listen") {
        auto host_port = parse_host_port(value);
        if (!host_port) {
            return "--" + std::string(name) + " wants HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:0), got '" +
                   std::string(value) + "'";
        }
        (name == "listen" ? options.listen : options.admin_listen.emplace()) = *host_port;
    } else if (name == "cert") {
        options.cert_file = value;
    } else if (name == "key") {
        options.key_file = value;
    } else if (name == "write-ca") {
        options.write_ca_file = value;
    } else if (name == "tls-ticket-key-file") {
        if (value.empty()) {
            return "--tls-ticket-key-file wants a file path";
        }
        options.tls_ticket_key_file = value;
    } else if (name == "app") {
        return add_app(options, value, apps_seen);
    } else if (name == "app-key") {
        return add_app_key(options, value);
    } else if (name == "limit") {
        return add_limit(options, value);
    } else if (name == "cluster") {
        if (value.rfind("redis://", 0) != 0) {  // the rest is checked where the URL is used (cluster_node.cpp)
            return "--cluster wants redis://HOST:PORT[/DB], got '" + std::string(value) + "'";
        }
        options.cluster_url = value;
    } else if (name == "node-id") {
        if (!is_valid_user_id(value)) {
            return "--node-id wants 1-64 characters of the user-id alphabet (letters, digits, -_.:@ ...), got '" +
                   std::string(value) + "'";
        }
        options.node_id = value;
    } else if (name == "admin-secret") {
        options.admin_secret = value;
    } else if (name == "time-scale") {
        const auto scale = parse_double(value);
        if (!scale || !std::isfinite(*scale) || *scale <= 0.0 || *scale > 1000.0) {
            return "--time-scale wants a number in (0, 1000], got '" + std::string(value) + "'";
        }
        options.time_scale = *scale;
    } else if (name == "threads") {
        const auto threads = parse_unsigned(value);
        if (!threads || *threads < 1 || *threads > 1024) {
            return "--threads wants an integer in [1, 1024], got '" + std::string(value) + "'";
        }
        options.threads = *threads;
    } else if (name == "log-level") {
        if (!kLogLevels.contains(value)) {
            return "--log-level wants one of trace, debug, info, warn, error, critical, off; got '" +
                   std::string(value) + "'";
        }
        options.log_level = value;
    } else if (name == "log-format") {
        if (value != "text" && value != "json") {
            return "--log-format wants text or json, got '" + std::string(value) + "'";
        }
        options.log_format = value;
    } else {
        return "unknown option '--" + std::string(name) + "'";
    }
    return {};
}

std::string read_file(const std::string& path, std::string& text) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return "--config: cannot read '" + path + "'";
    }
    std::ostringstream out;
    out << in.rdbuf();
    text = out.str();
    return {};
}

/// The whole configuration's consistency, once flags and file are merged.
std::string validate(Options& options) {
    if (options.help || options.version) {
        return {};
    }
    if (options.apps.empty() && options.app_public_keys.empty()) {
        return "no app configured: give at least one --app ID:SECRET or --app-key ID:ALG:PEMFILE";
    }
    if (options.cert_file.empty() != options.key_file.empty()) {
        return "--cert and --key go together";
    }
    if (options.insecure_plaintext) {
        if (!options.cert_file.empty()) {
            return "--insecure-plaintext and --cert/--key exclude each other";
        }
        if (!options.write_ca_file.empty()) {
            return "--write-ca needs TLS, not --insecure-plaintext";
        }
        if (!options.tls_ticket_key_file.empty()) {
            return "--tls-ticket-key-file needs TLS, not --insecure-plaintext";
        }
        if (!is_loopback_host(options.listen.host)) {
            return "--insecure-plaintext is refused on a non-loopback address (" + options.listen.host + "): use TLS";
        }
    }
    if (options.admin_listen && options.admin_secret.empty()) {
        return "--admin-listen needs --admin-secret";
    }
    if (!options.admin_listen && !options.admin_secret.empty()) {
        return "--admin-secret needs --admin-listen";
    }
    const TimingBounds& b = options.timing_bounds;
    if (b.min_heartbeat_interval > b.max_heartbeat_interval) {
        return "--limit heartbeat-min-ms is above heartbeat-max-ms";
    }
    if (b.min_presence_timeout > b.max_presence_timeout) {
        return "--limit presence-timeout-min-ms is above presence-timeout-max-ms";
    }
    if (options.limits.busy_retry_min > options.limits.busy_retry_max) {
        return "--limit busy-retry-min-ms is above busy-retry-max-ms";
    }
    if (b.max_heartbeat_interval >= HubConfig{}.keep_alive_timeout) {
        // Beating less often than the keep-alive timeout, a client would be closed while healthy.
        return "--limit heartbeat-max-ms must be below the keep-alive timeout (6000 ms)";
    }
    return {};
}

/// An error line quotes what it was given; a control character there (a newline in an argument or a config
/// value, a terminal escape) is written as \xNN so that the error stays one line on stderr and in logs.
std::string one_line(std::string_view text) {
    static constexpr std::string_view kHex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7F) {
            out.append("\\x").push_back(kHex[byte >> 4U]);
            out.push_back(kHex[byte & 0xFU]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
    HostPort result;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        result.host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        if (result.host.find(':') == std::string::npos) {
            return std::nullopt;  // brackets are for IPv6 literals
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::nullopt;
        }
        result.host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (result.host.find(':') != std::string::npos) {
            return std::nullopt;  // an IPv6 literal must be bracketed
        }
        if (result.host.empty()) {
            result.host = "0.0.0.0";
        }
    }
    if (result.host.empty() || result.host.size() > 253) {
        return std::nullopt;
    }
    for (const char c : result.host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == ':' || c == '_' || c == '%';
        if (!ok) {
            return std::nullopt;
        }
    }
    const auto port = parse_unsigned(port_text);
    if (!port || *port > 65535) {
        return std::nullopt;
    }
    result.port = static_cast<std::uint16_t>(*port);
    return result;
}

bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") {
        return true;
    }
    // 127.0.0.0/8, dotted quad only.
    if (!host.starts_with("127.")) {
        return false;
    }
    int parts = 0;
    std::size_t start = 0;
    while (start <= host.size()) {
        auto dot = host.find('.', start);
        if (dot == std::string_view::npos) {
            dot = host.size();
        }
        const auto part = parse_unsigned(host.substr(start, dot - start));
        if (!part || *part > 255 || dot - start > 3) {
            return false;
        }
        ++parts;
        start = dot + 1;
    }
    return parts == 4;
}

namespace {

/// Line and column (both from 1; the column counts characters, not bytes) of the byte at `offset` (from 0).
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0U) != 0x80U) {  // not a UTF-8 continuation byte
            ++column;
        }
    }
    return {line, column};
}

/// What nlohmann::json says is wrong, without its "last read: '...'" excerpt: the text read could be a secret.
std::string parse_error_description(const std::string& what) {
    // "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error while parsing ..."
    std::string description = what;
    if (const auto colon = description.find(": "); colon != std::string::npos) {
        description.erase(0, colon + 2);
    }
    constexpr std::string_view kExcerpt = "; last read: '";
    if (const auto excerpt = description.find(kExcerpt); excerpt != std::string::npos) {
        constexpr std::string_view kExpected = "'; expected ";
        const auto expected = description.rfind(kExpected);
        std::string tail = expected != std::string::npos && expected >= excerpt + kExcerpt.size()
                               ? "; expected " + description.substr(expected + kExpected.size())
                               : std::string();
        description = description.substr(0, excerpt) + tail;
    }
    return description;
}

/// "a string", "a number", ... for a type error's message (the value itself may be a secret).
std::string kind_of(const Json& value) {
    switch (value.type()) {
        case Json::value_t::string: return "a string";
        case Json::value_t::boolean: return "true or false";
        case Json::value_t::null: return "null";
        case Json::value_t::object: return "an object";
        case Json::value_t::array: return "a list";
        default: return "a number";
    }
}

std::string apply_config(std::string_view text, Options& options) {
    Json config;
    try {
        config = Json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
    } catch (const Json::parse_error& e) {
        // e.byte: the position just after the last character read, the offending one (from 1).
        const auto [line, column] = line_and_column(text, e.byte > 0 ? e.byte - 1 : 0);
        return "--config: not valid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
               ": " + parse_error_description(e.what());
    } catch (const Json::exception&) {
        // A number nlohmann::json cannot hold (out_of_range 406, e.g. 1e9999): it tells no position.
        return "--config: not valid JSON: a number out of range";
    }
    if (!config.is_object()) {
        return "--config: the file must hold one JSON object";
    }
    std::set<std::string> apps_seen;
    for (const auto& [key, value] : config.items()) {
        const auto where = "--config: key \"" + key + "\"";  // names the key path; values are never echoed
        if (key == "config" || key == "help") {
            return where + " is not allowed in a config file";
        }
        if (key == "insecure-plaintext") {
            if (!value.is_boolean()) {
                return where + " wants true or false, got " + kind_of(value);
            }
            options.insecure_plaintext = value.get<bool>();
            continue;
        }
        if (!kValueFlags.contains(key)) {
            return where + " is unknown";
        }
        if (key == "limit") {
            if (!value.is_object()) {
                return where + " wants an object {\"NAME\": number}, got " + kind_of(value);
            }
            for (const auto& [name, number] : value.items()) {
                if (!number.is_number()) {
                    return where + ".\"" + name + "\" wants a number, got " + kind_of(number);
                }
                if (auto error = add_limit(options, name + "=" + number.dump()); !error.empty()) {
                    return "--config: " + error;
                }
            }
            continue;
        }
        if (key == "app") {
            options.apps.clear();
            if (value.is_object()) {
                for (const auto& [id, secret] : value.items()) {
                    if (!secret.is_string()) {
                        return where + ": the secret of app '" + id + "' must be a string";
                    }
                    if (auto error = add_app(options, id, secret.get_ref<const std::string&>(), apps_seen);
                        !error.empty()) {
                        return "--config: " + error;
                    }
                }
                continue;
            }
            const Json list = value.is_array() ? value : Json::array({value});
            for (const auto& item : list) {
                if (!item.is_string()) {
                    return where + " wants \"ID:SECRET\", a list of them, or an object {\"ID\": \"SECRET\"}";
                }
                if (auto error = add_app(options, item.get<std::string>(), apps_seen); !error.empty()) {
                    return "--config: " + error;
                }
            }
            continue;
        }
        if (key == "app-key") {
            options.app_public_keys.clear();
            const auto bad = where +
                             " wants \"ID:ALG:PEMFILE\", a list of them, or an object {\"ID\": \"ALG:PEMFILE\"} " +
                             "(or a list of \"ALG:PEMFILE\" per id)";
            if (value.is_object()) {
                for (const auto& [id, keys] : value.items()) {
                    const Json list = keys.is_array() ? keys : Json::array({keys});
                    for (const auto& item : list) {
                        if (!item.is_string()) {
                            return bad;
                        }
                        if (auto error = add_app_key(options, id, item.get_ref<const std::string&>()); !error.empty()) {
                            return "--config: " + error;
                        }
                    }
                }
                continue;
            }
            const Json list = value.is_array() ? value : Json::array({value});
            for (const auto& item : list) {
                if (!item.is_string()) {
                    return bad;
                }
                if (auto error = add_app_key(options, item.get_ref<const std::string&>()); !error.empty()) {
                    return "--config: " + error;
                }
            }
            continue;
        }
        std::string scalar;
        if (value.is_string()) {
            scalar = value.get<std::string>();
        } else if ((key == "time-scale" || key == "threads") && value.is_number()) {
            scalar = value.dump();
        } else {
            return where + (key == "time-scale" || key == "threads" ? " wants a number" : " wants a string") +
                   ", got " + kind_of(value);
        }
        if (auto error = apply_flag(options, key, scalar, apps_seen); !error.empty()) {
            return "--config: " + error;
        }
    }
    return {};
}

}  // namespace

std::string apply_config_json(std::string_view text, Options& options) {
    return one_line(apply_config(text, options));
}

namespace {

/// The command line as CLI11 reads it: every value flag collects its values in order (a repeated single-value flag:
/// the last wins, as before), checked and applied afterwards by the same apply_flag() a config file goes through.
struct CommandLine {
    std::map<std::string, std::vector<std::string>, std::less<>> values;  ///< flag name (no dashes) → its values
    bool insecure_plaintext{false};
    bool check_config{false};
};

/// One value flag: `--NAME VALUE` or `--NAME=VALUE`, any number of times.
void add_value_flag(CLI::App& app, CommandLine& line, const std::string& name, const std::string& value_name,
                    const std::string& description) {
    app.add_option("--" + name, line.values[name], description)
        ->type_name(value_name)
        ->expected(1)
        ->allow_extra_args(false)  // `--app a:s extra`: "extra" is an unexpected argument, not a second app
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

/// relinkd's flags and help, in one place: parse() reads with it and usage() prints it.
void describe(CLI::App& app, CommandLine& line) {
    command_line::prepare(app);
    app.description("relinkd: relink's server. Flags override the config file's keys; see docs/server.md.");
    add_value_flag(app, line, "config", "FILE.json",
                   "read options from a JSON object with the same keys (flags override it;\n"
                   "SIGHUP reads it again)");
    add_value_flag(app, line, "listen", "HOST:PORT", "WebSocket listener (default 127.0.0.1:8443; port 0 = ephemeral)");
    add_value_flag(app, line, "cert", "PEM",
                   "TLS certificate chain, with --key (default: a generated self-signed\n"
                   "certificate for localhost / 127.0.0.1 / ::1)");
    add_value_flag(app, line, "key", "PEM", "the private key of --cert");
    add_value_flag(app, line, "write-ca", "FILE", "write the served certificate (PEM) there, for clients to trust");
    add_value_flag(app, line, "tls-ticket-key-file", "FILE",
                   "TLS session-ticket keys kept across restarts and shared by servers\n"
                   "started with the same file (created with a random key, mode 0600, if\n"
                   "missing); without it, resumption works within one process only");
    app.add_flag("--insecure-plaintext", line.insecure_plaintext,
                 "plain ws:// (loopback addresses only, for development)")
        ->disable_flag_override();
    add_value_flag(app, line, "app", "ID:SECRET",
                   "an app and its token secret, for rl1 and HS256 JWT tokens (repeatable)");
    add_value_flag(app, line, "app-key", "ID:ALG:PEMFILE",
                   "a public key (PEM) that verifies an app's ES256 or RS256 JWTs\n"
                   "(repeatable; several per app while rotating); at least one --app or\n"
                   "--app-key");
    add_value_flag(app, line, "admin-listen", "HOST:PORT",
                   "admin HTTP API (disabled by default); needs --admin-secret");
    add_value_flag(app, line, "admin-secret", "S", "the admin API's bearer secret");
    add_value_flag(app, line, "time-scale", "F", "multiply every server-side duration by F, in (0, 1000] (default 1)");
    add_value_flag(app, line, "threads", "N", "io threads, in [1, 1024] (default: one per core)");
    add_value_flag(app, line, "limit", "NAME=VALUE",
                   "a hub limit (repeatable): messages-per-second, message-burst,\n"
                   "logins-per-second, login-burst, channels-per-user, members-per-channel,\n"
                   "peer-queue, history, drain-logins-per-second,\n"
                   "session-lifetime-seconds (how long an away user's messages are kept),\n"
                   "presence-batch-ms (0 = one frame per membership change);\n"
                   "overload (docs/server.md): server-logins-per-second, server-login-burst,\n"
                   "logins-in-progress, busy-retry-min-ms, busy-retry-max-ms,\n"
                   "write-queue-budget-mb, write-queue-high-water-percent,\n"
                   "handshakes-in-progress;\n"
                   "the bounds of the timings a client asks for at login: heartbeat-min-ms,\n"
                   "heartbeat-max-ms, presence-timeout-min-ms, presence-timeout-max-ms,\n"
                   "backfill-window-max-ms, backfill-count-max");
    add_value_flag(app, line, "cluster", "redis://HOST:PORT[/DB]",
                   "one node of a deployment sharing its state in this Redis\n"
                   "(docs/cluster.md); without it, a single node with everything in memory");
    add_value_flag(app, line, "node-id", "ID", "this node's name in the deployment (default: random)");
    add_value_flag(app, line, "log-level", "LEVEL", "trace, debug, info (default), warn, error, critical, off");
    add_value_flag(app, line, "log-format", "text|json", "log lines as text (default) or one JSON object per line");
    app.add_flag("--check-config", line.check_config,
                 "check the configuration and the files it names, print whether it is valid\n"
                 "and exit (0: valid, 2: not), as nginx -t does; starts nothing")
        ->disable_flag_override();
    app.footer(
        "Prints one JSON line to stdout when listening; logs go to stderr. SIGTERM/SIGINT drain and exit 0:\n"
        "clients are told to be back within max(2 s, connections / drain-logins-per-second / 0.8).\n"
        "SIGHUP reads the config file again and applies its apps and the TLS ticket keys.\n"
        "Bad flags or configuration: one line on stderr, exit status 2. See docs/server.md.");
}

ParsedOptions parse(const std::vector<std::string>& args) {
    ParsedOptions result;
    Options options;
    CLI::App app{"", "relinkd"};
    CommandLine line;
    describe(app, line);
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes its vector last-first
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        options.help = true;
        result.options = std::move(options);
        return result;
    } catch (const CLI::CallForVersion&) {
        options.version = true;
        result.options = std::move(options);
        return result;
    } catch (const CLI::ParseError& e) {
        result.error = std::string(e.what()) + " (see --help)";
        return result;
    }

    if (const auto& config = line.values.at("config"); !config.empty()) {
        if (config.size() > 1) {
            result.error = "--config given twice";
            return result;
        }
        std::string text;
        if (auto error = read_file(config.front(), text); !error.empty()) {
            result.error = error;
            return result;
        }
        if (auto error = apply_config_json(text, options); !error.empty()) {
            result.error = error + " (in " + config.front() + ")";
            return result;
        }
    }
    options.insecure_plaintext = options.insecure_plaintext || line.insecure_plaintext;
    options.check_config = line.check_config;
    // The flags' lists replace the file's (an --app or --app-key on the command line starts the list afresh).
    if (!line.values.at("app").empty()) {
        options.apps.clear();
    }
    if (!line.values.at("app-key").empty()) {
        options.app_public_keys.clear();
    }
    std::set<std::string> apps_seen;
    for (const auto& [name, values] : line.values) {
        if (name == "config") {
            continue;
        }
        for (const auto& value : values) {
            if (auto error = apply_flag(options, name, value, apps_seen); !error.empty()) {
                result.error = error;
                return result;
            }
        }
    }
    if (auto error = validate(options); !error.empty()) {
        result.error = error;
        return result;
    }
    result.options = std::move(options);
    return result;
}

}  // namespace

ParsedOptions parse_options(const std::vector<std::string>& args) {
    ParsedOptions result = parse(args);
    result.error = one_line(result.error);
    return result;
}

std::string usage() {
    CLI::App app{"", "relinkd"};
    CommandLine line;
    describe(app, line);
    return app.help();
}

std::string version_line() {
    return std::string("relinkd ") + kVersion;
}

AppKeyTable app_key_table(const Options& options) {
    AppKeyTable table;
    for (const auto& [id, secret] : options.apps) {
        table[id].secret = secret;
    }
    for (const auto& [id, keys] : options.app_public_keys) {
        table[id].public_keys = keys;
    }
    return table;
}

Duration scale(Duration d, double factor) {
    if (d <= Duration::zero()) {
        return d;
    }
    const double scaled = std::round(static_cast<double>(d.count()) * factor);
    if (scaled >= static_cast<double>(Duration::max().count())) {
        return Duration::max();
    }
    return Duration(std::max<Duration::rep>(1, static_cast<Duration::rep>(scaled)));
}

HubConfig make_hub_config(const Options& options) {
    HubConfig config;
    config.limits = options.limits;
    const double f = options.time_scale;
    for (auto& [profile, timings] : config.timings) {
        timings = timings.scaled(f);
    }
    config.timing_bounds = options.timing_bounds;
    for (Duration* bound : {&config.timing_bounds.min_heartbeat_interval, &config.timing_bounds.max_heartbeat_interval,
                            &config.timing_bounds.min_presence_timeout, &config.timing_bounds.max_presence_timeout,
                            &config.timing_bounds.max_backfill_window}) {
        *bound = scale(*bound, f);
    }
    config.keep_alive_timeout = scale(config.keep_alive_timeout, f);
    config.login_grace = scale(config.login_grace, f);
    config.store_retry_within = scale(config.store_retry_within, f);
    config.limits.kick_cooldown = scale(config.limits.kick_cooldown, f);
    config.limits.dedup_window = scale(config.limits.dedup_window, f);
    config.limits.session_lifetime = scale(config.limits.session_lifetime, f);
    config.limits.presence_batch_interval = scale(config.limits.presence_batch_interval, f);
    config.limits.busy_retry_min = scale(config.limits.busy_retry_min, f);
    config.limits.busy_retry_max = scale(config.limits.busy_retry_max, f);
    if (!options.cluster_url.empty()) {
        // The cluster's own durations (docs/cluster.md): a node heartbeats every second and is dead after three
        // missed, which both stay below the smallest presence timeout (10 s).
        config.node_id = options.node_id;
        config.node_heartbeat_interval = scale(std::chrono::seconds(1), f);
        config.node_dead_after = scale(std::chrono::seconds(3), f);
    }
    return config;
}

Duration handshake_timeout(const Options& options) {
    return scale(std::chrono::seconds(10), options.time_scale);
}

Duration drain_window(const Options& options) {
    return scale(std::chrono::seconds(2), options.time_scale);
}

}  // namespace relink::server
