// The metrics an operator watches besides the jobs, moved by the real daemon:
// open and refused connections, rate limiting, notifications per channel and
// outcome, the intake backlog and the job store's connections.
#include "support/daemon.h"
#include "support/http_server.h"
#include "support/postgres.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <sstream>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

namespace {

// The value of one series in the exposition, as `name{labels}` prints it
// (labels in alphabetical order); nullopt when the series is absent.
std::optional<double> series(const std::string& exposition, const std::string& name) {
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return std::nullopt;
}

double value(Daemon& d, const std::string& name) {
    Response r = d.http().get("/metrics");
    REQUIRE(r.status == 200);
    auto v = series(r.body, name);
    INFO(name);
    REQUIRE(v);
    return *v;
}

// A TCP connection to the daemon from `source` (any 127.0.0.0/8 address is
// loopback on Linux), or -1.
int connectFrom(const std::string& source, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Sends a GET /healthz and waits for its answer: true when answered (the
// connection was admitted and stays open), false when the daemon closed it.
bool answered(int fd) {
    std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return false;
    char buffer[512];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    return n > 0 && std::string(buffer, static_cast<size_t>(n)).rfind("HTTP/1.1 200", 0) == 0;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

}  // namespace

TEST_CASE("open connections are a gauge, and connections refused by either cap are counted by reason") {
    Daemon d(DaemonOptions{.args = {"--max-connections", "8", "--max-connections-per-client", "2"}});
    const std::string open = "pixelmill_http_connections_open";
    const std::string perClient = "pixelmill_http_connections_refused_total{reason=\"max_connections_per_client\"}";
    const std::string overall = "pixelmill_http_connections_refused_total{reason=\"max_connections\"}";
    CHECK(value(d, perClient) == 0);
    CHECK(value(d, overall) == 0);
    double idle = value(d, open);
    CHECK(idle >= 1);  // this scrape's own

    std::vector<int> held;
    // Two from 127.0.0.2 are admitted; its third is one too many for that client.
    for (int i = 0; i < 2; ++i) {
        int fd = connectFrom("127.0.0.2", d.port());
        REQUIRE(fd >= 0);
        REQUIRE(answered(fd));
        held.push_back(fd);
    }
    CHECK(value(d, open) >= idle + 2);
    int third = connectFrom("127.0.0.2", d.port());
    REQUIRE(third >= 0);
    CHECK_FALSE(answered(third));
    ::close(third);
    CHECK(value(d, perClient) == 1);

    // Two per address from more addresses, until the daemon as a whole is full.
    bool refused = false;
    for (int host = 3; host < 12 && !refused; ++host)
        for (int i = 0; i < 2 && !refused; ++i) {
            int fd = connectFrom("127.0.0." + std::to_string(host), d.port());
            REQUIRE(fd >= 0);
            if (answered(fd)) held.push_back(fd);
            else {
                refused = true;
                ::close(fd);
            }
        }
    CHECK(refused);
    for (int fd : held) ::close(fd);
    // Room again once the daemon has seen them go; then the count is there.
    REQUIRE(eventually([&] {
        Response r = d.http().get("/metrics");
        return r.status == 200 && series(r.body, open).value_or(99) <= idle;
    }));
    CHECK(value(d, overall) >= 1);
    CHECK(value(d, perClient) == 1);
}

TEST_CASE("requests answered 429 by the rate limit are counted") {
    Daemon d(DaemonOptions{.args = {"--rate-limit", "1", "--rate-burst", "2", "--public-metrics"}});
    const std::string limited = "pixelmill_http_rate_limited_total";
    CHECK(value(d, limited) == 0);  // /metrics is open with --public-metrics: never limited
    int answered429 = 0;
    for (int i = 0; i < 6; ++i)
        if (d.http().get("/v1/status").status == 429) ++answered429;
    CHECK(answered429 >= 3);
    CHECK(value(d, limited) == answered429);
}

TEST_CASE("notifications are counted per channel and outcome, and pending ones per channel") {
    HttpServer receiver;
    std::atomic<int> answer{503};
    receiver.on("/hook", [&](const RecordedRequest&) { return Reply{answer.load(), {}, "ok"}; });
    Daemon d(DaemonOptions{.args = {"--allow-private-network", "--notify-retry-base", "0.3", "--public-metrics"}});
    auto webhook = [](const std::string& outcome) {
        return "pixelmill_notifications_total{channel=\"webhook\",outcome=\"" + outcome + "\"}";
    };
    auto email = [](const std::string& outcome) {
        return "pixelmill_notifications_total{channel=\"email\",outcome=\"" + outcome + "\"}";
    };
    for (const char* o : {"delivered", "retried", "given_up", "interrupted"}) {
        CHECK(value(d, webhook(o)) == 0);
        CHECK(value(d, email(o)) == 0);
    }
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"webhook\"}") == 0);
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"email\"}") == 0);

    TempDir files;
    makeJpeg(files / "n.jpg", 320, 240);
    // A webhook the receiver refuses at first (retried), and an email with no
    // SMTP server configured (given up at once).
    Response r = d.submit((files / "n.jpg").string(), "thumbnail",
                          {{"callback_url", receiver.url("/hook")}, {"callback_email", "ops@example.com"}});
    REQUIRE(r.status == 202);
    d.waitForJob(r.json()["id"]);
    REQUIRE(eventually([&] { return value(d, webhook("retried")) >= 1; }));
    REQUIRE(eventually([&] { return value(d, email("given_up")) == 1; }));
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"webhook\"}") == 1);
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"email\"}") == 0);
    CHECK(value(d, "pixelmill_webhook_deliveries_pending") == 1);  // the former name, for one release

    answer = 200;
    REQUIRE(eventually([&] { return value(d, webhook("delivered")) == 1; }));
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"webhook\"}") == 0);
    CHECK(value(d, webhook("given_up")) == 0);
    CHECK(value(d, email("delivered")) == 0);
}

TEST_CASE("the intake backlog and the store's connections are on every scrape") {
    Daemon d;
    CHECK(value(d, "pixelmill_intake_queue_depth") == 0);  // nothing waits for an intake thread at rest
    // SQLite: the readers the scrapes use go back to the pool, idle.
    d.http().get("/v1/status");
    CHECK(value(d, "pixelmill_store_connections{state=\"idle\"}") >= 1);
    CHECK(value(d, "pixelmill_store_connections{state=\"in_use\"}") >= 0);  // a worker may hold one now
}

TEST_CASE("with PostgreSQL, the pool's connections and pending notifications per channel come from it") {
    if (std::string why = PostgresServer::unavailableReason(); !why.empty()) {
        WARN("skipping: " << why);
        return;
    }
    TempDir blobs;
    Daemon d(DaemonOptions{.args = {"--store", sharedPostgres().createDatabase(), "--blob-dir", (blobs / "b").string(),
                                    "--allow-private-network", "--notify-retry-base", "30"}});
    TempDir files;
    makeJpeg(files / "p.jpg", 320, 240);
    // A receiver that never answers: the webhook stays pending after its first attempt.
    Response r = d.submit((files / "p.jpg").string(), "thumbnail", {{"callback_url", "http://127.0.0.1:1/hook"}});
    REQUIRE(r.status == 202);
    d.waitForJob(r.json()["id"]);
    REQUIRE(eventually([&] {
        return value(d, "pixelmill_notifications_total{channel=\"webhook\",outcome=\"retried\"}") == 1;
    }));
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"webhook\"}") == 1);
    CHECK(value(d, "pixelmill_notifications_pending{channel=\"email\"}") == 0);
    CHECK(value(d, "pixelmill_store_connections{state=\"idle\"}") >= 1);
    CHECK(value(d, "pixelmill_store_connections{state=\"in_use\"}") >= 0);
}
