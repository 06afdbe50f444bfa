#pragma once

#include "common/error.h"
#include "common/log.h"

#include <pistache/http.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pixelmill {
class Metrics;
}

namespace pixelmill::http {

// What the request being answered is, for pixelmill_http_request_duration_seconds:
// every send helper below records it once, on whichever thread answers.
struct RequestTiming {
    Metrics* metrics = nullptr;
    std::string route;  // the template, never the raw path
    std::string method;
    double start = 0;   // monotonic seconds when the request began to arrive
    bool recorded = false;
    // What the front end learned of the request from its head (RequestOrigin).
    std::string requestId;  // every answer carries it as X-Request-Id; log lines as request=
    std::string client;     // who sent it: "token:NAME", or "ip:ADDRESS" without tokens
};

// The timing of the request answered on this thread, or null.
RequestTiming* currentTiming();
// Installs a timing for the scope (the router's wrapper, deferred answers),
// and its request id for the log lines written meanwhile.
class TimingScope {
public:
    explicit TimingScope(RequestTiming* timing);
    ~TimingScope();
    TimingScope(const TimingScope&) = delete;
    TimingScope& operator=(const TimingScope&) = delete;

private:
    RequestTiming* previous_;
    log::RequestScope logScope_;
};
// For a response that will be sent later on another thread: a copy to carry
// there; the original is marked so that it records nothing.
std::shared_ptr<RequestTiming> handOffTiming();
// What the front end read of the current request before the router runs it.
struct RequestOrigin {
    double start = 0;       // monotonic seconds when it began to arrive
    std::string requestId;  // see RequestTiming
    std::string client;
};
void setRequestOrigin(RequestOrigin origin);
const RequestOrigin& requestOrigin();
// The timing of the request `origin` tells of, answered by `route`.
RequestTiming timingOf(const RequestOrigin& origin, Metrics* metrics, std::string route, std::string method);

using Headers = std::vector<std::pair<std::string, std::string>>;

// The one place an ApiError becomes the JSON error body of API.md.
nlohmann::ordered_json errorBody(const ApiError& error);
// The message a client is shown: an internal error's own text (which may
// name files, folders or the database) goes to the log, not to the client.
std::string publicMessage(const ApiError& error);

void sendJson(Pistache::Http::ResponseWriter& response, int status, const nlohmann::ordered_json& body,
              const Headers& headers = {});
void sendError(Pistache::Http::ResponseWriter& response, const ApiError& error);
void sendText(Pistache::Http::ResponseWriter& response, int status, const std::string& body,
              const std::string& contentType, const Headers& headers = {});
// Streams a file from disk (sendfile) with Content-Length and the given type.
void sendFile(Pistache::Http::ResponseWriter& response, const std::string& path, const std::string& contentType,
              const Headers& headers = {});

// The one place where what a handler throws becomes an answer. Runs `work`;
// an ApiError it throws is handed to `refuse` as it is; anything else is
// logged (event handler_failed, with `where` and the request id) and handed
// to `refuse` as a 500. Returns whether `work` finished.
bool answerOrRefuse(std::string_view where, const std::function<void()>& work,
                    const std::function<void(const ApiError&)>& refuse);
// The same, refusing with the JSON error body on `response`.
bool answerOrRefuse(std::string_view where, Pistache::Http::ResponseWriter& response,
                    const std::function<void()>& work);

// Headers for bytes a client uploaded or a plugin made, so that a browser
// never runs them in this origin: X-Content-Type-Options: nosniff,
// Content-Security-Policy: default-src 'none'; sandbox, and a
// Content-Disposition that is `attachment` for types a browser would run
// (SVG, HTML, XML, JavaScript), `inline` otherwise, with the file name.
Headers userContentHeaders(const std::string& mediaType, const std::string& filename);

// What caches may do with stored bytes served whole. An output never changes
// once its job has succeeded: a year, immutable; an original can be deleted:
// revalidated (its ETag) on every use. Behind tokens, no shared cache keeps either.
enum class Stored { Output, Original };
std::string cacheControl(Stored what, bool behindTokens);

// userContentHeaders, the ETag (the bytes' SHA-256) and the Cache-Control of
// stored bytes.
Headers storedContentHeaders(Stored what, bool behindTokens, const std::string& mediaType,
                             const std::string& filename, const std::string& sha256);
// An RFC 6266 Content-Disposition value: `filename` quoted (an ASCII
// stand-in), and `filename*=UTF-8''…` when the name is not plain ASCII.
std::string contentDisposition(bool attachment, const std::string& filename);
// Whether a browser would run content of this type (SVG, HTML, XML, script).
bool activeContentType(const std::string& mediaType);

// A response without a body (204, 304).
void sendEmpty(Pistache::Http::ResponseWriter& response, int status, const Headers& headers = {});

// Adds a header by name.
void addHeader(Pistache::Http::ResponseWriter& response, const std::string& name, const std::string& value);

// Told twice per answer, on the answering thread: `Handing` just before the
// send helpers above hand it to Pistache, `Handed` once they have (for
// sendFile both come once the file is written, since Pistache queues the
// file behind its head only then). The front end holds a connection's
// pipelined requests until the answer before them is out.
enum class AnswerPhase { Handing, Handed };
using AnswerListener = void (*)(const std::shared_ptr<Pistache::Tcp::Peer>& peer, AnswerPhase phase);
void setAnswerListener(AnswerListener listener);

// The request this connection is being answered for is a HEAD: its answer,
// whatever route gives it, goes out as the GET's status and headers (the
// Content-Length the body would have) without the body. Told by the front
// end when it reads the request; the answer's send clears it.
void answerAsHead(const std::shared_ptr<Pistache::Tcp::Peer>& peer);

}  // namespace pixelmill::http
