#include "support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pixelmill::test {
namespace {

constexpr size_t kPiece = 16 * 1024;
constexpr auto kReadTimeout = std::chrono::seconds(10);

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    size_t e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

std::string RecordedRequest::header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

Reply Reply::redirect(const std::string& location, int status) {
    Reply r;
    r.status = status;
    r.headers.emplace_back("Location", location);
    r.body = "moved";
    return r;
}

HttpServer::HttpServer(const std::string& bindAddress) : address_(bindAddress) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listenFd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    if (inet_pton(AF_INET, bindAddress.c_str(), &addr.sin_addr) != 1) {
        ::close(listenFd_);
        throw std::invalid_argument("not an IPv4 address: " + bindAddress);
    }
    if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listenFd_, 64) != 0) {
        std::string err = std::strerror(errno);
        ::close(listenFd_);
        throw std::runtime_error("bind/listen " + bindAddress + ": " + err);
    }
    socklen_t len = sizeof addr;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
}

HttpServer::~HttpServer() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listenFd_);
    std::vector<std::thread> connections;
    {
        std::lock_guard lock(mutex_);
        connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
}

std::string HttpServer::url(const std::string& path) const {
    return "http://" + address_ + ":" + std::to_string(port_) + path;
}

void HttpServer::on(const std::string& path, Reply reply) {
    on(path, Handler([reply](const RecordedRequest&) { return reply; }));
}

void HttpServer::on(const std::string& path, Handler handler) {
    std::lock_guard lock(mutex_);
    handlers_[path] = std::move(handler);
}

std::vector<RecordedRequest> HttpServer::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

size_t HttpServer::requestCount() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
}

bool HttpServer::waitForRequests(size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return received_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

void HttpServer::acceptLoop() {
    while (!stopping_) {
        pollfd p{listenFd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard lock(mutex_);
        connections_.emplace_back([this, fd] {
            serve(fd);
            ::close(fd);
        });
    }
}

void HttpServer::pause(std::chrono::milliseconds ms) const {
    auto until = std::chrono::steady_clock::now() + ms;
    while (!stopping_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(ms, std::chrono::milliseconds(10)));
}

bool HttpServer::writeAll(int fd, const char* data, size_t size) {
    while (size > 0) {
        if (stopping_) return false;
        pollfd p{fd, POLLOUT, 0};
        int ready = ::poll(&p, 1, 100);
        if (ready < 0 && errno != EINTR) return false;
        if (ready <= 0) continue;
        ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return false;
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

bool HttpServer::readRequest(int fd, RecordedRequest& request) {
    std::string buffer;
    auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
    auto readMore = [&]() -> bool {
        while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            int ready = ::poll(&p, 1, 100);
            if (ready < 0 && errno != EINTR) return false;
            if (ready <= 0) continue;
            char chunk[8192];
            ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<size_t>(n));
            return true;
        }
        return false;
    };

    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos)
        if (!readMore()) return false;

    std::string head = buffer.substr(0, end);
    std::string rest = buffer.substr(end + 4);
    size_t lineEnd = head.find("\r\n");
    std::string requestLine = head.substr(0, lineEnd);
    size_t s1 = requestLine.find(' ');
    size_t s2 = requestLine.find(' ', s1 + 1);
    if (s1 == std::string::npos || s2 == std::string::npos) return false;
    request.method = requestLine.substr(0, s1);
    request.target = requestLine.substr(s1 + 1, s2 - s1 - 1);
    request.path = request.target.substr(0, request.target.find('?'));

    size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
    while (pos < head.size()) {
        size_t next = head.find("\r\n", pos);
        if (next == std::string::npos) next = head.size();
        std::string line = head.substr(pos, next - pos);
        size_t colon = line.find(':');
        if (colon != std::string::npos)
            request.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
        pos = next + 2;
    }

    if (lower(request.header("expect")) == "100-continue") {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!writeAll(fd, kContinue, sizeof kContinue - 1)) return false;
    }
    size_t length = 0;
    if (std::string cl = request.header("content-length"); !cl.empty()) length = std::stoul(cl);
    buffer = rest;
    while (buffer.size() < length)
        if (!readMore()) return false;
    request.body = buffer.substr(0, length);
    return true;
}

void HttpServer::serve(int fd) {
    RecordedRequest request;
    if (!readRequest(fd, request)) return;
    Handler handler;
    {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        auto it = handlers_.find(request.path);
        if (it != handlers_.end()) handler = it->second;
    }
    received_.notify_all();

    Reply reply;
    if (handler) {
        reply = handler(request);
    } else {
        reply.status = 404;
        reply.body = "no handler for " + request.path;
    }
    pause(reply.delay);

    std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
    bool hasType = false;
    for (const auto& [name, value] : reply.headers) {
        head += name + ": " + value + "\r\n";
        hasType = hasType || lower(name) == "content-type";
    }
    if (!hasType) head += "Content-Type: application/octet-stream\r\n";
    if (reply.sendContentLength)
        head += "Content-Length: " + std::to_string(reply.body.size() + reply.fillBytes) + "\r\n";
    head += "Connection: close\r\n\r\n";
    if (!writeAll(fd, head.data(), head.size())) return;
    if (request.method == "HEAD") return;

    for (size_t off = 0; off < reply.body.size(); off += kPiece) {
        if (off > 0) pause(reply.chunkDelay);
        if (!writeAll(fd, reply.body.data() + off, std::min(kPiece, reply.body.size() - off))) return;
    }
    const std::string filler(kPiece, 'x');
    for (uint64_t sent = 0; sent < reply.fillBytes;) {
        if (sent > 0 || !reply.body.empty()) pause(reply.chunkDelay);
        size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, reply.fillBytes - sent));
        if (!writeAll(fd, filler.data(), n)) return;
        sent += n;
    }
    ::shutdown(fd, SHUT_WR);
}

}  // namespace pixelmill::test
