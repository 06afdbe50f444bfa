#include "jobs/sniff.h"

#include <cctype>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace pixelmill {
namespace {

bool startsWith(std::span<const unsigned char> b, std::string_view magic, size_t offset = 0) {
    if (b.size() < offset + magic.size()) return false;
    return std::memcmp(b.data() + offset, magic.data(), magic.size()) == 0;
}

bool looksLikeText(std::span<const unsigned char> b) {
    if (b.empty()) return false;
    for (unsigned char c : b)
        if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f')) return false;
    return true;
}

std::string lowerAscii(std::span<const unsigned char> b) {
    std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// SVG: optional BOM, whitespace, XML declaration, comments and doctype, then an <svg element.
bool looksLikeSvg(std::span<const unsigned char> b) {
    std::string s = lowerAscii(b.subspan(0, std::min<size_t>(b.size(), 4096)));
    size_t i = 0;
    if (s.compare(0, 3, "\xef\xbb\xbf") == 0) i = 3;
    for (;;) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        if (s.compare(i, 4, "<svg") == 0) return true;
        if (s.compare(i, 2, "<?") == 0) {
            i = s.find("?>", i);
        } else if (s.compare(i, 4, "<!--") == 0) {
            i = s.find("-->", i);
        } else if (s.compare(i, 9, "<!doctype") == 0) {
            if (s.find("svg", i) == std::string::npos) return false;
            size_t gt = s.find('>', i);
            size_t subset = s.find('[', i);
            if (subset != std::string::npos && subset < gt) {
                size_t close = s.find(']', subset);
                gt = close == std::string::npos ? close : s.find('>', close);
            }
            i = gt;
        } else {
            return false;
        }
        if (i == std::string::npos) return false;
        i += s[i] == '-' ? 3 : (s[i] == '?' ? 2 : 1);
    }
}

}  // namespace

std::string sniffMediaType(std::span<const unsigned char> b) {
    if (startsWith(b, "\xff\xd8\xff")) return "image/jpeg";
    if (startsWith(b, "\x89PNG\r\n\x1a\n")) return "image/png";
    if (startsWith(b, "GIF87a") || startsWith(b, "GIF89a")) return "image/gif";
    if (startsWith(b, "RIFF") && startsWith(b, "WEBP", 8)) return "image/webp";
    if (startsWith(b, std::string_view("II*\0", 4)) || startsWith(b, std::string_view("MM\0*", 4))) return "image/tiff";
    if (startsWith(b, "%PDF-")) return "application/pdf";
    if (startsWith(b, "ftyp", 4) && b.size() >= 12) {
        std::string_view brand(reinterpret_cast<const char*>(b.data() + 8), 4);
        if (brand == "avif" || brand == "avis") return "image/avif";
        if (brand == "heic" || brand == "heix" || brand == "heim" || brand == "heis" || brand == "mif1" ||
            brand == "msf1" || brand == "hevc")
            return "image/heif";
        return "video/mp4";
    }
    if (startsWith(b, std::string_view("\0\0\0\x0cJXL \r\n\x87\n", 12)) || startsWith(b, "\xff\x0a")) return "image/jxl";
    if (startsWith(b, "BM")) return "image/bmp";
    if (startsWith(b, "PK\x03\x04")) return "application/zip";
    if (startsWith(b, "\x1f\x8b")) return "application/gzip";
    if (looksLikeSvg(b)) return "image/svg+xml";
    if (looksLikeText(b.subspan(0, std::min<size_t>(b.size(), 1024)))) {
        std::string s = lowerAscii(b.subspan(0, std::min<size_t>(b.size(), 64)));
        if (s.find("<!doctype html") != std::string::npos || s.find("<html") != std::string::npos) return "text/html";
        return "text/plain";
    }
    if (b.empty()) return "application/x-empty";
    return "application/octet-stream";
}

}  // namespace pixelmill

namespace pixelmill {

namespace {

bool internalTarget(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r' ||
                          v.front() == '"' || v.front() == '\''))
        v.remove_prefix(1);
    return v.empty() || v.front() == '#' || v.substr(0, 5) == "data:";
}

}  // namespace

std::string svgExternalReference(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("<!entity") != std::string::npos) return "an SVG that declares entities is not accepted";
    if (lower.find("<?xml-stylesheet") != std::string::npos || lower.find("@import") != std::string::npos)
        return "an SVG that imports a stylesheet is not accepted";
    // Attribute values of href, xlink:href and src.
    for (std::string_view name : {"href", "src"}) {
        for (size_t at = lower.find(name); at != std::string::npos; at = lower.find(name, at + 1)) {
            char before = at > 0 ? lower[at - 1] : ' ';
            if (std::isalnum(static_cast<unsigned char>(before)) || before == '-' || before == '_') continue;
            size_t i = at + name.size();
            while (i < lower.size() && std::isspace(static_cast<unsigned char>(lower[i]))) ++i;
            if (i >= lower.size() || lower[i] != '=') continue;
            ++i;
            while (i < lower.size() && std::isspace(static_cast<unsigned char>(lower[i]))) ++i;
            if (i >= lower.size()) break;
            char quote = lower[i];
            size_t end = quote == '"' || quote == '\'' ? lower.find(quote, i + 1) : lower.find_first_of(" >", i);
            std::string_view value = std::string_view(lower).substr(i, end == std::string::npos ? std::string::npos : end - i);
            if (!internalTarget(value))
                return "an SVG that refers to something outside itself (" + std::string(name) +
                       ") is not accepted; embed it as data: or #fragment";
        }
    }
    for (size_t at = lower.find("url("); at != std::string::npos; at = lower.find("url(", at + 1))
        if (!internalTarget(std::string_view(lower).substr(at + 4)))
            return "an SVG that refers to something outside itself (url()) is not accepted";
    return {};
}

}  // namespace pixelmill
