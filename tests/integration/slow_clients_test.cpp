// Slow and idle clients cannot tie up the server.
#include "support/daemon.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

namespace {

// True once the server has closed the connection (EOF or reset).
bool closedByServer(int fd, std::chrono::milliseconds within) {
    auto until = std::chrono::steady_clock::now() + within;
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("a slow-loris head is cut off at --header-timeout, and others are served meanwhile") {
    Daemon d(DaemonOptions{.args = {"--header-timeout", "1"}});
    int loris = connectLoopback(d.port());
    std::atomic<bool> closed{false};
    std::thread dribble([&] {
        std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for (size_t i = 0; i < 60 && !closed; ++i) {
            char c = head[i % head.size()];
            if (::send(loris, &c, 1, MSG_NOSIGNAL) <= 0) break;
            std::this_thread::sleep_for(100ms);
        }
    });
    Response r = d.http().get("/v1/plugins");
    CHECK(r.status == 200);
    CHECK(r.seconds < 1.0);
    closed = closedByServer(loris, 5s);
    CHECK(closed);
    dribble.join();
    ::close(loris);
}

TEST_CASE("a body that trickles below --min-body-rate is cut off") {
    Daemon d(DaemonOptions{.args = {"--header-timeout", "1", "--min-body-rate", "10KiB"}});
    int fd = connectLoopback(d.port());
    std::string head = "POST /v1/jobs?plugin=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n";
    REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
    std::atomic<bool> stop{false};
    std::thread dribble([&] {
        while (!stop) {
            if (::send(fd, "xxxxxxxxxx", 10, MSG_NOSIGNAL) <= 0) break;
            std::this_thread::sleep_for(100ms);
        }
    });
    bool closed = closedByServer(fd, 6s);
    stop = true;
    dribble.join();
    ::close(fd);
    CHECK(closed);
    CHECK(filesUnder(d.dataDir() / "tmp").empty());
}

TEST_CASE("200 idle keep-alive connections and a slow client do not delay other requests") {
    Daemon d(DaemonOptions{.args = {"--max-connections-per-client", "1000"}});
    std::vector<int> idle;
    for (int i = 0; i < 200; ++i) {
        int fd = connectLoopback(d.port());
        std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";  // one request, then the connection stays open
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        idle.push_back(fd);
    }
    int slow = connectLoopback(d.port());
    ::send(slow, "POST /v1/jobs HTTP/1.1\r\n", 24, MSG_NOSIGNAL);
    double worst = 0;
    for (int i = 0; i < 30; ++i) {
        Response r = d.http().get("/v1/status");
        CHECK(r.status == 200);
        worst = std::max(worst, r.seconds);
    }
    INFO("slowest of 30 requests: " << worst << " s");
    CHECK(worst < 1.0);
    for (int fd : idle) ::close(fd);
    ::close(slow);
}

TEST_CASE("connections beyond --max-connections are closed at once") {
    Daemon d(DaemonOptions{.args = {"--max-connections", "10"}});
    std::vector<int> held;
    for (int i = 0; i < 10; ++i) held.push_back(connectLoopback(d.port()));
    std::this_thread::sleep_for(200ms);
    int extra = connectLoopback(d.port());
    CHECK(closedByServer(extra, 2s));
    ::close(extra);
    for (int fd : held) ::close(fd);
    std::this_thread::sleep_for(300ms);
    CHECK(d.http().get("/healthz").status == 200);
}

TEST_CASE("a fast start buys no long silence: the body rate is measured over the last --header-timeout seconds") {
    Daemon d(DaemonOptions{.args = {"--header-timeout", "1", "--min-body-rate", "10KiB"}});
    int fd = connectLoopback(d.port());
    // 200 KB at once, then nothing: on average that is above 10 KiB/s for
    // twenty seconds, but in the last second nothing came.
    std::string head = "POST /v1/jobs?plugin=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n";
    std::string start = head + std::string(200000, 'x');
    REQUIRE(::send(fd, start.data(), start.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(start.size()));
    auto sent = std::chrono::steady_clock::now();
    bool closed = closedByServer(fd, 6s);
    ::close(fd);
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - sent < 6s);
    std::this_thread::sleep_for(200ms);
    CHECK(filesUnder(d.dataDir() / "tmp").empty());
}

TEST_CASE("a steady body at the minimum rate is not cut off after a slow start") {
    Daemon d(DaemonOptions{.args = {"--header-timeout", "1", "--min-body-rate", "2KiB"}});
    int fd = connectLoopback(d.port());
    std::string head = "POST /v1/jobs?plugin=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 30000\r\n\r\n";
    REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
    // 6 KB/s for five seconds: always above the minimum over any second.
    bool cut = false;
    for (int i = 0; i < 50 && !cut; ++i) {
        std::string piece(600, 'x');
        if (::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) <= 0) cut = true;
        std::this_thread::sleep_for(100ms);
    }
    char buf[256];
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) > 0);
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    CHECK_FALSE(cut);
    REQUIRE(n > 12);
    CHECK(std::string(buf, 12) == "HTTP/1.1 202");
}

TEST_CASE("connections from one client beyond --max-connections-per-client are closed, other clients are served") {
    Daemon d(DaemonOptions{.args = {"--max-connections-per-client", "5"}});
    std::vector<int> held;
    for (int i = 0; i < 5; ++i) held.push_back(connectLoopback(d.port()));
    std::this_thread::sleep_for(200ms);
    int extra = connectLoopback(d.port());
    CHECK(closedByServer(extra, 2s));
    ::close(extra);
    // Another address (127.0.0.2 is loopback too) is another client.
    int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000002);
    REQUIRE(::bind(other, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(d.port()));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(other, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    std::string req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ::send(other, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[64];
    pollfd p{other, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) > 0);
    CHECK(::recv(other, buf, sizeof buf, 0) > 12);
    CHECK(std::string(buf, 12) == "HTTP/1.1 200");
    ::close(other);
    // Closing one makes room for the same client again.
    ::close(held.back());
    held.pop_back();
    std::this_thread::sleep_for(300ms);
    CHECK(d.http().get("/healthz").status == 200);
    for (int fd : held) ::close(fd);
}
