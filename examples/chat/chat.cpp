// chat — an interactive chat room built on relink::Client: what an app does with the SDK around a flaky network.
// Lines you type go to the channel; other members' messages and comings and goings are printed as they happen, and
// so is every change of the connection: reconnecting (what you type meanwhile is queued by the SDK and sent after
// the reconnect), back online with the messages you missed (flagged), signed out because you logged in elsewhere.
//
//   relink-example-chat URL APP_ID USER_ID TOKEN [CA_FILE [CHANNEL]]
//   (a missing argument is taken from RELINK_URL, RELINK_APP_ID, RELINK_USER_ID, RELINK_TOKEN, RELINK_CA_FILE,
//    RELINK_CHANNEL)
//
// Commands: TEXT sends to the channel, `/msg USER TEXT` to one user, `/who` lists who is here, `/quit` (or end of
// input) leaves.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include <relink/client.hpp>

namespace {

/// Prints whole lines with the local time in front, from the SDK's callback thread and the input loop alike.
class Console {
public:
    void say(const std::string& text) {
        const std::time_t now = std::time(nullptr);
        std::tm local{};
        localtime_r(&now, &local);
        char stamp[16];
        std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
        std::lock_guard lock(mutex_);
        std::cout << "[" << stamp << "] " << text << std::endl;
    }

private:
    std::mutex mutex_;
};

std::string str(std::string_view text) {
    return std::string(text);
}

std::string arg(int argc, char** argv, int i, const char* env, const char* fallback) {
    const char* value = i < argc ? argv[i] : std::getenv(env);
    return value != nullptr ? value : fallback;
}

}  // namespace

int main(int argc, char** argv) {
    relink::ClientConfig config;
    config.url = arg(argc, argv, 1, "RELINK_URL", "wss://127.0.0.1:8443/");
    config.app_id = arg(argc, argv, 2, "RELINK_APP_ID", "");
    config.user_id = arg(argc, argv, 3, "RELINK_USER_ID", "");
    config.token = arg(argc, argv, 4, "RELINK_TOKEN", "");
    config.tls.ca_file = arg(argc, argv, 5, "RELINK_CA_FILE", "");
    const std::string channel = arg(argc, argv, 6, "RELINK_CHANNEL", "lobby");
    if (config.app_id.empty() || config.user_id.empty() || config.token.empty()) {
        std::cerr << "usage: relink-example-chat URL APP_ID USER_ID TOKEN [CA_FILE [CHANNEL]]\n";
        return 2;
    }

    Console console;
    std::mutex members_mutex;
    std::set<std::string> members;  // who is in the channel, as the member events told us
    bool was_connected = false;     // callbacks run one at a time on the client's thread: no lock needed

    relink::Client client(config);
    client.on_connection_state_changed([&](const relink::ConnectionStateChanged& e) {
        const std::string reason = str(to_string(e.reason));
        switch (e.state) {
            case relink::ConnectionState::connecting: console.say("* connecting to " + config.url); break;
            case relink::ConnectionState::connected:
                console.say(was_connected ? "* back online (" + reason + ")" : "* connected as " + config.user_id);
                was_connected = true;
                break;
            case relink::ConnectionState::reconnecting:
                console.say("* connection lost (" + reason + "): reconnecting; what you type is queued");
                break;
            case relink::ConnectionState::aborted:
                console.say("* signed out (" + reason + "): " +
                            (e.reason == relink::ConnectionReason::remote_login ? "you logged in somewhere else"
                                                                                : "the server removed you") +
                            ". Type /quit.");
                break;
            case relink::ConnectionState::failed: console.say("* gave up (" + reason + "). Type /quit."); break;
            case relink::ConnectionState::disconnected: console.say("* disconnected (" + reason + ")"); break;
            case relink::ConnectionState::disconnecting: console.say("* leaving"); break;
        }
    });
    client.on_channel_state_changed([&](const relink::ChannelStateChanged& e) {
        if (e.reason == relink::ChannelReason::joined || e.reason == relink::ChannelReason::rejoined) {
            console.say("* you are in #" + e.channel + (e.reason == relink::ChannelReason::rejoined ? " again" : ""));
        } else if (e.state == relink::ChannelState::disconnected) {
            console.say("* you are out of #" + e.channel + " (" + str(to_string(e.reason)) + ")");
        }
    });
    client.on_member_joined([&](const relink::MemberJoined& e) {
        {
            std::lock_guard lock(members_mutex);
            members.insert(e.user_id);
        }
        console.say("* " + e.user_id + " is here");
    });
    client.on_member_left([&](const relink::MemberLeft& e) {
        {
            std::lock_guard lock(members_mutex);
            members.erase(e.user_id);
        }
        const char* why = e.cause == relink::MemberLeftCause::quit      ? "left"
                          : e.cause == relink::MemberLeftCause::dropped ? "lost their connection"
                                                                        : "was signed out";
        console.say("* " + e.user_id + " " + why);
    });
    client.on_message([&](const relink::MessageReceived& m) {
        const std::string missed = m.backfilled ? "  (while you were away)" : "";
        console.say(m.channel ? "<" + m.from + "> " + m.payload + missed
                              : "[private] <" + m.from + "> " + m.payload + missed);
    });
    client.on_continuity([&](const relink::ContinuityReport& e) {
        std::ostringstream text;
        text << "* you were away " << std::chrono::duration_cast<std::chrono::milliseconds>(e.outage).count() << " ms; "
             << e.backfilled << " missed message(s) delivered";
        if (e.dropped != 0) {
            text << ", " << e.dropped << " lost (too many while you were away)";
        }
        if (e.server_restarted) {
            text << "; the server restarted, so messages sent to you just before may be missing";
        }
        console.say(text.str());
    });
    client.on_token_privilege_will_expire(
        [&](const relink::TokenPrivilegeWillExpire&) { console.say("* your token expires soon"); });
    client.on_token_expired([&](const relink::TokenExpired&) { console.say("* your token has expired"); });

    std::error_code error = client.login();
    if (error || (error = client.join(channel))) {
        console.say("! cannot start: " + error.message());
        return 1;
    }

    // Every send completes exactly once: say so only when it failed (a delivered message needs no news).
    const auto report = [&console](std::string what) {
        return [&console, what = std::move(what)](std::error_code e) {
            if (e) {
                console.say("! not delivered: " + what + ": " + e.message());
            }
        };
    };
    for (std::string line; std::getline(std::cin, line);) {
        if (line.empty()) {
            continue;
        }
        if (line == "/quit") {
            break;
        }
        if (line == "/who") {
            std::lock_guard lock(members_mutex);
            std::string list = "* here with you:";
            for (const auto& member : members) {
                list += " " + member;
            }
            console.say(members.empty() ? "* nobody else is here" : list);
            continue;
        }
        if (line.rfind("/msg ", 0) == 0) {
            const auto space = line.find(' ', 5);
            if (space == std::string::npos) {
                console.say("! usage: /msg USER TEXT");
                continue;
            }
            const std::string user = line.substr(5, space - 5);
            const std::string text = line.substr(space + 1);
            if (const auto e = client.send_peer_message(user, text, report("to " + user + ": " + text))) {
                console.say("! cannot send: " + e.message());
            }
            continue;
        }
        if (const auto e = client.send_channel_message(channel, line, report(line))) {
            console.say("! cannot send: " + e.message());
        }
    }
    return 0;  // the client's destructor logs out; the others see us leave
}
