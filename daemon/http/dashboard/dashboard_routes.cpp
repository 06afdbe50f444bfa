// The dashboard: HTML pages under /dashboard, rendered from web/dashboard/
// templates, and its static files (one stylesheet, one small script).
#include "common/log.h"
#include "http/dashboard/pages.h"
#include "http/server/respond.h"
#include "http/services.h"

#include <functional>

namespace pixelmill::http {

using namespace Pistache;

namespace dashboard {

RouteTable::BodyHandler guarded(Services& s, RouteTable::BodyHandler action) {
    return [&s, action = std::move(action)](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        answerOrRefuse("dashboard", [&] { action(rq, body, rs); },
                       [&](const ApiError& e) { sendErrorPage(s, rq, rs, e); });
    };
}

RouteTable::Handler guarded(Services& s, RouteTable::Handler page) {
    auto action = guarded(s, [page = std::move(page)](const Rest::Request& rq, RequestBody&, Http::ResponseWriter& rs) {
        page(rq, rs);
    });
    return [action = std::move(action)](const Rest::Request& rq, Http::ResponseWriter& rs) {
        RequestBody none;
        action(rq, none, rs);
    };
}

namespace {

std::string contentTypeOf(std::string_view path) {
    if (path.ends_with(".css")) return "text/css; charset=utf-8";
    if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
    if (path.ends_with(".svg")) return "image/svg+xml";
    return {};
}

void staticFile(const Rest::Request& request, Http::ResponseWriter& response) {
    std::string name = request.param(":file").as<std::string>();
    const EmbeddedFile* file = asset(name);
    std::string type = contentTypeOf(name);
    if (!file || type.empty()) throw ApiError::notFound("no dashboard file " + name);
    std::string etag = "\"" + std::to_string(std::hash<std::string_view>{}(file->contents)) + "\"";
    Headers headers{{"ETag", etag}, {"Cache-Control", "public, max-age=300"}, {"X-Content-Type-Options", "nosniff"}};
    if (auto inm = request.headers().tryGetRaw("If-None-Match"); inm && inm->value() == etag) {
        sendEmpty(response, 304, headers);
        return;
    }
    sendText(response, 200, std::string(file->contents), type, headers);
}

}  // namespace

Data pluginForms(Services& s, const std::string& selected, const std::string& acceptsType) {
    Data plugins = list();
    auto all = s.plugins.list();
    for (const auto& p : all) {
        if (!acceptsType.empty() && !p->acceptsType(acceptsType)) continue;
        Data d;
        d.set("name", p->name);
        d.set("version", p->version);
        d.set("description", p->description);
        d.set("selected", p->name == selected || (selected.empty() && p == all.front()));
        std::string accepts;
        for (const auto& a : p->accepts) accepts += (accepts.empty() ? "" : ", ") + a;
        d.set("accepts", accepts);
        Data params = list();
        for (const auto& prop : p->params.properties()) {
            Data f;
            f.set("name", prop.name);
            f.set("field", p->name + "." + prop.name);
            f.set("description", prop.description);
            f.set("has_description", !prop.description.empty());
            std::string def;
            if (prop.defaultValue) def = prop.defaultValue->is_string() ? prop.defaultValue->get<std::string>()
                                                                         : prop.defaultValue->dump();
            f.set("default", def);
            f.set("has_default", !def.empty());
            bool choice = prop.type == ParamSchema::Type::Boolean || !prop.allowed.empty();
            f.set("is_select", choice);
            if (choice) {
                Data options = list();
                std::vector<std::string> values;
                if (prop.type == ParamSchema::Type::Boolean) values = {"true", "false"};
                for (const auto& a : prop.allowed) values.push_back(a.is_string() ? a.get<std::string>() : a.dump());
                for (const auto& v : values) {
                    Data o;
                    o.set("value", v);
                    options.push_back(o);
                }
                f.set("options", options);
            } else {
                bool number = prop.type == ParamSchema::Type::Integer || prop.type == ParamSchema::Type::Number;
                f.set("input_type", number ? "number" : "text");
                f.set("step", prop.type == ParamSchema::Type::Integer ? "1" : "any");
                f.set("is_number", number);
                if (prop.minimum) f.set("min", fixed(*prop.minimum, prop.type == ParamSchema::Type::Integer ? 0 : 6));
                if (prop.maximum) f.set("max", fixed(*prop.maximum, prop.type == ParamSchema::Type::Integer ? 0 : 6));
                f.set("has_min", prop.minimum.has_value());
                f.set("has_max", prop.maximum.has_value());
                if (prop.maxLength) f.set("maxlength", num(static_cast<uint64_t>(*prop.maxLength)));
                f.set("has_maxlength", prop.maxLength.has_value());
            }
            params.push_back(f);
        }
        d.set("params", params);
        d.set("has_params", !p->params.properties().empty());
        plugins.push_back(d);
    }
    Data out;
    out.set("plugins", plugins);
    out.set("has_plugins", !all.empty());
    return out;
}

std::map<std::string, std::string> pluginParams(const std::string& plugin,
                                                const std::vector<std::pair<std::string, std::string>>& fields) {
    std::map<std::string, std::string> params;
    std::string prefix = plugin + ".";
    for (const auto& [k, v] : fields)
        if (k.size() > prefix.size() && k.rfind(prefix, 0) == 0 && !v.empty()) params[k.substr(prefix.size())] = v;
    return params;
}

}  // namespace dashboard

void addDashboardRoutes(RouteTable& routes, Services& s) {
    dashboard::addOverviewPage(routes, s);
    dashboard::addJobsPage(routes, s);
    dashboard::addJobPage(routes, s);
    dashboard::addOriginalsPage(routes, s);
    dashboard::addPluginsPage(routes, s);
    dashboard::addPresetsPage(routes, s);
    dashboard::addSubmitPage(routes, s);
    dashboard::addActions(routes, s);
    dashboard::addLoginPage(routes, s);
    routes.get("/dashboard/static/:file", dashboard::staticFile, RouteRule::open());
}

}  // namespace pixelmill::http
