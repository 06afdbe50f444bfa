#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pixelmill::test {

struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
    double seconds = 0;

    nlohmann::json json() const;
    std::string header(const std::string& name) const;
};

struct FormPart {
    std::string name;
    std::string value;     // field value, or file content when filename is set
    std::string filename;  // non-empty: a file part
    std::string contentType;
};

// A small blocking HTTP/1.1 client over libcurl, for tests. Not thread-safe;
// use one per thread.
class HttpClient {
public:
    explicit HttpClient(std::string base);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    Response get(const std::string& path, const std::vector<std::string>& headers = {});
    Response del(const std::string& path);
    Response post(const std::string& path, const std::string& body, const std::string& contentType = "",
                  const std::vector<std::string>& headers = {});
    Response postForm(const std::string& path, const std::vector<FormPart>& parts);
    Response postFile(const std::string& path, const std::string& field, const std::string& filePath,
                      const std::vector<FormPart>& fields = {});
    Response request(const std::string& method, const std::string& path, const std::string& body = "",
                     const std::vector<std::string>& headers = {});

    const std::string& base() const { return base_; }

private:
    Response perform(void* curl, const std::string& path);

    std::string base_;
    void* curl_;
};

// A TCP connection to 127.0.0.1:port (a blocking socket; throws when refused).
int connectLoopback(int port);

struct RawAnswer {
    int status = 0;
    std::string head;
    std::string body;
};
// Sends `bytes` in one write on a fresh connection and reads up to `count`
// answers (Content-Length framed), in the order they arrive; fewer when the
// connection closes or `timeoutMs` passes first.
std::vector<RawAnswer> rawAnswers(int port, const std::string& bytes, size_t count, int timeoutMs = 20000);

// Sends raw bytes on a fresh TCP connection and returns what came back
// before the server closed or `timeoutMs` passed.
std::string rawExchange(int port, const std::string& bytes, int timeoutMs = 3000);

}  // namespace pixelmill::test
