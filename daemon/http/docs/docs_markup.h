#pragma once

#include <string>
#include <string_view>

// Text to HTML for the /docs page (http/docs/docs_page.cpp): everything taken from
// the OpenAPI document passes through one of these, so none of it is markup.
namespace pixelmill::http::docs {

// & < > " ' as entities.
std::string escape(std::string_view text);
// `prefix` + `name` with anything but letters, digits, '-' and '_' as '-': a fragment id.
std::string anchor(std::string_view prefix, std::string_view name);
// One line of prose: escaped, with `code` spans.
std::string inlineText(std::string_view text);
// A description: paragraphs at blank lines, a block of "- " lines as a list.
std::string prose(std::string_view text);
std::string replaceAll(std::string text, std::string_view from, std::string_view to);

}  // namespace pixelmill::http::docs
