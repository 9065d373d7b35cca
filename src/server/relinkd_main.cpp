// relinkd — relink's reference server (../shared/spec/cli.md, docs/server.md).
//
// Parses the options (one line on stderr and exit 2 when they are unusable; --check-config stops there), sets up a
// private stderr logger (text, or JSON lines with --log-format json) and hands over to run_server(), which prints the
// listening line, reloads on SIGHUP by parsing the same arguments again, and runs until SIGTERM/SIGINT has drained it.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "server/json_log.hpp"
#include "server/listener.hpp"
#include "server/options.hpp"

int main(int argc, char** argv) {
    using namespace relink::server;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = parse_options(args);
    if (!parsed.options) {
        std::cerr << "relinkd: " << parsed.error << std::endl;
        return 2;
    }
    const Options& options = *parsed.options;
    if (options.help || options.version) {
        std::cout << (options.help ? usage() : version_line() + "\n");
        return 0;
    }
    if (options.check_config) {
        if (auto error = check_configuration(options); !error.empty()) {
            std::cerr << "relinkd: " << error << std::endl;
            return 2;
        }
        std::cout << "relinkd: the configuration is valid" << std::endl;
        return 0;
    }
    try {
        // A private logger on stderr: relinkd never touches spdlog's global default (stdout is for the
        // listening line only). Tokens and payloads are never logged.
        auto log = std::make_shared<spdlog::logger>("relinkd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        log->set_level(spdlog::level::from_str(options.log_level));
        if (options.log_format == "json") {
            std::vector<std::pair<std::string, std::string>> fields;
            if (!options.node_id.empty()) {
                fields.emplace_back("node", options.node_id);
            }
            log->set_formatter(std::make_unique<JsonLogFormatter>(std::move(fields)));
        } else {
            log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
        }
        log->flush_on(spdlog::level::info);
        // SIGHUP: the same command line parsed again, which reads the config file again.
        return run_server(options, log, [args] { return parse_options(args); });
    } catch (const std::exception& e) {
        std::cerr << "relinkd: fatal: " << e.what() << std::endl;
        return 1;
    }
}
