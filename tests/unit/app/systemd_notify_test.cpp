#include "app/systemd_notify.h"

#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

using namespace pixelmill;
using namespace std::chrono_literals;

namespace {

// Where systemd would listen: a bound unix datagram socket.
struct Listener {
    int fd = -1;
    explicit Listener(const std::string& path) {
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    ~Listener() { ::close(fd); }
    std::optional<std::string> receive(std::chrono::milliseconds timeout) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
        char b[512];
        ssize_t n = ::recv(fd, b, sizeof b, 0);
        return n < 0 ? std::nullopt : std::optional<std::string>(std::string(b, static_cast<size_t>(n)));
    }
};

}  // namespace

TEST_CASE("systemd notify: without NOTIFY_SOCKET nothing is sent and there is no watchdog", "[app][systemd]") {
    ::unsetenv("NOTIFY_SOCKET");
    ::setenv("WATCHDOG_USEC", "100000", 1);
    SystemdNotifier n;
    CHECK_FALSE(n.enabled());
    CHECK_FALSE(n.send("READY=1"));
    CHECK(n.watchdogTimeout().count() == 0);
    CHECK(std::getenv("WATCHDOG_USEC") == nullptr);  // not inherited by children
}

TEST_CASE("systemd notify: messages reach the socket, and the watchdog pings only while alive says so",
          "[app][systemd]") {
    test::TempDir dir;
    Listener systemd((dir / "notify").string());
    ::setenv("NOTIFY_SOCKET", (dir / "notify").c_str(), 1);
    ::setenv("WATCHDOG_USEC", "100000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    SystemdNotifier n;
    CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
    REQUIRE(n.enabled());
    CHECK(n.watchdogTimeout() == 100ms);
    CHECK(n.send("READY=1\nSTATUS=serving"));
    CHECK(systemd.receive(1s) == "READY=1\nSTATUS=serving");

    std::atomic<bool> alive{false};
    std::atomic<int> asked{0};
    std::atomic<int64_t> budgetMs{0};
    n.startWatchdog([&](std::chrono::milliseconds budget) {  // on the watchdog's thread: no Catch here
        budgetMs = budget.count();
        ++asked;
        return alive.load();
    });
    CHECK_FALSE(systemd.receive(300ms));  // asked, but not alive: silence
    CHECK(asked >= 2);
    CHECK(budgetMs == 25);  // a quarter of the timeout
    alive = true;
    CHECK(systemd.receive(1s) == "WATCHDOG=1");
    CHECK(systemd.receive(1s) == "WATCHDOG=1");
    n.stopWatchdog();
    while (systemd.receive(100ms)) {
    }
    CHECK_FALSE(systemd.receive(200ms));
}

TEST_CASE("systemd notify: another process's WATCHDOG_PID means no watchdog here", "[app][systemd]") {
    test::TempDir dir;
    Listener systemd((dir / "notify").string());
    ::setenv("NOTIFY_SOCKET", (dir / "notify").c_str(), 1);
    ::setenv("WATCHDOG_USEC", "100000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
    SystemdNotifier n;
    CHECK(n.enabled());
    CHECK(n.watchdogTimeout().count() == 0);
    ::unsetenv("WATCHDOG_PID");
}

TEST_CASE("systemd notify: the health probe fails fast where nothing answers", "[app][systemd]") {
    // Port 1 on loopback: refused at once.
    CHECK_FALSE(frontResponds("127.0.0.1", 1, "/healthz", 500ms));
}

namespace {

// A loopback listener whose accepted connections get `answer` and are closed;
// with `accept` false, connections wait in its backlog and get nothing.
class FakeFront {
public:
    FakeFront(std::string answer, bool accept) : answer_(std::move(answer)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 8) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        if (accept)
            thread_ = std::thread([this] {
                int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;
                if (!answer_.empty()) (void)::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
                ::close(c);
            });
    }
    ~FakeFront() {
        ::shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
        ::close(fd_);
    }
    uint16_t port() const { return port_; }

private:
    std::string answer_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace

TEST_CASE("systemd notify: any answer, or a connection the caps close at once, proves the front alive", "[app][systemd]") {
    {
        FakeFront front("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", true);
        CHECK(frontResponds("127.0.0.1", front.port(), "/healthz", 2000ms));
    }
    {
        FakeFront refusing("", true);  // accepted and closed: what a full --max-connections does
        CHECK(frontResponds("127.0.0.1", refusing.port(), "/healthz", 2000ms));
    }
    {
        FakeFront wedged("", false);  // the kernel completes the handshake; nobody reads
        auto start = std::chrono::steady_clock::now();
        CHECK_FALSE(frontResponds("127.0.0.1", wedged.port(), "/healthz", 300ms));
        CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    }
}
