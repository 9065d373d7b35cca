// The demo's page in a real browser: headless Chromium (the Debian package `chromium`, which scripts/setup.sh
// installs) loads the page relink-demo writes, and the page must load without a single console message, produce a
// screenshot of the requested size, and have the structure it promises (the "how to read this" box, a picture per
// timeline, the events and checks folded away). Skipped, saying why, when chromium is not installed.
//
// How console errors are seen: Chromium started with --enable-logging=stderr --v=0 writes every console message of
// the page (console.log/error, an uncaught exception) to stderr as a line with ":CONSOLE" in it, whatever its level.
// The page has no script at all, so any such line is a fault. That Chromium really reports them is not assumed: a
// canary page with a console.error and an uncaught exception must be seen, or the test fails, so a Chromium whose
// log format changed cannot make the check pass blind. Resources that fail to load are not logged that way; the page
// has none (checked: no src= and no url() but its own patterns). --dump-dom prints the DOM after the page loaded
// (its structure is checked from it); --screenshot writes the PNG in the same run.
//
// --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start. The page is a local file the
// test wrote itself. The browser gets a profile directory of its own (and HOME) inside the test's temp directory.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../support/bin_dir.hpp"
#include "../support/child_process.hpp"
#include "demo/timeline.hpp"
#include "demo/timeline_render.hpp"
#include "synthetic_timelines.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kBrowserTimeout = 60s;  // a cold start on a busy machine takes a few seconds; a hang is cut off
constexpr int kWidth = 1440;
constexpr int kHeight = 1800;

/// chromium on PATH, or nullopt.
std::optional<std::filesystem::path> find_chromium() {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / "chromium";
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return std::nullopt;
}

/// A temporary directory, removed with everything in it at the end of the test.
struct TempDir {
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "relink-demo-page-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::filesystem::path path;
};

/// What one load of a page in headless Chromium gave.
struct BrowserRun {
    std::optional<int> status;                             ///< nullopt: it did not exit within kBrowserTimeout
    std::string dom;                                       ///< the DOM after loading (--dump-dom)
    std::vector<std::string> console;                      ///< the console messages, one per line of the log
    std::string log;                                       ///< all it wrote to stderr, for failure messages
    std::uintmax_t png_bytes{0};                           ///< the screenshot's size (0: none)
    std::optional<std::array<std::uint32_t, 2>> png_size;  ///< width and height from its IHDR chunk
};

/// The width and height of a PNG file (its signature and IHDR chunk), or nullopt if it is not one.
std::optional<std::array<std::uint32_t, 2>> png_dimensions(const std::filesystem::path& file) {
    const std::string bytes = file_text(file);
    static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
    if (bytes.size() < 24 || bytes.compare(0, 8, kSignature) != 0 || bytes.compare(12, 4, "IHDR") != 0) {
        return std::nullopt;
    }
    const auto be32 = [&](std::size_t at) {
        std::uint32_t value = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            value = (value << 8U) | static_cast<unsigned char>(bytes[at + i]);
        }
        return value;
    };
    return std::array<std::uint32_t, 2>{be32(16), be32(20)};
}

BrowserRun load_in_chromium(const std::filesystem::path& chromium, const std::filesystem::path& page,
                            const std::filesystem::path& work) {
    const auto png = work / "screenshot.png";
    const auto log = work / "chromium.log";
    ChildSpec spec;
    spec.argv = {chromium.string(),
                 "--headless=new",
                 "--no-sandbox",
                 "--disable-gpu",
                 "--no-first-run",
                 "--hide-scrollbars",
                 "--user-data-dir=" + (work / "profile").string(),
                 "--enable-logging=stderr",
                 "--v=0",
                 "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight),
                 "--screenshot=" + png.string(),
                 "--dump-dom",
                 "file://" + std::filesystem::absolute(page).string()};
    spec.environment = {"HOME=" + work.string(), "XDG_CONFIG_HOME=" + (work / "config").string(),
                        "XDG_CACHE_HOME=" + (work / "cache").string()};
    spec.stderr_file = log;
    spec.die_with_parent = true;
    const auto run = ChildProcess::run(std::move(spec), kBrowserTimeout);
    BrowserRun result;
    result.status = run.status;
    result.dom = run.output;
    result.log = file_text(log);
    std::istringstream lines(result.log);
    for (std::string line; std::getline(lines, line);) {
        if (line.find(":CONSOLE") != std::string::npos) {
            result.console.push_back(line);
        }
    }
    std::error_code ec;
    result.png_bytes = std::filesystem::exists(png, ec) ? std::filesystem::file_size(png, ec) : 0;
    result.png_size = png_dimensions(png);
    return result;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) {
        ++n;
    }
    return n;
}

void write(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << file;
}

/// The page loaded in Chromium without a console message, with a screenshot of the window's size, and with the
/// structure of the demo's page for `panels` timelines.
void expect_page_loads_cleanly(const std::filesystem::path& chromium, const std::filesystem::path& page,
                               const std::filesystem::path& work, std::size_t panels) {
    const std::string html = file_text(page);
    EXPECT_EQ(html.find("src="), std::string::npos) << "the page loads nothing from elsewhere";
    EXPECT_EQ(count(html, "url("), count(html, "url(#")) << "no url() but the page's own patterns";
    EXPECT_EQ(html.find("<script"), std::string::npos);

    const BrowserRun run = load_in_chromium(chromium, page, work);
    ASSERT_TRUE(run.status) << "chromium did not finish within " << kBrowserTimeout.count() << " s\n" << run.log;
    EXPECT_EQ(*run.status, 0) << run.log;
    EXPECT_TRUE(run.console.empty()) << "console messages:\n" << ::testing::PrintToString(run.console);
    ASSERT_TRUE(run.png_size) << "no PNG screenshot (" << run.png_bytes << " bytes)\n" << run.log;
    EXPECT_EQ((*run.png_size)[0], static_cast<std::uint32_t>(kWidth));
    EXPECT_EQ((*run.png_size)[1], static_cast<std::uint32_t>(kHeight));
    // A blank page of this size compresses to about 5 KB; the demo's pictures and text to far more.
    EXPECT_GT(run.png_bytes, 40'000U) << "the screenshot looks blank";

    // The DOM as the browser built it: the box, a picture per timeline, and their events and checks folded away.
    EXPECT_EQ(count(run.dom, "class=\"how-to\""), 1U) << run.dom.substr(0, 2000);
    EXPECT_NE(run.dom.find("How to read this"), std::string::npos);
    EXPECT_EQ(count(run.dom, "<svg class=\"picture\""), panels);
    EXPECT_EQ(count(run.dom, "<details"), 2 * panels);
    EXPECT_EQ(count(run.dom, "<g class=\"panel\""), panels);
    EXPECT_EQ(run.dom.find("parsererror"), std::string::npos);
}

class DemoPageInChromium : public ::testing::Test {
protected:
    void SetUp() override {
        const auto found = find_chromium();
        if (!found) {
            GTEST_SKIP() << "chromium is not installed (not on PATH): the demo page was not loaded in a browser. "
                            "scripts/setup.sh installs it (apt-get install chromium).";
        }
        chromium_ = *found;
    }
    std::filesystem::path chromium_;
    TempDir dir_;
};

// The detector works on this Chromium: a console.error and an uncaught exception are both seen.
TEST_F(DemoPageInChromium, SeesTheConsoleErrorsOfACanaryPage) {
    const auto page = dir_.path / "canary.html";
    write(page,
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>canary</title></head><body><p>x</p>"
          "<script>console.error('canary console.error'); no_such_function();</script></body></html>\n");
    const BrowserRun run = load_in_chromium(chromium_, page, dir_.path);
    ASSERT_TRUE(run.status) << run.log;
    const std::string all = ::testing::PrintToString(run.console);
    EXPECT_NE(all.find("canary console.error"), std::string::npos)
        << "this Chromium does not log console messages as expected: the check of the demo page would be blind\n"
        << run.log;
    EXPECT_NE(all.find("Uncaught ReferenceError"), std::string::npos) << run.log;
}

// The page of two made-up timelines that between them show every state (hatched ones included), every marker kind,
// callouts, a 20-minute give-up with a cut axis, and a failed check.
TEST_F(DemoPageInChromium, APageWithEveryStateAndTheGiveUpLoadsWithoutConsoleMessages) {
    using namespace relink::demo;
    const RecordedTimeline rtc = synthetic::synthetic_rtc();
    const RecordedTimeline every = synthetic::synthetic_every_state();
    const std::vector<TimelinePanel> panels{
        {rtc, check_timeline(rtc, synthetic::synthetic_expectation()), "the link never comes back"},
        {every, check_timeline(every, synthetic::synthetic_every_state_expectation()), "every state"}};
    ASSERT_TRUE(panels[0].check.ok);
    ASSERT_FALSE(panels[1].check.ok);
    const auto page = dir_.path / "index.html";
    write(page, render_html("synthetic", "two made-up timelines", panels));
    expect_page_loads_cleanly(chromium_, page, dir_.path, panels.size());
}

// The page relink-demo itself writes for a short real run (one scenario, at a third of its speed as in the
// command-line test), as `make demo` writes it.
TEST_F(DemoPageInChromium, ThePageOfARealDemoRunLoadsWithoutConsoleMessages) {
    const auto out = dir_.path / "demo";
    ChildSpec spec;
    spec.argv = {
        built_program("relink-demo"), "--only", "rtm-duplicate-login", "--stretch", "3", "--out", out.string()};
    spec.die_with_parent = true;
    const auto demo = ChildProcess::run(std::move(spec), 60s);
    ASSERT_EQ(demo.status, 0) << demo.output;
    expect_page_loads_cleanly(chromium_, out / "index.html", dir_.path, 1);
}

}  // namespace
}  // namespace relink::test
