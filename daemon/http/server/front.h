#pragma once

#include "common/error.h"
#include "http/server/access.h"
#include "http/server/connection_guard.h"
#include "http/server/multipart.h"
#include "http/server/respond.h"
#include "http/server/route_rules.h"
#include "store/blob_store.h"

#include <pistache/http.h>
#include <pistache/router.h>

#include <memory>

namespace pixelmill {
class Metrics;
class TaskPool;
}

namespace pixelmill::http {

struct FrontLimits {
    uint64_t maxUploadBytes = 256ull << 20;
    size_t maxHeaderBytes = 16 * 1024;
    size_t maxFileParts = 4;             // file parts in one multipart body (the API uses one)
    uint64_t maxFieldBytes = 1ull << 20;  // all non-file form fields of one request together
};

// The HTTP/1.1 front end on Pistache's reactor. Pistache's own request path
// buffers a whole body in memory and does not answer "Expect: 100-continue"
// (curl waits a second for it on every upload over 1 MiB), so bodies are
// framed here instead: the head is parsed by Pistache's parser and routed by
// its Router, while the body is streamed as it arrives — multipart file parts
// and large bodies straight into blob writers on disk, hashed on the way —
// and handed to the route as an argument (body_handoff.h).
//
// Before any body byte is read, the head is checked in this order: a
// non-canonical target is 400 invalid_path; with auth off, a Host that does
// not name this server is 421 misdirected_request (/healthz, /readyz
// exempt); then the route is matched against the route table's rules (the
// same match Pistache's router makes for a canonical path): its scope
// decides 401/403, a path no route has is 404, and a body on a route that
// takes none is 400 unexpected_body.
//
// Pistache clones the handler for each reactor thread; a clone shares the
// router and blob store, and keeps per-connection state in the peer.
class StreamingHandler : public Pistache::Http::Handler {
public:
    HTTP_PROTOTYPE(StreamingHandler)

    StreamingHandler(std::shared_ptr<Pistache::Rest::Router> router, BlobStore* blobs, FrontLimits limits,
                     Metrics* metrics, std::shared_ptr<ConnectionGuard> guard,
                     std::shared_ptr<AccessControl> access, std::shared_ptr<const RouteIndex> rules,
                     TaskPool* resumePool);

    void onRequest(const Pistache::Http::Request& request, Pistache::Http::ResponseWriter response) override;
    void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
    void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;

private:
    struct Connection;

    void onInput(const char* buffer, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
    // Parses and dispatches input; stops at a pipelined request while an answer is owed.
    void consume(Connection& c, const char* data, size_t size, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    // A request's head bytes: once the head is whole, it is decided on (admit)
    // and its body begins, or it is dispatched; `data` and `size` then point
    // past it (into `leftover`). False when this input holds no more to read now.
    bool takeHead(Connection& c, const char*& data, size_t& size, std::string& leftover,
                  const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    // A request's body bytes, up to its end; dispatched there.
    void takeBody(Connection& c, const char*& data, size_t& size, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    void holdInput(Connection& c, const char* data, size_t size);
    void consumeHeld(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    void countRequest(Connection& c);
    // The answer listener (respond.h): when a connection's last owed answer
    // is out and input waits, `resume` parses it on the resume pool.
    static void onAnswered(const std::shared_ptr<Pistache::Tcp::Peer>& peer, AnswerPhase phase);
    void resume(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    void startBody(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    // A multipart/form-data body: file parts stream into blob writers, plain
    // fields into the body's fields, each within the front end's limits.
    void startMultipart(Connection& c);
    void beginPart(Connection& c, const MultipartParser::Part& part);
    void partBytes(Connection& c, const char* data, size_t size);
    void bodyBytes(Connection& c, const char* data, size_t size);
    void dispatch(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    void reject(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer, const ApiError& error,
                const char* route = "front");
    // Target, Host, auth, rate limit and body rules, from the head alone:
    // nothing of a refused body is read. False when the request was answered.
    bool admit(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    // Who sent the request, as the access layer knows it (c.client). False when
    // refused, or when a dashboard page without a session went to the login form.
    bool admitCaller(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer, std::string_view method,
                     std::string_view path, std::string_view target);
    void redirectToLogin(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer, std::string_view method,
                         std::string_view target);
    // 405 with Allow, for a known path and a method it does not take.
    void refuseMethod(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer, std::string_view method,
                      const std::string& route, const std::string& allow, bool hasBody);
    // 404 for a path no route has.
    void answerNoRoute(Connection& c, const std::shared_ptr<Pistache::Tcp::Peer>& peer, std::string_view method,
                       std::string_view path);

    std::shared_ptr<Pistache::Rest::Router> router_;
    BlobStore* blobs_;
    FrontLimits limits_;
    Metrics* metrics_;
    std::shared_ptr<ConnectionGuard> guard_;
    std::shared_ptr<AccessControl> access_;
    std::shared_ptr<const RouteIndex> rules_;
    TaskPool* resumePool_;  // where held pipelined input is parsed once its turn comes
};

}  // namespace pixelmill::http
