// Every framing rule of the front end, without a socket: how a head is read
// (Content-Length forms, Transfer-Encoding, Expect, Host, line ends) and how a
// chunked body is decoded, fed whole, in two pieces or a byte at a time.
#include "common/error.h"
#include "http/server/framing.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace pixelmill::http {
namespace {

std::string head(const std::string& headers, const std::string& requestLine = "POST /v1/jobs HTTP/1.1") {
    return requestLine + "\r\n" + headers + "\r\n";
}

// The status a head is refused with; 0 when it is accepted.
int refusal(const std::string& text) {
    try {
        parseRequestHead(text);
        return 0;
    } catch (const ApiError& e) {
        return e.status();
    }
}

struct Decoded {
    std::string body;
    size_t used = 0;
    bool done = false;
};

// Feeds `input` in pieces of `piece` bytes (0: whole), as a socket might deliver it.
Decoded decode(const std::string& input, size_t piece = 0) {
    ChunkedDecoder decoder;
    Decoded out;
    auto onData = [&](const char* data, size_t size) { out.body.append(data, size); };
    size_t step = piece == 0 ? input.size() : piece;
    for (size_t at = 0; at < input.size() && !decoder.done(); at += step) {
        std::string_view slice = std::string_view(input).substr(at, step);
        size_t used = decoder.feed(slice, onData);
        out.used += used;
        if (used < slice.size()) break;  // the body ended inside this piece
    }
    out.done = decoder.done();
    return out;
}

int chunkRefusal(const std::string& input) {
    try {
        decode(input);
        return 0;
    } catch (const ApiError& e) {
        return e.status();
    }
}

}  // namespace

TEST_CASE("framing: Content-Length is one plain decimal number", "[http][framing]") {
    CHECK(parseRequestHead(head("Content-Length: 10\r\n")).contentLength == 10u);
    CHECK(parseRequestHead(head("content-length:0\r\n")).contentLength == 0u);
    CHECK(parseRequestHead(head("Content-Length: 7\r\nContent-Length: 7\r\n")).contentLength == 7u);
    CHECK_FALSE(parseRequestHead(head("")).contentLength);
    for (const char* bad : {"+10", "-1", "1 0", "0x10", "", "10, 10", "1e3", "18446744073709551616"}) {
        INFO(bad);
        CHECK(refusal(head(std::string("Content-Length: ") + bad + "\r\n")) == 400);
    }
    CHECK(refusal(head("Content-Length: 7\r\nContent-Length: 8\r\n")) == 400);
}

TEST_CASE("framing: only chunked transfer coding, and never beside Content-Length", "[http][framing]") {
    CHECK(parseRequestHead(head("Transfer-Encoding: chunked\r\n")).chunked);
    CHECK(parseRequestHead(head("Transfer-Encoding: CHUNKED\r\n")).chunked);
    CHECK(refusal(head("Transfer-Encoding: gzip\r\n")) == 501);
    CHECK(refusal(head("Transfer-Encoding: chunked, gzip\r\n")) == 501);  // chunked must be last
    CHECK(refusal(head("Transfer-Encoding: identity\r\n")) == 501);
    CHECK(refusal(head("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")) == 400);
    CHECK(refusal(head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")) == 400);
}

TEST_CASE("framing: the head's lines end in CRLF, unfolded, one Host", "[http][framing]") {
    CHECK(refusal(head("X-A: 1\nX-B: 2\r\n")) == 400);    // a bare LF inside a line
    CHECK(refusal(head("X-A: 1\rX-B: 2\r\n")) == 400);    // a bare CR
    CHECK(refusal(head("X-A: 1\r\n  continued\r\n")) == 400);  // folded
    CHECK(refusal(head("no colon here\r\n")) == 400);
    CHECK(refusal(head(": no name\r\n")) == 400);
    CHECK(refusal(head("Content-Length : 5\r\n")) == 400);  // white space before the colon
    CHECK(refusal(head("Transfer-Encoding\t: chunked\r\n")) == 400);
    CHECK(refusal(head("X(A): 1\r\n")) == 400);
    CHECK(refusal(head("X-Custom_Header.1~: ok\r\n")) == 0);
    CHECK(refusal(head("Host: a\r\nHost: b\r\n")) == 400);
    CHECK(refusal(head("", "GET /\nX HTTP/1.1")) == 400);
    CHECK(refusal(head("", "GET")) == 400);
    CHECK(refusal(head("", "GET / HTTP/2.0")) == 505);
    CHECK(refusal(head("Expect: something-else\r\n")) == 417);
    CHECK(parseRequestHead(head("Host:\r\n")).host == " ");  // sent empty is not the same as not sent
    CHECK(parseRequestHead(head("")).host.empty());
}

TEST_CASE("framing: what Pistache reads again lacks the framing headers", "[http][framing]") {
    RequestHead h = parseRequestHead(head("Host: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
                                          "Content-Type: text/plain\r\nAuthorization: Bearer t\r\nCookie: c=1\r\n"
                                          "X-Request-Id: abc\r\n"));
    CHECK(h.filtered == "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nAuthorization: Bearer t\r\n"
                        "Cookie: c=1\r\nX-Request-Id: abc\r\n\r\n");
    CHECK(h.expectContinue);
    CHECK(h.contentType == "text/plain");
    CHECK(h.authorization == "Bearer t");
    CHECK(h.cookie == "c=1");
    CHECK(h.host == "x");
    CHECK(h.requestId == "abc");
    CHECK(parseRequestHead(head("X-Request-Id: " + std::string(200, 'a') + "\r\n")).requestId.size() < 200);
}

TEST_CASE("framing: keep-alive by version and Connection", "[http][framing]") {
    CHECK(parseRequestHead(head("")).keepAlive);
    CHECK_FALSE(parseRequestHead(head("Connection: close\r\n")).keepAlive);
    CHECK_FALSE(parseRequestHead(head("", "GET / HTTP/1.0")).keepAlive);
    CHECK(parseRequestHead(head("Connection: Keep-Alive\r\n", "GET / HTTP/1.0")).keepAlive);
}

TEST_CASE("framing: a chunked body decodes the same whatever pieces it comes in", "[http][framing]") {
    const std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
    for (size_t piece : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
        INFO("pieces of " << piece);
        Decoded d = decode(body, piece);
        CHECK(d.done);
        CHECK(d.body == "hello world");
        CHECK(d.used == body.size());
    }
    CHECK(decode("A\r\n0123456789\r\n0\r\n\r\n").body == "0123456789");  // hex, either case
}

TEST_CASE("framing: a pipelined request after a chunked body is left to the caller", "[http][framing]") {
    const std::string body = "3\r\nabc\r\n0\r\n\r\n";
    const std::string next = "GET /healthz HTTP/1.1\r\n\r\n";
    for (size_t piece : {size_t{0}, size_t{1}, size_t{5}}) {
        INFO("pieces of " << piece);
        Decoded d = decode(body + next, piece);
        CHECK(d.done);
        CHECK(d.body == "abc");
        CHECK(d.used == body.size());
    }
}

TEST_CASE("framing: chunk lines end in CRLF, anything else is refused", "[http][framing]") {
    CHECK(chunkRefusal("3\nabc\r\n0\r\n\r\n") == 400);      // bare LF after the size
    CHECK(chunkRefusal("3\r\nabc\n0\r\n\r\n") == 400);      // bare LF after the data
    CHECK(chunkRefusal("3\r\nabcX\r\n0\r\n\r\n") == 400);   // data longer than its size
    CHECK(chunkRefusal("3\r\nabc\r\n0\n\r\n") == 400);      // bare LF after the last chunk
    CHECK(chunkRefusal("3\r\nabc\r\n0\r\n\n") == 400);      // bare LF as the blank line
    CHECK(chunkRefusal("3\r\r\nabc\r\n0\r\n\r\n") == 400);  // a bare CR
    CHECK(chunkRefusal("x\r\n") == 400);
    CHECK(chunkRefusal("\r\n") == 400);
    CHECK(chunkRefusal("-3\r\n") == 400);
    CHECK(chunkRefusal("1ffffffffffffffff\r\n") == 400);  // past 64 bits
    CHECK(chunkRefusal(std::string(ChunkedDecoder::kMaxLine + 1, '1')) == 400);
    CHECK(chunkRefusal("3\r\nabc\r\n0\r\n" + std::string(ChunkedDecoder::kMaxLine + 1, 'x')) == 400);
}

}  // namespace pixelmill::http
