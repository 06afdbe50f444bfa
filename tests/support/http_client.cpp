#include "support/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

namespace pixelmill::test {
namespace {

struct CurlInit {
    CurlInit() { curl_global_init(CURL_GLOBAL_ALL); }
};

size_t collect(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

size_t collectHeader(char* data, size_t size, size_t n, void* user) {
    auto* headers = static_cast<std::map<std::string, std::string>*>(user);
    std::string line(data, size * n);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ')) value.erase(value.begin());
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
        (*headers)[name] = value;
    }
    return size * n;
}

struct SList {
    curl_slist* list = nullptr;
    ~SList() { curl_slist_free_all(list); }
    void add(const std::string& s) { list = curl_slist_append(list, s.c_str()); }
};

}  // namespace

nlohmann::json Response::json() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error("not JSON (status " + std::to_string(status) + "): " + body);
    return j;
}

std::string Response::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
}

HttpClient::HttpClient(std::string base) : base_(std::move(base)) {
    static CurlInit init;
    curl_ = curl_easy_init();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Response HttpClient::perform(void* handle, const std::string& path) {
    CURL* curl = static_cast<CURL*>(handle);
    Response r;
    std::string url = base_ + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collectHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    auto started = std::chrono::steady_clock::now();
    CURLcode rc = curl_easy_perform(curl);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (rc != CURLE_OK) throw std::runtime_error(std::string("HTTP request failed: ") + curl_easy_strerror(rc) + " " + url);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
}

Response HttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                             const std::vector<std::string>& headers) {
    CURL* curl = static_cast<CURL*>(curl_);
    curl_easy_reset(curl);
    SList list;
    for (const auto& h : headers) list.add(h);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST" || method == "PUT" || !body.empty()) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list.list);
    return perform(curl, path);
}

Response HttpClient::get(const std::string& path, const std::vector<std::string>& headers) {
    return request("GET", path, "", headers);
}

Response HttpClient::del(const std::string& path) { return request("DELETE", path); }

Response HttpClient::post(const std::string& path, const std::string& body, const std::string& contentType,
                          const std::vector<std::string>& headers) {
    std::vector<std::string> all = headers;
    all.push_back("Content-Type: " + (contentType.empty() ? std::string("application/octet-stream") : contentType));
    return request("POST", path, body, all);
}

Response HttpClient::postForm(const std::string& path, const std::vector<FormPart>& parts) {
    CURL* curl = static_cast<CURL*>(curl_);
    curl_easy_reset(curl);
    curl_mime* mime = curl_mime_init(curl);
    for (const FormPart& p : parts) {
        curl_mimepart* part = curl_mime_addpart(mime);
        curl_mime_name(part, p.name.c_str());
        curl_mime_data(part, p.value.data(), p.value.size());
        if (!p.filename.empty()) curl_mime_filename(part, p.filename.c_str());
        if (!p.contentType.empty()) curl_mime_type(part, p.contentType.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    Response r;
    try {
        r = perform(curl, path);
    } catch (...) {
        curl_mime_free(mime);
        throw;
    }
    curl_mime_free(mime);
    return r;
}

Response HttpClient::postFile(const std::string& path, const std::string& field, const std::string& filePath,
                              const std::vector<FormPart>& fields) {
    CURL* curl = static_cast<CURL*>(curl_);
    curl_easy_reset(curl);
    curl_mime* mime = curl_mime_init(curl);
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, field.c_str());
    curl_mime_filedata(part, filePath.c_str());
    for (const FormPart& p : fields) {
        curl_mimepart* f = curl_mime_addpart(mime);
        curl_mime_name(f, p.name.c_str());
        curl_mime_data(f, p.value.data(), p.value.size());
    }
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    Response r;
    try {
        r = perform(curl, path);
    } catch (...) {
        curl_mime_free(mime);
        throw;
    }
    curl_mime_free(mime);
    return r;
}

int connectLoopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
    }
    return fd;
}

std::vector<RawAnswer> rawAnswers(int port, const std::string& bytes, size_t count, int timeoutMs) {
    int fd = connectLoopback(port);
    for (size_t sent = 0; sent < bytes.size();) {
        ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
    }
    std::vector<RawAnswer> answers;
    std::string in;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    char buf[8192];
    for (;;) {
        // Every complete answer at the front of `in`.
        for (size_t end; answers.size() < count && (end = in.find("\r\n\r\n")) != std::string::npos;) {
            std::string head = in.substr(0, end);
            std::string lower = head;
            for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            size_t length = 0;
            if (size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos)
                length = std::stoul(head.substr(at + 17));
            if (in.size() < end + 4 + length) break;
            answers.push_back({head.size() >= 12 ? std::stoi(head.substr(9, 3)) : 0, head, in.substr(end + 4, length)});
            in.erase(0, end + 4 + length);
        }
        if (answers.size() >= count) break;
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
        pollfd p{fd, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return answers;
}

std::string rawExchange(int port, const std::string& bytes, int timeoutMs) {
    int fd = connectLoopback(port);
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
    }
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    char buf[4096];
    for (;;) {
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, left) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace pixelmill::test
