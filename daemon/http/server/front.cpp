#include "http/server/front.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/text.h"
#include "http/server/body_handoff.h"
#include "http/server/framing.h"
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

// A request target as the login form's `next` parameter: unreserved
// characters and '/' as they are, every other byte percent-encoded.
std::string percentEncoded(std::string_view target) {
    std::string next;
    for (unsigned char ch : target) {
        if (std::isalnum(ch) || std::strchr("/-._~", ch)) next.push_back(static_cast<char>(ch));
        else {
            static const char* hex = "0123456789ABCDEF";
            next += {'%', hex[ch >> 4], hex[ch & 15]};
        }
    }
    return next;
}

ApiError pipelineTooLong() {
    return ApiError::badRequest("pipeline_too_long", "more than " + humanBytes(kMaxHeldBytes) +
                                                         " of pipelined requests arrived before the answer to an earlier one");
}

}  // namespace

struct StreamingHandler::Connection {
    enum class Phase { Head, Body, Discard };

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
        if (request.requestId.empty()) request.requestId = newId();
        return RequestOrigin{startedAt > 0 ? startedAt : monotonicSeconds(), request.requestId, client};
    }
    std::string head;
    RequestHead request;  // its requestId made when first needed if none was sent (origin)
    std::string client;   // as the access layer knows the sender (admit)
    RouteRule rule;  // of the matched route, decided from the head
    uint64_t fieldBytes = 0;

    uint64_t remaining = 0;  // Content-Length left
    ChunkedDecoder chunks;
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
        request = RequestHead{};
        client.clear();
        rule = RouteRule{};
        fieldBytes = 0;
        remaining = 0;
        chunks.reset();
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

void StreamingHandler::startBody(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    uint64_t limit = limits_.maxUploadBytes + kEnvelopeBytes;
    const std::optional<uint64_t>& length = c.request.contentLength;
    if (c.rule.maxBody != RouteRule::kUpload && length && *length > c.rule.maxBody)
        throw ApiError::tooLarge("the body is " + std::to_string(*length) + " bytes; this route takes at most " +
                                 humanBytes(c.rule.maxBody));
    if (length && *length > limit)
        throw ApiError::tooLarge("the upload is " + std::to_string(*length) + " bytes; the limit is " +
                                 humanBytes(limits_.maxUploadBytes));
    c.body = std::make_unique<RequestBody>();
    c.body->present = true;
    c.body->contentType = c.request.contentType;
    std::string_view type = c.request.contentType;
    if (iequals(trim(type.substr(0, type.find(';'))), "multipart/form-data")) startMultipart(c);
    if (c.request.expectContinue) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        peer->send(RawBuffer(kContinue, sizeof kContinue - 1));
    }
    c.remaining = c.request.contentLength.value_or(0);
    c.phase = Connection::Phase::Body;
    c.mark(ConnectionGuard::Phase::Body);
}

void StreamingHandler::startMultipart(Connection& c) {
    auto boundary = MultipartParser::boundaryOf(c.request.contentType);
    if (!boundary) throw ApiError::badRequest("bad_multipart", "multipart/form-data without a boundary");
    c.body->multipart = true;
    Connection* conn = &c;
    MultipartParser::Callbacks cb;
    cb.begin = [this, conn](const MultipartParser::Part& part) { beginPart(*conn, part); };
    cb.data = [this, conn](const char* data, size_t size) { partBytes(*conn, data, size); };
    cb.end = [conn] {
        conn->currentFile = -1;
        conn->inField = false;
    };
    c.multipart = std::make_unique<MultipartParser>(*boundary, std::move(cb));
}

void StreamingHandler::beginPart(Connection& c, const MultipartParser::Part& part) {
    RequestBody& b = *c.body;
    if (part.hasFilename) {
        if (b.files.size() >= limits_.maxFileParts)
            throw ApiError::badRequest("bad_multipart", "at most " + std::to_string(limits_.maxFileParts) +
                                                            " file parts are taken per request");
        b.files.push_back(FormFile{part.name, clientFileName(part.filename), part.contentType, blobs_->writer()});
        c.currentFile = static_cast<int>(b.files.size()) - 1;
    } else {
        c.currentField = part.name;
        c.inField = true;
        b.fields[part.name].clear();
    }
}

void StreamingHandler::partBytes(Connection& c, const char* data, size_t size) {
    RequestBody& b = *c.body;
    if (c.currentFile >= 0) {
        FormFile& f = b.files[static_cast<size_t>(c.currentFile)];
        if (f.writer->size() + size > limits_.maxUploadBytes)
            throw ApiError::tooLarge("the file is larger than the limit of " + humanBytes(limits_.maxUploadBytes));
        f.writer->write(data, size);
    } else if (c.inField) {
        std::string& value = b.fields[c.currentField];
        if (value.size() + size > kMaxFieldBytes)
            throw ApiError::invalidParam(c.currentField, "field " + c.currentField + " is longer than 64 KiB");
        c.fieldBytes += size;
        if (c.fieldBytes > limits_.maxFieldBytes)
            throw ApiError::badRequest("bad_multipart", "the form fields are longer than " +
                                                            humanBytes(limits_.maxFieldBytes) + " in all");
        value.append(data, size);
    }
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
    if (access_ && !access_->hostAllowed(c.request.host) && !(route && (*route == "/healthz" || *route == "/readyz"))) {
        reject(c, peer, ApiError(421, "misdirected_request",
                                 "this server does not answer to the Host '" + hostOfHeader(c.request.host) +
                                     "' without tokens (localhost, 127.0.0.1, [::1] or --public-url's host)"));
        return false;
    }
    if (!admitCaller(c, peer, method, path, target)) return false;
    bool hasBody = c.request.chunked || c.request.contentLength.value_or(0) > 0;
    if (!allow.empty()) {
        refuseMethod(c, peer, method, *route, allow, hasBody);
        return false;
    }
    if (hasBody && c.rule.maxBody == 0) {
        std::string what = route ? std::string(method) + " " + *route : "this path";
        reject(c, peer, ApiError::badRequest("unexpected_body", what + " takes no request body"));
        return false;
    }
    if (!route) {
        answerNoRoute(c, peer, method, path);
        return false;
    }
    return true;
}

bool StreamingHandler::admitCaller(Connection& c, const std::shared_ptr<Tcp::Peer>& peer, std::string_view method,
                                   std::string_view path, std::string_view target) {
    c.client = "ip:" + peer->address().host();
    if (!access_) return true;
    try {
        c.client = access_->admit(
            Caller{method, path, c.rule.scope, c.request.authorization, c.request.cookie, peer->address().host()});
    } catch (const ApiError& e) {
        // A person opening a dashboard page without a session is sent to the login form.
        bool page = (method == "GET" || method == "HEAD") && (path == "/dashboard" || path.starts_with("/dashboard/"));
        if (e.status() != 401 || !page) {
            reject(c, peer, e);
            return false;
        }
        redirectToLogin(c, peer, method, target);
        return false;
    }
    return true;
}

void StreamingHandler::redirectToLogin(Connection& c, const std::shared_ptr<Tcp::Peer>& peer,
                                       std::string_view method, std::string_view target) {
    Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
    response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    RequestTiming timing = timingOf(c.origin(), metrics_, "front", std::string(method));
    TimingScope scope(&timing);
    sendEmpty(response, 303, {{"Location", "/dashboard/login?next=" + percentEncoded(target)}});
    c.reset();
    c.phase = Connection::Phase::Discard;
}

void StreamingHandler::refuseMethod(Connection& c, const std::shared_ptr<Tcp::Peer>& peer, std::string_view method,
                                    const std::string& route, const std::string& allow, bool hasBody) {
    // Answered before any body is read; a body sent along closes the connection.
    Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
    if (hasBody || !c.request.keepAlive) response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    RequestTiming timing = timingOf(c.origin(), metrics_, route, std::string(method));
    TimingScope scope(&timing);
    addHeader(response, "Allow", allow);
    sendError(response, ApiError(405, "method_not_allowed",
                                 std::string(method) + " is not allowed here; allowed: " + allow));
    c.reset();
    if (hasBody) c.phase = Connection::Phase::Discard;
    else c.mark(ConnectionGuard::Phase::Idle);
}

void StreamingHandler::answerNoRoute(Connection& c, const std::shared_ptr<Tcp::Peer>& peer, std::string_view method,
                                     std::string_view path) {
    // Answered here, not by the router: it would fold the path first.
    Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
    if (!c.request.keepAlive) response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    RequestTiming timing = timingOf(c.origin(), metrics_, "unmatched", std::string(method));
    TimingScope scope(&timing);
    sendError(response, ApiError::notFound("no route for " + std::string(method) + " " + std::string(path)));
    c.reset();
    c.mark(ConnectionGuard::Phase::Idle);
}

void StreamingHandler::dispatch(Connection& c, const std::shared_ptr<Tcp::Peer>& peer) {
    if (c.body) {
        if (c.multipart) c.multipart->finish();
        c.body->size = c.received;
    }
    auto parser = getParser(peer);
    parser->reset();
    if (!parser->feed(c.request.filtered.data(), c.request.filtered.size()) || parser->parse() != Http::Private::State::Done)
        throw ApiError::badRequest("bad_request", "the request head could not be parsed");

    Http::Request& request = parser->request;
    Http::ResponseWriter response(request.version(), transport(), this, peer);
    if (!c.request.keepAlive) response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    c.mark(ConnectionGuard::Phase::Busy);
    {
        BodyHandOff handOff(c.body.get());
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
    answerOrRefuse(
        "front",
        [&] {
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
                    case Connection::Phase::Head:
                        if (!takeHead(c, data, size, leftover, peer)) return;
                        break;
                    case Connection::Phase::Body: takeBody(c, data, size, peer); break;
                }
            }
        },
        [&](const ApiError& e) { reject(c, peer, e); });
}

bool StreamingHandler::takeHead(Connection& c, const char*& data, size_t& size, std::string& leftover,
                                const std::shared_ptr<Tcp::Peer>& peer) {
    if (c.head.empty()) {
        while (size > 0 && (*data == '\r' || *data == '\n')) ++data, --size;  // stray CRLFs
        if (size == 0) return false;
        c.startedAt = monotonicSeconds();
        c.mark(ConnectionGuard::Phase::Head);
    }
    size_t from = c.head.size() >= 3 ? c.head.size() - 3 : 0;
    c.head.append(data, size);
    size_t end = c.head.find("\r\n\r\n", from);
    if (end != std::string::npos) {
        leftover = c.head.substr(end + 4);
        c.head.resize(end + 4);
    }
    if (c.head.size() > limits_.maxHeaderBytes) {
        reject(c, peer,
               ApiError(431, "headers_too_large", "the request head is larger than " + humanBytes(limits_.maxHeaderBytes)));
        return false;
    }
    if (end == std::string::npos) return false;
    data = leftover.data();
    size = leftover.size();
    countRequest(c);
    c.request = parseRequestHead(c.head);
    // Answered from the head alone: the connection stays open unless it is to be discarded.
    if (!admit(c, peer)) return c.phase != Connection::Phase::Discard;
    if (!c.request.chunked && c.request.contentLength.value_or(0) == 0) dispatch(c, peer);
    else startBody(c, peer);
    return true;
}

void StreamingHandler::takeBody(Connection& c, const char*& data, size_t& size,
                                const std::shared_ptr<Tcp::Peer>& peer) {
    if (c.request.chunked) {
        size_t used = c.chunks.feed({data, size}, [&](const char* bytes, size_t n) { bodyBytes(c, bytes, n); });
        data += used;
        size -= used;
        if (c.chunks.done()) dispatch(c, peer);
        return;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(c.remaining, size));
    bodyBytes(c, data, take);
    data += take;
    size -= take;
    c.remaining -= take;
    if (c.remaining == 0) dispatch(c, peer);
}

}  // namespace pixelmill::http
