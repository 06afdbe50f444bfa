#pragma once

// How the dashboard's pages are made: mustache templates from web/dashboard/
// (compiled into the binary) filled with data built here. Every value goes
// in through {{name}}, which HTML-escapes it; the templates never use triple
// mustaches, so user-controlled text (filenames, params, errors, URLs) can
// only ever show as text.
#include "common/embedded.h"
#include "http/server/respond.h"
#include "http/services.h"

#include <kainjow/mustache.hpp>

#include <pistache/router.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pixelmill::http::dashboard {

using Data = kainjow::mustache::data;

// A list for {{#section}} iteration.
inline Data list() { return Data(Data::type::list); }
// Numbers go in as text (an int would silently become a bool).
std::string num(int64_t n);
std::string num(uint64_t n);
std::string fixed(double v, int decimals);

// One page being answered: the frame every page shares (navigation, the
// CSRF token for its forms, a notice carried over from an action) plus the
// page's own data, rendered from web/dashboard/<page>.mustache inside
// layout.mustache.
class Page {
public:
    Page(Services& services, const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response,
         std::string templateName, std::string title, std::string nav);

    Data& data() { return data_; }
    const std::string& csrf() const { return csrf_; }
    void setTitle(std::string title) { title_ = std::move(title); }
    // Offers the "live" toggle that reloads the page every few seconds.
    void offerLive() { live_ = true; }

    void send(int status = 200);

private:
    Services& services_;
    const Pistache::Rest::Request& request_;
    Pistache::Http::ResponseWriter& response_;
    std::string template_;
    std::string title_;
    std::string nav_;
    std::string csrf_;
    bool live_ = false;
    Data data_;
};

// Renders a template (web/dashboard/<name>.mustache) with `data`; every
// other template is available to it as a partial {{> name.mustache}}.
std::string renderTemplate(const std::string& name, const Data& data);

// An embedded file of web/dashboard/, or null.
const EmbeddedFile* asset(std::string_view path);

// Security headers every dashboard answer carries (CSP: no inline script or style).
Headers pageHeaders();
void sendHtml(Pistache::Http::ResponseWriter& response, int status, const std::string& html);
// 303 See Other to a dashboard path.
void redirect(Pistache::Http::ResponseWriter& response, const std::string& location);
// A dashboard error page (or JSON when the client did not ask for HTML).
void sendErrorPage(Services& s, const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response,
                   const ApiError& error);

// Formatting for people.
std::string bytesText(uint64_t bytes);
std::string durationText(double seconds);
std::string agoText(int64_t unixMs, int64_t nowMs);
std::string timeText(int64_t unixMs);  // 2026-11-22 17:49:03 UTC
std::string shortId(const std::string& id);
std::string urlEncode(std::string_view text);
// "?a=1&b=2" from the pairs whose value is not empty ("" when none).
std::string queryString(const std::vector<std::pair<std::string, std::string>>& pairs);
// A query parameter of the request, or "".
std::string queryParam(const Pistache::Rest::Request& request, const std::string& name);
// A local path to return to after an action: only /dashboard paths are followed.
std::string safeReturnPath(const std::string& path, const std::string& fallback);

// The fields a job row shows everywhere (id, state, plugin, filename, times).
Data jobRow(const Job& job, int64_t nowMs);
// Whether browsers can show this media type in an <img>.
bool isPreviewable(const std::string& mediaType);

}  // namespace pixelmill::http::dashboard
