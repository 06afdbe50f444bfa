// GET /dashboard/plugins: what is loaded (version, accepted types, the
// parameter table from each schema) and which files were refused, and why.
#include "http/dashboard/charts.h"
#include "http/dashboard/pages.h"

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

std::string typeName(ParamSchema::Type t) {
    switch (t) {
        case ParamSchema::Type::Integer: return "integer";
        case ParamSchema::Type::Number: return "number";
        case ParamSchema::Type::Boolean: return "boolean";
        case ParamSchema::Type::String: return "string";
    }
    return "string";
}

std::string jsonText(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// "1 – 4096", "one of: none, centre", "up to 64 characters", "matches ^…$".
std::string allowedText(const ParamSchema::Property& p) {
    std::vector<std::string> parts;
    if (!p.allowed.empty()) {
        std::string s = "one of: ";
        for (size_t i = 0; i < p.allowed.size(); ++i) s += (i ? ", " : "") + jsonText(p.allowed[i]);
        parts.push_back(s);
    }
    bool integer = p.type == ParamSchema::Type::Integer;
    if (p.minimum && p.maximum)
        parts.push_back(fixed(*p.minimum, integer ? 0 : 2) + " – " + fixed(*p.maximum, integer ? 0 : 2));
    else if (p.minimum) parts.push_back("≥ " + fixed(*p.minimum, integer ? 0 : 2));
    else if (p.maximum) parts.push_back("≤ " + fixed(*p.maximum, integer ? 0 : 2));
    if (p.minLength) parts.push_back("at least " + std::to_string(*p.minLength) + " characters");
    if (p.maxLength) parts.push_back("up to " + std::to_string(*p.maxLength) + " characters");
    if (!p.pattern.empty()) parts.push_back("matches " + p.pattern);
    std::string out;
    for (const auto& s : parts) out += (out.empty() ? "" : "; ") + s;
    return out.empty() ? "any" : out;
}

void pluginsPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    Page page(s, rq, rs, "plugins", "Plugins", "plugins");
    auto histograms = s.metrics.histograms("pixelmill_job_duration_seconds", "plugin");
    Data plugins = list();
    for (const auto& p : s.plugins.list()) {
        Data d;
        d.set("name", p->name);
        d.set("version", p->version);
        d.set("description", p->description);
        d.set("file", p->file);
        Data accepts = list();
        for (const auto& a : p->accepts) accepts.push_back(Data(a));
        d.set("accepts", accepts);
        Data params = list();
        for (const auto& prop : p->params.properties()) {
            Data r;
            r.set("name", prop.name);
            r.set("type", typeName(prop.type));
            r.set("default", prop.defaultValue ? jsonText(*prop.defaultValue) : std::string("—"));
            r.set("allowed", allowedText(prop));
            std::string aliases;
            for (const auto& a : prop.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
            r.set("aliases", aliases);
            r.set("has_aliases", !aliases.empty());
            r.set("description", prop.description);
            params.push_back(r);
        }
        d.set("params", params);
        d.set("has_params", !p->params.properties().empty());
        d.set("jobs_href", "/dashboard/jobs" + queryString({{"plugin", p->name}}));
        d.set("submit_href", "/dashboard/submit" + queryString({{"plugin", p->name}}));
        auto h = histograms.find(p->name);
        bool timed = h != histograms.end() && h->second.count > 0;
        d.set("timed", timed);
        if (timed) {
            d.set("runs", num(h->second.count) + (h->second.count == 1 ? " job" : " jobs"));
            d.set("p50", secondsLabel(h->second.quantile(0.5)));
            d.set("p95", secondsLabel(h->second.quantile(0.95)));
            d.set("p99", secondsLabel(h->second.quantile(0.99)));
        }
        plugins.push_back(d);
    }
    Data refused = list();
    for (const auto& r : s.plugins.refused()) {
        Data d;
        d.set("file", r.file);
        d.set("reason", r.reason);
        refused.push_back(d);
    }
    page.data().set("plugins", plugins);
    page.data().set("refused", refused);
    page.data().set("has_refused", !s.plugins.refused().empty());
    page.data().set("no_plugins", s.plugins.list().empty());
    page.data().set("plugin_dir", s.config.pluginDir);
    page.data().set("has_plugin_dir", !s.config.pluginDir.empty());
    page.send();
}

}  // namespace

void addPluginsPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/plugins",
               guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { pluginsPage(s, rq, rs); }));
}

}  // namespace pixelmill::http::dashboard
