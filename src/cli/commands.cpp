// relink-cli's command parser (cli/commands.hpp): a line of stdin → a command, a blank line, or an error.
#include "cli/commands.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <sstream>
#include <utility>
#include <vector>

namespace relink::cli {
namespace {

/// The words of a line, split on whitespace (the C locale's isspace: space, \t, \n, \v, \f, \r).
std::vector<std::string> words(std::string_view line) {
    std::istringstream in{std::string(line)};
    std::vector<std::string> out;
    for (std::string word; in >> word;) {
        out.push_back(word);
    }
    return out;
}

/// The rest of `line` after its first `n` space-separated words (the TEXT of send / msg); empty if there is none.
std::string rest_after(std::string_view line, std::size_t n) {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) {
        pos = line.find_first_not_of(' ', pos);
        pos = line.find(' ', pos);
        if (pos == std::string_view::npos) {
            return {};
        }
    }
    pos = line.find_first_not_of(' ', pos);
    return pos == std::string_view::npos ? std::string() : std::string(line.substr(pos));
}

/// The commands, for "did you mean".
constexpr const char* kCommandNames[] = {
    "login",     "logout", "join",    "leave",       "switch",          "send",  "msg",    "publish",
    "unpublish", "attr",   "getattr", "renew",       "network-changed", "state", "status", "quality",
    "sleep",     "quit",   "help",    "recovery-key"};

/// Levenshtein distance (two rows; words are short).
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> previous(b.size() + 1);
    std::vector<std::size_t> current(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        previous[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1])});
        }
        std::swap(previous, current);
    }
    return previous[b.size()];
}

/// The command a typo most likely meant: within two edits (one for words of up to three letters), or none.
const char* nearest_command(std::string_view word) {
    if (word.size() > 32) {
        return nullptr;
    }
    const char* best = nullptr;
    std::size_t best_distance = word.size() <= 3 ? 2 : 3;
    for (const char* name : kCommandNames) {
        const std::size_t d = edit_distance(word, name);
        if (d < best_distance) {
            best = name;
            best_distance = d;
        }
    }
    return best;
}

ParsedLine ok(Command command) {
    return ParsedLine{std::move(command), {}};
}

ParsedLine bad(std::string why) {
    return ParsedLine{std::nullopt, std::move(why)};
}

}  // namespace

ParsedLine parse_command(std::string_view line) {
    const std::vector<std::string> w = words(line);
    if (w.empty()) {
        return {};
    }
    const std::string& cmd = w[0];
    if (cmd == "quit") {
        return ok(Quit{});
    }
    if (cmd == "login") {
        return ok(Login{});
    }
    if (cmd == "logout") {
        return ok(Logout{});
    }
    if (cmd == "join" || cmd == "leave") {
        if (w.size() != 2) {
            return bad(cmd + " wants one channel: " + cmd + " CH");
        }
        return cmd == "join" ? ok(Join{w[1]}) : ok(Leave{w[1]});
    }
    if (cmd == "switch") {
        if (w.size() != 3) {
            return bad("switch wants two channels: switch FROM TO");
        }
        return ok(Switch{w[1], w[2]});
    }
    if (cmd == "send" || cmd == "msg") {
        if (w.size() < 3) {
            return bad(cmd == "send" ? "send wants a channel and a text: send CH TEXT..."
                                     : "msg wants a user and a text: msg UID TEXT...");
        }
        std::string text = rest_after(line, 2);
        return cmd == "send" ? ok(SendChannel{w[1], std::move(text)}) : ok(SendPeer{w[1], std::move(text)});
    }
    if (cmd == "publish" || cmd == "unpublish") {
        if (w.size() != 3) {
            return bad(cmd + " wants a channel and a stream: " + cmd + " CH STREAM");
        }
        return ok(Publish{w[1], w[2], cmd == "unpublish"});
    }
    if (cmd == "attr") {
        if (w.size() < 2) {
            return bad("attr wants at least one KEY=VALUE");
        }
        SetAttributes set;
        for (std::size_t i = 1; i < w.size(); ++i) {
            const auto eq = w[i].find('=');
            if (eq == std::string::npos || eq == 0) {
                return bad("attr wants KEY=VALUE words with a non-empty KEY");
            }
            set.attributes[w[i].substr(0, eq)] = w[i].substr(eq + 1);
        }
        return ok(std::move(set));
    }
    if (cmd == "getattr") {
        if (w.size() != 2) {
            return bad("getattr wants one user: getattr UID");
        }
        return ok(GetAttributes{w[1]});
    }
    if (cmd == "renew") {
        if (w.size() > 2) {
            return bad("renew wants at most one token: renew [TOKEN]");
        }
        return ok(Renew{w.size() == 2 ? std::optional<std::string>(w[1]) : std::nullopt});
    }
    if (cmd == "network-changed" || cmd == "state" || cmd == "status" || cmd == "quality" || cmd == "recovery-key") {
        if (w.size() != 1) {
            return bad(cmd + " takes no argument");
        }
        if (cmd == "recovery-key") {
            return ok(RecoveryKey{});
        }
        if (cmd == "status") {
            return ok(ShowStatus{});
        }
        if (cmd == "quality") {
            return ok(ShowQuality{});
        }
        return cmd == "state" ? ok(ShowState{}) : ok(NetworkChanged{});
    }
    if (cmd == "sleep") {
        if (w.size() != 2) {
            return bad("sleep wants a number of milliseconds: sleep MS");
        }
        char* end = nullptr;
        const long ms = std::strtol(w[1].c_str(), &end, 10);
        if (end != w[1].c_str() + w[1].size() || ms < 0 || ms > kMaxSleepMs) {
            return bad("sleep wants an integer number of milliseconds from 0 to 3600000");
        }
        return ok(Sleep{std::chrono::milliseconds(ms)});
    }
    if (cmd == "help") {
        return ok(Help{});
    }
    std::string why = "unknown command \"" + cmd + "\"";
    if (const auto* near = nearest_command(cmd)) {
        why += ": did you mean " + std::string(near) + "?";
    }
    return bad(std::move(why));
}

}  // namespace relink::cli
