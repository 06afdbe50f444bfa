#include "jobs/sniff.h"

#include "jobs/magic.h"

#include <cctype>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace pixelmill {
namespace {

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
    // Every search below starts where the last one ended, so the whole look is one pass.
    const size_t lastSvg = s.rfind("svg");
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
            if (lastSvg == std::string::npos || lastSvg < i) return false;
            size_t gt = s.find('>', i);
            // An internal subset opens before the first '>' (searched only that far).
            size_t end = gt == std::string::npos ? s.size() : gt;
            size_t subset = static_cast<size_t>(std::find(s.begin() + static_cast<std::ptrdiff_t>(i),
                                                          s.begin() + static_cast<std::ptrdiff_t>(end), '[') -
                                                s.begin());
            if (subset < end) {
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

char lowerAt(std::string_view t, size_t i) { return static_cast<char>(std::tolower(static_cast<unsigned char>(t[i]))); }

// `word` (lower case) at t[i], compared case-insensitively.
bool wordAt(std::string_view t, size_t i, std::string_view word) {
    if (t.size() - i < word.size()) return false;
    for (size_t k = 0; k < word.size(); ++k)
        if (lowerAt(t, i + k) != word[k]) return false;
    return true;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Whether the text from t[i] on (after url( or an attribute's =) names
// something inside the document: "#fragment", "data:" or nothing at all.
// Leading blanks and quotes are skipped; `stop` ends the value early
// (a closing quote, or " " and ">" for an unquoted attribute). Reads only
// the value's leading blanks and first five characters, so that checking
// every value of a document stays one pass over it.
bool internalTarget(std::string_view t, size_t i, char stop = 0) {
    for (; i < t.size(); ++i) {
        char c = t[i];
        if (stop == ' ' ? (c == ' ' || c == '>') : (stop && c == stop)) return true;  // empty value
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'') continue;
        return c == '#' || wordAt(t, i, "data:");
    }
    return true;
}

}  // namespace

std::string svgExternalReference(std::string_view text) {
    // One pass, case-insensitive, no copy: an upload of n bytes costs O(n)
    // whatever it holds. Findings are ranked as the messages always were.
    bool stylesheet = false, externalHref = false, externalSrc = false, externalUrl = false;
    const size_t n = text.size();
    for (size_t at = 0; at < n; ++at) {
        char c = lowerAt(text, at);
        if (c == '<') {
            if (wordAt(text, at, "<!entity")) return "an SVG that declares entities is not accepted";
            if (wordAt(text, at, "<?xml-stylesheet")) stylesheet = true;
        } else if (c == '@') {
            if (wordAt(text, at, "@import")) stylesheet = true;
        } else if (c == 'u') {
            if (!externalUrl && wordAt(text, at, "url(") && !internalTarget(text, at + 4)) externalUrl = true;
        } else if (c == 'h' || c == 's') {
            // Attribute values of href, xlink:href and src.
            std::string_view name = c == 'h' ? "href" : "src";
            bool& found = c == 'h' ? externalHref : externalSrc;
            if (found || !wordAt(text, at, name)) continue;
            char before = at > 0 ? text[at - 1] : ' ';
            if (std::isalnum(static_cast<unsigned char>(before)) || before == '-' || before == '_') continue;
            size_t i = at + name.size();
            while (i < n && isSpace(text[i])) ++i;
            if (i >= n || text[i] != '=') continue;
            ++i;
            while (i < n && isSpace(text[i])) ++i;
            if (i >= n) break;
            char quote = text[i];
            bool quoted = quote == '"' || quote == '\'';
            if (!internalTarget(text, quoted ? i + 1 : i, quoted ? quote : ' ')) found = true;
        }
    }
    if (stylesheet) return "an SVG that imports a stylesheet is not accepted";
    if (externalHref || externalSrc)
        return std::string("an SVG that refers to something outside itself (") + (externalHref ? "href" : "src") +
               ") is not accepted; embed it as data: or #fragment";
    if (externalUrl) return "an SVG that refers to something outside itself (url()) is not accepted";
    return {};
}

}  // namespace pixelmill
