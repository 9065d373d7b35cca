// support/child_process.hpp, the one child-process helper of the tests and benchmarks, on /bin/sh children: the
// streams go where the spec says, lines and exit statuses come back, stop() escalates from SIGTERM to SIGKILL,
// run() is bounded, the child inherits none of our descriptors nor our blocked signals, and the destructor kills and
// reaps.
#include "support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace relink::test {
namespace {

using namespace std::chrono_literals;

ChildSpec shell(const std::string& script) {
    ChildSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    return spec;
}

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::filesystem::path temp_file(const std::string& name) {
    return std::filesystem::path(testing::TempDir()) / (name + "_" + std::to_string(::getpid()));
}

TEST(ChildProcess, ReadsLinesAndTheExitStatus) {
    auto child = ChildProcess::start(shell("echo one; echo two; printf three; exit 3"));
    ASSERT_TRUE(child);
    EXPECT_EQ(child->read_line(10s), "one");
    EXPECT_EQ(child->read_line(10s), "two");
    EXPECT_EQ(child->wait_exit(10s), 3);
    EXPECT_EQ(child->read_line(0ms), std::nullopt) << "an unfinished line is not a line";
    EXPECT_EQ(child->unread_output(), "three");
    EXPECT_EQ(child->output(), "one\ntwo\nthree");
    EXPECT_FALSE(child->running());
    EXPECT_EQ(child->exit_status(), 3);
}

TEST(ChildProcess, TypesIntoStdinAndWaitsForOutput) {
    ChildSpec spec = shell("while read line; do echo \"got $line\"; done; echo bye");
    spec.stdin_pipe = true;
    auto child = ChildProcess::start(std::move(spec));
    ASSERT_TRUE(child);
    ASSERT_TRUE(child->write("hello\n"));
    EXPECT_TRUE(child->wait_for_output("got hello", 10s)) << child->output();
    EXPECT_FALSE(child->wait_for_output("bye", 50ms)) << "it is still reading";
    child->close_stdin();
    EXPECT_EQ(child->wait_exit(10s), 0);
    EXPECT_EQ(child->output(), "got hello\nbye\n");
}

TEST(ChildProcess, StreamsGoToFilesOrDevNull) {
    const auto out = temp_file("child_out");
    const auto err = temp_file("child_err");
    ChildSpec spec = shell("echo to-out; echo to-err >&2; read nothing; echo \"stdin: [$nothing]\"");
    spec.stdout_pipe = false;
    spec.stdout_file = out;
    spec.stderr_file = err;
    auto child = ChildProcess::start(spec);
    ASSERT_TRUE(child);
    EXPECT_EQ(child->wait_exit(10s), 0);
    EXPECT_EQ(slurp(out), "to-out\nstdin: []\n");
    EXPECT_EQ(slurp(err), "to-err\n");
    EXPECT_TRUE(child->output_ended());

    spec.append = true;  // a second run adds to the files
    ASSERT_EQ(ChildProcess::start(spec)->wait_exit(10s), 0);
    EXPECT_EQ(slurp(out), "to-out\nstdin: []\nto-out\nstdin: []\n");
    std::filesystem::remove(out);
    std::filesystem::remove(err);
}

TEST(ChildProcess, StopsWithSigtermOrElseSigkill) {
    auto polite = ChildProcess::start(shell("echo up; exec sleep 30"));
    ASSERT_TRUE(polite);
    ASSERT_EQ(polite->read_line(10s), "up");
    EXPECT_EQ(polite->stop(10s), -SIGTERM);

    auto stubborn = ChildProcess::start(shell("trap '' TERM; echo up; while :; do sleep 1; done"));
    ASSERT_TRUE(stubborn);
    ASSERT_EQ(stubborn->read_line(10s), "up");  // the trap is set
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(stubborn->stop(300ms), -SIGKILL);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 8s);
    stubborn->signal(SIGTERM);  // after the reap: does nothing (the PID may be another process's by now)
}

TEST(ChildProcess, WaitsAreBounded) {
    auto child = ChildProcess::start(shell("exec sleep 30"));
    ASSERT_TRUE(child);
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(child->wait_exit(100ms), std::nullopt);
    EXPECT_EQ(child->read_line(100ms), std::nullopt);
    EXPECT_FALSE(child->wait_for_output("never", 100ms));
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    EXPECT_TRUE(child->running());
    EXPECT_EQ(child->kill_now(), -SIGKILL);

    const auto run = ChildProcess::run(shell("echo partial; exec sleep 30"), 300ms);
    EXPECT_EQ(run.status, std::nullopt);
    EXPECT_EQ(run.output, "partial\n");
    const auto done = ChildProcess::run(shell("echo all; echo err >&2; exit 4"), 10s);
    EXPECT_EQ(done.status, 4);
    EXPECT_EQ(done.output, "all\nerr\n");
}

TEST(ChildProcess, TheDestructorKillsAndReaps) {
    pid_t pid = 0;
    {
        auto child = ChildProcess::start(shell("exec sleep 30"));
        ASSERT_TRUE(child);
        pid = child->pid();
    }
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, WNOHANG), -1) << "already reaped";
    EXPECT_EQ(errno, ECHILD);
}

TEST(ChildProcess, InheritsNoDescriptorButTheStandardOnesAndGetsTheEnvironment) {
    const int opened = ::open("/dev/null", O_RDONLY);
    const int leaked = ::fcntl(opened, F_DUPFD, 100);  // not close-on-exec, as Asio's sockets are not
    ::close(opened);
    ASSERT_GE(leaked, 100);
    ChildSpec spec = shell("ls /proc/self/fd; echo \"var=$RELINK_CHILD_TEST_VAR\"");
    spec.environment = {"RELINK_CHILD_TEST_VAR=set"};
    const auto run = ChildProcess::run(spec, 10s);
    ::close(leaked);
    EXPECT_EQ(run.status, 0);
    EXPECT_EQ(run.output.find("\n" + std::to_string(leaked) + "\n"), std::string::npos) << run.output;
    EXPECT_EQ(run.output.rfind("0\n1\n2\n", 0), 0U) << run.output;
    EXPECT_NE(run.output.find("var=set"), std::string::npos) << run.output;
}

// The child is started by vfork() with every signal blocked around it: it begins with no signal blocked and with
// what the parent ignores still ignored (as after a fork), and the parent gets its own mask back.
TEST(ChildProcess, AChildStartsWithNoSignalBlockedAndTheParentKeepsItsMask) {
    sigset_t usr1;
    sigset_t before;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr1, &before), 0);
    struct sigaction ignore {};
    struct sigaction previous_usr2 {};
    ignore.sa_handler = SIG_IGN;
    ASSERT_EQ(::sigaction(SIGUSR2, &ignore, &previous_usr2), 0);

    auto child = ChildProcess::start(shell("grep -E '^Sig(Blk|Ign):' /proc/self/status"));
    ASSERT_TRUE(child);
    const auto blocked = child->read_line(10s);
    const auto ignored = child->read_line(10s);
    EXPECT_EQ(child->wait_exit(10s), 0);
    ASSERT_TRUE(blocked && ignored) << child->output();
    EXPECT_EQ(*blocked, "SigBlk:\t0000000000000000");
    // SigIgn is a hexadecimal mask, signal N at bit N - 1.
    const auto ignored_mask = std::strtoull(ignored->substr(ignored->find('\t') + 1).c_str(), nullptr, 16);
    EXPECT_NE(ignored_mask & (1ULL << (SIGUSR2 - 1)), 0U) << *ignored;

    sigset_t now;
    ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &before, &now), 0);
    EXPECT_EQ(sigismember(&now, SIGUSR1), 1) << "the parent's mask was not restored";
    EXPECT_EQ(sigismember(&now, SIGTERM), sigismember(&before, SIGTERM));
    ::sigaction(SIGUSR2, &previous_usr2, nullptr);
}

TEST(ChildProcess, AProgramThatCannotRunExitsWith127) {
    ChildSpec spec;
    spec.argv = {"/nonexistent/program"};
    auto child = ChildProcess::start(spec);
    ASSERT_TRUE(child);
    EXPECT_EQ(child->wait_exit(10s), 127);
    EXPECT_FALSE(ChildProcess::start(ChildSpec{}));
}

}  // namespace
}  // namespace relink::test
