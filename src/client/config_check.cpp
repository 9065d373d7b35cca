// The constructor's checks of a ClientConfig (client/config_check.hpp).
#include "client/config_check.hpp"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/x509_vfy.h>

#include "client/transport.hpp"

namespace relink::client {
namespace {

[[noreturn]] void refuse(const std::string& field, const std::string& problem) {
    throw std::invalid_argument("relink::Client: " + field + ": " + problem);
}

constexpr const char* kIdRule = "1-64 characters of a-zA-Z0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~,";

void check_url(const ClientConfig& config) {
    if (config.url.empty()) {
        refuse("url", "empty (expected wss://host[:port][/path])");
    }
    const ParsedUrl parsed = parse_url(config.url);
    if (!parsed.url) {
        std::string problem = "'" + config.url + "': " + parsed.error;
        std::string lower = config.url.substr(0, 8);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
        if (lower.rfind("http://", 0) == 0 || lower.rfind("https://", 0) == 0) {
            problem += "; relink speaks WebSocket: wss:// (or ws:// with allow_plaintext), not http(s)://";
        }
        refuse("url", problem);
    }
    if (!parsed.url->tls && !config.allow_plaintext) {
        refuse("url", "'" + config.url +
                          "' is ws:// (no TLS), refused unless allow_plaintext is set (loopback development only)");
    }
}

void check_ca_file(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        refuse("tls.ca_file", "'" + path + "' cannot be read: " + std::strerror(errno));
    }
    const std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
    if (!store || X509_STORE_load_file(store.get(), path.c_str()) != 1) {
        refuse("tls.ca_file", "'" + path + "' holds no PEM certificate");
    }
}

void check_ca_directory(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        refuse("tls.ca_directory", "'" + path + "' cannot be read: " + std::strerror(errno));
    }
    ::closedir(dir);
}

}  // namespace

void validate(const ClientConfig& config) {
    check_url(config);
    if (config.app_id.empty()) {
        refuse("app_id", "empty (the app id the server knows)");
    }
    if (!is_valid_user_id(config.app_id)) {
        refuse("app_id",
               "'" + config.app_id + "' is not a valid app id (" + kIdRule + ", no leading or trailing space)");
    }
    if (!is_valid_user_id(config.user_id)) {
        refuse("user_id",
               "'" + config.user_id + "' is not a valid user id (" + kIdRule + ", no leading or trailing space)");
    }
    if (config.token.empty() && !config.token_provider) {
        refuse("token", "empty, and there is no token_provider to ask for one");
    }
    if (!config.tls.ca_file.empty()) {
        check_ca_file(config.tls.ca_file);
    }
    if (!config.tls.ca_directory.empty()) {
        check_ca_directory(config.tls.ca_directory);
    }
    if (config.proxy && (config.proxy->host.empty() || config.proxy->port == 0)) {
        refuse("proxy", "needs a host and a port");
    }
    if (!(config.time_scale > 0.0)) {
        refuse("time_scale", "must be positive");
    }
    if (config.max_queued_operations == 0) {
        refuse("max_queued_operations", "must be at least 1");
    }
    const Timings timings = config.timings.value_or(timings_for(config.profile)).scaled(config.time_scale);
    if (relink::validate(timings)) {
        refuse(config.timings ? "timings" : "time_scale",
               "the scaled timings are not usable (positive thresholds, multiplier of at least 1, jitter in [0, 1))");
    }
}

}  // namespace relink::client
