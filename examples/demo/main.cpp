// relink-demo — the README's first command: the rtc and rtm timelines of docs/state-machine.md (section 6), played
// for real. An embedded relinkd on loopback (self-signed certificate, trusted by the demo's clients), two
// relink::Client instances in one channel, a fault-injecting proxy in front of UID1, and each scenario on a
// compressed time scale so that the whole run takes well under a minute (demo/scenarios.hpp). Its last scene is a
// cluster: two embedded nodes on a redis-server child, the proxy as UID1's load balancer, and one node killed.
//
// For each scenario it prints what UID1 and UID2 observed side by side, in spec time (real elapsed ÷ the time
// scale), and the checks against the spec; at the end it writes the pictures (SVG) and a page that shows them
// (HTML) and prints where. Exit status: 0 when every scenario matched the spec, 1 otherwise, 2 on a usage error.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_line.hpp"
#include "demo/scenarios.hpp"
#include "demo/timeline_render.hpp"

namespace {

using relink::demo::RunOptions;
using relink::demo::Scenario;
using relink::demo::ScenarioRun;
using relink::demo::TimelinePanel;

constexpr const char* kDescription =
    "relink-demo: plays the rtc and rtm timelines of docs/state-machine.md against an embedded relinkd on "
    "loopback, with UID1 behind a fault-injecting proxy and UID2 in the same channel; prints each client's events "
    "side by side, checks them against the documented timelines, and writes the timeline pictures. The last "
    "scene runs two relinkd nodes of a cluster on a redis-server child (/usr/bin/redis-server) and kills the one "
    "UID1 is on.";

constexpr const char* kFooter =
    "Exit status: 0 when every scenario matched the documented timelines, 1 when one did not (what differed is "
    "printed), 2 on a usage error.";

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, separator);) {
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

bool write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
        std::fprintf(stderr, "relink-demo: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out_dir;
    std::set<std::string> only;
    RunOptions options;
    CLI::App app(kDescription, "relink-demo");
    relink::command_line::prepare(app);
    app.footer(kFooter);
    app.add_option("--out", out_dir,
                   "write timeline.svg, one SVG per scenario, index.html and timeline.txt to DIR (created if "
                   "missing; default: a fresh temporary directory)")
        ->type_name("DIR");
    std::string only_names;
    app.add_option("--only", only_names, "play only these scenarios (comma-separated; see --list)")->type_name("NAMES");
    app.add_option("--stretch", options.stretch,
                   "multiply every scenario's time scale by F, in (0, 100] (e.g. 2 on a very busy machine: the run "
                   "takes twice as long and the real-time tolerances grow with it)")
        ->type_name("F")
        ->capture_default_str()
        ->check(relink::command_line::number_in(0.0, false, 100.0));
    app.add_flag("--verbose", options.verbose, "relinkd's and the clients' logs on stderr");
    bool list = false;
    app.add_flag("--list", list, "list the scenarios (those of --only, if given) and exit");
    relink::command_line::parse(app, argc, argv);
    for (const auto& name : split(only_names, ',')) {
        only.insert(name);
    }
    std::vector<const Scenario*> chosen;
    std::set<std::string> unknown = only;
    for (const auto& s : relink::demo::scenarios()) {
        if (only.empty() || only.count(s.name) != 0) {
            chosen.push_back(&s);
            unknown.erase(s.name);
        }
    }
    if (!unknown.empty()) {
        std::fprintf(stderr, "relink-demo: no scenario called \"%s\" (see --list)\n", unknown.begin()->c_str());
        return 2;
    }
    if (list) {  // the scenarios --only chose (all without it)
        for (const auto* s : chosen) {
            std::printf("%-20s time scale %-5g %s\n", s->name.c_str(), s->time_scale, s->title.c_str());
        }
        return 0;
    }

    // Where the pictures go: decided first, so that a bad --out fails before a minute of scenarios.
    std::filesystem::path dir;
    std::error_code error;
    if (out_dir.empty()) {
        std::string pattern = (std::filesystem::temp_directory_path(error) / "relink-demo-XXXXXX").string();
        if (error || mkdtemp(pattern.data()) == nullptr) {
            std::fprintf(stderr, "relink-demo: cannot create a temporary directory: %s\n", std::strerror(errno));
            return 1;
        }
        dir = pattern;
    } else {
        dir = out_dir;
        std::filesystem::create_directories(dir, error);
        if (error || !std::filesystem::is_directory(dir)) {
            std::fprintf(stderr, "relink-demo: cannot use --out %s: %s\n", out_dir.c_str(),
                         error ? error.message().c_str() : "not a directory");
            return 2;
        }
    }

    std::printf(
        "relink demo: the rtc and rtm timelines of docs/state-machine.md, played by relink::Client against an\n"
        "embedded relinkd on loopback (TLS, self-signed certificate), UID1 behind a fault-injecting proxy, UID2 in\n"
        "the same channel. Each scenario runs on a compressed time scale; times below are SPEC time (real elapsed ÷\n"
        "the time scale) from T0, UID1's first call, so they read like the timeline tables. The last scene is a\n"
        "cluster of two nodes on a redis-server child: the one UID1 is on is killed, and UID1 resumes on the other.\n");
    std::fflush(stdout);

    const auto started = std::chrono::steady_clock::now();
    std::vector<TimelinePanel> panels;
    std::vector<std::pair<std::string, ScenarioRun>> runs;
    std::string all_tables;
    bool all_ok = true;
    for (std::size_t n = 0; n < chosen.size(); ++n) {
        const Scenario& scenario = *chosen[n];
        std::printf("\n%zu) %s  [%s, time scale %g]\n", n + 1, scenario.title.c_str(), scenario.name.c_str(),
                    scenario.time_scale * options.stretch);
        std::fflush(stdout);
        ScenarioRun run = relink::demo::run_scenario(scenario, options);
        std::string text = relink::demo::render_table(run.timeline, run.check);
        text += "\n  checks (spec time; tolerances widened by the real-time slack of a loaded machine):\n";
        for (const auto& line : run.check.lines) {
            text += "    " + line + "\n";
        }
        char verdict[160];
        std::snprintf(verdict, sizeof verdict, "  => %s (%.1f s real)\n",
                      run.check.ok ? "as specified" : "DIFFERS from the spec", run.wall_seconds);
        text += verdict;
        std::fputs(text.c_str(), stdout);
        std::fflush(stdout);
        all_tables += scenario.title + "\n" + text + "\n";
        all_ok = all_ok && run.check.ok;
        panels.push_back({run.timeline, run.check, scenario.description});
        runs.emplace_back(scenario.name, std::move(run));
    }
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    bool written = write_file(dir / "timeline.svg", relink::demo::render_svg(panels)) &&
                   write_file(dir / "timeline.txt", all_tables);
    for (std::size_t i = 0; i < runs.size(); ++i) {
        written = written && write_file(dir / (runs[i].first + ".svg"), relink::demo::render_svg({panels[i]}));
    }
    char summary[256];
    std::snprintf(summary, sizeof summary, "%zu scenario(s), %.1f s real in all: %s.", panels.size(), total,
                  all_ok ? "every one as specified" : "at least one DIFFERS from the spec");
    written =
        written && write_file(dir / "index.html",
                              relink::demo::render_html(
                                  "relink demo: what apps see when a connection breaks",
                                  std::string(summary) +
                                      " The timelines are those of docs/state-machine.md, played for real; times are "
                                      "the seconds an app would live through (the demo plays them faster).",
                                  panels));

    std::printf("\nrelink demo: %s\n", summary);
    std::printf("  picture: %s\n  page:    %s\n", (dir / "timeline.svg").c_str(), (dir / "index.html").c_str());
    if (!all_ok) {
        std::printf("relink demo: MISMATCH: see the [FAIL] lines above.\n");
    }
    return all_ok && written ? 0 : 1;
}
