#include "app/systemd_notify.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace pixelmill {
namespace {

// A file descriptor closed when the scope ends.
struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

std::string takeEnv(const char* name) {
    const char* value = std::getenv(name);
    std::string out = value ? value : "";
    ::unsetenv(name);
    return out;
}

int64_t msLeft(std::chrono::steady_clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
}

}  // namespace

SystemdNotifier::SystemdNotifier() : watchdogLoop_("sd-watchdog", [this] { return ping(); }) {
    socket_ = takeEnv("NOTIFY_SOCKET");
    std::string usec = takeEnv("WATCHDOG_USEC");
    std::string pid = takeEnv("WATCHDOG_PID");
    // WATCHDOG_PID names the process systemd watches: another one's variables were inherited.
    bool ours = pid.empty() || std::strtoll(pid.c_str(), nullptr, 10) == ::getpid();
    if (!usec.empty() && ours) watchdog_ = std::chrono::microseconds(std::strtoll(usec.c_str(), nullptr, 10));
    if (watchdog_.count() < 0 || socket_.empty()) watchdog_ = std::chrono::microseconds(0);
    bool valid = socket_.empty() || socket_[0] == '/' || socket_[0] == '@';
    if (!valid || socket_.size() >= sizeof(sockaddr_un::sun_path)) {
        log::warn("notify_socket_ignored", {{"socket", socket_}, {"reason", "not an absolute path or @abstract name"}});
        socket_.clear();
        watchdog_ = std::chrono::microseconds(0);
    }
}

SystemdNotifier::~SystemdNotifier() { stopWatchdog(); }

bool SystemdNotifier::send(const std::string& message) const {
    if (socket_.empty()) return false;
    Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.fd < 0) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, socket_.data(), socket_.size());
    if (socket_[0] == '@') address.sun_path[0] = '\0';  // an abstract name: no trailing NUL either
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size() + (socket_[0] == '@' ? 0 : 1));
    ssize_t sent = ::sendto(fd.fd, message.data(), message.size(), MSG_NOSIGNAL,
                            reinterpret_cast<const sockaddr*>(&address), length);
    return sent == static_cast<ssize_t>(message.size());
}

void SystemdNotifier::startWatchdog(std::function<bool(std::chrono::milliseconds)> alive) {
    std::lock_guard lock(mutex_);
    if (watchdog_.count() == 0 || alive_) return;
    alive_ = std::move(alive);
    watchdogLoop_.start();
}

void SystemdNotifier::stopWatchdog() { watchdogLoop_.stop(); }

BackgroundLoop::Duration SystemdNotifier::ping() {
    using namespace std::chrono;
    const auto period = duration_cast<milliseconds>(watchdog_ / 2);
    const auto budget = std::max(milliseconds(1), duration_cast<milliseconds>(watchdog_ / 4));
    // The period runs from the start of this round: a slow health check must not stretch it.
    auto next = steady_clock::now() + period;
    bool ok = alive_(budget);
    if (ok) ok = send("WATCHDOG=1");
    if (ok && withheld_) log::info("watchdog_resumed", {});
    if (!ok && !withheld_)
        log::warn("watchdog_withheld", {{"reason", "the daemon did not answer its own health check"},
                                        {"budget_ms", static_cast<int64_t>(budget.count())}});
    withheld_ = !ok;
    return std::max(milliseconds::zero(), ceil<milliseconds>(next - steady_clock::now()));
}

bool frontResponds(const std::string& host, uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // A wildcard listener is reached on loopback.
    std::string to = host.empty() || host == "0.0.0.0" || host == "localhost" ? "127.0.0.1" : host == "::" ? "::1" : host;
    sockaddr_storage address{};
    socklen_t length = 0;
    if (auto* v4 = reinterpret_cast<sockaddr_in*>(&address); ::inet_pton(AF_INET, to.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof(sockaddr_in);
    } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&address); ::inet_pton(AF_INET6, to.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof(sockaddr_in6);
    } else {
        return false;
    }
    Fd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.fd < 0) return false;
    auto wait = [&](short events) {
        pollfd p{fd.fd, events, 0};
        for (int64_t left; (left = msLeft(deadline)) > 0;) {
            int n = ::poll(&p, 1, static_cast<int>(left));
            if (n > 0) return true;
            if (n < 0 && errno != EINTR) return false;
        }
        return false;
    };
    if (::connect(fd.fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        if (errno != EINPROGRESS || !wait(POLLOUT)) return false;
        int error = 0;
        socklen_t size = sizeof error;
        if (::getsockopt(fd.fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) return false;
    }
    std::string hostHeader = to.find(':') != std::string::npos ? "[" + to + "]" : to;
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + hostHeader + ":" + std::to_string(port) +
                          "\r\nConnection: close\r\n\r\n";
    for (size_t off = 0; off < request.size();) {
        ssize_t n = ::send(fd.fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
        if (n > 0) off += static_cast<size_t>(n);
        else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait(POLLOUT)) return false;
        } else return false;
    }
    std::string answer;
    char buffer[256];
    while (answer.size() < 12) {
        ssize_t n = ::recv(fd.fd, buffer, sizeof buffer, 0);
        if (n > 0) answer.append(buffer, static_cast<size_t>(n));
        else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait(POLLIN)) return false;
        } else {
            return answer.empty() && (n == 0 || errno == ECONNRESET);  // closed by the front itself
        }
    }
    return answer.rfind("HTTP/1.", 0) == 0;
}

}  // namespace pixelmill
