// GET /dashboard/submit: a form to upload a file and run a plugin on it.
#include "http/dashboard/pages.h"

namespace pixelmill::http::dashboard {

using namespace Pistache;

void renderSubmitPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs, int status,
                      const std::string& problem, const std::string& plugin) {
    Page page(s, rq, rs, "submit", "New job", "submit");
    Data& d = page.data();
    d.set("forms", pluginForms(s, plugin.empty() ? queryParam(rq, "plugin") : plugin));
    d.set("has_error", !problem.empty());
    d.set("error", problem);
    d.set("max_upload", bytesText(s.config.maxUploadBytes));
    d.set("accepting", s.jobs.accepting());
    page.send(status);
}

void addSubmitPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/submit", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
                   renderSubmitPage(s, rq, rs, 200, "", "");
               }));
}

}  // namespace pixelmill::http::dashboard
