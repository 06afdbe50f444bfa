// Bytes a client uploaded, and plugin outputs, are served so that a browser
// runs nothing of them: nosniff, a sandbox CSP, attachment for SVG and HTML,
// RFC 6266 file names.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

using namespace pixelmill::test;

TEST_CASE("uploaded bytes and outputs are served so that a browser runs nothing of them") {
    TempDir dir;
    Daemon d;
    HttpClient& http = d.http();
    initVips();
    makePng(dir / "a.png", 64, 48);
    std::string png = readFile(dir / "a.png");
    const std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\" onload=\"alert(1)\">"
                            "<rect width=\"10\" height=\"10\"/></svg>";

    auto isSafe = [](const Response& r) {
        CHECK(r.header("x-content-type-options") == "nosniff");
        CHECK(r.header("content-security-policy") == "default-src 'none'; sandbox");
    };

    Response svgOriginal = http.postForm("/v1/originals", {{"file", svg, "\xc3\xa9vil.svg", "image/svg+xml"}});
    REQUIRE(svgOriginal.status == 201);
    std::string svgId = svgOriginal.json()["id"];
    Response served = http.get("/v1/originals/" + svgId + "/content");
    REQUIRE(served.status == 200);
    isSafe(served);
    CHECK(served.header("content-disposition") ==
          "attachment; filename=\"__vil.svg\"; filename*=UTF-8''%C3%A9vil.svg");

    Response pngOriginal = http.post("/v1/originals?filename=a.png", png, "image/png");
    REQUIRE(pngOriginal.status == 201);
    Response pngServed = http.get("/v1/originals/" + pngOriginal.json()["id"].get<std::string>() + "/content");
    isSafe(pngServed);
    CHECK(pngServed.header("content-disposition") == "inline; filename=\"a.png\"");

    Response job = http.post("/v1/jobs?plugin=thumbnail&size=32&wait=30", png, "image/png");
    REQUIRE((job.status == 202 || job.status == 200));
    std::string id = job.json()["id"];
    Response done = http.get("/v1/jobs/" + id + "?wait=30");
    REQUIRE(done.json()["state"] == "succeeded");
    Response output = http.get(done.json()["outputs"][0]["url"].get<std::string>());
    REQUIRE(output.status == 200);
    isSafe(output);
    CHECK(output.header("content-disposition").rfind("inline; filename=\"", 0) == 0);
    Response original = http.get("/v1/jobs/" + id + "/original");
    REQUIRE(original.status == 200);
    isSafe(original);
    CHECK(original.header("content-disposition") == "inline; filename=\"a.png\"");  // the name it was first stored with

    // The compat routes serve the same bytes the same way.
    Response image = http.get("/image/" + id);
    if (image.status == 200) isSafe(image);
    Response imageOriginal = http.get("/image/" + id + "/original");
    if (imageOriginal.status == 200) isSafe(imageOriginal);
}
