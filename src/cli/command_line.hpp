// cli/command_line.hpp — the one way relink's executables read their flags: CLI11 with the same rules
// everywhere. `--name value` and `--name=value` both work, `--help` and `--version` print to stdout and exit 0, and
// a flag that is unknown, malformed or missing is one line on stderr ("NAME: what is wrong (see --help)") and
// exit status 2, as nginx, redis-server and the other tools an operator knows do.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "relink_version.hpp"

namespace relink::command_line {

/// An App named after the executable, with --version and its help laid out as every relink executable's (an
/// option shows its default where it adds `->capture_default_str()`).
inline void prepare(CLI::App& app) {
    app.set_version_flag("--version", std::string(app.get_name()) + " " + kVersion);
    app.get_formatter()->column_width(34);
}

/// A check that the value is one of `names` ("--flag: 'x' is not one of a, b, c"); it adds nothing to the help line,
/// whose text names the choices in words.
inline CLI::Validator one_of(std::vector<std::string> names) {
    return CLI::Validator(
        [names = std::move(names)](std::string& value) -> std::string {
            for (const auto& name : names) {
                if (value == name) {
                    return {};
                }
            }
            std::string list;
            for (const auto& name : names) {
                list += (list.empty() ? "" : ", ") + name;
            }
            return "'" + value + "' is not one of " + list;
        },
        "");
}

/// A check that the value is a number within (low, high] (or [low, high] when `low_included`).
inline CLI::Validator number_in(double low, bool low_included, double high) {
    return CLI::Validator(
        [=](std::string& value) -> std::string {
            char* end = nullptr;
            const double number = std::strtod(value.c_str(), &end);
            const bool parsed = !value.empty() && end == value.c_str() + value.size();
            if (parsed && (low_included ? number >= low : number > low) && number <= high) {
                return {};
            }
            char range[96];
            std::snprintf(range, sizeof range, "a number in %c%g, %g]", low_included ? '[' : '(', low, high);
            return "'" + value + "' is not " + range;
        },
        "");
}

/// "NAME: what (see --help)" on stderr, exit status 2: a bad flag or a configuration that cannot work.
[[noreturn]] inline void fail(const CLI::App& app, const std::string& what) {
    std::fprintf(stderr, "%s: %s (see --help)\n", app.get_name().c_str(), what.c_str());
    std::exit(2);
}

/// Parses argv; on --help or --version prints and exits 0, on an error prints one line and exits 2.
inline void parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {  // --help, --version: printed by exit()
        std::exit(app.exit(e));
    } catch (const CLI::ParseError& e) {
        fail(app, e.what());
    }
}

}  // namespace relink::command_line
