#include "http/server/respond.h"

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "metrics/metrics.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/stat.h>

#include <pistache/http_headers.h>
#include <pistache/peer.h>

namespace pixelmill::http {

using namespace Pistache;

namespace {

// A header known only by name at run time. Typed (not Header::Raw), because
// Pistache's serveFile() writes typed headers only.
class NamedHeader final : public Http::Header::Header {
public:
    NamedHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
    const char* name() const override { return name_.c_str(); }
    uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }
    void parse(const std::string& data) override { value_ = data; }
    void write(std::ostream& os) const override { os << value_; }

private:
    std::string name_;
    std::string value_;
};

thread_local RequestTiming* tlsTiming = nullptr;
thread_local RequestOrigin tlsOrigin;

std::atomic<AnswerListener> answerListener{nullptr};

void tell(const std::shared_ptr<Tcp::Peer>& peer, AnswerPhase phase) {
    if (AnswerListener listener = answerListener.load(std::memory_order_acquire); listener && peer) listener(peer, phase);
}

// A file's answer is told once it is written: both phases at once.
void written(const std::shared_ptr<Tcp::Peer>& peer) {
    tell(peer, AnswerPhase::Handing);
    tell(peer, AnswerPhase::Handed);
}

std::shared_ptr<Tcp::Peer> peerOf(Http::ResponseWriter& response) {
    try {
        return response.peer();
    } catch (const std::exception&) {
        return nullptr;  // the connection is gone
    }
}

// Connections whose request being answered is a HEAD. Weak: a peer gone
// before its answer leaves an expired entry that a new peer at the same
// address does not inherit.
std::mutex headMutex;
std::map<const Tcp::Peer*, std::weak_ptr<Tcp::Peer>> headPeers;

bool takeHead(const std::shared_ptr<Tcp::Peer>& peer) {
    if (!peer) return false;
    std::lock_guard lock(headMutex);
    if (headPeers.empty()) return false;
    auto it = headPeers.find(peer.get());
    if (it == headPeers.end()) return false;
    bool same = it->second.lock() == peer;
    headPeers.erase(it);
    return same;
}

// The status line and headers Pistache would write for a body of `length`
// bytes, written without the body.
void sendHead(Http::ResponseWriter& response, const std::shared_ptr<Tcp::Peer>& peer, int status,
              const std::string& contentType, uint64_t length) {
    std::ostringstream head;
    head << "HTTP/1.1 " << status << ' ' << Http::codeString(static_cast<Http::Code>(status)) << "\r\n";
    for (const auto& h : response.headers().list()) {
        head << h->name() << ": ";
        h->write(head);
        head << "\r\n";
    }
    if (!contentType.empty()) head << "Content-Type: " << contentType << "\r\n";
    head << "Content-Length: " << length << "\r\n\r\n";
    std::string bytes = head.str();
    tell(peer, AnswerPhase::Handing);
    peer->send(RawBuffer(bytes, bytes.size()));
    tell(peer, AnswerPhase::Handed);
}

// Counts the answer in the metrics and names its request (X-Request-Id).
void record(Http::ResponseWriter& response, int status) {
    RequestTiming* t = tlsTiming;
    if (t && !t->requestId.empty()) addHeader(response, "X-Request-Id", t->requestId);
    if (!t || t->recorded || !t->metrics) return;
    t->recorded = true;
    t->metrics->httpRequest(t->route, t->method, status, monotonicSeconds() - t->start);
}

}  // namespace

RequestTiming* currentTiming() { return tlsTiming; }
TimingScope::TimingScope(RequestTiming* timing)
    : previous_(tlsTiming), logScope_(timing ? std::string_view(timing->requestId) : std::string_view()) {
    tlsTiming = timing;
}
TimingScope::~TimingScope() { tlsTiming = previous_; }

std::shared_ptr<RequestTiming> handOffTiming() {
    if (!tlsTiming) return nullptr;
    auto copy = std::make_shared<RequestTiming>(*tlsTiming);
    tlsTiming->recorded = true;
    return copy;
}

void setRequestOrigin(RequestOrigin origin) { tlsOrigin = std::move(origin); }
const RequestOrigin& requestOrigin() { return tlsOrigin; }

RequestTiming timingOf(const RequestOrigin& origin, Metrics* metrics, std::string route, std::string method) {
    return RequestTiming{metrics, std::move(route), std::move(method), origin.start, false, origin.requestId,
                         origin.client};
}

void sendEmpty(Http::ResponseWriter& response, int status, const Headers& headers) {
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    record(response, status);
    auto peer = peerOf(response);
    if (takeHead(peer)) return sendHead(response, peer, status, {}, 0);
    tell(peer, AnswerPhase::Handing);
    response.send(static_cast<Http::Code>(status));
    tell(peer, AnswerPhase::Handed);
}

std::string publicMessage(const ApiError& error) {
    if (error.status() != 500) return error.what();
    log::error("internal_error", {{"error", error.what()}});
    return "internal error; the daemon's log has the details";
}

nlohmann::ordered_json errorBody(const ApiError& error) {
    nlohmann::ordered_json e = {{"code", error.code()}, {"message", publicMessage(error)}};
    if (!error.field().empty()) e["field"] = error.field();
    if (!error.jobs().empty()) e["jobs"] = error.jobs();
    return {{"error", e}};
}

void addHeader(Http::ResponseWriter& response, const std::string& name, const std::string& value) {
    response.headers().add(std::make_shared<NamedHeader>(name, value));
}

void sendText(Http::ResponseWriter& response, int status, const std::string& body, const std::string& contentType,
              const Headers& headers) {
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    record(response, status);
    auto peer = peerOf(response);
    if (takeHead(peer)) return sendHead(response, peer, status, contentType, body.size());
    tell(peer, AnswerPhase::Handing);
    response.send(static_cast<Http::Code>(status), body, Http::Mime::MediaType::fromString(contentType));
    tell(peer, AnswerPhase::Handed);
}

void sendJson(Http::ResponseWriter& response, int status, const nlohmann::ordered_json& body, const Headers& headers) {
    std::string text = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    text.push_back('\n');
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    record(response, status);
    auto peer = peerOf(response);
    if (takeHead(peer)) return sendHead(response, peer, status, "application/json", text.size());
    tell(peer, AnswerPhase::Handing);
    response.send(static_cast<Http::Code>(status), text, MIME(Application, Json));
    tell(peer, AnswerPhase::Handed);
}

void sendError(Http::ResponseWriter& response, const ApiError& error) {
    Headers headers;
    if (auto s = error.retryAfterSeconds()) headers.emplace_back("Retry-After", std::to_string(*s));
    // RFC 6750: how to authenticate, and that a valid token lacks the scope.
    if (error.status() == 401) headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pixelmill\"");
    if (error.status() == 403 && error.code() == "forbidden")
        headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pixelmill\", error=\"insufficient_scope\"");
    sendJson(response, error.status(), errorBody(error), headers);
}

bool answerOrRefuse(std::string_view where, const std::function<void()>& work,
                    const std::function<void(const ApiError&)>& refuse) {
    try {
        work();
        return true;
    } catch (const ApiError& e) {
        refuse(e);
    } catch (const std::exception& e) {
        log::error("handler_failed", {{"where", std::string(where)}, {"error", e.what()}});
        refuse(ApiError::internal(std::string("internal error: ") + e.what()));
    }
    return false;
}

bool answerOrRefuse(std::string_view where, Http::ResponseWriter& response, const std::function<void()>& work) {
    return answerOrRefuse(where, work, [&response](const ApiError& e) { sendError(response, e); });
}

bool activeContentType(const std::string& mediaType) {
    std::string t;
    for (char c : mediaType.substr(0, mediaType.find(';')))
        if (c != ' ' && c != '\t') t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return t.empty() || t == "text/html" || t == "application/xhtml+xml" || t == "image/svg+xml" ||
           t == "text/xml" || t == "application/xml" || t.ends_with("+xml") || t == "text/javascript" ||
           t == "application/javascript" || t == "application/ecmascript" || t == "text/xsl";
}

std::string contentDisposition(bool attachment, const std::string& filename) {
    std::string out = attachment ? "attachment" : "inline";
    if (filename.empty()) return out;
    std::string ascii, encoded;
    bool plain = true;
    static const char* hex = "0123456789ABCDEF";
    for (unsigned char c : filename) {
        bool printable = c >= 0x20 && c < 0x7f;
        if (!printable || c == '"' || c == '\\') plain = false;
        ascii.push_back(printable && c != '"' && c != '\\' ? static_cast<char>(c) : '_');
        // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
        if (std::isalnum(c) || std::strchr("!#$&+-.^_`|~", c)) encoded.push_back(static_cast<char>(c));
        else encoded += {'%', hex[c >> 4], hex[c & 15]};
    }
    out += "; filename=\"" + ascii + "\"";
    if (!plain) out += "; filename*=UTF-8''" + encoded;
    return out;
}

Headers userContentHeaders(const std::string& mediaType, const std::string& filename) {
    return {{"X-Content-Type-Options", "nosniff"},
            {"Content-Security-Policy", "default-src 'none'; sandbox"},
            {"Content-Disposition", contentDisposition(activeContentType(mediaType), filename)}};
}

std::string cacheControl(Stored what, bool behindTokens) {
    std::string who = behindTokens ? "private" : "public";
    return what == Stored::Output ? who + ", max-age=31536000, immutable" : who + ", no-cache";
}

Headers storedContentHeaders(Stored what, bool behindTokens, const std::string& mediaType,
                             const std::string& filename, const std::string& sha256) {
    Headers headers = userContentHeaders(mediaType, filename);
    headers.emplace_back("ETag", "\"" + sha256 + "\"");
    headers.emplace_back("Cache-Control", cacheControl(what, behindTokens));
    return headers;
}

void sendFile(Http::ResponseWriter& response, const std::string& path, const std::string& contentType,
              const Headers& headers) {
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    record(response, 200);
    if (auto p = peerOf(response); takeHead(p)) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return sendHead(response, p, 404, {}, 0);  // removed a moment ago
        return sendHead(response, p, 200, contentType, static_cast<uint64_t>(st.st_size));
    }
    std::weak_ptr<Tcp::Peer> peer = peerOf(response);
    Http::serveFile(response, path, Http::Mime::MediaType::fromString(contentType))
        .then([peer](ssize_t) { written(peer.lock()); }, [peer](std::exception_ptr&) { written(peer.lock()); });
}

void answerAsHead(const std::shared_ptr<Tcp::Peer>& peer) {
    if (!peer) return;
    std::lock_guard lock(headMutex);
    // Entries of connections gone before their answer: dropped as they are met.
    std::erase_if(headPeers, [](const auto& e) { return e.second.expired(); });
    headPeers[peer.get()] = peer;
}

void setAnswerListener(AnswerListener listener) { answerListener.store(listener, std::memory_order_release); }

}  // namespace pixelmill::http
