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

int connectTo(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

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
    int loris = connectTo(d.port());
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
    int fd = connectTo(d.port());
    std::string head = "POST /v1/jobs?plugin=slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
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
    Daemon d;
    std::vector<int> idle;
    for (int i = 0; i < 200; ++i) {
        int fd = connectTo(d.port());
        std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";  // one request, then the connection stays open
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        idle.push_back(fd);
    }
    int slow = connectTo(d.port());
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
    for (int i = 0; i < 10; ++i) held.push_back(connectTo(d.port()));
    std::this_thread::sleep_for(200ms);
    int extra = connectTo(d.port());
    CHECK(closedByServer(extra, 2s));
    ::close(extra);
    for (int fd : held) ::close(fd);
    std::this_thread::sleep_for(300ms);
    CHECK(d.http().get("/healthz").status == 200);
}
