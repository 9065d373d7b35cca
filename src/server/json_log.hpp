// server/json_log.hpp — relinkd's `--log-format json`: an spdlog formatter that writes each log record as one JSON
// object on one line, for log collectors (journald, Loki, Elasticsearch, CloudWatch) that parse rather than grep.
//
// A line: {"time":"2026-12-07T06:52:58.123Z","level":"info","logger":"relinkd","message":"..."} — the time in UTC,
// ISO 8601 with milliseconds; the level as the text format names it (trace, debug, info, warning, error, critical);
// then the fixed fields given at construction (the node's name when --node-id names it). The message is the text
// line's message, escaped; bytes that are not UTF-8 are replaced, so every line parses.
//
// Thread safety: like every spdlog formatter, used under its sink's mutex; clone() gives an independent copy.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/formatter.h>

namespace relink::server {

class JsonLogFormatter final : public spdlog::formatter {
public:
    /// `fields`: name and value of fields every line carries after the message.
    explicit JsonLogFormatter(std::vector<std::pair<std::string, std::string>> fields = {});
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace relink::server
