// relink-token: mints a login token, rl1 or JWT (docs/tokens.md). Prints the token alone on
// one line; bad or missing flags give one line on stderr and exit status 2. The secret is never echoed.
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cli/command_line.hpp"
#include "relink/types.hpp"
#include "token/token.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr std::int64_t kDefaultTtl = 86400;

constexpr const char* kDescription =
    "relink-token: mints a relink login token and prints it alone on one line (formats: docs/tokens.md).\n"
    "  relink-token --app ID --secret SECRET --user UID [--ttl SECONDS] [--channel NAME ...] [--format rl1|jwt]\n"
    "  relink-token --app ID --private-key PEMFILE --user UID [--ttl SECONDS] [--channel NAME ...]";

constexpr const char* kFooter =
    "An id (--app, --user, --channel) is 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~,\n"
    "with no leading or trailing space. Exit status: 0 on success, 2 on bad or missing flags.";

/// A command-line problem: main() prints it on one line and exits with status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Options {
    std::optional<std::string> app;
    std::optional<std::string> secret;
    std::optional<std::string> private_key;
    std::optional<std::string> format;
    std::optional<std::string> user;
    std::optional<std::int64_t> ttl;
    std::vector<std::string> channels;
};

/// A value quoted in an error message, with control and non-ASCII bytes shown as '?' so the message stays one line.
std::string shown(std::string_view value) {
    std::string out = "'";
    for (const char c : value) {
        out += (c >= ' ' && c <= '~') ? c : '?';
    }
    return out + "'";
}

std::int64_t parse_ttl(std::string_view text) {
    std::int64_t value = 0;
    const auto* const end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end || value < 0) {
        throw UsageError("--ttl must be a whole number of seconds, 0 or more, not " + shown(text));
    }
    return value;
}

Options parse(int argc, char** argv) {
    Options options;
    CLI::App app(kDescription, "relink-token");
    relink::command_line::prepare(app);
    app.footer(kFooter);
    // Words that are not flags are refused below without being echoed: one may be part of a secret that needed
    // quoting. Values are checked in claims_from(), with messages that never show a secret.
    app.allow_extras();
    const auto once = [&](const char* name, std::optional<std::string>& slot, const char* type, const char* help) {
        app.add_option_function<std::string>(
               name, [&slot](const std::string& value) { slot = value; }, help)
            ->type_name(type)
            ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    };
    once("--app", options.app, "ID", "the app id the token is for");
    once("--secret", options.secret, "SECRET", "the app's secret, as configured in relinkd (--app ID:SECRET)");
    once("--private-key", options.private_key, "PEMFILE",
         "a PEM private key (EC P-256, or RSA of 2048+ bits) whose public key relinkd has "
         "(--app-key ID:ES256|RS256:PEMFILE): mints an ES256 or RS256 JWT");
    once("--user", options.user, "UID", "the user id");
    std::optional<std::string> ttl;
    once("--ttl", ttl, "SECONDS",
         "lifetime from now, by the system clock (default 86400); 0 = never expires (rl1 only: a JWT always "
         "expires)");
    app.add_option("--channel", options.channels, "a channel the holder may join (repeat for more); none = any")
        ->type_name("NAME");
    once("--format", options.format, "rl1|jwt",
         "rl1 (the default with --secret) or a JWT: HS256 with --secret, ES256 or RS256 (by the key's type) with "
         "--private-key, which implies jwt");
    // CLI11's own errors name flags and counts ("--user: At Most 1 required but received 2"), never a value: every
    // option here is a string, so no conversion can fail and quote one.
    relink::command_line::parse(app, argc, argv);
    if (const auto extras = app.remaining(); !extras.empty()) {
        const bool flag = extras.front().rfind("-", 0) == 0;
        throw UsageError(flag ? "unknown flag " + shown(extras.front())
                              : std::string("unexpected argument: every flag takes one value; quote a value that "
                                            "contains spaces"));
    }
    if (options.format && *options.format != "rl1" && *options.format != "jwt") {
        throw UsageError("--format wants rl1 or jwt, not " + shown(*options.format));
    }
    if (ttl) {
        options.ttl = parse_ttl(*ttl);
    }
    return options;
}

/// Whether the options ask for a JWT: --format jwt, or a private key (which signs JWTs only).
bool wants_jwt(const Options& options) {
    if (options.private_key && options.format == "rl1") {
        throw UsageError("rl1 tokens are signed with --secret; --private-key mints JWTs (--format jwt)");
    }
    return options.format == "jwt" || options.private_key;
}

relink::token::Claims claims_from(const Options& options, std::int64_t now_unix) {
    if (options.secret && options.private_key) {
        throw UsageError("--secret and --private-key exclude each other");
    }
    const bool jwt = wants_jwt(options);
    if (!options.app || (!options.secret && !options.private_key) || !options.user) {
        throw UsageError(std::string("missing ") + (!options.app    ? "--app"
                                                    : !options.user ? "--user"
                                                                    : "--secret (or --private-key)"));
    }
    if (!relink::is_valid_user_id(*options.app)) {  // relinkd refuses other app ids: never mint one
        throw UsageError("invalid --app " + shown(*options.app) +
                         ": 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~, with no leading "
                         "or trailing space");
    }
    if (options.secret && options.secret->empty()) {
        throw UsageError("--secret must not be empty");
    }
    if (!relink::is_valid_user_id(*options.user)) {
        throw UsageError("invalid --user " + shown(*options.user) +
                         ": 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~, with no leading "
                         "or trailing space");
    }
    for (const auto& channel : options.channels) {
        if (!relink::is_valid_channel_name(channel)) {
            throw UsageError("invalid --channel " + shown(channel) +
                             ": 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~,");
        }
    }
    const std::int64_t ttl = options.ttl.value_or(kDefaultTtl);
    if (ttl == 0 && jwt) {
        throw UsageError("--ttl 0 (never expires) is for rl1 tokens only: a JWT always expires");
    }
    if (now_unix > 0 && ttl > std::numeric_limits<std::int64_t>::max() - now_unix) {
        throw UsageError("--ttl is too large");
    }
    return relink::token::Claims{*options.app, *options.user, ttl == 0 ? 0 : now_unix + ttl, options.channels};
}

/// The private key in a PEM file, as ES256 (an EC P-256 key) or RS256 (an RSA key).
relink::token::PrivateKey read_private_key(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw UsageError("--private-key: cannot read " + shown(path));
    }
    const std::string pem{std::istreambuf_iterator<char>(in), {}};
    try {
        return relink::token::PrivateKey::from_pem(relink::token::Algorithm::es256, pem);
    } catch (const std::invalid_argument&) {
        try {
            return relink::token::PrivateKey::from_pem(relink::token::Algorithm::rs256, pem);
        } catch (const std::invalid_argument& e) {
            throw UsageError("--private-key " + shown(path) + ": " + e.what() +
                             " (ES256 needs an EC P-256 key, RS256 an RSA key of 2048 bits or more)");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options options = parse(argc, argv);
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(now).count();
        const auto claims = claims_from(options, now_unix);
        std::string token;
        if (options.private_key) {
            token = relink::token::mint_jwt(claims, now_unix, read_private_key(*options.private_key));
        } else if (wants_jwt(options)) {
            token = relink::token::mint_jwt(claims, now_unix, *options.secret);
        } else {
            token = relink::token::mint(claims, *options.secret);
        }
        std::cout << token << '\n' << std::flush;
        if (!std::cout) {
            std::cerr << "relink-token: cannot write the token to stdout\n";
            return kExitFailure;
        }
        return kExitOk;
    } catch (const UsageError& e) {
        std::cerr << "relink-token: " << e.what() << " (see --help)\n";
        return kExitUsage;
    } catch (const std::invalid_argument& e) {  // from mint(): e.g. an app id that is not UTF-8, too many channels
        std::cerr << "relink-token: " << e.what() << " (see --help)\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "relink-token: " << e.what() << '\n';
        return kExitFailure;
    }
}
