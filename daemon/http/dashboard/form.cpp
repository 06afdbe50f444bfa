#include "http/dashboard/form.h"

#include "common/error.h"
#include "http/server/body.h"

namespace pixelmill::http::dashboard {

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string formDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') out.push_back(' ');
        else if (c == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 && hexValue(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
            i += 2;
        } else out.push_back(c);
    }
    return out;
}

Form Form::fromUrlEncoded(std::string_view text) {
    Form form;
    while (!text.empty()) {
        size_t amp = text.find('&');
        std::string_view pair = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
        if (pair.empty()) continue;
        size_t eq = pair.find('=');
        std::string key = formDecode(pair.substr(0, eq));
        std::string value = eq == std::string_view::npos ? std::string() : formDecode(pair.substr(eq + 1));
        form.fields_.emplace_back(std::move(key), std::move(value));
    }
    return form;
}

Form Form::of(const RequestBody& body) {
    if (!body.present) return {};
    if (body.multipart) {
        Form form;
        for (const auto& [k, v] : body.fields) form.fields_.emplace_back(k, v);
        return form;
    }
    std::string_view type = body.contentType;
    type = type.substr(0, type.find(';'));
    if (type != "application/x-www-form-urlencoded")
        throw ApiError(415, "unsupported_media_type", "the dashboard's actions take HTML forms "
                                                      "(application/x-www-form-urlencoded or multipart/form-data)");
    return fromUrlEncoded(body.text());
}

std::string Form::get(const std::string& name) const {
    for (const auto& [k, v] : fields_)
        if (k == name) return v;
    return {};
}

std::vector<std::string> Form::all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : fields_)
        if (k == name) out.push_back(v);
    return out;
}

}  // namespace pixelmill::http::dashboard
