// tests/fuzz/fuzz_cli.cpp — libFuzzer target for relink-cli's command parser (src/cli/commands.hpp:
// cli::parse_command). The input is what relink-cli reads from stdin: it is split into lines at '\n' as
// std::getline does, and each line is parsed.
//
// Properties checked (docs/fuzzing.md, docs/cli.md):
//  - parse_command never throws, and gives exactly one of: a command, a blank line (no words), or a non-empty error;
//  - it decides exactly as relink-cli's command loop did before the parser was extracted from it: `reference()`
//    below is that loop's dispatch, kept verbatim (its word splitting, its argument counts, its TEXT rule), so the
//    extraction changed no behaviour and any later change of the language shows up here first (the `status`,
//    `help`, `quality` and `recovery-key` commands came after it, and are added there as changes of the language);
//  - what a command holds is well formed: channel, user, stream, key and token words are non-empty and contain no
//    whitespace, a TEXT does not start with a space, and a sleep is within [0, 3 600 000] ms.
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "cli/commands.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace relink::cli;

// ---------------------------------------------------------------- relink-cli's loop before the extraction

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string word; in >> word;) {
        out.push_back(word);
    }
    return out;
}

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

/// What the old loop did with a line: skip it (blank), run a command, or answer INVALID_ARGUMENT (nullopt).
struct Decision {
    bool blank{false};
    std::optional<Command> command;
};

Decision reference(const std::string& line) {
    const auto w = words(line);
    if (w.empty()) {
        return {true, std::nullopt};
    }
    const std::string& cmd = w[0];
    if (cmd == "quit") {
        return {false, Quit{}};
    } else if (cmd == "login") {
        return {false, Login{}};
    } else if (cmd == "logout") {
        return {false, Logout{}};
    } else if (cmd == "join" && w.size() == 2) {
        return {false, Join{w[1]}};
    } else if (cmd == "leave" && w.size() == 2) {
        return {false, Leave{w[1]}};
    } else if (cmd == "switch" && w.size() == 3) {
        return {false, Switch{w[1], w[2]}};
    } else if (cmd == "send" && w.size() >= 3) {
        return {false, SendChannel{w[1], rest_after(line, 2)}};
    } else if (cmd == "msg" && w.size() >= 3) {
        return {false, SendPeer{w[1], rest_after(line, 2)}};
    } else if ((cmd == "publish" || cmd == "unpublish") && w.size() == 3) {
        return {false, Publish{w[1], w[2], cmd == "unpublish"}};
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
            return {false, std::nullopt};
        }
        return {false, SetAttributes{attributes}};
    } else if (cmd == "getattr" && w.size() == 2) {
        return {false, GetAttributes{w[1]}};
    } else if (cmd == "renew" && w.size() <= 2) {
        return {false, Renew{w.size() == 2 ? std::optional<std::string>(w[1]) : std::nullopt}};
    } else if (cmd == "network-changed" && w.size() == 1) {
        return {false, NetworkChanged{}};
    } else if (cmd == "state" && w.size() == 1) {
        return {false, ShowState{}};
    } else if (cmd == "status" && w.size() == 1) {
        return {false, ShowStatus{}};
    } else if (cmd == "quality" && w.size() == 1) {
        return {false, ShowQuality{}};
    } else if (cmd == "recovery-key" && w.size() == 1) {
        return {false, RecoveryKey{}};
    } else if (cmd == "help") {
        return {false, Help{}};
    } else if (cmd == "sleep" && w.size() == 2) {
        char* end = nullptr;
        const long ms = std::strtol(w[1].c_str(), &end, 10);
        if (end != w[1].c_str() + w[1].size() || ms < 0 || ms > 3'600'000) {
            return {false, std::nullopt};
        }
        return {false, Sleep{std::chrono::milliseconds(ms)}};
    }
    return {false, std::nullopt};
}

// ---------------------------------------------------------------- well-formedness

bool is_word(const std::string& text) {
    if (text.empty()) {
        return false;
    }
    for (const char c : text) {
        if (std::isspace(static_cast<unsigned char>(c)) != 0) {
            return false;
        }
    }
    return true;
}

void check_well_formed(const Command& command) {
    std::visit(
        [](const auto& c) {
            using T = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<T, Join> || std::is_same_v<T, Leave>) {
                FUZZ_CHECK(is_word(c.channel), "a channel that is not a word");
            } else if constexpr (std::is_same_v<T, Switch>) {
                FUZZ_CHECK(is_word(c.from) && is_word(c.to), "a channel that is not a word");
            } else if constexpr (std::is_same_v<T, SendChannel>) {
                FUZZ_CHECK(is_word(c.channel), "a channel that is not a word");
                FUZZ_CHECK(!c.text.starts_with(' '), "a TEXT that starts with a space");
            } else if constexpr (std::is_same_v<T, SendPeer>) {
                FUZZ_CHECK(is_word(c.user), "a user that is not a word");
                FUZZ_CHECK(!c.text.starts_with(' '), "a TEXT that starts with a space");
            } else if constexpr (std::is_same_v<T, Publish>) {
                FUZZ_CHECK(is_word(c.channel) && is_word(c.stream), "a channel or stream that is not a word");
            } else if constexpr (std::is_same_v<T, SetAttributes>) {
                FUZZ_CHECK(!c.attributes.empty(), "attr without attributes");
                for (const auto& [key, value] : c.attributes) {
                    FUZZ_CHECK(is_word(key) && key.find('=') == std::string::npos, "a bad attribute key: " + key);
                    FUZZ_CHECK(value.empty() || is_word(value), "an attribute value with whitespace");
                }
            } else if constexpr (std::is_same_v<T, GetAttributes>) {
                FUZZ_CHECK(is_word(c.user), "a user that is not a word");
            } else if constexpr (std::is_same_v<T, Renew>) {
                FUZZ_CHECK(!c.token || is_word(*c.token), "a token that is not a word");
            } else if constexpr (std::is_same_v<T, Sleep>) {
                FUZZ_CHECK(c.duration.count() >= 0 && c.duration.count() <= kMaxSleepMs, "a sleep out of range");
            }
        },
        command);
}

void check_line(const std::string& line) {
    ParsedLine parsed;
    try {
        parsed = parse_command(line);
    } catch (...) {
        FUZZ_CHECK(false, "parse_command threw");
    }
    const Decision old = reference(line);
    FUZZ_CHECK(parsed.blank() == old.blank, "blank or not, unlike relink-cli's loop: " + line);
    FUZZ_CHECK(parsed.command == old.command, "a decision unlike relink-cli's loop: " + line);
    if (parsed.command) {
        FUZZ_CHECK(parsed.error.empty(), "a command with an error");
        check_well_formed(*parsed.command);
    } else if (!parsed.blank()) {
        FUZZ_CHECK(!parsed.error.empty(), "a refused line without a reason");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::istringstream input{std::string(relink::fuzz::as_text(data, size))};
    for (std::string line; std::getline(input, line);) {
        check_line(line);
    }
    return 0;
}
