// tests/fuzz/fuzz_options.cpp — libFuzzer target for relinkd's command line and JSON config file
// (src/server/options.hpp: parse_options, apply_config_json).
//
// Input format (text, so that the corpus reads like what it tests): the lines before a line "%%" are the
// arguments, one per line (without argv[0]); the lines after it are the config file. An argument "@CONFIG@" is
// replaced by the path of a file that holds the config text, so `--config @CONFIG@` reads it. Without "%%" every
// line is an argument and there is no config file. Inputs whose arguments name files under /dev, /proc or /sys
// are skipped (`--config /dev/zero` would read forever; that is the operating system's business, not the
// parser's).
//
// Properties checked (docs/fuzzing.md, docs/server.md "Flags and config file"):
//  - neither function throws;
//  - parse_options gives options or an error, never both, and an error is one non-empty line without control
//    characters (relinkd prints it as `relinkd: <what is wrong>`); apply_config_json's error likewise;
//  - an error that comes from the config file is apply_config_json's error on the same text, " (in FILE)" added;
//  - accepted options are valid as a whole: at least one app (unless --help or --version), valid app ids with non-empty
//    secrets, --cert with --key, --insecure-plaintext only on loopback without TLS files, --admin-listen with
//    --admin-secret, time scale in (0, 1000], threads in [0, 1024], a known log level, limits in [1, 1e9];
//  - a config file's apps are exactly what it says: {"ID": "SECRET"} gives app ID with secret SECRET, and
//    "ID:SECRET" (alone or in a list) splits at the first colon;
//  - the derived durations (hub config, handshake timeout, drain window) stay positive.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "relink/types.hpp"
#include "server/options.hpp"

namespace {

using namespace relink::server;
using relink::Duration;

/// The config file: an anonymous in-memory file, reached by path through /proc/self/fd.
class ConfigFile {
public:
    ConfigFile() : fd_(memfd_create("relinkd-fuzz-config", 0)) {
        if (fd_ < 0) {
            relink::fuzz::property_failed(__FILE__, __LINE__, "memfd_create", "cannot create the config file");
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ConfigFile(const ConfigFile&) = delete;
    ConfigFile& operator=(const ConfigFile&) = delete;
    ~ConfigFile() { close(fd_); }

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    void write(std::string_view text) const {
        bool ok = ftruncate(fd_, 0) == 0;
        std::size_t done = 0;
        while (ok && done < text.size()) {
            const ssize_t n = pwrite(fd_, text.data() + done, text.size() - done, static_cast<off_t>(done));
            ok = n > 0;
            done += ok ? static_cast<std::size_t>(n) : 0;
        }
        if (!ok) {
            relink::fuzz::property_failed(__FILE__, __LINE__, "pwrite", "cannot write the config file");
        }
    }

private:
    int fd_;
    std::string path_;
};

bool is_one_line(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            return false;
        }
    }
    return true;
}

void check_error_line(const std::string& error, std::string_view what) {
    FUZZ_CHECK(!error.empty(), std::string(what) + ": an empty error");
    FUZZ_CHECK(is_one_line(error), std::string(what) + ": the error is not one line: " + error);
}

/// What a config file's "app" value says the apps are (the file's last "app" key wins, like nlohmann's parser).
std::optional<std::map<std::string, std::string>> apps_in(const nlohmann::json& config) {
    const auto it = config.find("app");
    if (it == config.end()) {
        return std::nullopt;
    }
    std::map<std::string, std::string> apps;
    const auto add = [&apps](const std::string& text) {
        const auto colon = text.find(':');
        apps[text.substr(0, colon)] = text.substr(colon + 1);
    };
    if (it->is_object()) {
        for (const auto& [id, secret] : it->items()) {
            apps[id] = secret.get<std::string>();
        }
    } else if (it->is_array()) {
        for (const auto& item : *it) {
            add(item.get<std::string>());
        }
    } else {
        add(it->get<std::string>());
    }
    return apps;
}

void check_config(std::string_view text) {
    Options options;
    std::string error;
    try {
        error = apply_config_json(text, options);
    } catch (...) {
        FUZZ_CHECK(false, "apply_config_json threw");
    }
    if (!error.empty()) {
        check_error_line(error, "apply_config_json");
        return;
    }
    const auto config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
    FUZZ_CHECK(config.is_object(), "apply_config_json accepted a file that is not one JSON object");
    if (const auto apps = apps_in(config)) {
        FUZZ_CHECK(options.apps == *apps, "the config file's apps are not what it says");
    }
}

void check_options(const Options& o) {
    if (!o.help && !o.version) {
        FUZZ_CHECK(!o.apps.empty() || !o.app_public_keys.empty(), "accepted without an app");
    }
    for (const auto& [id, secret] : o.apps) {
        FUZZ_CHECK(relink::is_valid_user_id(id), "accepted an invalid app id: " + id);
        FUZZ_CHECK(!secret.empty(), "accepted an empty secret for app " + id);
    }
    for (const auto& [id, keys] : o.app_public_keys) {  // --app-key: read from a file, so only a PEM file reaches here
        FUZZ_CHECK(relink::is_valid_user_id(id), "accepted an invalid app id for a public key: " + id);
        FUZZ_CHECK(!keys.empty(), "an app with an empty list of public keys: " + id);
    }
    if (o.help || o.version) {
        return;  // --help and --version are printed whatever else is wrong
    }
    FUZZ_CHECK(o.cert_file.empty() == o.key_file.empty(), "--cert without --key accepted");
    if (o.insecure_plaintext) {
        FUZZ_CHECK(is_loopback_host(o.listen.host), "plaintext accepted on " + o.listen.host);
        FUZZ_CHECK(o.cert_file.empty() && o.write_ca_file.empty(), "plaintext accepted with TLS files");
    }
    FUZZ_CHECK(o.admin_listen.has_value() == !o.admin_secret.empty(), "--admin-listen and --admin-secret unpaired");
    FUZZ_CHECK(o.time_scale > 0.0 && o.time_scale <= 1000.0, "time scale out of range");
    FUZZ_CHECK(o.threads <= 1024, "threads out of range");
    static const std::vector<std::string> kLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    FUZZ_CHECK(std::find(kLevels.begin(), kLevels.end(), o.log_level) != kLevels.end(), "unknown log level");
    const Limits& l = o.limits;
    for (const double rate : {l.messages_per_second, l.message_burst, l.logins_per_second_per_address, l.login_burst,
                              l.server_logins_per_second, l.server_login_burst}) {
        FUZZ_CHECK(std::isfinite(rate) && rate >= 1.0 && rate <= 1e9, "a rate limit out of [1, 1e9]");
    }
    for (const std::size_t count : {l.max_channels_per_user, l.max_members_per_channel, l.peer_queue_per_user,
                                    l.history_per_channel, l.max_logins_in_progress, l.max_handshakes_in_progress}) {
        FUZZ_CHECK(count >= 1 && count <= 1'000'000'000, "a count limit out of [1, 1e9]");
    }

    const HubConfig hub = make_hub_config(o);
    const Duration zero = Duration::zero();
    FUZZ_CHECK(hub.keep_alive_timeout > zero && hub.login_grace > zero, "a scaled hub timeout is not positive");
    FUZZ_CHECK(hub.limits.kick_cooldown > zero && hub.limits.dedup_window > zero, "a scaled hub limit is not positive");
    FUZZ_CHECK(handshake_timeout(o) > zero && drain_window(o) > zero, "a scaled transport timeout is not positive");
}

bool names_a_special_file(const std::string& arg) {
    return arg.find("/dev") != std::string::npos || arg.find("/proc") != std::string::npos ||
           arg.find("/sys") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ConfigFile file;
    const std::string_view input = relink::fuzz::as_text(data, size);

    std::vector<std::string> args;
    std::optional<std::string> config;
    std::size_t pos = 0;
    while (pos <= input.size()) {
        auto end = input.find('\n', pos);
        if (end == std::string_view::npos) {
            end = input.size();
        }
        const std::string_view line = input.substr(pos, end - pos);
        if (line == "%%") {
            config = std::string(input.substr(std::min(end + 1, input.size())));
            break;
        }
        if (end < input.size() || !line.empty()) {
            args.emplace_back(line);
        }
        pos = end + 1;
    }
    for (auto& arg : args) {
        if (names_a_special_file(arg)) {
            return 0;
        }
        if (arg == "@CONFIG@") {
            arg = file.path();
        } else if (arg == "--config=@CONFIG@") {
            arg = "--config=" + file.path();
        }
    }
    file.write(config.value_or(std::string()));

    if (config) {
        check_config(*config);
    }

    ParsedOptions parsed;
    try {
        parsed = parse_options(args);
    } catch (...) {
        FUZZ_CHECK(false, "parse_options threw");
    }
    if (!parsed.options) {
        check_error_line(parsed.error, "parse_options");
        const std::string suffix = " (in " + file.path() + ")";
        if (parsed.error.ends_with(suffix)) {
            Options scratch;
            const std::string from_file = apply_config_json(config.value_or(std::string()), scratch);
            FUZZ_CHECK(parsed.error == from_file + suffix,
                       "the config file's error differs from apply_config_json's: " + parsed.error);
        }
        return 0;
    }
    FUZZ_CHECK(parsed.error.empty(), "options and an error at once");
    check_options(*parsed.options);
    return 0;
}
