// relink-cli — a thin command-line client over relink::Client with the contract of ../shared/spec/cli.md:
// commands on stdin, one per line, each run as soon as it is read; one human-readable line per event, or exactly
// one JSON object per line on stdout with --json (logs go to stderr). End of input is `quit`.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "relink/client.hpp"
#include "token/token.hpp"

namespace {

using Json = nlohmann::ordered_json;
const auto kStart = std::chrono::steady_clock::now();

struct Args {
    std::string url;
    std::string app;
    std::string user;
    std::string token;
    std::string secret;
    std::string ca;
    relink::Profile profile{relink::Profile::rtm};
    double time_scale{1.0};
    bool json{false};
    bool insecure{false};
};

constexpr const char* kUsage =
    "usage: relink-cli --url URL --app ID --user UID (--token T | --secret S) [--ca PEM]\n"
    "                  [--profile rtm|rtc|rtc-web|room] [--time-scale F] [--json]\n"
    "Reads commands from stdin (login, logout, join CH, leave CH, switch FROM TO, send CH TEXT..., msg UID TEXT...,\n"
    "publish CH STREAM, unpublish CH STREAM, attr K=V..., getattr UID, renew [TOKEN], network-changed, state,\n"
    "status, sleep MS, quit) and prints one line per event (one JSON object per line with --json).\n";

[[noreturn]] void usage_error(const std::string& line) {
    std::fprintf(stderr, "relink-cli: %s (see --help)\n", line.c_str());
    std::exit(2);
}

Args parse_args(int argc, char** argv) {
    Args args;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage_error("missing value for " + flag);
            }
            return argv[++i];
        };
        if (flag == "--help" || flag == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (flag == "--url") {
            args.url = value();
        } else if (flag == "--app") {
            args.app = value();
        } else if (flag == "--user") {
            args.user = value();
        } else if (flag == "--token") {
            args.token = value();
        } else if (flag == "--secret") {
            args.secret = value();
        } else if (flag == "--ca") {
            args.ca = value();
        } else if (flag == "--profile") {
            const auto profile = relink::profile_from_string(value());
            if (!profile) {
                usage_error("--profile wants rtm, rtc, rtc-web or room");
            }
            args.profile = *profile;
        } else if (flag == "--time-scale") {
            const std::string text = value();
            char* end = nullptr;
            args.time_scale = std::strtod(text.c_str(), &end);
            if (end != text.c_str() + text.size() || !(args.time_scale > 0.0) || args.time_scale > 1000.0) {
                usage_error("--time-scale wants a number in (0, 1000]");
            }
        } else if (flag == "--json") {
            args.json = true;
        } else if (flag == "--insecure-plaintext") {
            args.insecure = true;  // permit ws:// (loopback development)
        } else {
            usage_error("unknown option " + flag);
        }
    }
    if (args.url.empty() || args.app.empty() || args.user.empty()) {
        usage_error("--url, --app and --user are required");
    }
    if (args.token.empty() == args.secret.empty()) {
        usage_error("give exactly one of --token and --secret");
    }
    if (!relink::is_valid_user_id(args.user)) {
        usage_error("invalid --user");
    }
    return args;
}

/// Serializes output lines from the reader thread and the client's dispatcher thread.
class Printer {
public:
    explicit Printer(bool json) : json_(json) {}

    void print(Json object) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - kStart);
        Json line;
        line["t_ms"] = ms.count();
        for (auto& [key, value] : object.items()) {
            line[key] = value;
        }
        std::lock_guard lock(mutex_);
        if (json_) {
            std::cout << line.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
        } else {
            std::ostringstream text;
            text << "[" << ms.count() << " ms] " << line["event"].get<std::string>();
            for (auto& [key, value] : line.items()) {
                if (key != "t_ms" && key != "event") {
                    text << ' ' << key << '=' << (value.is_string() ? value.get<std::string>() : value.dump());
                }
            }
            std::cout << text.str() << '\n';
        }
        std::cout.flush();
    }

private:
    bool json_;
    std::mutex mutex_;
};

/// A configuration the client cannot use (the constructor's std::invalid_argument): one line naming it, exit 2.
[[noreturn]] void config_error(std::string what) {
    constexpr std::string_view kPrefix = "relink::Client: ";  // the message names the field after it
    if (what.rfind(kPrefix, 0) == 0) {
        what.erase(0, kPrefix.size());
    }
    std::fprintf(stderr, "relink-cli: unusable configuration: %s\n", what.c_str());
    std::exit(2);
}

long long in_ms(relink::Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// An attempt failure as the `attempt_failed` event and the `last_failure` fields show it: its canonical name.
Json failure_json(const std::optional<relink::AttemptFailed>& failure) {
    return failure ? Json(std::string(relink::to_string(failure->cause))) : Json(nullptr);
}

std::string mint(const Args& args) {
    relink::token::Claims claims;
    claims.app_id = args.app;
    claims.user_id = args.user;
    claims.expires_at = static_cast<std::int64_t>(std::time(nullptr)) + 86'400;
    return relink::token::mint(claims, args.secret);
}

void subscribe(relink::Client& client, Printer& out) {
    using namespace relink;
    client.on_connection_state_changed([&out](const ConnectionStateChanged& e) {
        Json line{{"event", "connection_state_changed"},
                  {"state", to_string(e.state)},
                  {"reason", to_string(e.reason)},
                  {"seq", e.seq},
                  {"attempt", e.attempt},
                  {"next_retry_ms", in_ms(e.next_retry)}};
        if (e.last_failure) {
            line["last_failure"] = failure_json(e.last_failure);
        }
        out.print(std::move(line));
    });
    client.on_attempt_failed([&out](const AttemptFailed& e) {
        out.print(
            {{"event", "attempt_failed"}, {"attempt", e.attempt}, {"cause", to_string(e.cause)}, {"detail", e.detail}});
    });
    client.on_connection_lost([&out](const ConnectionLost&) { out.print({{"event", "connection_lost"}}); });
    client.on_rejoin_success([&out](const RejoinSuccess&) { out.print({{"event", "rejoin_success"}}); });
    client.on_channel_state_changed([&out](const ChannelStateChanged& e) {
        out.print({{"event", "channel_state_changed"},
                   {"channel", e.channel},
                   {"state", to_string(e.state)},
                   {"reason", to_string(e.reason)},
                   {"error_code", e.error ? e.error.value() : 0}});
    });
    client.on_member_joined([&out](const MemberJoined& e) {
        out.print({{"event", "member_joined"}, {"channel", e.channel}, {"user", e.user_id}});
    });
    client.on_member_left([&out](const MemberLeft& e) {
        out.print(
            {{"event", "member_left"}, {"channel", e.channel}, {"user", e.user_id}, {"cause", to_string(e.cause)}});
    });
    client.on_stream_added([&out](const StreamAdded& e) {
        out.print({{"event", "stream_added"}, {"channel", e.channel}, {"user", e.user_id}, {"stream", e.stream}});
    });
    client.on_stream_removed([&out](const StreamRemoved& e) {
        out.print({{"event", "stream_removed"}, {"channel", e.channel}, {"user", e.user_id}, {"stream", e.stream}});
    });
    client.on_message([&out](const MessageReceived& e) {
        Json line{{"event", "message"}, {"from", e.from}};
        if (e.channel) {
            line["channel"] = *e.channel;
        }
        line["text"] = e.payload;
        line["backfilled"] = e.backfilled;
        line["id"] = e.message_id;
        out.print(std::move(line));
    });
    client.on_continuity([&out](const ContinuityReport& e) {
        out.print({{"event", "continuity"},
                   {"outage_ms", std::chrono::duration_cast<std::chrono::milliseconds>(e.outage).count()},
                   {"resumed", e.resumed},
                   {"backfilled", e.backfilled},
                   {"dropped", e.dropped},
                   {"server_restarted", e.server_restarted}});
    });
    client.on_token_privilege_will_expire([&out](const TokenPrivilegeWillExpire&) {
        out.print({{"event", "token_privilege_will_expire"}});
    });
    client.on_token_expired([&out](const TokenExpired&) { out.print({{"event", "token_expired"}}); });
}

Json result(const std::string& command, std::error_code error) {
    Json line{{"event", "result"}, {"command", command}, {"ok", !error}};
    if (error) {
        line["error"] = relink::error_name(error);
    }
    return line;
}

/// Runs one parsed command on the client. Returns the error (or success) to report at once for a command that
/// has no completion callback, or that failed before it started; nothing when a completion will report it.
class Runner {
public:
    Runner(relink::Client& client, const Args& args, Printer& out, const std::string& line)
        : client_(client), args_(args), out_(out), line_(line) {}

    using Immediate = std::optional<std::error_code>;

    Immediate operator()(const relink::cli::Quit&) const { return std::nullopt; }  // handled by the caller
    Immediate operator()(const relink::cli::Login&) const { return client_.login(); }
    Immediate operator()(const relink::cli::Logout&) const { return client_.logout(); }
    Immediate operator()(const relink::cli::Join& c) const { return client_.join(c.channel); }
    Immediate operator()(const relink::cli::Leave& c) const { return client_.leave(c.channel); }
    Immediate operator()(const relink::cli::Switch& c) const { return client_.switch_channel(c.from, c.to); }
    Immediate operator()(const relink::cli::SendChannel& c) const {
        return only_error(client_.send_channel_message(c.channel, c.text, done()));
    }
    Immediate operator()(const relink::cli::SendPeer& c) const {
        return only_error(client_.send_peer_message(c.user, c.text, done()));
    }
    Immediate operator()(const relink::cli::Publish& c) const {
        return only_error(c.unpublish ? client_.unpublish(c.channel, c.stream, done())
                                      : client_.publish(c.channel, c.stream, done()));
    }
    Immediate operator()(const relink::cli::SetAttributes& c) const {
        return only_error(client_.set_local_user_attributes(c.attributes, done()));
    }
    Immediate operator()(const relink::cli::GetAttributes& c) const {
        Printer& out = out_;
        const std::string line = line_;
        const std::string user = c.user;
        return only_error(client_.get_user_attributes(
            user, [&out, line, user](std::error_code error, const relink::Attributes& attributes) {
                if (!error) {
                    out.print({{"event", "attributes"}, {"user", user}, {"attributes", attributes}});
                }
                out.print(result(line, error));
            }));
    }
    Immediate operator()(const relink::cli::Renew& c) const {
        std::string token = c.token.value_or(std::string());
        if (token.empty() && !args_.secret.empty()) {
            token = mint(args_);
        }
        if (token.empty()) {
            return make_error_code(relink::errc::invalid_argument);
        }
        return only_error(client_.renew_token(std::move(token), done()));
    }
    Immediate operator()(const relink::cli::NetworkChanged&) const {
        client_.notify_network_changed();
        return std::error_code{};
    }
    Immediate operator()(const relink::cli::ShowState&) const {
        out_.print({{"event", "state"}, {"state", relink::to_string(client_.connection_state())}});
        return std::nullopt;
    }
    Immediate operator()(const relink::cli::ShowStatus&) const {
        const relink::ConnectionStatus status = client_.status();
        out_.print({{"event", "status"},
                    {"state", relink::to_string(status.state)},
                    {"reason", relink::to_string(status.reason)},
                    {"attempt", status.attempt},
                    {"next_retry_ms", in_ms(status.next_retry)},
                    {"in_state_ms", in_ms(status.in_state)},
                    {"last_failure", failure_json(status.last_failure)}});
        return std::nullopt;
    }
    Immediate operator()(const relink::cli::Sleep& c) const {
        std::this_thread::sleep_for(c.duration);  // the command's meaning: wait
        return std::nullopt;
    }

private:
    /// The completion of a command that reports later: one `result` line for the line as typed.
    [[nodiscard]] std::function<void(std::error_code)> done() const {
        Printer& out = out_;
        return [&out, command = line_](std::error_code error) { out.print(result(command, error)); };
    }

    /// An error returned when a command is issued is reported at once; success is reported by its completion.
    static Immediate only_error(std::error_code error) { return error ? Immediate(error) : std::nullopt; }

    relink::Client& client_;
    const Args& args_;
    Printer& out_;
    const std::string& line_;
};

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse_args(argc, argv);
    Printer out(args.json);

    relink::ClientConfig config;
    config.url = args.url;
    config.allow_plaintext = args.insecure;
    config.app_id = args.app;
    config.user_id = args.user;
    try {
        config.token = args.token.empty() ? mint(args) : args.token;
    } catch (const std::exception& e) {
        usage_error(std::string("cannot mint a token: ") + e.what());
    }
    config.profile = args.profile;
    config.time_scale = args.time_scale;
    config.tls.ca_file = args.ca;
    config.log_level = relink::LogLevel::warn;
    config.log_handler = [](relink::LogLevel, std::string_view line) {
        std::fprintf(stderr, "relink-cli: %.*s\n", static_cast<int>(line.size()), line.data());
    };

    std::optional<relink::Client> client;
    try {
        client.emplace(config);
    } catch (const std::invalid_argument& e) {
        config_error(e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "relink-cli: cannot start the client: %s\n", e.what());
        return 1;
    }
    subscribe(*client, out);

    std::string line;
    while (std::getline(std::cin, line)) {
        const relink::cli::ParsedLine parsed = relink::cli::parse_command(line);
        if (parsed.blank()) {
            continue;
        }
        if (parsed.command && std::holds_alternative<relink::cli::Quit>(*parsed.command)) {
            break;
        }
        std::optional<std::error_code> immediate;  // commands without a completion report at once
        if (!parsed.command) {
            immediate = make_error_code(relink::errc::invalid_argument);  // unknown command or wrong arguments
        } else {
            immediate = std::visit(Runner(*client, args, out, line), *parsed.command);
        }
        if (immediate) {
            out.print(result(line, *immediate));
        }
    }
    if (client->connection_state() != relink::ConnectionState::disconnected) {
        (void)client->logout();
    }
    client.reset();  // bounded; no callback after this
    return 0;
}
