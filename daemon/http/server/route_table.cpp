#include "http/server/route_table.h"

#include "common/error.h"
#include "common/log.h"
#include "common/task_pool.h"
#include "http/server/body_handoff.h"
#include "http/server/respond.h"

#include <memory>

namespace pixelmill::http {

using namespace Pistache;

namespace {

const char* methodName(Http::Method m) {
    switch (m) {
        case Http::Method::Get: return "GET";
        case Http::Method::Post: return "POST";
        case Http::Method::Put: return "PUT";
        case Http::Method::Delete: return "DELETE";
        case Http::Method::Patch: return "PATCH";
        case Http::Method::Head: return "HEAD";
        case Http::Method::Options: return "OPTIONS";
        default: return "OTHER";
    }
}

// Runs the handler, turning what it throws into the JSON error body. A
// refused request's `body` (its uploads' temp files) is gone before the
// client reads the refusal.
void runHandler(const std::string& route, const RouteTable::BodyHandler& h, const Rest::Request& request,
                RequestBody& body, Http::ResponseWriter& response) {
    answerOrRefuse(route, [&] { h(request, body, response); },
                   [&](const ApiError& e) {
                       body = RequestBody{};
                       sendError(response, e);
                   });
}

// What a request takes to the offload pool: its head, its body (moved out of
// the connection, which goes on to the next request), its writer and timing.
struct Offloaded {
    Offloaded(const Rest::Request& r, Http::ResponseWriter w, RequestBody b, std::shared_ptr<RequestTiming> t)
        : request(r), response(std::move(w)), body(std::move(b)), timing(std::move(t)) {}
    Rest::Request request;
    Http::ResponseWriter response;
    RequestBody body;
    std::shared_ptr<RequestTiming> timing;
};

Rest::Route::Handler wrap(Metrics* metrics, RouteOffload offload, std::string route, RouteTable::BodyHandler h) {
    return [metrics, offload, route = std::move(route), h = std::move(h)](const Rest::Request& request,
                                                                          Http::ResponseWriter response) {
        RequestTiming timing = timingOf(requestOrigin(), metrics, route, methodName(request.method()));
        TimingScope scope(&timing);
        bool offReactor = offload.pool && request.method() != Http::Method::Get &&
                          request.method() != Http::Method::Head && !offload.pool->onPoolThread();
        if (!offReactor) {
            runHandler(route, h, request, handedOffBody(), response);
            return Rest::Route::Result::Ok;
        }
        auto busy = [&] {
            return ApiError::unavailable("busy", std::to_string(offload.maxQueued) +
                                                     " requests are waiting to be handled; try again shortly", 2);
        };
        if (offload.pool->queued() >= offload.maxQueued) {
            sendError(response, busy());
            return Rest::Route::Result::Ok;
        }
        auto task = std::make_shared<Offloaded>(request, std::move(response), std::move(handedOffBody()),
                                                handOffTiming());
        bool posted = offload.pool->tryPost(
            [route, h, task] {
                TimingScope scope(task->timing.get());
                runHandler(route, h, task->request, task->body, task->response);
            },
            offload.maxQueued);
        if (!posted) sendError(task->response, busy());
        return Rest::Route::Result::Ok;
    };
}

}  // namespace

RouteTable::BodyHandler RouteTable::withoutBody(Handler h) {
    return [h = std::move(h)](const Rest::Request& request, RequestBody&, Http::ResponseWriter& response) {
        h(request, response);
    };
}

void RouteTable::add(Http::Method method, const std::string& path, BodyHandler h, RouteRule rule) {
    methods_[path].insert(method);
    rules_->add(methodName(method), path, rule);
    auto handler = wrap(metrics_, offload_, path, std::move(h));
    // HEAD runs the GET: the front end has marked the answer to go without its body.
    if (method == Http::Method::Get) router_.addRoute(Http::Method::Head, path, handler);
    router_.addRoute(method, path, std::move(handler));
}

void RouteTable::finish() {
    static const Http::Method all[] = {Http::Method::Get, Http::Method::Head, Http::Method::Post, Http::Method::Put,
                                       Http::Method::Delete, Http::Method::Patch};
    for (const auto& [path, allowed] : methods_) {
        std::string allow = rules_->allowOf(path);
        for (Http::Method m : all) {
            if (allowed.count(m) || (m == Http::Method::Head && allowed.count(Http::Method::Get))) continue;
            router_.addRoute(m, path, wrap(metrics_, {}, path, [allow, m](const Rest::Request&, RequestBody&, Http::ResponseWriter& response) {
                                 addHeader(response, "Allow", allow);
                                 sendError(response, ApiError(405, "method_not_allowed",
                                                              std::string(methodName(m)) +
                                                                  " is not allowed here; allowed: " + allow));
                             }));
        }
        router_.addRoute(Http::Method::Options, path,
                         wrap(metrics_, {}, path, [allow](const Rest::Request&, RequestBody&, Http::ResponseWriter& response) {
                             sendEmpty(response, 204, {{"Allow", allow}});
                         }));
    }
    router_.addNotFoundHandler([metrics = metrics_](const Rest::Request& request, Http::ResponseWriter response) {
        RequestTiming timing = timingOf(requestOrigin(), metrics, "unmatched", methodName(request.method()));
        TimingScope scope(&timing);
        sendError(response, ApiError::notFound("no route for " + std::string(methodName(request.method())) + " " +
                                               request.resource()));
        return Rest::Route::Result::Ok;
    });
}

}  // namespace pixelmill::http
