// The few text helpers every layer shares.
#include "common/text.h"

#include <catch2/catch.hpp>

namespace pixelmill {

TEST_CASE("text: trim takes HTTP white space, or the characters given, off both ends", "[common][text]") {
    CHECK(trim(" \t a b \t ") == "a b");
    CHECK(trim("\r\nvalue\r\n") == "\r\nvalue\r\n");  // CR and LF are not optional white space in HTTP
    CHECK(trim("\r\n value \v", " \t\n\v\f\r") == "value");
    CHECK(trim("") == "");
    CHECK(trim(" \t ") == "");
    CHECK(trim("x") == "x");
}

TEST_CASE("text: lowerAscii changes ASCII letters only", "[common][text]") {
    CHECK(lowerAscii("Content-Type: MULTIPART/Form-Data") == "content-type: multipart/form-data");
    CHECK(lowerAscii("\xC3\x89T\xC3\x89") == "\xC3\x89t\xC3\x89");  // UTF-8 bytes kept
    CHECK(lowerAscii("") == "");
}

TEST_CASE("text: humanBytes keeps a whole number of a unit whole", "[common][text]") {
    CHECK(humanBytes(0) == "0 bytes");
    CHECK(humanBytes(1) == "1 byte");
    CHECK(humanBytes(1023) == "1023 bytes");
    CHECK(humanBytes(1536) == "1.5 KiB");
    CHECK(humanBytes(16 << 10) == "16 KiB");
    CHECK(humanBytes(1 << 20) == "1 MiB");
    CHECK(humanBytes(256ull << 20) == "256 MiB");
    CHECK(humanBytes(3ull << 30) == "3 GiB");
    CHECK(humanBytes(5ull << 40) == "5 TiB");
    CHECK(humanBytes(5ull << 50) == "5120 TiB");
}

}  // namespace pixelmill
