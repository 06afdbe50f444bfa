#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace pixelmill::http {

// The origin the curl lines of http/docs/openapi/openapi.json are written against;
// the page swaps in the origin the reader used.
inline constexpr const char* kExampleOrigin = "http://127.0.0.1:8080";

// Renders an OpenAPI 3.0 document as one self-contained HTML page: inline CSS,
// no script, nothing fetched from anywhere. It holds a table of contents, every
// operation (grouped by tag) with its parameters, request bodies with their
// curl lines (`x-curl`), responses with headers, error codes (`x-error-codes`)
// and examples, and then the schemas. Every string taken from the document is
// HTML-escaped; descriptions may use `code` spans, blank-line paragraphs and
// "- " lists. `origin` ("http://host:port") replaces kExampleOrigin in curl lines;
// `stylesheet` (trusted CSS, http/docs/openapi/docs.css) goes into a <style> element.
std::string renderDocsPage(const nlohmann::ordered_json& document, const std::string& origin,
                           std::string_view stylesheet);

}  // namespace pixelmill::http
