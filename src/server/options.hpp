// server/options.hpp — relinkd's configuration: the command line and JSON config file of
// ../shared/spec/cli.md, parsed into one Options value, and the server-side durations derived from it.
//
// Parsing is a pure function of the arguments (plus the config file they name): it returns Options or one
// human-readable error line, which relinkd prints to stderr before exiting with status 2. Nothing here touches
// sockets, TLS or logging, so the rules are unit-tested directly (tests/server/relinkd_test.cpp).
//
// Thread safety: the functions are reentrant; an Options value is a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relink/timings.hpp"
#include "server/hub.hpp"
#include "token/token.hpp"

namespace relink::server {

/// A host (name, IPv4 or IPv6 literal without brackets) and a port (0 = ephemeral).
struct HostPort {
    std::string host;
    std::uint16_t port{0};
    friend bool operator==(const HostPort&, const HostPort&) = default;
};

/// Everything relinkd is configured with. Defaults are those of a flagless start.
struct Options {
    HostPort listen{"127.0.0.1", 8443};
    std::string cert_file;  ///< PEM certificate chain; empty = generate a self-signed certificate
    std::string key_file;   ///< PEM private key, with cert_file
    bool insecure_plaintext{false};
    std::string write_ca_file;  ///< where to write the served certificate's PEM; empty = nowhere
    /// Session-ticket keys that outlive the process (created with one random key when missing); empty = OpenSSL's
    /// own random keys, so tickets die with the process. server/tls.hpp has the format.
    std::string tls_ticket_key_file;
    std::map<std::string, std::string> apps;  ///< app id → secret
    std::optional<HostPort> admin_listen;     ///< admin HTTP API; absent = disabled
    std::string admin_secret;                 ///< required with admin_listen
    double time_scale{1.0};                   ///< multiplies every server-side duration
    unsigned threads{0};                      ///< io threads; 0 = one per hardware core
    std::string log_level{"info"};            ///< trace, debug, info, warn, error, critical, off
    std::string log_format{"text"};           ///< text, or json: one JSON object per line
    bool help{false};                         ///< --help (or -h): print usage(), exit 0
    bool version{false};                      ///< --version: print version_line(), exit 0
    bool check_config{false};                 ///< --check-config: check the configuration, say so, exit 0 or 2
    Limits limits;                            ///< the hub's limits (--limit NAME=VALUE; durations via time scale)
    TimingBounds timing_bounds;               ///< what clients may ask for (--limit heartbeat-max-ms=..., scaled)
    std::string cluster_url;                  ///< redis://HOST:PORT[/DB]: one node of a cluster; empty = alone
    std::string node_id;                      ///< this node's name in the cluster; empty = a random one

    /// app id → the public keys that verify its ES256 / RS256 JWTs (--app-key ID:ALG:PEMFILE, read at parse time).
    /// An app may have a secret, public keys or both; app_key_table() joins the two.
    std::map<std::string, std::vector<token::PublicKey>> app_public_keys;
};

/// Options, or the one line that says what is wrong with the configuration.
struct ParsedOptions {
    std::optional<Options> options;
    std::string error;  ///< meaningful only when !options
};

/// Parses relinkd's arguments (without argv[0]) with CLI11, by the rules every relink executable follows
/// (cli/command_line.hpp: `--name value` or `--name=value`). `--config FILE` is read first wherever it appears, then
/// the flags override its keys (a repeated `--app` list replaces the file's list; of a repeated single-value flag
/// the last wins). Validates the result as a whole: unknown flags or keys, missing values, malformed HOST:PORT,
/// `--insecure-plaintext` on a non-loopback address,
/// `--cert` without `--key`, no app, an admin address without a secret, a non-positive time scale, ...
[[nodiscard]] ParsedOptions parse_options(const std::vector<std::string>& args);

/// Applies a JSON config file's text (the same keys as the flags, without the dashes) to `options`; returns an
/// error line, or an empty string on success. Used by parse_options(); exposed for tests.
[[nodiscard]] std::string apply_config_json(std::string_view text, Options& options);

/// Every app's verification material (secret and public keys), keyed by app id: what relinkd's token verifier
/// holds, built in one place so that a reload can replace the whole table at once.
using AppKeyTable = std::map<std::string, token::AppKeys, std::less<>>;
[[nodiscard]] AppKeyTable app_key_table(const Options& options);

/// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (host 0.0.0.0). nullopt when malformed.
[[nodiscard]] std::optional<HostPort> parse_host_port(std::string_view text);

/// True for 127.0.0.0/8, ::1 and "localhost".
[[nodiscard]] bool is_loopback_host(std::string_view host);

/// The usage text printed by --help (CLI11's, from the same description of the flags parse_options() reads).
[[nodiscard]] std::string usage();
/// "relinkd VERSION", printed by --version.
[[nodiscard]] std::string version_line();

/// `d` multiplied by the time scale (at least 1 ns when d > 0, so a scaled "never" (0) stays 0 and a scaled
/// positive duration stays positive).
[[nodiscard]] Duration scale(Duration d, double factor);

/// The hub's configuration for these options: every profile's server-side timings (presence timeout, backfill
/// window, heartbeat, token warning lead) and the bounds of what a client may ask for, the keep-alive timeout,
/// login grace, kick cool-down and de-duplication window, all multiplied by the time scale.
[[nodiscard]] HubConfig make_hub_config(const Options& options);

/// The transport's own time limits (TLS handshake, WebSocket accept and close), scaled.
[[nodiscard]] Duration handshake_timeout(const Options& options);
/// The reconnect window announced on SIGTERM (clients spread their reconnects over it), scaled.
[[nodiscard]] Duration drain_window(const Options& options);

}  // namespace relink::server
