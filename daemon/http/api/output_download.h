#pragma once

// The one place an output's bytes are served: the API's download route and
// share links (/s/…) answer alike, headers and all.
#include "http/services.h"

#include <pistache/http.h>
#include <pistache/router.h>

#include <optional>
#include <string>

namespace pixelmill::http {

// Output `indexText` of `job`: 404 when the index is not a number or a
// succeeded job has no such output; 409 not_ready (with Retry-After while
// it may still come) when the job has not succeeded.
const Output& findOutput(const Job& job, const std::string& indexText);

// Serves output `indexText` of `job` (304 on a matching If-None-Match; 409
// while evicted outputs are made again). `cacheControl` replaces the stored
// bytes' usual Cache-Control when given.
void sendOutput(Services& s, const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response,
                const Job& job, const std::string& indexText,
                const std::optional<std::string>& cacheControl = std::nullopt);

}  // namespace pixelmill::http
