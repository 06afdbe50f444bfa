#include "http/docs/docs_markup.h"

#include <vector>

namespace pixelmill::http::docs {

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string anchor(std::string_view prefix, std::string_view name) {
    std::string out(prefix);
    for (char c : name) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        out += plain ? c : '-';
    }
    return out;
}

std::string inlineText(std::string_view text) {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
        size_t open = text.find('`', i);
        size_t close = open == std::string_view::npos ? open : text.find('`', open + 1);
        if (close == std::string_view::npos) {
            out += escape(text.substr(i));
            break;
        }
        out += escape(text.substr(i, open - i));
        out += "<code>" + escape(text.substr(open + 1, close - open - 1)) + "</code>";
        i = close + 1;
    }
    return out;
}

std::string prose(std::string_view text) {
    std::string out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find("\n\n", start);
        std::string_view block = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        start = end == std::string_view::npos ? text.size() + 1 : end + 2;
        while (!block.empty() && (block.front() == '\n' || block.front() == ' ')) block.remove_prefix(1);
        while (!block.empty() && (block.back() == '\n' || block.back() == ' ')) block.remove_suffix(1);
        if (block.empty()) continue;
        std::vector<std::string_view> lines;
        for (size_t p = 0; p <= block.size();) {
            size_t nl = block.find('\n', p);
            lines.push_back(block.substr(p, nl == std::string_view::npos ? std::string_view::npos : nl - p));
            p = nl == std::string_view::npos ? block.size() + 1 : nl + 1;
        }
        bool list = true;
        for (std::string_view l : lines) list = list && l.starts_with("- ");
        if (list) {
            out += "<ul>";
            for (std::string_view l : lines) out += "<li>" + inlineText(l.substr(2)) + "</li>";
            out += "</ul>";
        } else {
            out += "<p>";
            for (size_t k = 0; k < lines.size(); ++k) out += (k ? " " : "") + inlineText(lines[k]);
            out += "</p>";
        }
    }
    return out;
}

std::string replaceAll(std::string text, std::string_view from, std::string_view to) {
    if (from.empty()) return text;
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

}  // namespace pixelmill::http::docs
