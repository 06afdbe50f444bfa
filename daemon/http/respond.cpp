#include "http/respond.h"

#include <pistache/http_headers.h>

namespace pixelmill::http {

using namespace Pistache;

namespace {

// A header known only by name at run time. Typed (not Header::Raw), because
// Pistache's serveFile() writes typed headers only.
class NamedHeader final : public Http::Header::Header {
public:
    NamedHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
    const char* name() const override { return name_.c_str(); }
    uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }
    void parse(const std::string& data) override { value_ = data; }
    void write(std::ostream& os) const override { os << value_; }

private:
    std::string name_;
    std::string value_;
};

}  // namespace

nlohmann::ordered_json errorBody(const ApiError& error) {
    nlohmann::ordered_json e = {{"code", error.code()}, {"message", error.what()}};
    if (!error.field().empty()) e["field"] = error.field();
    return {{"error", e}};
}

void addHeader(Http::ResponseWriter& response, const std::string& name, const std::string& value) {
    response.headers().add(std::make_shared<NamedHeader>(name, value));
}

void sendText(Http::ResponseWriter& response, int status, const std::string& body, const std::string& contentType,
              const Headers& headers) {
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    response.send(static_cast<Http::Code>(status), body, Http::Mime::MediaType::fromString(contentType));
}

void sendJson(Http::ResponseWriter& response, int status, const nlohmann::ordered_json& body, const Headers& headers) {
    std::string text = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    text.push_back('\n');
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    response.send(static_cast<Http::Code>(status), text, MIME(Application, Json));
}

void sendError(Http::ResponseWriter& response, const ApiError& error) {
    Headers headers;
    if (auto s = error.retryAfterSeconds()) headers.emplace_back("Retry-After", std::to_string(*s));
    sendJson(response, error.status(), errorBody(error), headers);
}

void sendFile(Http::ResponseWriter& response, const std::string& path, const std::string& contentType,
              const Headers& headers) {
    for (const auto& [k, v] : headers) addHeader(response, k, v);
    Http::serveFile(response, path, Http::Mime::MediaType::fromString(contentType));
}

}  // namespace pixelmill::http
