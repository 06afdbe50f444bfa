#pragma once

// CSRF protection for the dashboard's forms: a double-submit token. A random
// token lives in a cookie (HttpOnly, SameSite=Strict, Path=/dashboard) and in
// a hidden field of every form; a state-changing POST must carry both, equal
// (compared in constant time), and, when the browser says where it comes from
// (Origin, else Referer), come from this very host.
#include <pistache/router.h>

#include <string>

namespace pixelmill::http::dashboard {

inline constexpr const char* kCsrfCookie = "pm_csrf";
inline constexpr const char* kCsrfField = "csrf";

// The request's token, or a new one, sent with Set-Cookie on `response`.
std::string csrfToken(const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response);

// Throws ApiError 403 csrf_failed unless `formToken` matches the cookie and
// the request comes from this host.
void checkCsrf(const Pistache::Rest::Request& request, const std::string& formToken);

}  // namespace pixelmill::http::dashboard
