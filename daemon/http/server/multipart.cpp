#include "http/server/multipart.h"

#include "common/error.h"
#include "common/text.h"

#include <algorithm>
#include <cctype>

namespace pixelmill::http {
namespace {

[[noreturn]] void bad(const std::string& message) { throw ApiError::badRequest("bad_multipart", message); }

}  // namespace

std::optional<std::string> headerParam(std::string_view header, std::string_view key) {
    size_t i = header.find(';');
    while (i != std::string_view::npos && i < header.size()) {
        ++i;
        size_t eq = header.find('=', i);
        if (eq == std::string_view::npos) return std::nullopt;
        std::string name = lowerAscii(trim(header.substr(i, eq - i)));
        size_t v = eq + 1;
        while (v < header.size() && header[v] == ' ') ++v;
        std::string value;
        size_t next;
        if (v < header.size() && header[v] == '"') {
            size_t j = v + 1;
            while (j < header.size() && header[j] != '"') {
                if (header[j] == '\\' && j + 1 < header.size()) ++j;
                value.push_back(header[j++]);
            }
            next = header.find(';', j);
        } else {
            next = header.find(';', v);
            value = std::string(trim(header.substr(v, next == std::string_view::npos ? std::string_view::npos : next - v)));
        }
        if (name == key) return value;
        i = next;
    }
    return std::nullopt;
}

std::optional<std::string> MultipartParser::boundaryOf(std::string_view contentType) {
    std::string type = lowerAscii(trim(contentType.substr(0, contentType.find(';'))));
    if (type != "multipart/form-data") return std::nullopt;
    auto b = headerParam(contentType, "boundary");
    if (!b || b->empty() || b->size() > 200) return std::nullopt;
    return b;
}

MultipartParser::MultipartParser(std::string boundary, Callbacks callbacks)
    : delimiter_("\r\n--" + boundary), cb_(std::move(callbacks)) {
    // The first boundary has no CRLF before it: pretend it had.
    buffer_ = "\r\n";
}

void MultipartParser::parseHeaders(std::string_view block) {
    Part part;
    bool disposition = false;
    while (!block.empty()) {
        size_t eol = block.find("\r\n");
        std::string_view line = block.substr(0, eol);
        block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) bad("a part header has no colon");
        std::string name = lowerAscii(trim(line.substr(0, colon)));
        std::string_view value = trim(line.substr(colon + 1));
        if (name == "content-disposition") {
            if (lowerAscii(trim(value.substr(0, value.find(';')))) != "form-data")
                bad("a part's Content-Disposition is not form-data");
            disposition = true;
            part.name = headerParam(value, "name").value_or("");
            if (auto f = headerParam(value, "filename")) {
                part.hasFilename = true;
                part.filename = *f;
            }
        } else if (name == "content-type") {
            part.contentType = std::string(value);
        }
    }
    if (!disposition) bad("a part has no Content-Disposition");
    if (part.name.empty()) bad("a part has no name");
    if (++parts_ > kMaxParts) bad("more than " + std::to_string(kMaxParts) + " parts");
    cb_.begin(part);
}

void MultipartParser::feed(const char* data, size_t size) {
    if (state_ == State::Done) return;  // the epilogue is ignored
    buffer_.append(data, size);
    for (;;) {
        switch (state_) {
            case State::Preamble: {
                size_t at = buffer_.find(delimiter_);
                if (at == std::string::npos) {
                    // Keep only what could still start a delimiter.
                    if (buffer_.size() >= delimiter_.size()) buffer_.erase(0, buffer_.size() - delimiter_.size() + 1);
                    return;
                }
                buffer_.erase(0, at + delimiter_.size());
                state_ = State::AfterBoundary;
                break;
            }
            case State::AfterBoundary: {
                if (buffer_.size() < 2) return;
                if (buffer_.compare(0, 2, "--") == 0) {
                    state_ = State::Done;
                    buffer_.clear();
                    return;
                }
                // Transport padding before the CRLF is allowed.
                size_t eol = buffer_.find("\r\n");
                if (eol == std::string::npos) {
                    if (buffer_.size() > 256) bad("garbage after a boundary");
                    return;
                }
                if (!trim(std::string_view(buffer_).substr(0, eol)).empty()) bad("garbage after a boundary");
                buffer_.erase(0, eol + 2);
                state_ = State::Headers;
                break;
            }
            case State::Headers: {
                size_t end = buffer_.find("\r\n\r\n");
                if (end == std::string::npos) {
                    if (buffer_.size() > kMaxHeaderBytes) bad("part headers are longer than 8 KiB");
                    // A part with no headers at all starts with the blank line.
                    if (buffer_.compare(0, 2, "\r\n") == 0) bad("a part has no Content-Disposition");
                    return;
                }
                parseHeaders(std::string_view(buffer_).substr(0, end));
                buffer_.erase(0, end + 4);
                state_ = State::Body;
                break;
            }
            case State::Body: {
                size_t at = buffer_.find(delimiter_);
                if (at == std::string::npos) {
                    size_t keep = delimiter_.size() - 1;
                    if (buffer_.size() > keep) {
                        size_t emit = buffer_.size() - keep;
                        cb_.data(buffer_.data(), emit);
                        buffer_.erase(0, emit);
                    }
                    return;
                }
                if (at > 0) cb_.data(buffer_.data(), at);
                cb_.end();
                buffer_.erase(0, at + delimiter_.size());
                state_ = State::AfterBoundary;
                break;
            }
            case State::Done: return;
        }
    }
}

void MultipartParser::finish() const {
    if (state_ != State::Done) bad("the multipart body ended before its closing boundary");
}

}  // namespace pixelmill::http
