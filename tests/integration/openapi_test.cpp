// /openapi.json describes the routes the daemon really has: every documented
// operation exists with exactly its documented methods, every v1 route is
// documented, every documented error status is one the daemon answers for a
// bad request, and every answer seen has the documented shape. /docs renders it.
#include "support/daemon.h"
#include "support/images.h"
#include "support/postgres.h"

#include <catch2/catch.hpp>

#include <set>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string kUnknownId = "00000000-0000-4000-8000-000000000000";

// Every route of daemon/http/{jobs,originals,system,docs}_routes.cpp. The seed
// compatibility routes (compat_routes.cpp) are not part of API v1 and not here.
const std::set<std::pair<std::string, std::string>> kRoutes = {
    {"POST", "/v1/jobs"},
    {"GET", "/v1/jobs"},
    {"GET", "/v1/jobs/{id}"},
    {"DELETE", "/v1/jobs/{id}"},
    {"GET", "/v1/jobs/{id}/attempts"},
    {"POST", "/v1/jobs/{id}/cancel"},
    {"POST", "/v1/jobs/{id}/retry"},
    {"GET", "/v1/jobs/{id}/outputs/{index}"},
    {"GET", "/v1/jobs/{id}/original"},
    {"POST", "/v1/jobs/{id}/outputs/{index}/link"},
    {"GET", "/s/{token}"},
    {"POST", "/v1/originals"},
    {"GET", "/v1/originals"},
    {"GET", "/v1/originals/{id}"},
    {"DELETE", "/v1/originals/{id}"},
    {"GET", "/v1/originals/{id}/content"},
    {"POST", "/v1/batches"},
    {"GET", "/v1/batches/{id}"},
    {"GET", "/v1/plugins"},
    {"POST", "/v1/plugins/reload"},
    {"GET", "/v1/presets"},
    {"PUT", "/v1/presets/{name}"},
    {"DELETE", "/v1/presets/{name}"},
    {"GET", "/v1/status"},
    {"GET", "/metrics"},
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/"},
    {"GET", "/openapi.json"},
    {"GET", "/docs"},
};

// Documented error statuses no generic bad request can bring about, and why.
const std::set<std::pair<std::string, int>> kNotConstructible = {
    // An original over --max-pixels cannot be stored under the same limit;
    // it takes a restart with a lower one.
    {"POST /v1/batches", 422},
    // A link names an output that existed when it was made; only the storage
    // quota evicting it brings that answer (the download route's own code).
    {"GET /s/{token}", 409},
};

const char* kMethods[] = {"get", "put", "post", "delete", "patch"};

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

const json& resolve(const json& doc, const std::string& ref) {
    INFO("$ref " << ref);
    REQUIRE(ref.rfind("#/", 0) == 0);
    json::json_pointer pointer(ref.substr(1));
    REQUIRE(doc.contains(pointer));
    return doc.at(pointer);
}

const json& deref(const json& doc, const json& node) {
    const json* at = &node;
    for (int i = 0; i < 8 && at->is_object() && at->contains("$ref"); ++i) at = &resolve(doc, (*at)["$ref"]);
    return *at;
}

void collectRefs(const json& node, std::vector<std::string>& out) {
    if (node.is_object()) {
        for (auto it = node.begin(); it != node.end(); ++it) {
            if (it.key() == "$ref" && it->is_string()) out.push_back(it->get<std::string>());
            else collectRefs(*it, out);
        }
    } else if (node.is_array()) {
        for (const json& v : node) collectRefs(v, out);
    }
}

struct Operation {
    std::string method;  // GET
    std::string path;    // the template
    json op;
    std::string key() const { return method + " " + path; }
};

std::vector<Operation> operations(const json& doc) {
    std::vector<Operation> ops;
    for (const auto& [path, item] : doc["paths"].items())
        for (const char* m : kMethods)
            if (item.contains(m)) ops.push_back({upper(m), path, item[m]});
    return ops;
}

// The OpenAPI 3.0 subset of JSON Schema the document uses: $ref, allOf, oneOf, type,
// nullable, enum, required, properties, additionalProperties, items, bounds.
// Returns the first problem ("" if none), with where it is.
std::string check(const json& doc, const json& rawSchema, const json& value, const std::string& at) {
    const json& schema = deref(doc, rawSchema);
    if (schema.contains("allOf"))
        for (const json& part : schema["allOf"])
            if (auto p = check(doc, part, value, at); !p.empty()) return p;
    if (schema.contains("oneOf")) {  // exactly one alternative fits
        std::vector<std::string> problems;
        for (const json& part : schema["oneOf"]) problems.push_back(check(doc, part, value, at));
        auto fits = std::count(problems.begin(), problems.end(), "");
        if (fits == 0) {
            std::string all = at + ": no alternative of oneOf fits";
            for (const std::string& p : problems) all += "; " + p;
            return all;
        }
        if (fits > 1) return at + ": fits " + std::to_string(fits) + " of the alternatives of oneOf";
    }
    if (value.is_null()) {
        bool typed = schema.contains("type") || schema.contains("properties");
        return !typed || schema.value("nullable", false) ? "" : at + ": null is not allowed";
    }
    std::string type = schema.value("type", "");
    bool ok = type.empty() || (type == "object" && value.is_object()) || (type == "array" && value.is_array()) ||
              (type == "string" && value.is_string()) || (type == "boolean" && value.is_boolean()) ||
              (type == "integer" && (value.is_number_integer() || value.is_number_unsigned())) ||
              (type == "number" && value.is_number());
    if (!ok) return at + ": expected " + type + ", got " + value.dump();
    if (schema.contains("enum")) {
        bool found = false;
        for (const json& e : schema["enum"]) found = found || e == value;
        if (!found) return at + ": " + value.dump() + " is not one of " + schema["enum"].dump();
    }
    if (value.is_number() && schema.contains("minimum") && value.get<double>() < schema["minimum"].get<double>())
        return at + ": " + value.dump() + " is below the minimum";
    if (value.is_number() && schema.contains("maximum") && value.get<double>() > schema["maximum"].get<double>())
        return at + ": " + value.dump() + " is above the maximum";
    if (value.is_object()) {
        if (schema.contains("required"))
            for (const json& r : schema["required"])
                if (!value.contains(r.get<std::string>())) return at + ": missing " + r.get<std::string>();
        const json properties = schema.value("properties", json::object());
        for (const auto& [k, v] : value.items()) {
            if (properties.contains(k)) {
                if (auto p = check(doc, properties[k], v, at + "." + k); !p.empty()) return p;
            } else if (schema.contains("additionalProperties")) {
                const json& more = schema["additionalProperties"];
                if (more.is_boolean() && !more.get<bool>()) return at + ": unexpected member " + k;
                if (more.is_object())
                    if (auto p = check(doc, more, v, at + "." + k); !p.empty()) return p;
            }
        }
    }
    if (value.is_array() && schema.contains("items"))
        for (size_t i = 0; i < value.size(); ++i)
            if (auto p = check(doc, schema["items"], value[i], at + "[" + std::to_string(i) + "]"); !p.empty())
                return p;
    return "";
}

json fetchDocument(Daemon& d) {
    Response r = d.http().get("/openapi.json");
    INFO(r.body.substr(0, 400));
    REQUIRE(r.status == 200);
    REQUIRE(r.header("content-type").find("application/json") == 0);
    return r.json();
}

// A path template with its parameters filled in.
std::string fill(std::string path, const std::string& id, const std::string& index = "0") {
    for (auto [name, value] : {std::pair<std::string, std::string>{"{id}", id}, {"{index}", index}, {"{name}", id}})
        if (auto at = path.find(name); at != std::string::npos) path.replace(at, name.size(), value);
    return path;
}

// What the daemon answered to one request, to hold against the document.
struct Observed {
    std::string op;  // "METHOD /template"
    std::string what;
    Response r;
};

// Holds what was seen against the document: the status is documented for the
// operation, the body has the documented media type and schema, required
// headers are there, and an error's code is one the response lists.
void checkObserved(const json& doc, const std::map<std::string, Operation>& ops, const Observed& o) {
    INFO(o.op << " (" << o.what << ") answered " << o.r.status << ": " << o.r.body.substr(0, 600));
    REQUIRE(ops.count(o.op));
    const json& responses = ops.at(o.op).op["responses"];
    std::string status = std::to_string(o.r.status);
    CHECK(responses.contains(status));
    if (!responses.contains(status)) return;
    const json& documented = deref(doc, responses[status]);
    if (documented.contains("headers"))
        for (const auto& [name, raw] : documented["headers"].items())
            if (deref(doc, raw).value("required", false)) {
                INFO("required header " << name);
                CHECK_FALSE(o.r.header(lower(name)).empty());
            }
    if (!documented.contains("content")) {
        CHECK(o.r.body.empty());
        return;
    }
    std::string type = o.r.header("content-type");
    type = type.substr(0, type.find(';'));
    const json& content = documented["content"];
    const json* media = content.contains(type) ? &content[type] : content.contains("*/*") ? &content["*/*"] : nullptr;
    INFO("content type " << type << "; documented " << content.dump().substr(0, 200));
    REQUIRE(media != nullptr);
    if (type != "application/json") return;
    json body = o.r.json();
    INFO("schema check");
    CHECK(check(doc, (*media)["schema"], body, "$") == "");
    if (o.r.status >= 400) {
        REQUIRE(documented.contains("x-error-codes"));
        std::set<std::string> codes;
        for (const json& c : documented["x-error-codes"]) codes.insert(c.get<std::string>());
        CHECK(codes.count(body["error"]["code"].get<std::string>()) == 1);
    }
}

}  // namespace

TEST_CASE("openapi.json is an OpenAPI 3 document whose refs resolve and whose examples fit their schemas") {
    Daemon d;
    json doc = fetchDocument(d);
    REQUIRE(doc["openapi"].get<std::string>().rfind("3.", 0) == 0);
    REQUIRE(doc["info"]["title"].is_string());
    REQUIRE(doc["paths"].is_object());
    // servers[] names the origin the request was addressed to.
    CHECK(doc["servers"][0]["url"] == d.base());

    std::vector<std::string> refs;
    collectRefs(doc, refs);
    CHECK(refs.size() > 50);
    for (const std::string& ref : refs) resolve(doc, ref);

    for (const char* name : {"Job", "Original", "Output", "Error", "Batch", "Plugin", "Status", "JobList", "OriginalList"})
        CHECK(doc["components"]["schemas"].contains(name));

    // Bearer tokens; each operation names the scope the route table gives it,
    // and those that are not open document the token check's 401 and 403.
    CHECK(doc["components"]["securitySchemes"]["bearer"]["type"] == "http");
    CHECK(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    CHECK(doc["security"] == json::array({{{"bearer", json::array()}}}));
    std::map<std::string, int> scopes;
    for (const Operation& op : operations(doc)) {
        INFO(op.key());
        std::string scope = op.op.value("x-pixelmill-scope", "");
        ++scopes[scope];
        bool open = scope == "open";
        CHECK((open || scope == "read" || scope == "submit" || scope == "admin"));
        CHECK(op.op.contains("security") == open);
        if (open) CHECK(op.op["security"].empty());
        CHECK(op.op["responses"].contains("401") != open);
        CHECK(op.op["responses"].contains("403") != open);
    }
    CHECK(scopes.size() == 4);  // every scope is some operation's
    std::map<std::string, std::string> expected = {{"GET /healthz", "open"}, {"GET /v1/jobs", "read"},
                                                   {"POST /v1/jobs", "submit"}, {"POST /v1/plugins/reload", "admin"}};
    for (const Operation& op : operations(doc))
        if (expected.count(op.key())) CHECK(op.op["x-pixelmill-scope"] == expected[op.key()]);
    for (const char* name : {"Wait", "Limit", "Cursor", "State", "PluginFilter", "OriginalFilter", "CreatedAfter",
                             "CreatedBefore", "Pending"})
        CHECK(doc["components"]["parameters"].contains(name));

    // Every example fits its schema: named schemas, request bodies and responses.
    for (const auto& [name, schema] : doc["components"]["schemas"].items())
        if (schema.contains("example")) {
            INFO("schema " << name);
            CHECK(check(doc, schema, schema["example"], "$") == "");
        }
    std::set<std::string> operationIds;
    for (const Operation& op : operations(doc)) {
        INFO(op.key());
        REQUIRE(op.op.contains("operationId"));
        CHECK(operationIds.insert(op.op["operationId"].get<std::string>()).second);
        std::vector<std::pair<std::string, const json*>> media;
        if (op.op.contains("requestBody"))
            for (const auto& [type, m] : deref(doc, op.op["requestBody"])["content"].items())
                media.emplace_back("request " + type, &m);
        bool success = false;
        for (const auto& [status, raw] : op.op["responses"].items()) {
            const json& r = deref(doc, raw);
            success = success || status[0] == '2' || status[0] == '3';
            if (status[0] == '4' || status[0] == '5') {
                INFO("status " << status);
                CHECK(r.contains("x-error-codes"));
                CHECK(r["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error");
            }
            if (r.contains("content"))
                for (const auto& [type, m] : r["content"].items()) media.emplace_back(status + " " + type, &m);
        }
        CHECK(success);
        for (const auto& [where, m] : media) {
            INFO(where);
            bool isJson = where.find("json") != std::string::npos;
            bool isSuccess = where[0] == '2' || where.rfind("request", 0) == 0;
            // Every request and success response comes with an example.
            if (isSuccess) CHECK((m->contains("example") || m->contains("examples")));
            if (!isJson || !m->contains("schema")) continue;
            if (m->contains("example")) CHECK(check(doc, (*m)["schema"], (*m)["example"], "$") == "");
            if (m->contains("examples"))
                for (const auto& [name, ex] : (*m)["examples"].items()) {
                    INFO("example " << name);
                    CHECK(check(doc, (*m)["schema"], deref(doc, ex)["value"], "$") == "");
                }
        }
    }
}

TEST_CASE("every documented route exists with exactly the documented methods, and every v1 route is documented") {
    Daemon d;
    json doc = fetchDocument(d);

    std::set<std::pair<std::string, std::string>> documented;
    for (const Operation& op : operations(doc)) documented.insert({op.method, op.path});
    std::string missing, extra;
    for (const auto& route : kRoutes)
        if (!documented.count(route)) missing += " " + route.first + " " + route.second;
    for (const auto& route : documented)
        if (!kRoutes.count(route)) extra += " " + route.first + " " + route.second;
    INFO("routes missing from the document:" << missing);
    INFO("documented routes the daemon has no handler for:" << extra);
    CHECK(missing.empty());
    CHECK(extra.empty());

    for (const Operation& op : operations(doc)) {
        // Unknown ids, empty bodies: whatever the answer, it is not "no such route".
        Response r = d.http().request(op.method, fill(op.path, kUnknownId));
        INFO(op.key() << " answered " << r.status << ": " << r.body.substr(0, 300));
        CHECK(r.status != 405);
        CHECK_FALSE((r.status == 404 && r.body.find("no route for") != std::string::npos));
        CHECK(op.op["responses"].contains(std::to_string(r.status)));
    }

    // The daemon's own table of methods for each path (its 405 Allow header)
    // is the document's.
    for (const auto& [path, item] : doc["paths"].items()) {
        std::set<std::string> methods;
        for (const char* m : kMethods)
            if (item.contains(m)) methods.insert(upper(m));
        Response r = d.http().request("PATCH", fill(path, kUnknownId));
        INFO(path << " PATCH answered " << r.status << " Allow: " << r.header("allow"));
        REQUIRE(r.status == 405);
        std::set<std::string> allowed;
        std::string allow = r.header("allow");
        for (size_t at = 0; at < allow.size();) {
            size_t comma = allow.find(',', at);
            std::string m = allow.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
            while (!m.empty() && m.front() == ' ') m.erase(0, 1);
            if (!m.empty()) allowed.insert(m);
            at = comma == std::string::npos ? allow.size() : comma + 1;
        }
        // HEAD comes with every GET, OPTIONS with every path; the document lists neither.
        CHECK(allowed.erase("HEAD") == methods.count("GET"));
        CHECK(allowed.erase("OPTIONS") == 1);
        CHECK(allowed == methods);
    }
}

TEST_CASE("every documented error status is answered to some bad request, and every answer has the documented shape") {
    initVips();
    TempDir files;
    makeJpeg(files / "photo.jpg", 640, 400);
    makePngBomb(files / "bomb.png", 20000, 20000);
    writeFile(files / "notes.txt", "plain text, not an image\n");
    writeFile(files / "picture.bmp", "BM" + std::string(64, '\x01'));
    const std::string bigJson = "{\"plugin\": \"" + std::string(1100000, 'x') + "\"}";

    writeFile(files / "pixelmill.toml", "[presets.avatar]\nplugin = \"thumbnail\"\nsize = 48\n");

    std::vector<Observed> seen;
    json doc;
    {
        Daemon d(DaemonOptions{.args = {"--config", (files / "pixelmill.toml").string()}});
        doc = fetchDocument(d);
        HttpClient& h = d.http();
        auto see = [&seen](std::string op, std::string what, Response r) {
            seen.push_back({std::move(op), std::move(what), std::move(r)});
            return seen.back().r;
        };

        // What there is to ask about: a finished job, a stored original, a canceled job, a batch.
        Response submitted = see("POST /v1/jobs", "multipart submit, waited for",
                                 h.postFile("/v1/jobs?wait=30", "file", (files / "photo.jpg").string(),
                                            {{"plugin", "thumbnail", "", ""}, {"size", "64", "", ""}}));
        REQUIRE(submitted.status == 202);
        std::string job = submitted.json()["id"];
        REQUIRE(d.waitForJob(job)["state"] == "succeeded");
        see("POST /v1/jobs", "dedup hit",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(),
                       {{"plugin", "thumbnail", "", ""}, {"size", "64", "", ""}}));
        Response stored = see("POST /v1/originals", "upload", h.postFile("/v1/originals", "file", (files / "photo.jpg").string()));
        std::string original = stored.json()["id"];
        Response text = see("POST /v1/originals", "raw text upload",
                            h.post("/v1/originals?filename=notes.txt", readFile(files / "notes.txt")));
        REQUIRE(text.status == 201);
        std::string textOriginal = text.json()["id"];
        Response slow = see("POST /v1/jobs", "raw submit", h.post("/v1/jobs?plugin=slow&ms=60000", "slow one"));
        REQUIRE(slow.status == 202);
        std::string canceled = slow.json()["id"];
        see("POST /v1/jobs/{id}/cancel", "queued or running job", h.post("/v1/jobs/" + canceled + "/cancel", ""));
        Response batch = see("POST /v1/batches", "batch",
                             h.post("/v1/batches", json{{"plugin", "noop"}, {"original_ids", {original}}}.dump(),
                                    "application/json"));
        REQUIRE(batch.status == 202);
        Response fromOriginal = see("POST /v1/jobs", "JSON submit with original_id",
                                    h.post("/v1/jobs", json{{"plugin", "resize"}, {"params", {{"width", 32}}},
                                                            {"original_id", original}}.dump(),
                                           "application/json"));
        REQUIRE(fromOriginal.status == 202);
        const std::string linkPath = "/v1/jobs/" + job + "/outputs/0/link";
        auto link = [&h, &linkPath](const std::string& body, const std::string& path = "") {
            return h.post(path.empty() ? linkPath : path, body, "application/json");
        };
        Response expiring = see("POST /v1/jobs/{id}/outputs/{index}/link", "1 s link", link(R"({"expires_in": 1})"));
        REQUIRE(expiring.status == 201);

        // Successful answers, for their shapes.
        see("GET /v1/jobs", "list", h.get("/v1/jobs?limit=2"));
        see("GET /v1/jobs/{id}", "job", h.get("/v1/jobs/" + job));
        see("GET /v1/jobs/{id}/attempts", "attempts", h.get("/v1/jobs/" + job + "/attempts"));
        Response output = see("GET /v1/jobs/{id}/outputs/{index}", "output", h.get("/v1/jobs/" + job + "/outputs/0"));
        see("GET /v1/jobs/{id}/outputs/{index}", "output again",
            h.get("/v1/jobs/" + job + "/outputs/0", {"If-None-Match: " + output.header("etag")}));
        see("GET /v1/jobs/{id}/original", "source", h.get("/v1/jobs/" + job + "/original"));
        Response shared = see("POST /v1/jobs/{id}/outputs/{index}/link", "link", link(R"({"expires_in": 600})"));
        see("GET /s/{token}", "shared output", h.get(shared.json()["url"].get<std::string>()));
        see("GET /s/{token}", "shared output again",
            h.get(shared.json()["url"].get<std::string>(), {"If-None-Match: " + output.header("etag")}));
        see("GET /v1/originals", "list", h.get("/v1/originals?pending=false&limit=5"));
        see("GET /v1/originals/{id}", "original", h.get("/v1/originals/" + original));
        see("GET /v1/originals/{id}/content", "content", h.get("/v1/originals/" + original + "/content"));
        see("GET /v1/batches/{id}", "batch", h.get("/v1/batches/" + batch.json()["id"].get<std::string>()));
        see("GET /v1/plugins", "plugins", h.get("/v1/plugins"));
        see("POST /v1/plugins/reload", "plugins", h.post("/v1/plugins/reload", ""));
        see("GET /v1/status", "status", h.get("/v1/status"));
        see("GET /metrics", "metrics", h.get("/metrics"));
        see("GET /healthz", "health", h.get("/healthz"));
        see("GET /readyz", "ready", h.get("/readyz"));
        see("GET /", "root", h.get("/"));
        see("GET /openapi.json", "document", h.get("/openapi.json"));
        see("GET /docs", "page", h.get("/docs"));
        see("POST /v1/jobs/{id}/retry", "canceled job", h.post("/v1/jobs/" + canceled + "/retry", ""));
        see("DELETE /v1/originals/{id}", "needed by a queued or running job",
            h.del("/v1/originals/" + slow.json()["original"]["id"].get<std::string>()));
        see("POST /v1/jobs/{id}/cancel", "retried job", h.post("/v1/jobs/" + canceled + "/cancel", ""));
        see("DELETE /v1/jobs/{id}", "job", h.del("/v1/jobs/" + fromOriginal.json()["id"].get<std::string>()));
        auto putPreset = [&h](const std::string& name, const std::string& body) {
            return h.request("PUT", "/v1/presets/" + name, body, {"Content-Type: application/json"});
        };
        see("PUT /v1/presets/{name}", "new", putPreset("small", R"({"plugin": "thumbnail", "params": {"size": 32}})"));
        see("PUT /v1/presets/{name}", "replaced", putPreset("small", R"({"plugin": "thumbnail", "params": {"size": 40}})"));
        see("GET /v1/presets", "list", h.get("/v1/presets"));
        see("POST /v1/jobs", "with a preset",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(), {{"preset", "small", "", ""}}));
        see("POST /v1/jobs", "with jobs, one a preset",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(),
                       {{"jobs", R"([{"preset": "small"}, {"plugin": "resize", "params": {"width": 20}}])", "", ""}}));
        see("POST /v1/jobs", "JSON with jobs",
            h.post("/v1/jobs", json{{"jobs", {{{"plugin", "thumbnail"}, {"params", {{"size", 24}}}}}},
                                    {"original_id", original}}.dump(),
                   "application/json"));
        see("POST /v1/jobs", "with steps",
            h.postFile("/v1/jobs?wait=30", "file", (files / "photo.jpg").string(),
                       {{"steps", R"([{"plugin": "thumbnail", "params": {"size": 40}}, {"plugin": "ascii"}])", "", ""}}));
        see("POST /v1/jobs", "with steps that cannot follow each other",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(),
                       {{"steps", R"([{"plugin": "ascii"}, {"plugin": "thumbnail"}])", "", ""}}));
        see("POST /v1/jobs", "with jobs, one wrong",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(),
                       {{"jobs", R"([{"plugin": "thumbnail", "params": {"size": 0}}])", "", ""}}));
        see("DELETE /v1/presets/{name}", "saved", h.del("/v1/presets/small"));

        // Bad requests.
        see("POST /v1/jobs", "no body", h.post("/v1/jobs?plugin=thumbnail", ""));
        see("POST /v1/jobs", "JSON that is not an object", h.post("/v1/jobs", "[1, 2]", "application/json"));
        see("POST /v1/jobs", "multipart without a boundary", h.post("/v1/jobs", "x", "multipart/form-data"));
        see("POST /v1/jobs", "size out of range",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(),
                       {{"plugin", "thumbnail", "", ""}, {"size", "0", "", ""}}));
        see("POST /v1/jobs", "unknown plugin", h.post("/v1/jobs?plugin=sharpen", readFile(files / "photo.jpg")));
        see("POST /v1/jobs", "unknown original_id",
            h.post("/v1/jobs", json{{"plugin", "thumbnail"}, {"original_id", kUnknownId}}.dump(), "application/json"));
        see("POST /v1/jobs", "JSON over 1 MiB", h.post("/v1/jobs", bigJson, "application/json"));
        see("POST /v1/jobs", "text to thumbnail", h.post("/v1/jobs?plugin=thumbnail", readFile(files / "notes.txt")));
        see("POST /v1/jobs", "decompression bomb", h.post("/v1/jobs?plugin=thumbnail", readFile(files / "bomb.png")));
        see("GET /v1/jobs", "limit=0", h.get("/v1/jobs?limit=0"));
        see("GET /v1/jobs", "state=done", h.get("/v1/jobs?state=done"));
        see("GET /v1/jobs", "bad cursor", h.get("/v1/jobs?cursor=abc"));
        see("GET /v1/jobs", "bad created_after", h.get("/v1/jobs?created_after=yesterday"));
        see("GET /v1/jobs/{id}", "wait=99", h.get("/v1/jobs/" + job + "?wait=99"));
        see("GET /v1/jobs/{id}", "unknown", h.get("/v1/jobs/" + kUnknownId));
        see("GET /v1/jobs/{id}", "not an id", h.get("/v1/jobs/nope"));
        see("DELETE /v1/jobs/{id}", "unknown", h.del("/v1/jobs/" + kUnknownId));
        see("GET /v1/jobs/{id}/attempts", "unknown", h.get("/v1/jobs/" + kUnknownId + "/attempts"));
        see("POST /v1/jobs/{id}/cancel", "unknown", h.post("/v1/jobs/" + kUnknownId + "/cancel", ""));
        see("POST /v1/jobs/{id}/cancel", "succeeded job", h.post("/v1/jobs/" + job + "/cancel", ""));
        see("POST /v1/jobs/{id}/retry", "unknown", h.post("/v1/jobs/" + kUnknownId + "/retry", ""));
        see("POST /v1/jobs/{id}/retry", "succeeded job", h.post("/v1/jobs/" + job + "/retry", ""));
        see("GET /v1/jobs/{id}/outputs/{index}", "unknown job", h.get("/v1/jobs/" + kUnknownId + "/outputs/0"));
        see("GET /v1/jobs/{id}/outputs/{index}", "no such output", h.get("/v1/jobs/" + job + "/outputs/7"));
        see("GET /v1/jobs/{id}/outputs/{index}", "canceled job", h.get("/v1/jobs/" + canceled + "/outputs/0"));
        see("GET /v1/jobs/{id}/original", "unknown", h.get("/v1/jobs/" + kUnknownId + "/original"));
        see("POST /v1/jobs/{id}/outputs/{index}/link", "expires_in 0", link(R"({"expires_in": 0})"));
        see("POST /v1/jobs/{id}/outputs/{index}/link", "not JSON", link("expires_in=60"));
        see("POST /v1/jobs/{id}/outputs/{index}/link", "unknown job",
            link(R"({"expires_in": 60})", "/v1/jobs/" + kUnknownId + "/outputs/0/link"));
        see("POST /v1/jobs/{id}/outputs/{index}/link", "canceled job",
            link(R"({"expires_in": 60})", "/v1/jobs/" + canceled + "/outputs/0/link"));
        see("POST /v1/jobs/{id}/outputs/{index}/link", "body over 4 KiB",
            link("{\"expires_in\": 60, \"pad\": \"" + std::string(5000, 'x') + "\"}"));
        see("GET /s/{token}", "forged", h.get("/s/" + std::string(82, 'A')));
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the 1 s link has expired
        see("GET /s/{token}", "expired", h.get(expiring.json()["url"].get<std::string>()));
        see("POST /v1/originals", "no body", h.post("/v1/originals", ""));
        see("POST /v1/originals", "JSON without source_url", h.post("/v1/originals", "{}", "application/json"));
        see("POST /v1/originals", "JSON over 1 MiB", h.post("/v1/originals", bigJson, "application/json"));
        see("POST /v1/originals", "a BMP", h.post("/v1/originals", readFile(files / "picture.bmp")));
        see("POST /v1/originals", "decompression bomb", h.post("/v1/originals", readFile(files / "bomb.png")));
        see("GET /v1/originals", "pending=maybe", h.get("/v1/originals?pending=maybe"));
        see("GET /v1/originals", "limit=5000", h.get("/v1/originals?limit=5000"));
        see("GET /v1/originals/{id}", "unknown", h.get("/v1/originals/" + kUnknownId));
        see("DELETE /v1/originals/{id}", "unknown", h.del("/v1/originals/" + kUnknownId));
        see("GET /v1/originals/{id}/content", "unknown", h.get("/v1/originals/" + kUnknownId + "/content"));
        see("POST /v1/batches", "not JSON", h.post("/v1/batches", "plugin=thumbnail", "application/json"));
        see("POST /v1/batches", "no original_ids", h.post("/v1/batches", R"({"plugin": "noop"})", "application/json"));
        see("POST /v1/batches", "unknown plugin",
            h.post("/v1/batches", json{{"plugin", "sharpen"}, {"original_ids", {original}}}.dump(), "application/json"));
        see("POST /v1/batches", "unknown original",
            h.post("/v1/batches", json{{"plugin", "noop"}, {"original_ids", {original, kUnknownId}}}.dump(),
                   "application/json"));
        see("POST /v1/batches", "JSON over 1 MiB", h.post("/v1/batches", bigJson, "application/json"));
        see("POST /v1/batches", "text to thumbnail",
            h.post("/v1/batches", json{{"plugin", "thumbnail"}, {"original_ids", {textOriginal}}}.dump(),
                   "application/json"));
        see("GET /v1/batches/{id}", "unknown", h.get("/v1/batches/" + kUnknownId));
        see("POST /v1/jobs", "unknown preset",
            h.postFile("/v1/jobs", "file", (files / "photo.jpg").string(), {{"preset", "nope", "", ""}}));
        see("PUT /v1/presets/{name}", "size out of range",
            putPreset("small", R"({"plugin": "thumbnail", "params": {"size": 0}})"));
        see("PUT /v1/presets/{name}", "not JSON", putPreset("small", "size=3"));
        see("PUT /v1/presets/{name}", "unknown plugin", putPreset("small", R"({"plugin": "sharpen"})"));
        see("PUT /v1/presets/{name}", "the config file's", putPreset("avatar", R"({"plugin": "thumbnail"})"));
        see("DELETE /v1/presets/{name}", "unknown", h.del("/v1/presets/small"));
        see("DELETE /v1/presets/{name}", "the config file's", h.del("/v1/presets/avatar"));
        see("DELETE /v1/originals/{id}", "text original", h.del("/v1/originals/" + textOriginal));
        see("GET /v1/originals/{id}/content", "deleted content", h.get("/v1/originals/" + textOriginal + "/content"));
    }
    {
        // Limits: a full disk quota, a full queue, then a drain.
        Daemon d(DaemonOptions{.args = {"--queue-limit", "1", "--max-storage-bytes", "300000"}, .workers = 1});
        HttpClient& h = d.http();
        auto see = [&seen](std::string op, std::string what, Response r) {
            seen.push_back({std::move(op), std::move(what), std::move(r)});
            return seen.back().r;
        };
        const std::string big(400000, 'a');
        see("POST /v1/originals", "over the storage quota", h.post("/v1/originals", big));
        see("POST /v1/jobs", "over the storage quota", h.post("/v1/jobs?plugin=noop", big));
        Response small = h.post("/v1/originals", "a small text original");
        REQUIRE(small.status == 201);
        std::string original = small.json()["id"];

        Response running = h.post("/v1/jobs?plugin=slow&ms=5000", "the running one");
        REQUIRE(running.status == 202);
        d.waitForJob(running.json()["id"], {"running"}, 10000ms);
        REQUIRE(h.post("/v1/jobs?plugin=slow&ms=0", "the queued one").status == 202);
        see("POST /v1/jobs", "queue full", h.post("/v1/jobs?plugin=slow&ms=0", "one too many"));
        see("POST /v1/batches", "queue full",
            h.post("/v1/batches", json{{"plugin", "slow"}, {"original_ids", {original}}}.dump(), "application/json"));

        // While it drains (the running job has seconds left), new work is refused.
        int exitStatus = -2;
        std::thread stop([&d, &exitStatus] { exitStatus = d.terminate(30s); });
        bool draining = false;
        for (int i = 0; i < 300 && !draining; ++i) {
            Response r = h.post("/v1/jobs?plugin=slow&ms=0", "while draining");
            draining = r.status == 503;
            if (draining) see("POST /v1/jobs", "draining", r);
            else std::this_thread::sleep_for(10ms);
        }
        if (draining) {
            see("POST /v1/originals", "draining", h.post("/v1/originals", "late text"));
            see("POST /v1/batches", "draining",
                h.post("/v1/batches", json{{"plugin", "slow"}, {"original_ids", {original}}}.dump(),
                       "application/json"));
            see("POST /v1/jobs/{id}/retry", "draining", h.post("/v1/jobs/" + kUnknownId + "/retry", ""));
            see("GET /readyz", "draining", h.get("/readyz"));
        }
        stop.join();
        REQUIRE(draining);
        CHECK(exitStatus == 0);
    }
    {
        // Behind tokens, every operation that is not open refuses a request
        // without one (401) and one whose token lacks its scope (403), before
        // it reads a body or looks up an id.
        TempDir dir;
        const std::string reader = makeToken(dir / "tokens", "reader", "read");
        const std::string submitter = makeToken(dir / "tokens", "submitter", "submit");
        DaemonOptions options;
        options.args = {"--token-file", (dir / "tokens").string()};
        Daemon d(options);
        for (const Operation& op : operations(doc)) {
            const std::string scope = op.op.value("x-pixelmill-scope", "");
            if (scope == "open") continue;
            const std::string path = fill(op.path, kUnknownId);
            seen.push_back({op.key(), "no token", d.http().request(op.method, path)});
            const std::string& other = scope == "read" ? submitter : reader;
            seen.push_back({op.key(), "a token without the scope",
                            d.http().request(op.method, path, "", {"Authorization: Bearer " + other})});
        }
    }
    {
        // Over the per-client rate limit, every operation that is not open
        // answers 429 before it looks at the request.
        Daemon d(DaemonOptions{.args = {"--rate-limit", "0.01", "--rate-burst", "1"}});
        REQUIRE(d.http().get("/v1/status").status == 200);  // the one request the burst holds
        for (const Operation& op : operations(doc)) {
            if (op.op.value("x-pixelmill-scope", "") == "open") continue;
            seen.push_back({op.key(), "over the rate limit", d.http().request(op.method, fill(op.path, kUnknownId))});
        }
    }
    const std::string noPostgres = PostgresServer::unavailableReason();
    if (noPostgres.empty()) {
        // With its PostgreSQL store down, every operation that reads or
        // writes the store answers 503 store_unavailable.
        TempDir blobs;
        PostgresServer pg;
        Daemon d(DaemonOptions{.args = {"--store", pg.createDatabase(), "--blob-dir", (blobs / "blobs").string()}});
        // A share link made while the store is up, followed once it is down.
        Response made = d.http().postFile("/v1/jobs?wait=30", "file", (files / "photo.jpg").string(),
                                          {{"plugin", "thumbnail", "", ""}, {"size", "64", "", ""}});
        REQUIRE(made.json()["state"] == "succeeded");
        Response shared = d.http().post("/v1/jobs/" + made.json()["id"].get<std::string>() + "/outputs/0/link",
                                        R"({"expires_in": 600})", "application/json");
        REQUIRE(shared.status == 201);
        pg.stop();
        seen.push_back({"GET /s/{token}", "PostgreSQL down", d.http().get(shared.json()["url"].get<std::string>())});
        for (const Operation& op : operations(doc)) {
            if (op.op.value("x-pixelmill-scope", "") == "open") continue;
            std::string body;
            std::vector<std::string> headers;
            if (op.key() == "POST /v1/jobs" || op.key() == "POST /v1/originals") body = "plain text";
            if (op.key() == "PUT /v1/presets/{name}") {
                body = R"({"plugin": "noop"})";
                headers = {"Content-Type: application/json"};
            }
            if (op.key() == "POST /v1/batches") {
                body = json{{"plugin", "noop"}, {"original_ids", {kUnknownId}}}.dump();
                headers = {"Content-Type: application/json"};
            }
            if (op.key() == "POST /v1/jobs/{id}/outputs/{index}/link") {
                body = R"({"expires_in": 60})";
                headers = {"Content-Type: application/json"};
            }
            std::string path = fill(op.path, kUnknownId) + (op.key() == "POST /v1/jobs" ? "?plugin=noop" : "");
            seen.push_back({op.key(), "PostgreSQL down", d.http().request(op.method, path, body, headers)});
        }
        // Monitoring goes on meanwhile: the scrape answers and says what it could not read.
        Response metrics = d.http().get("/metrics");
        CHECK(metrics.status == 200);
        CHECK(metrics.body.find("pixelmill_metrics_refresh_errors_total 0\n") == std::string::npos);
        CHECK(metrics.body.find("pixelmill_metrics_refresh_errors_total ") != std::string::npos);
    } else {
        WARN("SKIPPED the PostgreSQL outage answers: " << noPostgres);
    }

    std::map<std::string, Operation> ops;
    for (const Operation& op : operations(doc)) ops.emplace(op.key(), op);
    std::map<std::string, std::set<int>> statuses;
    for (const Observed& o : seen) {
        checkObserved(doc, ops, o);
        statuses[o.op].insert(static_cast<int>(o.r.status));
    }

    // Every documented error status was seen (or cannot be brought about), and
    // every operation that documents errors had one of them exercised.
    for (const auto& [key, op] : ops) {
        bool documentsErrors = false, exercised = false;
        for (const auto& [status, response] : op.op["responses"].items()) {
            if (status == "default" || status[0] < '4') continue;
            int code = std::stoi(status);
            documentsErrors = true;
            bool seenIt = statuses[key].count(code) > 0;
            exercised = exercised || seenIt;
            INFO(key << " documents " << code);
            if (kNotConstructible.count({key, code})) CHECK_FALSE(seenIt);
            else if (!noPostgres.empty() && response.value("$ref", "") == "#/components/responses/StoreUnavailable")
                continue;
            else CHECK(seenIt);
        }
        INFO(key);
        if (documentsErrors) CHECK(exercised);
        CHECK_FALSE(statuses[key].empty());
    }
}

TEST_CASE("/docs is one self-contained HTML page with every operation") {
    Daemon d;
    json doc = fetchDocument(d);
    Response r = d.http().get("/docs");
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type").find("text/html") == 0);
    const std::string& html = r.body;
    CHECK(html.rfind("<!doctype html>", 0) == 0);
    CHECK(html.find("name=\"viewport\"") != std::string::npos);
    CHECK(html.find("prefers-color-scheme") != std::string::npos);

    for (const Operation& op : operations(doc)) {
        INFO(op.key());
        CHECK(html.find(op.path) != std::string::npos);
        CHECK(html.find("id=\"op-" + op.op["operationId"].get<std::string>() + "\"") != std::string::npos);
        CHECK(html.find("href=\"#op-" + op.op["operationId"].get<std::string>() + "\"") != std::string::npos);
    }
    for (const auto& [name, schema] : doc["components"]["schemas"].items()) {
        INFO(name);
        CHECK(html.find("id=\"schema-" + name + "\"") != std::string::npos);
    }
    // curl lines are written for the origin the page was asked at.
    CHECK(html.find("$ curl -F file=@photo.jpg -F plugin=thumbnail -F size=256 " + d.base() + "/v1/jobs") !=
          std::string::npos);

    // Nothing is loaded from anywhere: no scripts, stylesheets, images, fonts or frames.
    for (const char* banned : {"<script", "<link", "<img", "<iframe", "<object", "<embed", "src=", "@import", "url(",
                               "href=\"http", "href=\"//", "href='http"}) {
        INFO(banned);
        CHECK(html.find(banned) == std::string::npos);
    }
    // Text from the document is escaped: the JSON examples' quotes never reach the markup raw.
    CHECK(html.find("{\"error\"") == std::string::npos);
    CHECK(html.find("{&quot;error&quot;") != std::string::npos);
}

TEST_CASE("the served document passes Redocly's recommended OpenAPI rules") {
    const std::filesystem::path lint = std::filesystem::path(PIXELMILL_TEST_SOURCE_DIR) / "tests" / "openapi";
    if (runCommand("command -v node >/dev/null") != 0 || !std::filesystem::exists(lint / "node_modules")) {
        WARN("SKIPPED: node or tests/openapi/node_modules is missing; scripts/install-deps.sh --test installs them");
        return;
    }
    TempDir dir;
    {
        Daemon d;
        writeFile(dir / "openapi.json", fetchDocument(d).dump(2));
    }
    std::string out;
    int rc = runCommand("node '" + (lint / "lint.mjs").string() + "' '" + (dir / "openapi.json").string() + "' 2>&1", &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("openapi lint: errors=0 warnings=0") != std::string::npos);
}
