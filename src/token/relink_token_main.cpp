// relink-token: mints a login token, rl1 or JWT (../shared/spec/cli.md, docs/tokens.md). Prints the token alone on
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

#include "relink/types.hpp"
#include "token/token.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr std::int64_t kDefaultTtl = 86400;

constexpr std::string_view kUsage =
    R"(usage: relink-token --app ID --secret SECRET --user UID [--ttl SECONDS] [--channel NAME ...] [--format rl1|jwt]
       relink-token --app ID --private-key PEMFILE --user UID [--ttl SECONDS] [--channel NAME ...]

Mints a relink login token and prints it alone on one line (formats: docs/tokens.md).

  --app ID             the app id the token is for (non-empty)
  --secret SECRET      the app's secret, as configured in relinkd (--app ID:SECRET); never printed
  --private-key FILE   a PEM private key (EC P-256 or RSA of 2048+ bits) whose public key relinkd has
                       (--app-key ID:ES256|RS256:PEMFILE): mints an ES256 or RS256 JWT
  --user UID           the user id: 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~,
                       with no leading or trailing space
  --ttl SECONDS        lifetime from now, by the system clock (default 86400); 0 = never expires (rl1 only:
                       a JWT always expires)
  --channel NAME       a channel the holder may join (repeat for more); none = any channel
  --format rl1|jwt     rl1 (the default with --secret) or a JWT: HS256 with --secret, ES256 or RS256 (by
                       the key's type) with --private-key, which implies jwt
  --help               print this and exit

Flags also take the form --flag=VALUE. Exit status: 0 on success, 2 on bad or missing flags.
)";

/// A command-line problem: main() prints it on one line and exits with status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Options {
    bool help{false};
    std::optional<std::string> app;
    std::optional<std::string> secret;
    std::optional<std::string> private_key;
    std::optional<std::string> format;
    std::optional<std::string> user;
    std::optional<std::int64_t> ttl;
    std::vector<std::string> channels;
};

/// A value quoted in an error message, with control and non-ASCII bytes shown as '?' so the message stays one line.
std::string quoted(std::string_view value) {
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
        throw UsageError("--ttl must be a whole number of seconds, 0 or more, not " + quoted(text));
    }
    return value;
}

void set_once(std::optional<std::string>& slot, std::string_view flag, std::string_view value) {
    if (slot) {
        throw UsageError(std::string(flag) + " given more than once");
    }
    slot = std::string(value);
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            options.help = true;
            return options;
        }
        if (arg.substr(0, 2) != "--") {
            // Not echoed: it may be part of a secret that needed quoting.
            throw UsageError("unexpected argument number " + std::to_string(i) +
                             ": every flag takes one value; quote a value that contains spaces");
        }
        std::string_view flag = arg;
        std::optional<std::string_view> value;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            flag = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        if (flag != "--app" && flag != "--secret" && flag != "--user" && flag != "--ttl" && flag != "--channel" &&
            flag != "--private-key" && flag != "--format") {
            throw UsageError("unknown flag " + quoted(flag));
        }
        if (!value) {
            if (i + 1 >= argc) {
                throw UsageError(std::string(flag) + " needs a value");
            }
            value = argv[++i];
        }
        if (flag == "--app") {
            set_once(options.app, flag, *value);
        } else if (flag == "--secret") {
            set_once(options.secret, flag, *value);
        } else if (flag == "--user") {
            set_once(options.user, flag, *value);
        } else if (flag == "--private-key") {
            set_once(options.private_key, flag, *value);
        } else if (flag == "--format") {
            set_once(options.format, flag, *value);
            if (*options.format != "rl1" && *options.format != "jwt") {
                throw UsageError("--format wants rl1 or jwt, not " + quoted(*options.format));
            }
        } else if (flag == "--ttl") {
            if (options.ttl) {
                throw UsageError("--ttl given more than once");
            }
            options.ttl = parse_ttl(*value);
        } else {
            options.channels.emplace_back(*value);
        }
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
        throw UsageError("invalid --app " + quoted(*options.app) +
                         ": 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~, with no leading "
                         "or trailing space");
    }
    if (options.secret && options.secret->empty()) {
        throw UsageError("--secret must not be empty");
    }
    if (!relink::is_valid_user_id(*options.user)) {
        throw UsageError("invalid --user " + quoted(*options.user) +
                         ": 1-64 characters of a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~, with no leading "
                         "or trailing space");
    }
    for (const auto& channel : options.channels) {
        if (!relink::is_valid_channel_name(channel)) {
            throw UsageError("invalid --channel " + quoted(channel) +
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
        throw UsageError("--private-key: cannot read " + quoted(path));
    }
    const std::string pem{std::istreambuf_iterator<char>(in), {}};
    try {
        return relink::token::PrivateKey::from_pem(relink::token::Algorithm::es256, pem);
    } catch (const std::invalid_argument&) {
        try {
            return relink::token::PrivateKey::from_pem(relink::token::Algorithm::rs256, pem);
        } catch (const std::invalid_argument& e) {
            throw UsageError("--private-key " + quoted(path) + ": " + e.what() +
                             " (ES256 needs an EC P-256 key, RS256 an RSA key of 2048 bits or more)");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options options = parse(argc, argv);
        if (options.help) {
            std::cout << kUsage << std::flush;
            return std::cout ? kExitOk : kExitFailure;
        }
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
