// MultipartParser: a body arriving in pieces of any size gives the same
// fields and file bytes; malformed bodies are bad_multipart.
#include "http/server/multipart.h"

#include "common/error.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace pixelmill::http {
namespace {

const std::string kBoundary = "----pixelmillFormBoundary7MA4YWxkTrZu0gW";

struct ParsedPart {
    MultipartParser::Part header;
    std::string data;
    bool ended = false;
};

struct Collector {
    std::vector<ParsedPart> parts;
    int begins = 0;
    int ends = 0;
    std::string error;  // a callback out of order

    MultipartParser::Callbacks callbacks() {
        return {[this](const MultipartParser::Part& p) {
                    if (!parts.empty() && !parts.back().ended) error = "begin before the previous part ended";
                    ++begins;
                    parts.push_back({p, {}, false});
                },
                [this](const char* data, size_t size) {
                    if (parts.empty() || parts.back().ended) error = "data outside a part";
                    else parts.back().data.append(data, size);
                },
                [this] {
                    if (parts.empty() || parts.back().ended) error = "end without a part";
                    else parts.back().ended = true;
                    ++ends;
                }};
    }
};

// File content that tries hard to look like the end of the part.
std::string trickyFileBytes() {
    std::string b;
    for (int i = 0; i < 256; ++i) b.push_back(static_cast<char>(i));
    b += "\r\n";
    b += "\r\n--" + kBoundary.substr(0, kBoundary.size() - 1) + "X";  // the delimiter, but for its last byte
    b += "\r\n--" + kBoundary.substr(0, 10);                         // a delimiter cut short
    b += "--" + kBoundary + "\r\n";                                   // the boundary without its CRLF
    b += "\r\n\r\n";
    b += "\r\r\n\n-\r\n--";
    b += std::string("\0\0\xff\xfe", 4);
    b += "\r\n-";  // ends like the start of a delimiter
    return b;
}

std::string realisticBody(const std::string& fileBytes) {
    std::string body;
    body += "This preamble is to be ignored.\r\n";
    body += "--" + kBoundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"plugin\"\r\n\r\n";
    body += "thumbnail\r\n";
    body += "--" + kBoundary + "\r\n";
    body += "content-disposition: form-data; name=\"size\"\r\n";
    body += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
    body += "256\r\n";
    body += "--" + kBoundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"file\"; filename=\"photo; 1.jpg\"\r\n";
    body += "Content-Type: image/jpeg\r\n\r\n";
    body += fileBytes;
    body += "\r\n--" + kBoundary + "--\r\n";
    body += "epilogue, also ignored\r\n";
    return body;
}

Collector parseInChunks(const std::string& body, size_t chunk) {
    Collector c;
    MultipartParser parser(kBoundary, c.callbacks());
    for (size_t at = 0; at < body.size(); at += chunk) parser.feed(body.data() + at, std::min(chunk, body.size() - at));
    REQUIRE(parser.done());
    REQUIRE_NOTHROW(parser.finish());
    return c;
}

template <class Fn>
void expectBadMultipart(Fn&& call) {
    try {
        call();
        FAIL_CHECK("expected ApiError bad_multipart");
    } catch (const ApiError& e) {
        CHECK(e.status() == 400);
        CHECK(e.code() == "bad_multipart");
    }
}

void feedAll(MultipartParser& parser, const std::string& body, size_t chunk) {
    for (size_t at = 0; at < body.size(); at += chunk) parser.feed(body.data() + at, std::min(chunk, body.size() - at));
}

}  // namespace

TEST_CASE("multipart: fields and file bytes are the same whatever the chunk size", "[http][multipart]") {
    const std::string fileBytes = trickyFileBytes();
    const std::string body = realisticBody(fileBytes);

    auto check = [&](const Collector& c) {
        CHECK(c.error.empty());
        REQUIRE(c.parts.size() == 3);
        CHECK(c.begins == 3);
        CHECK(c.ends == 3);
        CHECK(c.parts[0].header.name == "plugin");
        CHECK_FALSE(c.parts[0].header.hasFilename);
        CHECK(c.parts[0].data == "thumbnail");
        CHECK(c.parts[1].header.name == "size");
        CHECK(c.parts[1].header.contentType == "text/plain; charset=utf-8");
        CHECK(c.parts[1].data == "256");
        CHECK(c.parts[2].header.name == "file");
        CHECK(c.parts[2].header.hasFilename);
        CHECK(c.parts[2].header.filename == "photo; 1.jpg");
        CHECK(c.parts[2].header.contentType == "image/jpeg");
        CHECK(c.parts[2].data.size() == fileBytes.size());
        CHECK(c.parts[2].data == fileBytes);
        for (const auto& p : c.parts) CHECK(p.ended);
    };

    SECTION("one piece") { check(parseInChunks(body, body.size())); }
    SECTION("every chunk size from 1 to 64") {
        for (size_t chunk = 1; chunk <= 64; ++chunk) {
            CAPTURE(chunk);
            check(parseInChunks(body, chunk));
        }
    }
    SECTION("chunks as large as the delimiter, and one byte either side") {
        size_t d = kBoundary.size() + 4;
        for (size_t chunk : {d - 1, d, d + 1}) {
            CAPTURE(chunk);
            check(parseInChunks(body, chunk));
        }
    }
}

TEST_CASE("multipart: an empty file part and an empty field", "[http][multipart]") {
    std::string body = "--" + kBoundary + "\r\n" + "Content-Disposition: form-data; name=\"note\"\r\n\r\n" + "\r\n--" +
                       kBoundary + "\r\n" + "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n" +
                       "\r\n--" + kBoundary + "--";
    for (size_t chunk : {size_t{1}, size_t{7}, body.size()}) {
        CAPTURE(chunk);
        Collector c = parseInChunks(body, chunk);
        CHECK(c.error.empty());
        REQUIRE(c.parts.size() == 2);
        CHECK(c.parts[0].data.empty());
        CHECK(c.parts[1].header.hasFilename);
        CHECK(c.parts[1].header.filename.empty());
        CHECK(c.parts[1].data.empty());
    }
}

TEST_CASE("multipart: a body without its closing boundary is bad_multipart", "[http][multipart]") {
    const std::string body = realisticBody(trickyFileBytes());
    const std::string closing = "\r\n--" + kBoundary + "--";
    size_t closingAt = body.find(closing);
    REQUIRE(closingAt != std::string::npos);

    for (size_t cut : {size_t{0}, size_t{10}, body.find("thumbnail"), body.find("image/jpeg"), closingAt,
                       closingAt + 2 + kBoundary.size(), closingAt + closing.size() - 1}) {
        CAPTURE(cut);
        for (size_t chunk : {size_t{1}, size_t{5}, body.size()}) {
            CAPTURE(chunk);
            Collector c;
            MultipartParser parser(kBoundary, c.callbacks());
            feedAll(parser, body.substr(0, cut), chunk);
            CHECK_FALSE(parser.done());
            expectBadMultipart([&] { parser.finish(); });
        }
    }

    SECTION("a body of another boundary") {
        Collector c;
        MultipartParser parser("something-else", c.callbacks());
        parser.feed(body.data(), body.size());
        CHECK(c.parts.empty());
        expectBadMultipart([&] { parser.finish(); });
    }
}

TEST_CASE("multipart: a part without Content-Disposition is bad_multipart", "[http][multipart]") {
    const std::string noDisposition = "--" + kBoundary + "\r\n" + "Content-Type: text/plain\r\n\r\n" + "value\r\n--" +
                                      kBoundary + "--\r\n";
    const std::string noHeaders = "--" + kBoundary + "\r\n\r\n" + "value\r\n--" + kBoundary + "--\r\n";
    const std::string notFormData = "--" + kBoundary + "\r\n" + "Content-Disposition: attachment; name=\"a\"\r\n\r\n" +
                                    "value\r\n--" + kBoundary + "--\r\n";
    const std::string noName = "--" + kBoundary + "\r\n" + "Content-Disposition: form-data; filename=\"a.jpg\"\r\n\r\n" +
                               "value\r\n--" + kBoundary + "--\r\n";
    const std::string noColon = "--" + kBoundary + "\r\n" + "Content-Disposition form-data; name=\"a\"\r\n\r\n" +
                                "value\r\n--" + kBoundary + "--\r\n";
    for (const std::string* body : {&noDisposition, &noHeaders, &notFormData, &noName, &noColon}) {
        for (size_t chunk : {size_t{1}, size_t{3}, body->size()}) {
            CAPTURE(*body, chunk);
            Collector c;
            MultipartParser parser(kBoundary, c.callbacks());
            expectBadMultipart([&] {
                feedAll(parser, *body, chunk);
                parser.finish();
            });
            CHECK(c.parts.empty());
        }
    }
}

TEST_CASE("multipart: boundaryOf reads the boundary of multipart/form-data only", "[http][multipart]") {
    CHECK(MultipartParser::boundaryOf("multipart/form-data; boundary=abc123") == "abc123");
    CHECK(MultipartParser::boundaryOf("multipart/form-data; boundary=\"quoted boundary\"") == "quoted boundary");
    CHECK(MultipartParser::boundaryOf("multipart/form-data; boundary=\"a;b=c\"") == "a;b=c");
    CHECK(MultipartParser::boundaryOf("Multipart/Form-Data; charset=utf-8; BOUNDARY=XyZ") == "XyZ");
    CHECK(MultipartParser::boundaryOf("multipart/form-data;boundary=----WebKitFormBoundaryABC") ==
          "----WebKitFormBoundaryABC");
    CHECK(MultipartParser::boundaryOf("  multipart/form-data ; boundary=x") == "x");

    CHECK_FALSE(MultipartParser::boundaryOf("application/json"));
    CHECK_FALSE(MultipartParser::boundaryOf("multipart/mixed; boundary=abc"));
    CHECK_FALSE(MultipartParser::boundaryOf("application/x-www-form-urlencoded"));
    CHECK_FALSE(MultipartParser::boundaryOf("multipart/form-data"));
    CHECK_FALSE(MultipartParser::boundaryOf("multipart/form-data; boundary="));
    CHECK_FALSE(MultipartParser::boundaryOf("multipart/form-data; boundary=\"\""));
    CHECK_FALSE(MultipartParser::boundaryOf("multipart/form-data; boundary=" + std::string(201, 'b')));
    CHECK_FALSE(MultipartParser::boundaryOf(""));
}

TEST_CASE("multipart: headerParam splits header parameters", "[http][multipart]") {
    const std::string cd = "form-data; name=\"file\"; filename=\"a; b=c.jpg\"";
    CHECK(headerParam(cd, "name") == "file");
    CHECK(headerParam(cd, "filename") == "a; b=c.jpg");
    CHECK_FALSE(headerParam(cd, "size"));
    CHECK(headerParam("form-data; filename=\"x.png\"; name=\"upload\"", "name") == "upload");
    CHECK(headerParam("form-data; name=plain", "name") == "plain");
    CHECK(headerParam("form-data;  NAME = spaced ; other=1", "name") == "spaced");
    CHECK(headerParam("form-data; filename=\"say \\\"hi\\\".txt\"", "filename") == "say \"hi\".txt");
    CHECK(headerParam("form-data; name=\"\"", "name") == "");
    CHECK_FALSE(headerParam("form-data", "name"));
    CHECK_FALSE(headerParam("", "name"));
}

}  // namespace pixelmill::http
