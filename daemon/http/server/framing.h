#pragma once

// HTTP/1.1 message framing as the front end applies it, before any route
// runs: the head parsed far enough to know where the body ends and who is
// asking, and a chunked body decoded as it arrives. No Pistache here: unit
// tests drive every rule directly.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pixelmill::http {

// What a request head says about framing and the caller.
struct RequestHead {
    // The request line and headers without Content-Length, Transfer-Encoding
    // and Expect: what Pistache's parser reads again for routing.
    std::string filtered;
    std::optional<uint64_t> contentLength;
    bool chunked = false;
    bool expectContinue = false;
    bool keepAlive = true;  // HTTP/1.1 unless Connection: close; HTTP/1.0 unless keep-alive
    std::string contentType;
    std::string authorization;
    std::string cookie;
    std::string host;       // " " when sent empty, "" when not sent
    std::string requestId;  // the client's X-Request-Id when sane; "" when not sent
};

// Parses a complete head: the request line, header lines, the blank line,
// every line ending in CRLF. Throws ApiError:
// - 400 for a malformed request line or header line (a name that is not a
//   token), a bare CR or LF inside a line, a folded header line, a Content-Length that is not a plain decimal
//   number or that disagrees with another, both Content-Length and
//   Transfer-Encoding, more than one Host;
// - 501 for a Transfer-Encoding whose last coding is not chunked;
// - 417 for an Expect other than 100-continue;
// - 505 for a version other than HTTP/1.0 and HTTP/1.1.
RequestHead parseRequestHead(std::string_view head);

// The client's X-Request-Id when it is sane (1 to 128 printable ASCII
// characters), else a new id.
std::string requestIdFrom(std::string_view header);

// Decodes a chunked body as its bytes arrive in pieces of any size: size
// lines (extensions ignored), data, the CRLF after each chunk's data, the
// last (zero-size) chunk, trailer lines and the blank line that ends it.
// Every line must end in CRLF; a bare LF is refused, so that no other reader
// on the way can see a different message. Throws ApiError 400 on anything
// malformed. Not thread-safe; one per request.
class ChunkedDecoder {
public:
    using Data = std::function<void(const char* data, size_t size)>;

    // Consumes bytes of `input` up to the end of the body at most, passing
    // body data to `onData`; returns how many it consumed. What follows the
    // body (a pipelined request) is left to the caller.
    size_t feed(std::string_view input, const Data& onData);
    bool done() const { return state_ == State::Done; }
    void reset();

    static constexpr size_t kMaxLine = 4096;  // a size line or trailer line, CRLF included

private:
    enum class State { Size, Data, DataEnd, Trailer, Done };
    size_t line(std::string_view input);
    void endOfLine();

    State state_ = State::Size;
    uint64_t remaining_ = 0;  // the current chunk's data bytes left
    std::string line_;        // a size or trailer line so far, or the CRLF after data
};

}  // namespace pixelmill::http
