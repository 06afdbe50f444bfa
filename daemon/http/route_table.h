#pragma once

#include <pistache/router.h>

#include <functional>
#include <map>
#include <set>
#include <string>

namespace pixelmill {
class Metrics;
}

namespace pixelmill::http {

// Registers routes on a Pistache Router as a table, wrapping every handler so
// that an ApiError (or anything else thrown) becomes the JSON error body, and
// answering unknown paths (404) and wrong methods (405, with Allow) in JSON.
class RouteTable {
public:
    using Handler = std::function<void(const Pistache::Rest::Request&, Pistache::Http::ResponseWriter&)>;

    // `metrics` (may be null) gets every request's duration by route template.
    RouteTable(Pistache::Rest::Router& router, Metrics* metrics) : router_(router), metrics_(metrics) {}

    void get(const std::string& path, Handler h) { add(Pistache::Http::Method::Get, path, std::move(h)); }
    void post(const std::string& path, Handler h) { add(Pistache::Http::Method::Post, path, std::move(h)); }
    void put(const std::string& path, Handler h) { add(Pistache::Http::Method::Put, path, std::move(h)); }
    void del(const std::string& path, Handler h) { add(Pistache::Http::Method::Delete, path, std::move(h)); }

    // Call once, after the last route.
    void finish();

    // The route templates registered so far, for /openapi.json checks and metrics.
    const std::map<std::string, std::set<Pistache::Http::Method>>& routes() const { return methods_; }

private:
    void add(Pistache::Http::Method method, const std::string& path, Handler h);

    Pistache::Rest::Router& router_;
    Metrics* metrics_;
    std::map<std::string, std::set<Pistache::Http::Method>> methods_;
};

}  // namespace pixelmill::http
