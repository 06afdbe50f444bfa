#include "http/server/front.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "http/server/body.h"
#include "http/server/multipart.h"
#include "http/server/respond.h"

#include "common/task_pool.h"

#include <pistache/peer.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstring>
#include <mutex>
#include <utility>

namespace pixelmill::http {

using namespace Pistache;

namespace {

constexpr const char* kConnectionKey = "pixelmill.front";
// Input kept while an earlier answer on the connection is owed; past it the
// pipelined requests are refused (400, after the owed answer) and the rest
// of the connection's input is ignored.
constexpr size_t kMaxHeldBytes = 256 * 1024;
constexpr size_t kMaxFieldBytes = 64 * 1024;
constexpr uint64_t kEnvelopeBytes = 64 * 1024;  // multipart boundaries and fields around a file

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string humanBytes(uint64_t n) {
    if (n >= (1ull << 30) && n % (1ull << 30) == 0) return std::to_string(n >> 30) + " GiB";
    if (n >= (1ull << 20) && n % (1ull << 20) == 0) return std::to_string(n >> 20) + " MiB";
    if (n >= (1ull << 10) && n % (1ull << 10) == 0) return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " bytes";
}

// A client's file name as the last segment of whatever path it came with
// (browsers on Windows send backslashes), without control characters: kept
// as text for people, never a path.
std::string clientFileName(std::string_view name) {
    size_t cut = name.find_last_of("/\\");
    if (cut != std::string_view::npos) name.remove_prefix(cut + 1);
    std::string out;
    for (char c : name)
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out.push_back(c);
    if (out == "." || out == "..") out.clear();
    return out;
}

ApiError pipelineTooLong() {
    return ApiError::badRequest("pipeline_too_long", "more than " + humanBytes(kMaxHeldBytes) +
                                                         " of pipelined requests arrived before the answer to an earlier one");
}

}  // namespace

struct StreamingHandler::Connection {
    enum class Phase { Head, Body, Discard };
    enum class Chunk { Size, Data, DataEnd, Trailer };

    // HTTP/1.1 answers go out in the order the requests came. An answer made
    // on another thread (the intake pool, a long-poll) can come after the
    // next request's, so input that follows a request is held, unparsed,
    // until every answer owed on the connection has been handed to Pistache.
    std::mutex lock;              // the state below; input (reactor) and resumption (pool)
    std::atomic<int> owed{0};     // requests read whose answers are not out yet
    std::atomic<int> handing{0};  // of those, answers a thread is handing to Pistache right now
    std::atomic<bool> holding{false};  // `held` has bytes waiting for owed == 0
    bool counted = false;         // this request is in `owed`
    bool consuming = false;
    std::string held;
    bool heldOverflow = false;    // more than kMaxHeldBytes arrived while held
    StreamingHandler* handler = nullptr;  // the reactor's clone that reads this connection

    Phase phase = Phase::Head;
    double startedAt = 0;  // monotonic, when the request's first byte arrived
    std::shared_ptr<ConnectionGuard::Entry> guard;  // watched for slowness; null if unguarded

    void mark(ConnectionGuard::Phase p) {
        if (guard) guard->set(p, monotonicSeconds());
    }
    // What an answer to the current request (the front end's own, or the router's) is timed and named by.
    RequestOrigin origin() {
        if (requestId.empty()) requestId = newId();
        return RequestOrigin{startedAt > 0 ? startedAt : monotonicSeconds(), requestId, client};
    }
    std::string head;
    std::string filteredHead;  // what Pistache's parser sees: no framing headers
    bool keepAlive = true;
    bool expectContinue = false;
    std::string contentType;
    std::string authorization;
    std::string cookie;
    std::string host;
    std::string requestId;  // sane X-Request-Id, or made when first needed (origin)
    std::string client;     // as the access layer knows the sender (admit)
    RouteRule rule;  // of the matched route, decided from the head
    uint64_t fieldBytes = 0;
    std::optional<uint64_t> contentLength;
    bool chunked = false;

    uint64_t remaining = 0;  // Content-Length left, or the current chunk's bytes left
    Chunk chunk = Chunk::Size;
    std::string chunkLine;
    uint64_t received = 0;

    std::unique_ptr<RequestBody> body;
    std::unique_ptr<MultipartParser> multipart;
    int currentFile = -1;
    std::string currentField;
    bool inField = false;

    void reset() {
        phase = Phase::Head;
        counted = false;
        head.clear();
        filteredHead.clear();
        keepAlive = true;
        expectContinue = false;
        contentType.clear();
        authorization.clear();
        cookie.clear();
        host.clear();
        requestId.clear();
        client.clear();
        rule = RouteRule{};
        fieldBytes = 0;
        contentLength.reset();
        chunked = false;
        remaining = 0;
        chunk = Chunk::Size;
        chunkLine.clear();
        received = 0;
        body.reset();
        multipart.reset();
        currentFile = -1;
        currentField.clear();
        inField = false;
    }
};

StreamingHandler::StreamingHandler(std::shared_ptr<Rest::Router> router, BlobStore* blobs, FrontLimits limits,
                                   Metrics* metrics, std::shared_ptr<ConnectionGuard> guard,
                                   std::shared_ptr<AccessControl> access, std::shared_ptr<const RouteIndex> rules,
                                   TaskPool* resumePool)
    : router_(std::move(router)),
      blobs_(blobs),
      limits_(limits),
      metrics_(metrics),
      guard_(std::move(guard)),
      access_(std::move(access)),
      rules_(std::move(rules)),
      resumePool_(resumePool) {
    setAnswerListener(&StreamingHandler::onAnswered);
}

void StreamingHandler::onRequest(const Http::Request& request, Http::ResponseWriter response) {
    router_->route(request, std::move(response));
}

void StreamingHandler::onConnection(const std::shared_ptr<Tcp::Peer>& peer) {
    // What Http::Handler::onConnection does (it is private, so it cannot be called).
    peer->putData(ParserData, std::make_shared<Http::RequestParser>(getMaxRequestSize()));
    auto state = std::make_shared<Connection>();
    state->handler = this;
    if (guard_) state->guard = guard_->admit(peer);
    peer->putData(kConnectionKey, state);
}

void StreamingHandler::onAnswered(const std::shared_ptr<Tcp::Peer>& peer, AnswerPhase phase) {
    auto state = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionKey));
    if (!state) return;
    if (phase == AnswerPhase::Handing) {
        state->handing.fetch_add(1);
        return;
    }
    // `handing` goes down after `owed`, so that holdInput never sees an answer neither handing nor handed.
    struct Handed {
        Connection& c;
        ~Handed() { c.handing.fetch_sub(1); }
    } handed{*state};
    // Never parses here: the answering thread may hold locks a route takes.
    // seq_cst pairs with onInput's store of `holding` then load of `owed`.
    if (state->owed.fetch_sub(1) == 1 && state->holding.load() && state->handler && state->handler->resumePool_) {
        std::weak_ptr<Tcp::Peer> weak = peer;
        state->handler->resumePool_->post([weak, state] {
            if (auto p = weak.lock()) state->handler->resume(*state, p);
        });
    }
}

void StreamingHandler::resume(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    std::lock_guard<std::mutex> hold(c.lock);
    if (c.owed.load() > 0 || c.consuming || !c.holding.load()) return;
    consumeHeld(c, peer);
}

void StreamingHandler::consumeHeld(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    std::string input = std::move(c.held);
    c.held.clear();
    c.holding.store(false);
    if (std::exchange(c.heldOverflow, false)) {
        reject(c, peer, pipelineTooLong());
        return;
    }
    consume(c, input.data(), input.size(), peer);
}

void StreamingHandler::countRequest(Connection& c) {
    if (c.counted) return;
    c.counted = true;
    c.owed.fetch_add(1);
}

void StreamingHandler::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
    if (auto state = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionKey)); state && state->guard)
        guard_->leave(state->guard.get());
    router_->disconnectPeer(peer);
}

void StreamingHandler::reject(Connection& c, const std::shared_ptr<Tcp::Peer>& peer, const ApiError& error,
                              const char* route) {
    countRequest(c);  // a refusal of a head not yet complete is an answer too
    Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
    response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    RequestTiming timing = timingOf(c.origin(), metrics_, route, "ANY");
    TimingScope scope(&timing);
    sendError(response, error);
    c.reset();
    // The rest of this connection's input is ignored; the client closes it.
    c.phase = Connection::Phase::Discard;
}

namespace {

// Parses the request line and headers enough to frame the body; Pistache's
// parser reads the filtered head again for routing.
void parseHead(std::string_view head, std::string& filtered, std::optional<uint64_t>& contentLength, bool& chunked,
               bool& expectContinue, bool& keepAlive, std::string& contentType, std::string& authorization,
               std::string& cookie, std::string& host, std::string& requestId) {
    size_t eol = head.find("\r\n");
    std::string_view requestLine = head.substr(0, eol);
    size_t sp1 = requestLine.find(' ');
    size_t sp2 = requestLine.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1)
        throw ApiError::badRequest("bad_request", "malformed request line");
    std::string_view version = requestLine.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        throw ApiError(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
    keepAlive = version == "HTTP/1.1";
    filtered.assign(requestLine);
    filtered.append("\r\n");

    std::string_view rest = head.substr(eol + 2);
    while (!rest.empty()) {
        size_t e = rest.find("\r\n");
        std::string_view line = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t')
            throw ApiError::badRequest("bad_request", "folded header lines are not accepted");
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            throw ApiError::badRequest("bad_request", "malformed header line");
        std::string_view name = line.substr(0, colon);
        std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            uint64_t n = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || p != value.data() + value.size() || value.empty())
                throw ApiError::badRequest("bad_request", "Content-Length is not a number");
            if (contentLength && *contentLength != n)
                throw ApiError::badRequest("bad_request", "conflicting Content-Length headers");
            contentLength = n;
            continue;
        }
        if (iequals(name, "transfer-encoding")) {
            std::string_view last = trim(value.substr(value.rfind(',') == std::string_view::npos ? 0 : value.rfind(',') + 1));
            if (!iequals(last, "chunked"))
                throw ApiError(501, "not_implemented", "only chunked transfer coding is understood");
            chunked = true;
            continue;
        }
        if (iequals(name, "expect")) {
            if (!iequals(value, "100-continue"))
                throw ApiError(417, "expectation_failed", "only Expect: 100-continue is understood");
            expectContinue = true;
            continue;
        }
        if (iequals(name, "connection")) {
            if (iequals(value, "close")) keepAlive = false;
            else if (iequals(value, "keep-alive")) keepAlive = true;
        }
        if (iequals(name, "content-type")) contentType.assign(value);
        if (iequals(name, "authorization")) authorization.assign(value);
        if (iequals(name, "cookie")) cookie.assign(value);
        if (iequals(name, "x-request-id")) requestId = requestIdFrom(value);
        if (iequals(name, "host")) {
            if (!host.empty()) throw ApiError::badRequest("bad_request", "more than one Host header");
            host.assign(value.empty() ? " " : value);
        }
        filtered.append(line);
        filtered.append("\r\n");
    }
    if (chunked && contentLength)
        throw ApiError::badRequest("bad_request", "both Content-Length and Transfer-Encoding were sent");
    filtered.append("\r\n");
}

}  // namespace

void StreamingHandler::startBody(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    uint64_t limit = limits_.maxUploadBytes + kEnvelopeBytes;
    if (c.rule.maxBody != RouteRule::kUpload && c.contentLength && *c.contentLength > c.rule.maxBody)
        throw ApiError::tooLarge("the body is " + std::to_string(*c.contentLength) + " bytes; this route takes at most " +
                                 humanBytes(c.rule.maxBody));
    if (c.contentLength && *c.contentLength > limit)
        throw ApiError::tooLarge("the upload is " + std::to_string(*c.contentLength) + " bytes; the limit is " +
                                 humanBytes(limits_.maxUploadBytes));
    c.body = std::make_unique<RequestBody>();
    c.body->present = true;
    c.body->contentType = c.contentType;
    std::string_view type = c.contentType;
    if (iequals(trim(type.substr(0, type.find(';'))), "multipart/form-data")) {
        auto boundary = MultipartParser::boundaryOf(c.contentType);
        if (!boundary) throw ApiError::badRequest("bad_multipart", "multipart/form-data without a boundary");
        c.body->multipart = true;
        Connection* conn = &c;
        MultipartParser::Callbacks cb;
        cb.begin = [this, conn](const MultipartParser::Part& part) {
            RequestBody& b = *conn->body;
            if (part.hasFilename) {
                if (b.files.size() >= limits_.maxFileParts)
                    throw ApiError::badRequest("bad_multipart", "at most " + std::to_string(limits_.maxFileParts) +
                                                                    " file parts are taken per request");
                b.files.push_back(FormFile{part.name, clientFileName(part.filename), part.contentType, blobs_->writer()});
                conn->currentFile = static_cast<int>(b.files.size()) - 1;
            } else {
                conn->currentField = part.name;
                conn->inField = true;
                b.fields[part.name].clear();
            }
        };
        cb.data = [this, conn](const char* data, size_t size) {
            RequestBody& b = *conn->body;
            if (conn->currentFile >= 0) {
                FormFile& f = b.files[static_cast<size_t>(conn->currentFile)];
                if (f.writer->size() + size > limits_.maxUploadBytes)
                    throw ApiError::tooLarge("the file is larger than the limit of " +
                                             humanBytes(limits_.maxUploadBytes));
                f.writer->write(data, size);
            } else if (conn->inField) {
                std::string& value = b.fields[conn->currentField];
                if (value.size() + size > kMaxFieldBytes)
                    throw ApiError::invalidParam(conn->currentField, "field " + conn->currentField +
                                                                         " is longer than 64 KiB");
                conn->fieldBytes += size;
                if (conn->fieldBytes > limits_.maxFieldBytes)
                    throw ApiError::badRequest("bad_multipart", "the form fields are longer than " +
                                                                    humanBytes(limits_.maxFieldBytes) + " in all");
                value.append(data, size);
            }
        };
        cb.end = [conn] {
            conn->currentFile = -1;
            conn->inField = false;
        };
        c.multipart = std::make_unique<MultipartParser>(*boundary, std::move(cb));
    }
    if (c.expectContinue) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        peer->send(RawBuffer(kContinue, sizeof kContinue - 1));
    }
    c.remaining = c.contentLength.value_or(0);
    c.phase = Connection::Phase::Body;
    c.mark(ConnectionGuard::Phase::Body);
}

void StreamingHandler::bodyBytes(Connection& c, const char* data, size_t size) {
    c.received += size;
    if (c.guard) c.guard->bodyBytes += size;
    if (c.received > limits_.maxUploadBytes + kEnvelopeBytes)
        throw ApiError::tooLarge("the upload is larger than the limit of " + humanBytes(limits_.maxUploadBytes));
    if (c.rule.maxBody != RouteRule::kUpload && c.received > c.rule.maxBody)
        throw ApiError::tooLarge("this route takes a body of at most " + humanBytes(c.rule.maxBody));
    RequestBody& b = *c.body;
    if (c.multipart) {
        c.multipart->feed(data, size);
        return;
    }
    if (!b.spilled && b.bytes.size() + size <= RequestBody::kMemoryLimit) {
        b.bytes.append(data, size);
        return;
    }
    if (!b.spilled) {
        b.spilled = blobs_->writer();
        b.spilled->write(b.bytes.data(), b.bytes.size());
        b.bytes.clear();
        b.bytes.shrink_to_fit();
    }
    b.spilled->write(data, size);
}

bool StreamingHandler::admit(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    std::string_view line = std::string_view(c.head).substr(0, c.head.find("\r\n"));
    std::string_view method = line.substr(0, line.find(' '));
    std::string_view target = line.substr(method.size() + 1);
    target = target.substr(0, target.rfind(' '));
    if (method == "HEAD") answerAsHead(peer);  // whoever answers it, from here on, sends no body
    if (const char* why = nonCanonicalTarget(target)) {
        reject(c, peer, ApiError::badRequest("invalid_path", why));
        return false;
    }
    std::string_view path = targetPath(target);
    const std::string* route = nullptr;  // the matched template
    c.rule = RouteRule::read();          // an unknown path is 404 to those who may read, 401 to others
    std::string allow;                   // set when the path is known but the method is not
    if (auto m = rules_ ? rules_->match(method, path) : std::nullopt) {
        route = m->path;
        c.rule = m->rule;
        if (!m->methodAllowed && method != "OPTIONS") allow = m->allow;
    }
    if (access_ && !access_->hostAllowed(c.host) && !(route && (*route == "/healthz" || *route == "/readyz"))) {
        reject(c, peer, ApiError(421, "misdirected_request",
                                 "this server does not answer to the Host '" + hostOfHeader(c.host) +
                                     "' without tokens (localhost, 127.0.0.1, [::1] or --public-url's host)"));
        return false;
    }
    c.client = "ip:" + peer->address().host();
    if (access_) {
        try {
            c.client =
                access_->admit(Caller{method, path, c.rule.scope, c.authorization, c.cookie, peer->address().host()});
        } catch (const ApiError& e) {
            // A person opening a dashboard page without a session is sent to the login form.
            bool page = (method == "GET" || method == "HEAD") && (path == "/dashboard" || path.starts_with("/dashboard/"));
            if (e.status() != 401 || !page) {
                reject(c, peer, e);
                return false;
            }
            Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
            response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
            RequestTiming timing = timingOf(c.origin(), metrics_, "front", std::string(method));
            TimingScope scope(&timing);
            std::string next;
            for (unsigned char ch : target) {
                if (std::isalnum(ch) || std::strchr("/-._~", ch)) next.push_back(static_cast<char>(ch));
                else {
                    static const char* hex = "0123456789ABCDEF";
                    next += {'%', hex[ch >> 4], hex[ch & 15]};
                }
            }
            sendEmpty(response, 303, {{"Location", "/dashboard/login?next=" + next}});
            c.reset();
            c.phase = Connection::Phase::Discard;
            return false;
        }
    }
    bool hasBody = c.chunked || c.contentLength.value_or(0) > 0;
    if (!allow.empty()) {
        // Answered before any body is read; a body sent along closes the connection.
        Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
        if (hasBody || !c.keepAlive) response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
        RequestTiming timing = timingOf(c.origin(), metrics_, *route, std::string(method));
        TimingScope scope(&timing);
        addHeader(response, "Allow", allow);
        sendError(response, ApiError(405, "method_not_allowed",
                                     std::string(method) + " is not allowed here; allowed: " + allow));
        c.reset();
        if (hasBody) c.phase = Connection::Phase::Discard;
        else c.mark(ConnectionGuard::Phase::Idle);
        return false;
    }
    if (hasBody && c.rule.maxBody == 0) {
        std::string what = route ? std::string(method) + " " + *route : "this path";
        reject(c, peer, ApiError::badRequest("unexpected_body", what + " takes no request body"));
        return false;
    }
    if (!route) {
        // Answered here, not by the router: it would fold the path first.
        Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
        if (!c.keepAlive) response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
        RequestTiming timing = timingOf(c.origin(), metrics_, "unmatched", std::string(method));
        TimingScope scope(&timing);
        sendError(response, ApiError::notFound("no route for " + std::string(method) + " " + std::string(path)));
        c.reset();
        c.mark(ConnectionGuard::Phase::Idle);
        return false;
    }
    return true;
}

void StreamingHandler::dispatch(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    if (c.body) {
        if (c.multipart) c.multipart->finish();
        c.body->size = c.received;
    }
    auto parser = getParser(peer);
    parser->reset();
    if (!parser->feed(c.filteredHead.data(), c.filteredHead.size()) || parser->parse() != Http::Private::State::Done)
        throw ApiError::badRequest("bad_request", "the request head could not be parsed");

    Http::Request& request = parser->request;
    Http::ResponseWriter response(request.version(), transport(), this, peer);
    if (!c.keepAlive) response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    c.mark(ConnectionGuard::Phase::Busy);
    {
        BodyScope scope(c.body.get());
        setRequestOrigin(c.origin());
        onRequest(request, std::move(response));
    }
    parser->reset();
    c.reset();
    // Ready for the next request; an answer still owed (a long-poll) is
    // covered by the keep-alive timeout, which outlasts any ?wait.
    c.mark(ConnectionGuard::Phase::Idle);
}

void StreamingHandler::onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) {
    auto state = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionKey));
    if (!state) {
        state = std::make_shared<Connection>();
        state->handler = this;
        peer->putData(kConnectionKey, state);
    }
    Connection& c = *state;
    std::lock_guard<std::mutex> hold(c.lock);
    // `owed` counts the request being read as well: input is held only between requests.
    const bool betweenRequests = c.phase == Connection::Phase::Head && c.head.empty();
    if (!c.holding.load() && !(betweenRequests && c.owed.load() > 0)) {
        consume(c, buffer, len, peer);
        return;
    }
    holdInput(c, buffer, len);
    // The answer may have gone out meanwhile, its listener missing `holding`.
    if (c.owed.load() == 0) consumeHeld(c, peer);
}

void StreamingHandler::holdInput(Connection& c, const char* data, size_t size) {
    // While every answer owed is being handed to Pistache, the hold ends within
    // that send call: a client that sends its next request (a large upload) as
    // soon as it reads the answer is not a pipeline to cut short.
    const bool endingNow = c.handing.load() >= c.owed.load();
    if (c.held.size() + size > kMaxHeldBytes && !endingNow) c.heldOverflow = true;
    else c.held.append(data, size);
    c.holding.store(true);
}

void StreamingHandler::consume(Connection& c, const char* data, size_t size, const std::shared_ptr<Tcp::Peer>& peer) {
    std::string leftover;  // bytes past a head, owned here while they are consumed
    c.consuming = true;
    struct Done {
        Connection& c;
        ~Done() { c.consuming = false; }
    } done{c};
    try {
        while (size > 0) {
            if (c.phase == Connection::Phase::Head && c.head.empty() && c.owed.load() > 0) {
                // A pipelined request behind an answer still owed: kept until it is out.
                holdInput(c, data, size);
                // Answered meanwhile, its listener perhaps missing `holding`: go on here.
                if (c.owed.load() == 0) consumeHeld(c, peer);
                return;
            }
            switch (c.phase) {
                case Connection::Phase::Discard: return;
                case Connection::Phase::Head: {
                    if (c.head.empty()) {
                        while (size > 0 && (*data == '\r' || *data == '\n')) ++data, --size;  // stray CRLFs
                        if (size == 0) return;
                        c.startedAt = monotonicSeconds();
                        c.mark(ConnectionGuard::Phase::Head);
                    }
                    size_t from = c.head.size() >= 3 ? c.head.size() - 3 : 0;
                    c.head.append(data, size);
                    size_t end = c.head.find("\r\n\r\n", from);
                    if (end == std::string::npos) {
                        if (c.head.size() > limits_.maxHeaderBytes) {
                            reject(c, peer, ApiError(431, "headers_too_large",
                                                     "the request head is larger than " + humanBytes(limits_.maxHeaderBytes)));
                        }
                        return;
                    }
                    leftover = c.head.substr(end + 4);
                    c.head.resize(end + 4);
                    if (c.head.size() > limits_.maxHeaderBytes) {
                        reject(c, peer, ApiError(431, "headers_too_large",
                                                 "the request head is larger than " + humanBytes(limits_.maxHeaderBytes)));
                        return;
                    }
                    data = leftover.data();
                    size = leftover.size();
                    countRequest(c);
                    parseHead(c.head, c.filteredHead, c.contentLength, c.chunked, c.expectContinue, c.keepAlive,
                              c.contentType, c.authorization, c.cookie, c.host, c.requestId);
                    if (!admit(c, peer)) {
                        if (c.phase == Connection::Phase::Discard) return;
                        break;  // answered, and the connection stays open: no body was sent
                    }
                    if (!c.chunked && c.contentLength.value_or(0) == 0) dispatch(c, peer);
                    else startBody(c, peer);
                    break;
                }
                case Connection::Phase::Body: {
                    if (!c.chunked) {
                        size_t take = static_cast<size_t>(std::min<uint64_t>(c.remaining, size));
                        bodyBytes(c, data, take);
                        data += take;
                        size -= take;
                        c.remaining -= take;
                        if (c.remaining == 0) dispatch(c, peer);
                        break;
                    }
                    // Chunked: size line, data, CRLF, … a zero-size chunk, trailers, blank line.
                    switch (c.chunk) {
                        case Connection::Chunk::Size:
                        case Connection::Chunk::Trailer: {
                            const char* nl = static_cast<const char*>(std::memchr(data, '\n', size));
                            size_t take = nl ? static_cast<size_t>(nl - data) + 1 : size;
                            c.chunkLine.append(data, take);
                            data += take;
                            size -= take;
                            if (c.chunkLine.size() > 4096)
                                throw ApiError::badRequest("bad_request", "a chunk header is too long");
                            if (!nl) break;
                            std::string line = c.chunkLine;
                            c.chunkLine.clear();
                            while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
                            if (c.chunk == Connection::Chunk::Trailer) {
                                if (line.empty()) dispatch(c, peer);
                                break;
                            }
                            std::string_view hex = std::string_view(line).substr(0, line.find(';'));
                            hex = trim(hex);
                            uint64_t n = 0;
                            auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), n, 16);
                            if (ec != std::errc() || p != hex.data() + hex.size() || hex.empty())
                                throw ApiError::badRequest("bad_request", "malformed chunk size");
                            if (n == 0) c.chunk = Connection::Chunk::Trailer;
                            else {
                                c.remaining = n;
                                c.chunk = Connection::Chunk::Data;
                            }
                            break;
                        }
                        case Connection::Chunk::Data: {
                            size_t take = static_cast<size_t>(std::min<uint64_t>(c.remaining, size));
                            bodyBytes(c, data, take);
                            data += take;
                            size -= take;
                            c.remaining -= take;
                            if (c.remaining == 0) {
                                c.chunk = Connection::Chunk::DataEnd;
                                c.chunkLine.clear();
                            }
                            break;
                        }
                        case Connection::Chunk::DataEnd: {
                            // The CRLF after a chunk's data.
                            while (size > 0 && c.chunkLine.size() < 2) {
                                c.chunkLine.push_back(*data);
                                ++data;
                                --size;
                            }
                            if (c.chunkLine.size() == 2) {
                                if (c.chunkLine != "\r\n") throw ApiError::badRequest("bad_request", "malformed chunk");
                                c.chunkLine.clear();
                                c.chunk = Connection::Chunk::Size;
                            }
                            break;
                        }
                    }
                    break;
                }
            }
        }
    } catch (const ApiError& e) {
        reject(c, peer, e);
    } catch (const std::exception& e) {
        log::error("http_front_error", {{"error", e.what()}});
        reject(c, peer, ApiError::internal("internal error"));
    }
}

}  // namespace pixelmill::http
