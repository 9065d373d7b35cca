// relinkd's JSON log lines (server/json_log.hpp).
#include "server/json_log.hpp"

#include <chrono>
#include <ctime>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

namespace relink::server {
namespace {

void append(spdlog::memory_buf_t& dest, std::string_view text) {
    dest.append(text.data(), text.data() + text.size());
}

/// `text` as a JSON string, quotes included; invalid UTF-8 replaced by U+FFFD rather than thrown about.
void append_json_string(spdlog::memory_buf_t& dest, std::string_view text) {
    append(dest, nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

/// 2026-12-07T06:52:58.123Z
void append_utc_time(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point time) {
    const auto since_epoch = time.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    const std::time_t whole = seconds.count();
    std::tm utc{};
    gmtime_r(&whole, &utc);
    char text[32];
    const auto length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    append(dest, std::string_view(text, length));
    char fraction[8];
    const int fraction_length = std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));
    append(dest, std::string_view(fraction, static_cast<std::size_t>(fraction_length)));
}

}  // namespace

JsonLogFormatter::JsonLogFormatter(std::vector<std::pair<std::string, std::string>> fields)
    : fields_(std::move(fields)) {}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    append(dest, R"({"time":")");
    append_utc_time(dest, msg.time);
    append(dest, R"(","level":)");
    const auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(dest, std::string_view(level.data(), level.size()));
    append(dest, R"(,"logger":)");
    append_json_string(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, R"(,"message":)");
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    for (const auto& [name, value] : fields_) {
        append(dest, ",");
        append_json_string(dest, name);
        append(dest, ":");
        append_json_string(dest, value);
    }
    append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
    return std::make_unique<JsonLogFormatter>(fields_);
}

}  // namespace relink::server
