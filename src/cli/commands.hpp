// cli/commands.hpp — relink-cli's command language (docs/cli.md): one line read from stdin → one parsed
// command, or a blank line, or the reason the line is not a command. A pure function: no client, no I/O, no clock,
// so that the fuzz target (tests/fuzz/fuzz_cli.cpp) and relink-cli share exactly one parser.
//
// The rules are those relink-cli has always applied: words are split on whitespace; `send CH TEXT...` and
// `msg UID TEXT...` take the rest of the line after the second word (words separated by spaces) as TEXT; `login`,
// `logout` and `quit` ignore extra words; every other command wants exactly its arguments. A line that is not a
// command makes relink-cli say why (and, for a typo, the command it probably meant) and, with --json, report
// `INVALID_ARGUMENT` for it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "relink/events.hpp"

namespace relink::cli {

// clang-format off
struct Quit { friend bool operator==(const Quit&, const Quit&) = default; };
struct Login { friend bool operator==(const Login&, const Login&) = default; };
struct Logout { friend bool operator==(const Logout&, const Logout&) = default; };
struct NetworkChanged { friend bool operator==(const NetworkChanged&, const NetworkChanged&) = default; };
struct ShowState { friend bool operator==(const ShowState&, const ShowState&) = default; };
struct ShowStatus { friend bool operator==(const ShowStatus&, const ShowStatus&) = default; };
struct ShowQuality { friend bool operator==(const ShowQuality&, const ShowQuality&) = default; };
struct RecoveryKey { friend bool operator==(const RecoveryKey&, const RecoveryKey&) = default; };
struct Help { friend bool operator==(const Help&, const Help&) = default; };
// clang-format on

struct Join {
    std::string channel;
    friend bool operator==(const Join&, const Join&) = default;
};

struct Leave {
    std::string channel;
    friend bool operator==(const Leave&, const Leave&) = default;
};

struct Switch {
    std::string from;
    std::string to;
    friend bool operator==(const Switch&, const Switch&) = default;
};

/// `send CH TEXT...`: a channel message.
struct SendChannel {
    std::string channel;
    std::string text;
    friend bool operator==(const SendChannel&, const SendChannel&) = default;
};

/// `msg UID TEXT...`: a peer message.
struct SendPeer {
    std::string user;
    std::string text;
    friend bool operator==(const SendPeer&, const SendPeer&) = default;
};

/// `publish CH STREAM` / `unpublish CH STREAM`.
struct Publish {
    std::string channel;
    std::string stream;
    bool unpublish{false};
    friend bool operator==(const Publish&, const Publish&) = default;
};

/// `attr KEY=VALUE ...` (a repeated key keeps its last value).
struct SetAttributes {
    Attributes attributes;
    friend bool operator==(const SetAttributes&, const SetAttributes&) = default;
};

/// `getattr UID`.
struct GetAttributes {
    std::string user;
    friend bool operator==(const GetAttributes&, const GetAttributes&) = default;
};

/// `renew [TOKEN]`: without a token relink-cli mints one (with --secret) or refuses the command.
struct Renew {
    std::optional<std::string> token;
    friend bool operator==(const Renew&, const Renew&) = default;
};

/// `sleep MS`, 0 ≤ MS ≤ 3 600 000.
struct Sleep {
    std::chrono::milliseconds duration{0};
    friend bool operator==(const Sleep&, const Sleep&) = default;
};

using Command =
    std::variant<Quit, Login, Logout, Join, Leave, Switch, SendChannel, SendPeer, Publish, SetAttributes, GetAttributes,
                 Renew, NetworkChanged, ShowState, ShowStatus, ShowQuality, Sleep, Help, RecoveryKey>;

/// The longest `sleep` relink-cli accepts, in milliseconds (one hour).
inline constexpr long kMaxSleepMs = 3'600'000;

/// One line of input, parsed. Exactly one of: a command; a blank line (no words: relink-cli skips it); an error.
struct ParsedLine {
    std::optional<Command> command;  ///< set for a command
    std::string error;               ///< set (non-empty) when the line has words but is not a command
    [[nodiscard]] bool blank() const noexcept { return !command && error.empty(); }
};

/// Parses one line (without its '\n'). Never throws except std::bad_alloc.
[[nodiscard]] ParsedLine parse_command(std::string_view line);

}  // namespace relink::cli
