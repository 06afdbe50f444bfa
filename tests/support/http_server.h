#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pixelmill::test {

// A request as the test server received it.
struct RecordedRequest {
    std::string method;
    std::string target;  // path and query, as sent
    std::string path;    // without the query
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;

    std::string header(const std::string& name) const;
};

// What the test server answers.
struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    uint64_t fillBytes = 0;  // then this many 'x' bytes after body (huge bodies without the memory)
    std::chrono::milliseconds delay{0};       // before the status line (slow servers)
    std::chrono::milliseconds chunkDelay{0};  // between 16 KiB pieces of the body (slow bodies)
    bool sendContentLength = true;            // false: the body ends when the connection closes

    static Reply redirect(const std::string& location, int status = 302);
};

// A small HTTP/1.1 server for tests on a loopback address and a free port
// (127.0.0.1:0 by default). It records every request and answers by path
// (the query is ignored) with a fixed Reply or a handler; unknown paths get
// 404. One thread accepts; each connection has its own thread and is closed
// after one answer. Thread-safe.
class HttpServer {
public:
    using Handler = std::function<Reply(const RecordedRequest&)>;

    explicit HttpServer(const std::string& bindAddress = "127.0.0.1");
    ~HttpServer();  // stops accepting, cuts open connections, joins every thread
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    int port() const { return port_; }
    const std::string& address() const { return address_; }
    // http://<address>:<port><path>
    std::string url(const std::string& path) const;

    void on(const std::string& path, Reply reply);
    void on(const std::string& path, Handler handler);

    std::vector<RecordedRequest> requests() const;
    size_t requestCount() const;
    // Waits until at least `count` requests have been received.
    bool waitForRequests(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

private:
    void acceptLoop();
    void serve(int fd);
    bool readRequest(int fd, RecordedRequest& request);
    bool writeAll(int fd, const char* data, size_t size);
    void pause(std::chrono::milliseconds ms) const;

    std::string address_;
    int port_ = 0;
    int listenFd_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;

    mutable std::mutex mutex_;  // guards everything below
    mutable std::condition_variable received_;
    std::map<std::string, Handler> handlers_;
    std::vector<RecordedRequest> requests_;
    std::vector<std::thread> connections_;
};

}  // namespace pixelmill::test
