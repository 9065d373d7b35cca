// relink-cli — a thin command-line client over relink::Client (docs/cli.md): commands on stdin, one per line, each
// run as soon as it is read; one line per event for people, or exactly one JSON object per line on stdout with
// --json (logs go to stderr). End of input is `quit`. Each event is built once, as its JSON object and as the
// sentence a person reads, so the two outputs cannot say different things.
#include <array>
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
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_line.hpp"
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
    std::string recover;  ///< --recover: a recovery key for the first login
    relink::Profile profile{relink::Profile::rtm};
    double time_scale{1.0};
    bool json{false};
    bool insecure{false};
    relink::LogLevel log_level{relink::LogLevel::warn};
};

constexpr const char* kCommandsHelp =
    "Commands, one per line on stdin (type help for this list):\n"
    "  login | logout                  start or end the session\n"
    "  join CH | leave CH              join or leave a channel\n"
    "  switch FROM TO                  leave one channel for another\n"
    "  send CH TEXT...                 a message to a channel\n"
    "  msg UID TEXT...                 a message to one user\n"
    "  publish CH STREAM               announce a stream (unpublish CH STREAM: stop)\n"
    "  attr KEY=VALUE...               set your attributes\n"
    "  getattr UID                     read a user's attributes\n"
    "  renew [TOKEN]                   a new token (minted with --secret when none is given)\n"
    "  network-changed                 the network changed: move the session to a new connection, or reconnect if the "
    "link is dead\n"
    "  state | status                  the connection state; all of it (attempt, next try, last failure)\n"
    "  quality                         the link's quality (round-trip time, missed heartbeats, last data)\n"
    "  recovery-key                    a key to store: --recover KEY resumes this session from a new process\n"
    "  sleep MS                        wait before reading the next command\n"
    "  quit                            log out and exit (also at the end of input)\n";

Args parse_args(int argc, char** argv) {
    Args args;
    CLI::App app(
        "relink-cli: a relink client on the command line. Reads commands from stdin and prints one line "
        "per event (one JSON object per line with --json).",
        "relink-cli");
    relink::command_line::prepare(app);
    app.footer(kCommandsHelp);
    app.add_option("--url", args.url, "the server, wss://HOST:PORT/ (ws:// needs --insecure-plaintext)")
        ->type_name("URL")
        ->required();
    app.add_option("--app", args.app, "the app id")->type_name("ID")->required();
    app.add_option("--user", args.user, "the user id")->type_name("UID")->required();
    app.add_option("--token", args.token, "the login token (or --secret)")->type_name("T");
    app.add_option("--secret", args.secret, "the app's secret: relink-cli mints its own tokens")->type_name("S");
    app.add_option("--ca", args.ca, "a PEM file of the CA (or self-signed certificate) to trust")->type_name("PEM");
    std::string profile = "rtm";
    app.add_option("--profile", profile, "the behaviour profile: rtm, rtc, rtc-web or room")
        ->type_name("NAME")
        ->capture_default_str()
        ->check(relink::command_line::one_of({"rtm", "rtc", "rtc-web", "room"}));
    app.add_option("--time-scale", args.time_scale, "multiply every client-side duration by F, in (0, 1000]")
        ->type_name("F")
        ->capture_default_str()
        ->check(relink::command_line::number_in(0.0, false, 1000.0));
    app.add_option("--recover", args.recover,
                   "a key from recovery-key: the first login resumes that session (within its presence timeout)")
        ->type_name("KEY");
    app.add_flag("--json", args.json, "one JSON object per line on stdout (the format scripts rely on)");
    app.add_flag("--insecure-plaintext", args.insecure, "allow ws:// (for a development server on loopback)");
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "the SDK's log on stderr: trace, debug, info, warn, error, off")
        ->type_name("LEVEL")
        ->capture_default_str()
        ->check(relink::command_line::one_of({"trace", "debug", "info", "warn", "error", "off"}));
    relink::command_line::parse(app, argc, argv);

    args.profile = relink::profile_from_string(profile).value_or(relink::Profile::rtm);
    constexpr std::pair<const char*, relink::LogLevel> kLevels[] = {
        {"trace", relink::LogLevel::trace}, {"debug", relink::LogLevel::debug}, {"info", relink::LogLevel::info},
        {"warn", relink::LogLevel::warn},   {"error", relink::LogLevel::error}, {"off", relink::LogLevel::off}};
    for (const auto& [name, level] : kLevels) {
        if (log_level == name) {
            args.log_level = level;
        }
    }
    if (args.token.empty() == args.secret.empty()) {
        relink::command_line::fail(app, "give exactly one of --token and --secret");
    }
    if (!relink::is_valid_user_id(args.user)) {
        relink::command_line::fail(app, "--user: not a valid user id");
    }
    return args;
}

/// One event as scripts read it (`json`: the contract's object, without t_ms) and as a person reads it (`text`).
struct Event {
    Json json;
    std::string text;
};

/// Serializes output lines from the reader thread and the client's dispatcher thread.
class Printer {
public:
    explicit Printer(bool json) : json_(json) {}

    void print(const Event& event) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - kStart);
        std::lock_guard lock(mutex_);
        if (json_) {
            Json line;
            line["t_ms"] = ms.count();
            for (const auto& [key, value] : event.json.items()) {
                line[key] = value;
            }
            std::cout << line.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
        } else {
            char stamp[32];
            std::snprintf(stamp, sizeof stamp, "%8.3f s  ", static_cast<double>(ms.count()) / 1000.0);
            std::cout << stamp << event.text << '\n';
        }
        std::cout.flush();
    }

    /// A line for people only (help, a command that is not one); nothing in --json mode, where stdout is events.
    void say(const std::string& text) {
        std::lock_guard lock(mutex_);
        if (!json_) {
            std::cout << text << (text.empty() || text.back() != '\n' ? "\n" : "");
            std::cout.flush();
        }
    }

    [[nodiscard]] bool json() const noexcept { return json_; }

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

/// A text as a person reads it in a line: in double quotes, with control characters and quotes escaped.
std::string quoted(const std::string& text) {
    return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// An attempt failure as the `attempt_failed` event and the `last_failure` fields show it: its canonical name.
Json failure_json(const std::optional<relink::AttemptFailed>& failure) {
    return failure ? Json(std::string(relink::to_string(failure->cause))) : Json(nullptr);
}

/// ", attempt 2, next try in 1200 ms, last failure REFUSED": the parts of a connection's progress that say something.
std::string progress_text(std::uint32_t attempt, relink::Duration next_retry,
                          const std::optional<relink::AttemptFailed>& failure) {
    std::string text;
    if (attempt > 0) {
        text += ", attempt " + std::to_string(attempt);
    }
    if (next_retry > relink::Duration::zero()) {
        text += ", next try in " + std::to_string(in_ms(next_retry)) + " ms";
    }
    if (failure) {
        text += ", last failure " + std::string(relink::to_string(failure->cause));
    }
    return text;
}

/// The `quality` event (the reply to `quality`, and each meaningful change): the round-trip time in milliseconds
/// to the microsecond (null until a heartbeat was answered on this connection), its variation, the heartbeats missed
/// in a row, the time since the last data (null before any).
Event quality_line(const relink::LinkQuality& q) {
    const auto us = [](relink::Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
    const bool measured = q.rtt_samples > 0;
    const double rtt_ms = static_cast<double>(us(q.rtt)) / 1000.0;
    const double rtt_var_ms = static_cast<double>(us(q.rtt_var)) / 1000.0;
    Json line{{"event", "quality"},
              {"rtt_ms", measured ? Json(rtt_ms) : Json(nullptr)},
              {"rtt_var_ms", measured ? Json(rtt_var_ms) : Json(nullptr)},
              {"missed_heartbeats", q.missed_heartbeats},
              {"since_last_data_ms", q.since_last_data ? Json(in_ms(*q.since_last_data)) : Json(nullptr)}};
    std::array<char, 128> rtt{};
    if (measured) {
        std::snprintf(rtt.data(), rtt.size(), "rtt %.1f ms (+/- %.1f ms)", rtt_ms, rtt_var_ms);
    } else {
        std::snprintf(rtt.data(), rtt.size(), "rtt not measured yet");
    }
    std::string text = "quality " + std::string(rtt.data()) + ", " + std::to_string(q.missed_heartbeats) +
                       " missed heartbeats, " +
                       (q.since_last_data ? "last data " + std::to_string(in_ms(*q.since_last_data)) + " ms ago"
                                          : std::string("no data yet"));
    return {std::move(line), std::move(text)};
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
        // Which attempt it is says something only while attempts are being made.
        const bool trying = e.state == ConnectionState::connecting || e.state == ConnectionState::reconnecting;
        out.print({std::move(line), "connection " + std::string(to_string(e.state)) + " (" +
                                        std::string(to_string(e.reason)) + ")" +
                                        progress_text(trying ? e.attempt : 0, e.next_retry, e.last_failure)});
    });
    client.on_attempt_failed([&out](const AttemptFailed& e) {
        out.print(
            {{{"event", "attempt_failed"}, {"attempt", e.attempt}, {"cause", to_string(e.cause)}, {"detail", e.detail}},
             "attempt " + std::to_string(e.attempt) + " failed: " + std::string(to_string(e.cause)) + ": " + e.detail});
    });
    client.on_link_quality_changed([&out](const LinkQualityChanged& e) { out.print(quality_line(e.quality)); });
    client.on_connection_lost([&out](const ConnectionLost&) {
        out.print({{{"event", "connection_lost"}}, "connection lost: the server has not been heard for too long"});
    });
    client.on_rejoin_success([&out](const RejoinSuccess&) {
        out.print({{{"event", "rejoin_success"}}, "back in the channels after the reconnect"});
    });
    client.on_channel_state_changed([&out](const ChannelStateChanged& e) {
        std::string text = "channel " + e.channel + " " + std::string(to_string(e.state)) + " (" +
                           std::string(to_string(e.reason)) + ")";
        if (e.error) {
            text += ", error " + std::string(error_name(e.error));
        }
        out.print({{{"event", "channel_state_changed"},
                    {"channel", e.channel},
                    {"state", to_string(e.state)},
                    {"reason", to_string(e.reason)},
                    {"error_code", e.error ? e.error.value() : 0}},
                   std::move(text)});
    });
    client.on_member_joined([&out](const MemberJoined& e) {
        out.print({{{"event", "member_joined"}, {"channel", e.channel}, {"user", e.user_id}},
                   e.channel + ": " + e.user_id + " joined"});
    });
    client.on_member_left([&out](const MemberLeft& e) {
        out.print(
            {{{"event", "member_left"}, {"channel", e.channel}, {"user", e.user_id}, {"cause", to_string(e.cause)}},
             e.channel + ": " + e.user_id + " left (" + std::string(to_string(e.cause)) + ")"});
    });
    client.on_stream_added([&out](const StreamAdded& e) {
        out.print({{{"event", "stream_added"}, {"channel", e.channel}, {"user", e.user_id}, {"stream", e.stream}},
                   e.channel + ": " + e.user_id + " publishes stream " + quoted(e.stream)});
    });
    client.on_stream_removed([&out](const StreamRemoved& e) {
        out.print({{{"event", "stream_removed"}, {"channel", e.channel}, {"user", e.user_id}, {"stream", e.stream}},
                   e.channel + ": " + e.user_id + " stopped stream " + quoted(e.stream)});
    });
    client.on_message([&out](const MessageReceived& e) {
        Json line{{"event", "message"}, {"from", e.from}};
        if (e.channel) {
            line["channel"] = *e.channel;
        }
        line["text"] = e.payload;
        line["backfilled"] = e.backfilled;
        line["id"] = e.message_id;
        std::string text = e.channel ? *e.channel + ": " + e.from + " says " : e.from + " says to you ";
        text += quoted(e.payload);
        if (e.backfilled) {
            text += " (sent while you were away)";
        }
        out.print({std::move(line), std::move(text)});
    });
    client.on_continuity([&out](const ContinuityReport& e) {
        std::string text = "back after " + std::to_string(in_ms(e.outage)) + " ms: ";
        text += e.resumed ? "the session went on" : "a new session (the old one had ended)";
        if (e.backfilled > 0) {
            text += ", " + std::to_string(e.backfilled) + " missed message(s) delivered";
        }
        if (e.dropped > 0) {
            text += ", " + std::to_string(e.dropped) + " message(s) lost";
        }
        if (e.server_restarted) {
            text += ", the server restarted";
        }
        if (e.recovered) {
            text += " (recovered with a recovery key)";
        }
        out.print({{{"event", "continuity"},
                    {"outage_ms", in_ms(e.outage)},
                    {"resumed", e.resumed},
                    {"backfilled", e.backfilled},
                    {"dropped", e.dropped},
                    {"server_restarted", e.server_restarted},
                    {"recovered", e.recovered}},
                   std::move(text)});
    });
    client.on_token_privilege_will_expire([&out](const TokenPrivilegeWillExpire&) {
        out.print({{{"event", "token_privilege_will_expire"}}, "the token expires soon: renew it"});
    });
    client.on_token_expired([&out](const TokenExpired&) {
        out.print({{{"event", "token_expired"}}, "the token has expired"});
    });
}

Event result(const std::string& command, std::error_code error) {
    Json line{{"event", "result"}, {"command", command}, {"ok", !error}};
    if (error) {
        line["error"] = relink::error_name(error);
    }
    return {std::move(line), (error ? "failed: " : "done: ") + command +
                                 (error ? std::string(": ") + relink::error_name(error) : std::string())};
}

/// Runs one parsed command on the client. Returns the error (or success) to report at once for a command that
/// has no completion callback, or that failed before it started; nothing when a completion will report it.
class Runner {
public:
    Runner(relink::Client& client, const Args& args, Printer& out, const std::string& line)
        : client_(client), args_(args), out_(out), line_(line) {}

    using Immediate = std::optional<std::error_code>;

    Immediate operator()(const relink::cli::Quit&) const { return std::nullopt; }  // handled by the caller
    Immediate operator()(const relink::cli::Help&) const {
        out_.say(kCommandsHelp);
        return out_.json() ? Immediate(std::error_code{}) : std::nullopt;  // scripts see it done, people the list
    }
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
                    std::string text = user + "'s attributes:";
                    for (const auto& [key, value] : attributes) {
                        text += " " + key + "=" + quoted(value);
                    }
                    if (attributes.empty()) {
                        text += " none";
                    }
                    out.print({{{"event", "attributes"}, {"user", user}, {"attributes", attributes}}, text});
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
            out_.say("renew: give a token (renew TOKEN), or start relink-cli with --secret to mint one");
            return make_error_code(relink::errc::invalid_argument);
        }
        return only_error(client_.renew_token(std::move(token), done()));
    }
    Immediate operator()(const relink::cli::NetworkChanged&) const {
        client_.notify_network_changed();
        return std::error_code{};
    }
    Immediate operator()(const relink::cli::ShowState&) const {
        const auto state = std::string(relink::to_string(client_.connection_state()));
        out_.print({{{"event", "state"}, {"state", state}}, "state " + state});
        return std::nullopt;
    }
    Immediate operator()(const relink::cli::ShowStatus&) const {
        const relink::ConnectionStatus status = client_.status();
        out_.print({{{"event", "status"},
                     {"state", relink::to_string(status.state)},
                     {"reason", relink::to_string(status.reason)},
                     {"attempt", status.attempt},
                     {"next_retry_ms", in_ms(status.next_retry)},
                     {"in_state_ms", in_ms(status.in_state)},
                     {"last_failure", failure_json(status.last_failure)}},
                    "status " + std::string(relink::to_string(status.state)) + " (" +
                        std::string(relink::to_string(status.reason)) + ") for " +
                        std::to_string(in_ms(status.in_state)) + " ms" +
                        progress_text(status.attempt, status.next_retry, status.last_failure)});
        return std::nullopt;
    }
    Immediate operator()(const relink::cli::ShowQuality&) const {
        out_.print(quality_line(client_.link_quality()));
        return std::nullopt;
    }
    Immediate operator()(const relink::cli::RecoveryKey&) const {
        Printer& out = out_;
        const std::string line = line_;
        return only_error(client_.recovery_key([&out, line](std::error_code error, const std::string& key) {
            if (!error) {
                out.print({{{"event", "recovery_key"}, {"key", key}}, "recovery key " + key});
            }
            out.print(result(line, error));
        }));
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
        std::fprintf(stderr, "relink-cli: cannot mint a token: %s\n", e.what());
        return 2;
    }
    config.profile = args.profile;
    config.time_scale = args.time_scale;
    config.tls.ca_file = args.ca;
    config.log_level = args.log_level;
    if (!args.recover.empty()) {
        config.recover_key = args.recover;
    }
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
            // Not a command: why, and how to get the list (people); INVALID_ARGUMENT for the line (scripts).
            out.say(parsed.error + " (type help for the commands)");
            if (!out.json()) {
                continue;
            }
            immediate = make_error_code(relink::errc::invalid_argument);
        } else {
            immediate = std::visit(Runner(*client, args, out, line), *parsed.command);
        }
        // People see a command that changes a state succeed by that state's events; its "done" line would only
        // race them (it comes from this thread, they from the client's). Scripts get every result.
        const bool shown_by_its_events = parsed.command && std::visit(
                                                               [](const auto& c) {
                                                                   using T = std::decay_t<decltype(c)>;
                                                                   return std::is_same_v<T, relink::cli::Login> ||
                                                                          std::is_same_v<T, relink::cli::Logout> ||
                                                                          std::is_same_v<T, relink::cli::Join> ||
                                                                          std::is_same_v<T, relink::cli::Leave> ||
                                                                          std::is_same_v<T, relink::cli::Switch>;
                                                               },
                                                               *parsed.command);
        if (immediate && (out.json() || *immediate || !shown_by_its_events)) {
            out.print(result(line, *immediate));
        }
    }
    if (client->connection_state() != relink::ConnectionState::disconnected) {
        (void)client->logout();
    }
    client.reset();  // bounded; no callback after this
    return 0;
}
