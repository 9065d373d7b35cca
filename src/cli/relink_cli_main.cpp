// relink-cli — a thin command-line client over relink::Client with the contract of ../shared/spec/cli.md:
// commands on stdin, one per line, each run as soon as it is read; one human-readable line per event, or exactly
// one JSON object per line on stdout with --json (logs go to stderr). End of input is `quit`.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

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
    "sleep MS, quit) and prints one line per event (one JSON object per line with --json).\n";

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

std::string mint(const Args& args) {
    relink::token::Claims claims;
    claims.app_id = args.app;
    claims.user_id = args.user;
    claims.expires_at = static_cast<std::int64_t>(std::time(nullptr)) + 86'400;
    return relink::token::mint(claims, args.secret);
}

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string word; in >> word;) {
        out.push_back(word);
    }
    return out;
}

/// The rest of `line` after its first `n` words (the TEXT of send / msg).
std::string rest_after(const std::string& line, std::size_t n) {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) {
        pos = line.find_first_not_of(' ', pos);
        pos = line.find(' ', pos);
        if (pos == std::string::npos) {
            return {};
        }
    }
    pos = line.find_first_not_of(' ', pos);
    return pos == std::string::npos ? std::string() : line.substr(pos);
}

void subscribe(relink::Client& client, Printer& out) {
    using namespace relink;
    client.on_connection_state_changed([&out](const ConnectionStateChanged& e) {
        out.print({{"event", "connection_state_changed"},
                   {"state", to_string(e.state)},
                   {"reason", to_string(e.reason)},
                   {"seq", e.seq},
                   {"attempt", e.attempt},
                   {"next_retry_ms", std::chrono::duration_cast<std::chrono::milliseconds>(e.next_retry).count()}});
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
                   {"dropped", e.dropped}});
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
    } catch (const std::exception& e) {
        usage_error(e.what());
    }
    subscribe(*client, out);

    const auto done_for = [&out](const std::string& command) {
        return [&out, command](std::error_code error) { out.print(result(command, error)); };
    };

    std::string line;
    while (std::getline(std::cin, line)) {
        const auto w = words(line);
        if (w.empty()) {
            continue;
        }
        const std::string& cmd = w[0];
        std::optional<std::error_code> immediate;  // commands without a completion report at once
        if (cmd == "quit") {
            break;
        } else if (cmd == "login") {
            immediate = client->login();
        } else if (cmd == "logout") {
            immediate = client->logout();
        } else if (cmd == "join" && w.size() == 2) {
            immediate = client->join(w[1]);
        } else if (cmd == "leave" && w.size() == 2) {
            immediate = client->leave(w[1]);
        } else if (cmd == "switch" && w.size() == 3) {
            immediate = client->switch_channel(w[1], w[2]);
        } else if (cmd == "send" && w.size() >= 3) {
            if (auto e = client->send_channel_message(w[1], rest_after(line, 2), done_for(line))) {
                immediate = e;
            }
        } else if (cmd == "msg" && w.size() >= 3) {
            if (auto e = client->send_peer_message(w[1], rest_after(line, 2), done_for(line))) {
                immediate = e;
            }
        } else if ((cmd == "publish" || cmd == "unpublish") && w.size() == 3) {
            const auto e = cmd == "publish" ? client->publish(w[1], w[2], done_for(line))
                                            : client->unpublish(w[1], w[2], done_for(line));
            if (e) {
                immediate = e;
            }
        } else if (cmd == "attr" && w.size() >= 2) {
            relink::Attributes attributes;
            bool ok = true;
            for (std::size_t i = 1; i < w.size(); ++i) {
                const auto eq = w[i].find('=');
                ok = ok && eq != std::string::npos && eq > 0;
                if (ok) {
                    attributes[w[i].substr(0, eq)] = w[i].substr(eq + 1);
                }
            }
            if (!ok) {
                immediate = make_error_code(relink::errc::invalid_argument);
            } else if (auto e = client->set_local_user_attributes(std::move(attributes), done_for(line))) {
                immediate = e;
            }
        } else if (cmd == "getattr" && w.size() == 2) {
            const std::string user = w[1];
            const auto e = client->get_user_attributes(
                user, [&out, line, user](std::error_code error, const relink::Attributes& attributes) {
                    if (!error) {
                        out.print({{"event", "attributes"}, {"user", user}, {"attributes", attributes}});
                    }
                    out.print(result(line, error));
                });
            if (e) {
                immediate = e;
            }
        } else if (cmd == "renew" && w.size() <= 2) {
            std::string token = w.size() == 2 ? w[1] : std::string();
            if (token.empty() && !args.secret.empty()) {
                token = mint(args);
            }
            if (token.empty()) {
                immediate = make_error_code(relink::errc::invalid_argument);
            } else if (auto e = client->renew_token(std::move(token), done_for(line))) {
                immediate = e;
            }
        } else if (cmd == "network-changed" && w.size() == 1) {
            client->notify_network_changed();
            immediate = std::error_code{};
        } else if (cmd == "state" && w.size() == 1) {
            out.print({{"event", "state"}, {"state", relink::to_string(client->connection_state())}});
        } else if (cmd == "sleep" && w.size() == 2) {
            char* end = nullptr;
            const long ms = std::strtol(w[1].c_str(), &end, 10);
            if (end != w[1].c_str() + w[1].size() || ms < 0 || ms > 3'600'000) {
                immediate = make_error_code(relink::errc::invalid_argument);
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // the command's meaning: wait
            }
        } else {
            immediate = make_error_code(relink::errc::invalid_argument);  // unknown command or wrong arguments
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
