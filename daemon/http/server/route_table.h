#pragma once

#include "http/server/body.h"
#include "http/server/route_rules.h"

#include <pistache/router.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace pixelmill {
class Metrics;
class TaskPool;
}

namespace pixelmill::http {

// Where routes that may wait run (see RouteTable).
struct RouteOffload {
    TaskPool* pool = nullptr;  // null: every route runs on the reactor thread (unit tests)
    size_t maxQueued = 256;
};

// Registers routes on a Pistache Router as a table, wrapping every handler so
// that an ApiError (or anything else thrown) becomes the JSON error body, and
// answering unknown paths (404) and wrong methods (405, with Allow) in JSON.
//
// Every route has a RouteRule: the scope it needs and whether it takes a
// body. Without one, GET and DELETE need `read` / `submit` and take no body,
// POST and PUT need `submit` and take an upload-sized body; routes open to
// everyone, admin routes and small-body routes say so where they are added.
// The front end matches each request's path against rules() before its
// body is read.
//
// A reactor thread only frames bytes: every route but GET runs on the
// `offload` pool (it may wait for a commit, resolve a host, read a file),
// taking the request's body with it, and answers from there; when
// `maxQueued` requests already wait for that pool, the answer is 503 busy.
//
// A route that reads the request's body is a BodyHandler: it gets the body
// as an argument, and may take its uploads; what it leaves is removed once
// it returns.
class RouteTable {
public:
    using Handler = std::function<void(const Pistache::Rest::Request&, Pistache::Http::ResponseWriter&)>;
    using BodyHandler =
        std::function<void(const Pistache::Rest::Request&, RequestBody&, Pistache::Http::ResponseWriter&)>;

    // `metrics` (may be null) gets every request's duration by route template.
    RouteTable(Pistache::Rest::Router& router, Metrics* metrics, RouteOffload offload = {})
        : router_(router), metrics_(metrics), offload_(offload), rules_(std::make_shared<RouteIndex>()) {}

    void get(const std::string& path, Handler h, RouteRule rule = RouteRule::read()) {
        add(Pistache::Http::Method::Get, path, withoutBody(std::move(h)), rule);
    }
    void post(const std::string& path, Handler h, RouteRule rule = RouteRule::submit()) {
        add(Pistache::Http::Method::Post, path, withoutBody(std::move(h)), rule);
    }
    void post(const std::string& path, BodyHandler h, RouteRule rule = RouteRule::submit()) {
        add(Pistache::Http::Method::Post, path, std::move(h), rule);
    }
    void put(const std::string& path, BodyHandler h, RouteRule rule = RouteRule::submit()) {
        add(Pistache::Http::Method::Put, path, std::move(h), rule);
    }
    void del(const std::string& path, Handler h, RouteRule rule = RouteRule{RouteScope::Submit, 0}) {
        add(Pistache::Http::Method::Delete, path, withoutBody(std::move(h)), rule);
    }

    // Call once, after the last route.
    void finish();

    // The route templates registered so far, for /openapi.json checks and metrics.
    const std::map<std::string, std::set<Pistache::Http::Method>>& routes() const { return methods_; }
    // Each route's rule, for the front end; it outlives the table.
    std::shared_ptr<const RouteIndex> rules() const { return rules_; }

private:
    static BodyHandler withoutBody(Handler h);
    void add(Pistache::Http::Method method, const std::string& path, BodyHandler h, RouteRule rule);

    Pistache::Rest::Router& router_;
    Metrics* metrics_;
    RouteOffload offload_;
    std::map<std::string, std::set<Pistache::Http::Method>> methods_;
    std::shared_ptr<RouteIndex> rules_;
};

}  // namespace pixelmill::http
