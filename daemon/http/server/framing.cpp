#include "http/server/framing.h"

#include "common/error.h"
#include "common/ids.h"
#include "common/text.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace pixelmill::http {

namespace {

[[noreturn]] void malformed(const std::string& message) { throw ApiError::badRequest("bad_request", message); }

// A header name is a token (RFC 9110): no white space before the colon, which
// one reader might trim and another not.
bool isToken(std::string_view name) {
    static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
    for (char c : name) {
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && kSymbols.find(c) == std::string_view::npos) return false;
    }
    return !name.empty();
}

// One header that frames the body or names the caller; false for any other,
// which then goes on to Pistache unchanged.
bool readFramingHeader(RequestHead& out, std::string_view name, std::string_view value) {
    if (iequals(name, "content-length")) {
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || p != value.data() + value.size() || value.empty())
            malformed("Content-Length is not a number");
        if (out.contentLength && *out.contentLength != n) malformed("conflicting Content-Length headers");
        out.contentLength = n;
        return true;
    }
    if (iequals(name, "transfer-encoding")) {
        size_t comma = value.rfind(',');
        std::string_view last = trim(value.substr(comma == std::string_view::npos ? 0 : comma + 1));
        if (!iequals(last, "chunked"))
            throw ApiError(501, "not_implemented", "only chunked transfer coding is understood");
        out.chunked = true;
        return true;
    }
    if (iequals(name, "expect")) {
        if (!iequals(value, "100-continue"))
            throw ApiError(417, "expectation_failed", "only Expect: 100-continue is understood");
        out.expectContinue = true;
        return true;
    }
    return false;
}

// The headers the front end reads and still passes on.
void readCallerHeader(RequestHead& out, std::string_view name, std::string_view value) {
    if (iequals(name, "connection")) {
        if (iequals(value, "close")) out.keepAlive = false;
        else if (iequals(value, "keep-alive")) out.keepAlive = true;
    }
    if (iequals(name, "content-type")) out.contentType.assign(value);
    if (iequals(name, "authorization")) out.authorization.assign(value);
    if (iequals(name, "cookie")) out.cookie.assign(value);
    if (iequals(name, "x-request-id")) out.requestId = requestIdFrom(value);
    if (iequals(name, "host")) {
        if (!out.host.empty()) malformed("more than one Host header");
        out.host.assign(value.empty() ? " " : value);
    }
}

// The request line: METHOD SP target SP version.
void readRequestLine(RequestHead& out, std::string_view line) {
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) malformed("malformed request line");
    std::string_view version = line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        throw ApiError(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
    out.keepAlive = version == "HTTP/1.1";
    out.filtered.assign(line);
    out.filtered.append("\r\n");
}

}  // namespace

RequestHead parseRequestHead(std::string_view head) {
    RequestHead out;
    bool first = true;
    while (!head.empty()) {
        size_t end = head.find("\r\n");
        std::string_view line = head.substr(0, end);
        head = end == std::string_view::npos ? std::string_view() : head.substr(end + 2);
        if (line.find_first_of("\r\n") != std::string_view::npos) malformed("a bare CR or LF in the request head");
        if (first) {
            readRequestLine(out, line);
            first = false;
            continue;
        }
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') malformed("folded header lines are not accepted");
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) malformed("malformed header line");
        std::string_view name = line.substr(0, colon);
        if (!isToken(name)) malformed("a header name that is not a token (white space before the colon?)");
        std::string_view value = trim(line.substr(colon + 1));
        if (readFramingHeader(out, name, value)) continue;
        readCallerHeader(out, name, value);
        out.filtered.append(line);
        out.filtered.append("\r\n");
    }
    if (first) malformed("malformed request line");
    if (out.chunked && out.contentLength) malformed("both Content-Length and Transfer-Encoding were sent");
    out.filtered.append("\r\n");
    return out;
}

std::string requestIdFrom(std::string_view header) {
    bool sane = !header.empty() && header.size() <= 128 &&
                std::all_of(header.begin(), header.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    return sane ? std::string(header) : newId();
}

void ChunkedDecoder::reset() {
    state_ = State::Size;
    remaining_ = 0;
    line_.clear();
}

size_t ChunkedDecoder::feed(std::string_view input, const Data& onData) {
    size_t used = 0;
    while (used < input.size() && state_ != State::Done) {
        std::string_view rest = input.substr(used);
        switch (state_) {
            case State::Size:
            case State::Trailer: used += line(rest); break;
            case State::Data: {
                size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
                onData(rest.data(), take);
                used += take;
                remaining_ -= take;
                if (remaining_ == 0) state_ = State::DataEnd;
                break;
            }
            case State::DataEnd: {  // the CRLF after a chunk's data
                size_t take = std::min(rest.size(), 2 - line_.size());
                line_.append(rest.data(), take);
                used += take;
                if (line_.size() < 2) break;
                if (line_ != "\r\n") malformed("malformed chunk");
                line_.clear();
                state_ = State::Size;
                break;
            }
            case State::Done: break;
        }
    }
    return used;
}

// Takes bytes of a size or trailer line; at its LF, acts on the line.
size_t ChunkedDecoder::line(std::string_view input) {
    const char* lf = static_cast<const char*>(std::memchr(input.data(), '\n', input.size()));
    size_t take = lf ? static_cast<size_t>(lf - input.data()) + 1 : input.size();
    line_.append(input.data(), take);
    if (line_.size() > kMaxLine) malformed("a chunk header is too long");
    if (lf) endOfLine();
    return take;
}

void ChunkedDecoder::endOfLine() {
    if (line_.size() < 2 || line_[line_.size() - 2] != '\r') malformed("a chunk line must end in CRLF");
    std::string_view text(line_.data(), line_.size() - 2);
    if (text.find('\r') != std::string_view::npos) malformed("a bare CR in a chunk line");
    if (state_ == State::Trailer) {
        if (text.empty()) state_ = State::Done;
        line_.clear();
        return;
    }
    std::string_view hex = trim(text.substr(0, text.find(';')));
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), n, 16);
    if (ec != std::errc() || p != hex.data() + hex.size() || hex.empty()) malformed("malformed chunk size");
    line_.clear();
    if (n == 0) {
        state_ = State::Trailer;
    } else {
        remaining_ = n;
        state_ = State::Data;
    }
}

}  // namespace pixelmill::http
