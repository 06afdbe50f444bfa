#include "support/smtp_sink.h"

#include "support/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

extern char** environ;

namespace pixelmill::test {

bool SmtpSink::available() { return runCommand("/usr/bin/python3 -c 'import aiosmtpd' 2>&1") == 0; }

SmtpSink::SmtpSink(const std::filesystem::path& folder) : folder_(folder) {
    std::filesystem::create_directories(folder);
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::string script = (sourceDir() / "tests/support/smtp_sink.py").string();
    std::string dir = folder.string();
    const char* argv[] = {"/usr/bin/python3", script.c_str(), "--folder", dir.c_str(), nullptr};
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    if (rc != 0) {
        ::close(out[0]);
        throw std::runtime_error("cannot start smtp_sink.py");
    }
    std::string line;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    if (line.rfind("PORT ", 0) != 0) throw std::runtime_error("smtp_sink.py did not start: " + line);
    port_ = std::stoi(line.substr(5));
}

SmtpSink::~SmtpSink() {
    ::close(stdin_);
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
}

}  // namespace pixelmill::test
