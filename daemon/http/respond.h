#pragma once

#include "common/error.h"

#include <pistache/http.h>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace pixelmill::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The one place an ApiError becomes the JSON error body of API.md.
nlohmann::ordered_json errorBody(const ApiError& error);

void sendJson(Pistache::Http::ResponseWriter& response, int status, const nlohmann::ordered_json& body,
              const Headers& headers = {});
void sendError(Pistache::Http::ResponseWriter& response, const ApiError& error);
void sendText(Pistache::Http::ResponseWriter& response, int status, const std::string& body,
              const std::string& contentType, const Headers& headers = {});
// Streams a file from disk (sendfile) with Content-Length and the given type.
void sendFile(Pistache::Http::ResponseWriter& response, const std::string& path, const std::string& contentType,
              const Headers& headers = {});

// Adds a header by name.
void addHeader(Pistache::Http::ResponseWriter& response, const std::string& name, const std::string& value);

}  // namespace pixelmill::http
