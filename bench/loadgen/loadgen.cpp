// Closed-loop HTTP load for the benchmarks: C clients, each one thread on one
// keep-alive connection, so the load generator costs little CPU next to the
// service it measures (a Python client took a third of a core at 100 req/s).
//
//   pixelmill-loadgen MODE URL[,URL…] [options] FILES...
//
// Several URLs (daemons sharing one store): client c talks to URL c mod n;
// completion is read from the first one (its counts cover every daemon).
//
// Modes
//   jobs     POST multipart /v1/jobs?wait=60 (one round trip until the job
//            ends), then GET every output; counts an iteration done when the
//            job succeeded and every output came back 200.
//   submit   POST multipart /v1/jobs (no wait): measures the submit answer
//            alone; then polls /v1/status until every job ended, so the
//            figures give both the submit rate and the completion rate.
//   fastapi  POST multipart /thumbnail; the answer is the image.
//   soak     submit for --duration seconds (or --requests jobs), keeping at
//            most --max-open jobs queued or running (read from /v1/status, so
//            the queue stays bounded and the rate is the workers'); every
//            --interval seconds prints one JSON line: completed/s, submitted/s,
//            submit p99, /healthz p99 (probed every 50 ms), /v1/status p99 and
//            max (probed every 250 ms), open jobs, errors.
//   probe    one client GETs each PATH given (instead of FILES) in turn, every
//            10 ms, for --duration seconds: the latency another client sees
//            while something else loads the daemon. Prints requests, errors,
//            p50_ms, p95_ms, p99_ms, max_ms.
//
// Options: --clients N (16), --requests N (default: one per file, for soak: no
// limit; files are
// cycled), --plugin NAME (thumbnail), --param k=v (repeatable),
// --unique (append a counter after each file's bytes so no two requests
// carry the same bytes and dedup cannot answer).
// Prints one JSON object: done, errors, first_error, seconds, per_second,
// p50_ms, p99_ms, max_ms, and for submit: finished_seconds, finished_per_second.
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Url {
    std::string host = "127.0.0.1";
    int port = 80;
};

Url parseUrl(const std::string& url) {
    // http://HOST:PORT[/]
    auto rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    Url u;
    auto colon = rest.rfind(':');
    u.host = rest.substr(0, colon);
    if (colon != std::string::npos) u.port = std::stoi(rest.substr(colon + 1));
    return u;
}

struct Reply {
    int status = 0;
    std::string body;
};

// One keep-alive HTTP/1.1 connection; reconnects after an error.
class Connection {
public:
    explicit Connection(Url url) : url_(std::move(url)) {}
    ~Connection() { close(); }

    Reply request(const std::string& method, const std::string& target, const std::string& body = {},
                  const std::string& contentType = {}) {
        if (fd_ < 0) connect();
        std::string head = method + " " + target + " HTTP/1.1\r\nHost: " + url_.host + "\r\n";
        if (!contentType.empty()) head += "Content-Type: " + contentType + "\r\n";
        if (!body.empty() || method == "POST") head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        head += "\r\n";
        try {
            sendAll(head);
            sendAll(body);
            return readReply();
        } catch (...) {
            close();
            throw;
        }
    }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }

private:
    void connect() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(url_.port));
        ::inet_pton(AF_INET, url_.host.c_str(), &a.sin_addr);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            close();
            throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    void sendAll(const std::string& data) {
        size_t off = 0;
        while (off < data.size()) {
            ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
            off += static_cast<size_t>(n);
        }
    }

    void fill() {
        char tmp[65536];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) throw std::runtime_error("connection closed by the server");
        buf_.append(tmp, static_cast<size_t>(n));
    }

    std::string takeLine() {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) fill();
        std::string line = buf_.substr(0, eol);
        buf_.erase(0, eol + 2);
        return line;
    }

    std::string take(size_t n) {
        while (buf_.size() < n) fill();
        std::string out = buf_.substr(0, n);
        buf_.erase(0, n);
        return out;
    }

    Reply readReply() {
        Reply r;
        std::string status = takeLine();
        if (status.size() < 12) throw std::runtime_error("bad status line: " + status);
        r.status = std::stoi(status.substr(9, 3));
        long length = -1;
        bool chunked = false, closeAfter = false;
        for (std::string line; !(line = takeLine()).empty();) {
            std::string lower = line;
            std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
            if (lower.rfind("content-length:", 0) == 0) length = std::stol(lower.substr(15));
            if (lower.rfind("transfer-encoding:", 0) == 0 && lower.find("chunked") != std::string::npos) chunked = true;
            if (lower.rfind("connection:", 0) == 0 && lower.find("close") != std::string::npos) closeAfter = true;
        }
        if (chunked) {
            for (;;) {
                size_t size = std::stoul(takeLine(), nullptr, 16);
                if (size == 0) {
                    takeLine();
                    break;
                }
                r.body += take(size);
                takeLine();
            }
        } else if (length >= 0) {
            r.body = take(static_cast<size_t>(length));
        }
        if (closeAfter) close();
        return r;
    }

    Url url_;
    int fd_ = -1;
    std::string buf_;
};

std::string multipart(const std::map<std::string, std::string>& fields, const std::string& filename,
                      const std::string& data, const std::string& boundary) {
    std::string out;
    for (const auto& [k, v] : fields)
        out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + v + "\r\n";
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
           "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    out += data;
    out += "\r\n--" + boundary + "--\r\n";
    return out;
}

double percentile(std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())))];
}

// The latencies of one reporting window, from several threads.
class Window {
public:
    void add(double ms) {
        std::lock_guard lock(mu_);
        samples_.push_back(ms);
    }
    std::vector<double> take() {
        std::lock_guard lock(mu_);
        std::vector<double> out;
        out.swap(samples_);
        std::sort(out.begin(), out.end());
        return out;
    }

private:
    std::mutex mu_;
    std::vector<double> samples_;
};

struct SoakOptions {
    double duration = 900;
    double interval = 60;
    long maxOpen = 2000;
    long requests = -1;
    int clients = 16;
    bool unique = false;
};

int soak(const Url& url, const SoakOptions& o, const std::map<std::string, std::string>& fields,
         const std::vector<std::pair<std::string, std::string>>& files) {
    using std::chrono::duration;
    const std::string boundary = "pixelmill-loadgen-boundary-7f3a";
    const std::string ctype = "multipart/form-data; boundary=" + boundary;
    std::atomic<bool> stop{false};
    std::atomic<long> next{0}, submitted{0}, errors{0}, open{0}, ended{0};
    Window submits, healthz, status;
    std::mutex errorMu;
    std::string firstError;
    auto fail = [&](const std::string& what) {
        if (errors++ == 0) {
            std::lock_guard lock(errorMu);
            firstError = what.substr(0, 300);
        }
    };
    auto since = [](Clock::time_point t0) { return duration<double, std::milli>(Clock::now() - t0).count(); };
    const long limit = o.requests < 0 ? std::numeric_limits<long>::max() : o.requests;

    // Reads /v1/status: how many jobs are open and how many have ended.
    auto readStatus = [&](Connection& conn) {
        auto t0 = Clock::now();
        Reply r = conn.request("GET", "/v1/status");
        double ms = since(t0);
        auto jobs = nlohmann::json::parse(r.body)["jobs"];
        open = jobs.value("queued", 0L) + jobs.value("running", 0L);
        ended = jobs.value("succeeded", 0L) + jobs.value("failed", 0L) + jobs.value("canceled", 0L);
        return ms;
    };
    Connection first(url);
    readStatus(first);
    const long endedBefore = ended;

    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c)
        threads.emplace_back([&] {
            Connection conn(url);
            for (long i; !stop && (i = next.fetch_add(1)) < limit;) {
                while (!stop && open.load() >= o.maxOpen) std::this_thread::sleep_for(std::chrono::milliseconds(2));
                const auto& [name, bytes] = files[static_cast<size_t>(i) % files.size()];
                std::string data = bytes;
                if (o.unique) data += "#" + std::to_string(i);
                std::string body = multipart(fields, name, data, boundary);
                auto t0 = Clock::now();
                try {
                    Reply r = conn.request("POST", "/v1/jobs", body, ctype);
                    if (r.status != 202 && r.status != 200)
                        throw std::runtime_error("status " + std::to_string(r.status) + " " + r.body);
                    submits.add(since(t0));
                    ++submitted;
                    ++open;  // until the next status read says otherwise
                } catch (const std::exception& e) {
                    fail(e.what());
                    conn.close();
                }
            }
        });
    threads.emplace_back([&] {
        Connection conn(url);
        while (!stop) {
            try {
                status.add(readStatus(conn));
            } catch (const std::exception& e) {
                fail(std::string("/v1/status: ") + e.what());
                conn.close();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    });
    threads.emplace_back([&] {
        Connection conn(url);
        while (!stop) {
            auto t0 = Clock::now();
            try {
                Reply r = conn.request("GET", "/healthz");
                if (r.status != 200) throw std::runtime_error("status " + std::to_string(r.status));
                healthz.add(since(t0));
            } catch (const std::exception& e) {
                fail(std::string("/healthz: ") + e.what());
                conn.close();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });

    auto start = Clock::now();
    long endedAtLast = endedBefore, submittedAtLast = 0;
    double last = 0;
    for (;;) {
        double now = duration<double>(Clock::now() - start).count();
        bool done = now >= o.duration || next.load() >= limit;
        double nextReport = last + o.interval;
        if (!done && now < nextReport) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        double span = now - last;
        auto s = submits.take(), h = healthz.take(), st = status.take();
        long e = ended, sub = submitted;
        nlohmann::json line;
        line["t"] = std::round(now);
        line["completed"] = e - endedBefore;
        line["completed_per_second"] = static_cast<double>(e - endedAtLast) / span;
        line["submitted_per_second"] = static_cast<double>(sub - submittedAtLast) / span;
        line["submit_p99_ms"] = percentile(s, 0.99);
        line["healthz_p99_ms"] = percentile(h, 0.99);
        line["status_p99_ms"] = percentile(st, 0.99);
        line["status_max_ms"] = st.empty() ? 0.0 : st.back();
        line["open"] = open.load();
        line["errors"] = errors.load();
        std::cout << line.dump() << std::endl;
        endedAtLast = e;
        submittedAtLast = sub;
        last = now;
        if (done) break;
    }
    stop = true;
    for (auto& t : threads) t.join();
    if (errors > 0) std::cerr << "loadgen: " << errors << " errors, the first: " << firstError << "\n";
    return errors == 0 ? 0 : 1;
}

int probe(const Url& url, double seconds, const std::vector<std::string>& paths) {
    Connection conn(url);
    std::vector<double> ms;
    long errors = 0;
    auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < end) {
        for (const std::string& path : paths) {
            auto t0 = Clock::now();
            try {
                if (conn.request("GET", path).status != 200) ++errors;
            } catch (const std::exception&) {
                ++errors;
            }
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::sort(ms.begin(), ms.end());
    nlohmann::json out = {{"requests", ms.size()},
                          {"errors", errors},
                          {"p50_ms", percentile(ms, 0.5)},
                          {"p95_ms", percentile(ms, 0.95)},
                          {"p99_ms", percentile(ms, 0.99)},
                          {"max_ms", ms.empty() ? 0.0 : ms.back()}};
    std::cout << out.dump() << "\n";
    return 0;
}

[[noreturn]] void usage() {
    std::cerr << "usage: pixelmill-loadgen jobs|submit|fastapi|soak|probe URL[,URL...] [--clients N] [--requests N]\n"
                 "                         [--plugin P] [--param k=v]... [--unique]\n"
                 "                         [--duration S] [--interval S] [--max-open N] FILES...\n";
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) usage();
    std::string mode = argv[1];
    if (mode != "jobs" && mode != "submit" && mode != "fastapi" && mode != "soak" && mode != "probe") usage();
    std::vector<Url> urls;
    for (std::string list = argv[2]; !list.empty();) {
        auto comma = list.find(',');
        urls.push_back(parseUrl(list.substr(0, comma)));
        list = comma == std::string::npos ? "" : list.substr(comma + 1);
    }
    if (urls.empty()) usage();
    const Url& url = urls.front();
    int clients = 16;
    long requests = -1;
    bool unique = false;
    std::string plugin = "thumbnail";
    std::map<std::string, std::string> params;
    std::vector<std::string> paths;
    SoakOptions soakOptions;
    for (int i = 3; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--clients") clients = std::stoi(next());
        else if (a == "--requests") requests = std::stol(next());
        else if (a == "--plugin") plugin = next();
        else if (a == "--unique") unique = true;
        else if (a == "--duration") soakOptions.duration = std::stod(next());
        else if (a == "--interval") soakOptions.interval = std::stod(next());
        else if (a == "--max-open") soakOptions.maxOpen = std::stol(next());
        else if (a == "--param") {
            std::string kv = next();
            auto eq = kv.find('=');
            if (eq == std::string::npos) usage();
            params[kv.substr(0, eq)] = kv.substr(eq + 1);
        } else paths.push_back(a);
    }
    if (paths.empty()) usage();
    if (mode == "probe") return probe(url, soakOptions.duration, paths);
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& p : paths) {
        std::ifstream in(p, std::ios::binary);
        if (!in) {
            std::cerr << "loadgen: cannot read " << p << "\n";
            return 2;
        }
        std::ostringstream s;
        s << in.rdbuf();
        files.emplace_back(p.substr(p.find_last_of('/') + 1), s.str());
    }
    std::map<std::string, std::string> fields = params;
    if (mode != "fastapi") fields["plugin"] = plugin;
    if (mode == "soak") {
        soakOptions.requests = requests;
        soakOptions.clients = clients;
        soakOptions.unique = unique;
        return soak(url, soakOptions, fields, files);
    }
    if (requests < 0) requests = static_cast<long>(files.size());

    const std::string boundary = "pixelmill-loadgen-boundary-7f3a";
    std::atomic<long> next{0};
    std::mutex mu;
    std::vector<double> latencies;
    latencies.reserve(static_cast<size_t>(requests));
    long errors = 0;
    std::string firstError;

    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            Connection conn(urls[static_cast<size_t>(c) % urls.size()]);
            std::vector<double> mine;
            long myErrors = 0;
            std::string myFirst;
            for (long i; (i = next.fetch_add(1)) < requests;) {
                const auto& [name, bytes] = files[static_cast<size_t>(i) % files.size()];
                std::string data = bytes;
                if (unique) data += "#" + std::to_string(i);
                std::string body = multipart(fields, name, data, boundary);
                auto t0 = Clock::now();
                try {
                    const std::string ctype = "multipart/form-data; boundary=" + boundary;
                    if (mode == "fastapi") {
                        Reply r = conn.request("POST", "/thumbnail", body, ctype);
                        if (r.status != 200) throw std::runtime_error("status " + std::to_string(r.status));
                    } else if (mode == "submit") {
                        Reply r = conn.request("POST", "/v1/jobs", body, ctype);
                        if (r.status != 202 && r.status != 200)
                            throw std::runtime_error("status " + std::to_string(r.status) + " " + r.body);
                    } else {
                        Reply r = conn.request("POST", "/v1/jobs?wait=60", body, ctype);
                        auto job = nlohmann::json::parse(r.body);
                        if ((r.status != 202 && r.status != 200) || job.value("state", "") != "succeeded")
                            throw std::runtime_error("status " + std::to_string(r.status) + " " + r.body);
                        for (const auto& o : job["outputs"]) {
                            Reply out = conn.request("GET", o["url"].get<std::string>());
                            if (out.status != 200) throw std::runtime_error("output status " + std::to_string(out.status));
                        }
                    }
                    mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                } catch (const std::exception& e) {
                    if (myErrors++ == 0) myFirst = e.what();
                    conn.close();
                }
            }
            std::lock_guard lock(mu);
            latencies.insert(latencies.end(), mine.begin(), mine.end());
            if (errors == 0 && myErrors > 0) firstError = myFirst;
            errors += myErrors;
        });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    nlohmann::json report;
    std::sort(latencies.begin(), latencies.end());
    report["done"] = latencies.size();
    report["errors"] = errors;
    report["first_error"] = firstError.empty() ? nlohmann::json() : nlohmann::json(firstError.substr(0, 300));
    report["seconds"] = seconds;
    report["per_second"] = static_cast<double>(latencies.size()) / seconds;
    report["p50_ms"] = percentile(latencies, 0.50);
    report["p99_ms"] = percentile(latencies, 0.99);
    report["max_ms"] = latencies.empty() ? 0.0 : latencies.back();

    if (mode == "submit") {
        // Completion: wait until no job is queued or running.
        Connection conn(url);
        for (int failures = 0;;) {
            try {
                auto status = nlohmann::json::parse(conn.request("GET", "/v1/status").body);
                const auto& jobs = status["jobs"];
                long open = jobs.value("queued", 0L) + jobs.value("running", 0L);
                if (open == 0) break;
            } catch (const std::exception& e) {  // a dropped keep-alive: reconnect, but not forever
                if (++failures > 20) {
                    std::cerr << "loadgen: /v1/status keeps failing: " << e.what() << "\n";
                    return 1;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        double finished = std::chrono::duration<double>(Clock::now() - start).count();
        report["finished_seconds"] = finished;
        report["finished_per_second"] = static_cast<double>(latencies.size()) / finished;
    }
    std::cout << report.dump() << std::endl;
    return errors == 0 ? 0 : 1;
}
