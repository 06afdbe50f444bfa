#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pixelmill::http {

// A streaming multipart/form-data parser (RFC 7578): bytes go in as they
// arrive from the socket, part data comes out through callbacks without the
// body ever being held whole. Errors throw ApiError 400 bad_multipart.
// Not thread-safe; one per request.
class MultipartParser {
public:
    struct Part {
        std::string name;
        std::string filename;  // empty for a plain field
        bool hasFilename = false;
        std::string contentType;
    };
    struct Callbacks {
        std::function<void(const Part&)> begin;
        std::function<void(const char*, size_t)> data;
        std::function<void()> end;
    };

    static constexpr size_t kMaxHeaderBytes = 8192;
    static constexpr size_t kMaxParts = 256;

    MultipartParser(std::string boundary, Callbacks callbacks);

    void feed(const char* data, size_t size);
    // Throws unless the closing boundary was seen.
    void finish() const;
    bool done() const { return state_ == State::Done; }

    // The boundary parameter of a multipart/form-data Content-Type, if any.
    static std::optional<std::string> boundaryOf(std::string_view contentType);

private:
    enum class State { Preamble, AfterBoundary, Headers, Body, Done };

    void parseHeaders(std::string_view block);

    std::string delimiter_;  // "\r\n--" + boundary
    Callbacks cb_;
    State state_ = State::Preamble;
    std::string buffer_;
    size_t parts_ = 0;
};

// Splits `a=1; b="x y"` header parameters; keys lower-cased.
std::optional<std::string> headerParam(std::string_view header, std::string_view key);

}  // namespace pixelmill::http
