// GET/POST /dashboard/login and POST /dashboard/logout: when the daemon
// requires tokens, a person types one once and gets a session cookie
// (HttpOnly, SameSite=Strict) that the dashboard and the API accept.
#include "http/dashboard/csrf.h"
#include "http/dashboard/form.h"
#include "http/dashboard/pages.h"

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

// The login and logout forms are open to everyone: a token, a CSRF value and
// a return path fit in far less.
constexpr uint64_t kFormBytes = 16 * 1024;

// Only a dashboard path of this host: never an open redirect.
std::string safeNext(const std::string& next) {
    bool ok = (next == "/dashboard" || next.rfind("/dashboard/", 0) == 0) && next.find("//") == std::string::npos &&
              next.find('\\') == std::string::npos && next.find_first_of("\r\n") == std::string::npos;
    return ok ? next : "/dashboard";
}

void renderLogin(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs, int status, const std::string& problem,
                 const std::string& next) {
    Page page(s, rq, rs, "login", "Sign in", "");
    Data& d = page.data();
    d.set("next", safeNext(next));
    d.set("has_error", !problem.empty());
    d.set("error", problem);
    page.send(status);
}

}  // namespace

void addLoginPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/login", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
                   if (!s.access || !s.access->authEnabled()) return redirect(rs, safeNext(queryParam(rq, "next")));
                   renderLogin(s, rq, rs, 200, "", queryParam(rq, "next"));
               }), RouteRule::open());
    routes.post("/dashboard/login", guarded(s, [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
                    Form form = Form::of(body);
                    checkCsrf(rq, form.get(kCsrfField));
                    std::string next = safeNext(form.get("next"));
                    if (!s.access || !s.access->authEnabled()) return redirect(rs, next);
                    auto who = s.access->authenticate(form.get("token"));
                    if (!who) return renderLogin(s, rq, rs, 401, "That token is not valid.", next);
                    std::string session = s.access->openSession(*who);
                    addHeader(rs, "Set-Cookie",
                              std::string(AccessControl::kSessionCookie) + "=" + session +
                                  "; Path=/; HttpOnly; SameSite=Strict");
                    redirect(rs, next);
                }), RouteRule::open(kFormBytes));
    routes.post("/dashboard/logout", guarded(s, [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
                    Form form = Form::of(body);
                    checkCsrf(rq, form.get(kCsrfField));
                    if (s.access) {
                        auto cookie = rq.headers().tryGetRaw("Cookie");
                        if (cookie) s.access->closeSession(cookieValue(cookie->value(), AccessControl::kSessionCookie));
                    }
                    addHeader(rs, "Set-Cookie",
                              std::string(AccessControl::kSessionCookie) +
                                  "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
                    redirect(rs, "/dashboard/login");
                }), RouteRule::open(kFormBytes));
}

}  // namespace pixelmill::http::dashboard
