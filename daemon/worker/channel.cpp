#include "worker/channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace pixelmill::worker {

Channel::~Channel() {
    if (fd_ >= 0) ::close(fd_);
}

bool Channel::send(const nlohmann::json& message) {
    std::string text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > kMaxMessage) {
        // Only log lines and messages can grow: cut them rather than lose the report.
        nlohmann::json cut = message;
        if (cut.contains("message")) cut["message"] = cut["message"].get<std::string>().substr(0, 4000);
        text = cut.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (text.size() > kMaxMessage) return false;
    }
    std::lock_guard lock(sendMutex_);
    for (;;) {
        ssize_t n = ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
        if (n >= 0) return true;
        if (errno == EINTR) continue;
        return false;
    }
}

std::optional<nlohmann::json> Channel::receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc == 0) return std::nullopt;
    if (rc < 0) {
        if (errno == EINTR) return std::nullopt;
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    std::vector<char> buf(kMaxMessage + 1);
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n == 0) throw std::runtime_error("the other end closed the channel");
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return std::nullopt;
        throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
    }
    auto message = nlohmann::json::parse(buf.data(), buf.data() + n, nullptr, false);
    if (message.is_discarded() || !message.is_object()) throw std::runtime_error("unreadable message on the channel");
    return message;
}

std::pair<int, int> socketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    return {fds[0], fds[1]};
}

}  // namespace pixelmill::worker
