// The daemon under a Type=notify systemd unit: what it sends to NOTIFY_SOCKET
// (READY=1 once it serves, WATCHDOG=1 while it lives, STOPPING=1 on SIGTERM),
// received here on a datagram socket of our own, as systemd would.
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <vector>

using namespace pixelmill::test;
using namespace std::chrono_literals;

namespace {

// A unix datagram socket bound to `name`: a path, or an abstract name when
// it starts with '@' (as NOTIFY_SOCKET spells them).
class NotifySocket {
public:
    explicit NotifySocket(std::string name) : name_(std::move(name)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(name_.size() < sizeof address.sun_path);
        std::memcpy(address.sun_path, name_.data(), name_.size());
        bool abstract = name_[0] == '@';
        if (abstract) address.sun_path[0] = '\0';
        auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    const std::string& name() const { return name_; }

    // The next datagram, or nullopt after `timeout`.
    std::optional<std::string> receive(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
        char buffer[4096];
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n < 0) return std::nullopt;
        return std::string(buffer, static_cast<size_t>(n));
    }

private:
    std::string name_;
    int fd_ = -1;
};

bool has(const std::string& message, const std::string& line) {
    return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

// Runs a daemon told to notify `socket`, with a one-second watchdog, through
// start, a few watchdog periods and SIGTERM; checks what arrived when.
void checkLifecycle(NotifySocket& socket) {
    Daemon d(DaemonOptions{.env = {{"NOTIFY_SOCKET", socket.name()}, {"WATCHDOG_USEC", "1000000"}}});

    // READY=1 first, and only once the daemon says ready itself.
    auto first = socket.receive(10s);
    REQUIRE(first);
    INFO(*first);
    CHECK(has(*first, "READY=1"));
    CHECK(first->find("STATUS=serving on 127.0.0.1:" + std::to_string(d.port())) != std::string::npos);
    CHECK(d.http().get("/readyz").status == 200);

    // WATCHDOG=1 every half second (WATCHDOG_USEC / 2) while it runs.
    int pings = 0;
    auto until = std::chrono::steady_clock::now() + 2200ms;
    while (std::chrono::steady_clock::now() < until)
        if (auto m = socket.receive(100ms)) {
            INFO(*m);
            CHECK(*m == "WATCHDOG=1");
            ++pings;
        }
    CHECK(pings >= 3);
    CHECK(pings <= 8);  // every half period, not a busy loop

    // SIGTERM: STOPPING=1 as it starts draining, then it exits 0.
    CHECK(d.terminate() == 0);
    bool stopping = false;
    while (auto m = socket.receive(200ms))
        if (has(*m, "STOPPING=1")) stopping = true;
    CHECK(stopping);
    CHECK(d.log().find("notify_socket_ignored") == std::string::npos);
}

}  // namespace

TEST_CASE("under systemd, READY=1 comes once /readyz is 200, WATCHDOG=1 keeps coming, STOPPING=1 on SIGTERM") {
    TempDir dir;
    NotifySocket socket((dir / "notify.sock").string());
    checkLifecycle(socket);
}

TEST_CASE("NOTIFY_SOCKET may name an abstract socket") {
    NotifySocket socket("@pixelmill-notify-test-" + std::to_string(::getpid()));
    checkLifecycle(socket);
}
