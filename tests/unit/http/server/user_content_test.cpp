// Headers of uploaded bytes and outputs: Content-Disposition values follow
// RFC 6266, and types a browser would run are attachments.
#include "http/server/respond.h"

#include <catch2/catch.hpp>

namespace pixelmill::http {

TEST_CASE("user content: nosniff, a sandbox, and attachment for what a browser would run", "[http][respond]") {
    CHECK(contentDisposition(false, "a.png") == "inline; filename=\"a.png\"");
    CHECK(contentDisposition(true, "") == "attachment");
    CHECK(contentDisposition(true, "x\"y.svg") == "attachment; filename=\"x_y.svg\"; filename*=UTF-8''x%22y.svg");
    CHECK(contentDisposition(false, "f\xc3\xbc r.jpg") ==
          "inline; filename=\"f__ r.jpg\"; filename*=UTF-8''f%C3%BC%20r.jpg");
    CHECK(activeContentType("image/svg+xml"));
    CHECK(activeContentType("text/html; charset=utf-8"));
    CHECK(activeContentType("application/xhtml+xml"));
    CHECK_FALSE(activeContentType("image/png"));
    CHECK_FALSE(activeContentType("text/plain; charset=utf-8"));
    Headers h = userContentHeaders("image/svg+xml", "a.svg");
    CHECK(h.size() == 3);
    CHECK(h[0].second == "nosniff");
    CHECK(h[1].second == "default-src 'none'; sandbox");
    CHECK(h[2].second == "attachment; filename=\"a.svg\"");
}

}  // namespace pixelmill::http
