// bench/common/command_line.hpp — what the benchmark programs add to src/cli/command_line.hpp (CLI11 with the rules
// every relink executable follows): a check for whole numbers, comma-separated lists (a size per run, such as
// `--idle-sessions 1000,10000`) whose last occurrence wins as a repeated single-value flag's does, and the
// pass-through flag whose values are relinkd's own flags (`--relinkd-arg --limit`).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cli/command_line.hpp"

namespace relink::bench::command_line {

/// `text` as a whole number of type T (digits only), or nullopt.
template <class T>
std::optional<T> whole_number(std::string_view text) {
    T value{};
    const auto* const end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

/// A check that the value is a whole number of type T in [low, high] ("'x' is not a whole number of at least 1").
template <class T>
CLI::Validator whole(T low = 0, T high = std::numeric_limits<T>::max()) {
    static_assert(std::is_integral_v<T> && std::is_unsigned_v<T>);
    return CLI::Validator(
        [=](std::string& value) -> std::string {
            const auto number = whole_number<T>(value);
            if (number && *number >= low && *number <= high) {
                return {};
            }
            std::string want = "a whole number";
            if (high != std::numeric_limits<T>::max()) {
                want += " in [" + std::to_string(low) + ", " + std::to_string(high) + "]";
            } else if (low > 0) {
                want += " of at least " + std::to_string(low);
            }
            return "'" + value + "' is not " + want;
        },
        "");
}

/// A comma-separated list of T (whole numbers, decimals or names), or nullopt when an item does not parse or the
/// list is empty.
template <class T>
std::optional<std::vector<T>> parse_list(const std::string& text) {
    std::vector<T> out;
    std::istringstream list(text);
    for (std::string item; std::getline(list, item, ',');) {
        if constexpr (std::is_same_v<T, std::string>) {
            if (item.empty()) {
                return std::nullopt;
            }
            out.push_back(item);
        } else if constexpr (std::is_floating_point_v<T>) {
            char* end = nullptr;
            const double number = std::strtod(item.c_str(), &end);
            if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(number)) {
                return std::nullopt;
            }
            out.push_back(static_cast<T>(number));
        } else {
            const auto number = whole_number<T>(item);
            if (!number) {
                return std::nullopt;
            }
            out.push_back(*number);
        }
    }
    if (out.empty() || (!text.empty() && text.back() == ',')) {
        return std::nullopt;
    }
    return out;
}

/// Adds `name` taking a comma-separated list into `target`; the last occurrence wins. `check` (optional) says what
/// is wrong with one item, or nothing. The help shows `shown_default` as the default.
template <class T>
CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<T>& target, const std::string& help,
                      const std::string& type_name, const std::string& shown_default,
                      std::function<std::string(const T&)> check = {}) {
    constexpr const char* kItems = std::is_same_v<T, std::string> ? "names"
                                   : std::is_floating_point_v<T>  ? "numbers"
                                                                  : "whole numbers";
    auto* option = app.add_option_function<std::string>(
        name,
        [&target, name, check](const std::string& text) {
            auto items = parse_list<T>(text);
            if (!items) {
                throw CLI::ValidationError(name, "'" + text + "' is not a comma-separated list of " + kItems);
            }
            if (check) {
                for (const auto& item : *items) {
                    if (auto wrong = check(item); !wrong.empty()) {
                        throw CLI::ValidationError(name, wrong);
                    }
                }
            }
            target = std::move(*items);
        },
        help);
    option->type_name(type_name)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    if (!shown_default.empty()) {
        option->default_str(shown_default);
    }
    return option;
}

/// Parses argv as relink::command_line::parse does, except that the word after a pass-through flag (such as
/// `--relinkd-arg`, whose values are another program's flags) is always its value: CLI11 alone would read
/// `--relinkd-arg --limit` as two flags. The joined spelling `--relinkd-arg=--limit` is the same.
inline void parse(CLI::App& app, int argc, char** argv, std::initializer_list<std::string_view> pass_through) {
    std::vector<std::string> words;
    for (int i = 0; i < argc; ++i) {
        words.emplace_back(argv[i]);
        bool takes_next = false;
        for (const auto flag : pass_through) {
            takes_next = takes_next || (i > 0 && argv[i] == flag);
        }
        if (takes_next && i + 1 < argc) {
            words.back() += "=" + std::string(argv[++i]);
        }
    }
    std::vector<char*> pointers;
    for (auto& word : words) {
        pointers.push_back(word.data());
    }
    relink::command_line::parse(app, static_cast<int>(pointers.size()), pointers.data());
}

}  // namespace relink::bench::command_line
