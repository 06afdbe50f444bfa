#pragma once

// The dashboard's route families (one file each) and what they share.
#include "http/dashboard/view.h"
#include "http/services.h"

#include <functional>
#include <string>

namespace pixelmill::http::dashboard {

// Rows per page of the jobs and originals lists.
constexpr int kPageSize = 50;

void addOverviewPage(RouteTable& routes, Services& s);      // GET /dashboard
void addJobsPage(RouteTable& routes, Services& s);          // GET /dashboard/jobs
void addJobPage(RouteTable& routes, Services& s);           // GET /dashboard/jobs/:id
void addOriginalsPage(RouteTable& routes, Services& s);     // GET /dashboard/originals
void addPluginsPage(RouteTable& routes, Services& s);       // GET /dashboard/plugins
void addPresetsPage(RouteTable& routes, Services& s);       // GET /dashboard/presets and its actions
void addSubmitPage(RouteTable& routes, Services& s);        // GET /dashboard/submit
void addActions(RouteTable& routes, Services& s);           // POST /dashboard/actions/*
void addLoginPage(RouteTable& routes, Services& s);         // /dashboard/login, /dashboard/logout

// Wraps a page or an action (which reads the form in the request's body) so
// that its errors answer as dashboard pages (HTML), not as the API's JSON.
RouteTable::Handler guarded(Services& s, RouteTable::Handler page);
RouteTable::BodyHandler guarded(Services& s, RouteTable::BodyHandler action);

// The plugin chooser and one fieldset of inputs per plugin, made from each
// plugin's parameter schema; inputs are named "<plugin>.<param>".
Data pluginForms(Services& s, const std::string& selected, const std::string& acceptsType = {});
// The text parameters of `plugin` from such a form (empty inputs: defaults).
std::map<std::string, std::string> pluginParams(const std::string& plugin,
                                                const std::vector<std::pair<std::string, std::string>>& fields);

// Renders the submit page (also after a failed submission, with the problem).
void renderSubmitPage(Services& s, const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response,
                      int status, const std::string& problem, const std::string& plugin, const std::string& preset);

}  // namespace pixelmill::http::dashboard
