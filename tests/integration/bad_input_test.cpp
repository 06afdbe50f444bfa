// Every kind of bad input gets the contract's status and a JSON error, and
// leaves the daemon healthy with nothing half-written on disk.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

using namespace pixelmill::test;

namespace {

void requireError(const Response& r, long status, const std::string& code, const std::string& field = "") {
    INFO("status " << r.status << " body " << r.body);
    REQUIRE(r.status == status);
    CHECK(r.header("content-type").find("application/json") == 0);
    auto body = r.json();
    REQUIRE(body.contains("error"));
    CHECK(body["error"]["code"] == code);
    CHECK_FALSE(body["error"]["message"].get<std::string>().empty());
    if (!field.empty()) CHECK(body["error"]["field"] == field);
}

size_t countFiles(const std::filesystem::path& dir) { return filesUnder(dir).size(); }

}  // namespace

TEST_CASE("malformed requests are answered with the contract's JSON errors") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "p.jpg", 320, 240);
    const std::string jpeg = readFile(files / "p.jpg");

    SECTION("empty body") {
        requireError(d.http().post("/v1/jobs?plugin=thumbnail", ""), 400, "missing_file", "file");
    }
    SECTION("multipart without a file field") {
        requireError(d.http().postForm("/v1/jobs", {{"plugin", "thumbnail", "", ""}, {"size", "64", "", ""}}), 400,
                     "missing_file", "file");
    }
    SECTION("the file in a field other than 'file'") {
        Response r = d.http().postForm("/v1/jobs", {{"plugin", "thumbnail", "", ""}, {"image", jpeg, "p.jpg", "image/jpeg"}});
        requireError(r, 400, "missing_file", "file");
        CHECK(r.json()["error"]["message"].get<std::string>().find("image") != std::string::npos);
    }
    SECTION("no plugin") {
        requireError(d.http().post("/v1/jobs", jpeg), 400, "invalid_param", "plugin");
    }
    SECTION("unknown plugin") {
        Response r = d.submit((files / "p.jpg").string(), "sharpen");
        requireError(r, 404, "unknown_plugin", "plugin");
    }
    SECTION("a parameter outside its schema names the field") {
        Response r = d.submit((files / "p.jpg").string(), "thumbnail", {{"size", "0"}});
        requireError(r, 400, "invalid_param", "size");
        requireError(d.submit((files / "p.jpg").string(), "thumbnail", {{"size", "big"}}), 400, "invalid_param", "size");
        requireError(d.submit((files / "p.jpg").string(), "thumbnail", {{"crop", "middle"}}), 400, "invalid_param", "crop");
        requireError(d.submit((files / "p.jpg").string(), "thumbnail", {{"sise", "64"}}), 400, "invalid_param", "sise");
        requireError(d.submit((files / "p.jpg").string(), "thumbnail", {{"priority", "high"}}), 400, "invalid_param",
                     "priority");
    }
    SECTION("numbers past a 64-bit integer are refused in JSON, not wrapped or converted") {
        // 2^64-1 once wrapped to priority -1; 1e300 as an integer parameter was an undefined conversion.
        for (const char* body : {R"({"plugin":"thumbnail","source_url":"http://127.0.0.1:9/a.jpg","priority":18446744073709551615})",
                                 R"({"plugin":"thumbnail","source_url":"http://127.0.0.1:9/a.jpg","priority":-1e300})"}) {
            INFO(body);
            requireError(d.http().post("/v1/jobs", body, "application/json"), 400, "invalid_param", "priority");
        }
        requireError(d.http().post("/v1/jobs", R"({"plugin":"thumbnail","source_url":"http://127.0.0.1:9/a.jpg","params":{"size":1e300}})",
                                   "application/json"),
                     400, "invalid_param", "size");
    }
    SECTION("the type is sniffed from the bytes, not the name or Content-Type") {
        writeFile(files / "notes.jpg", "just some text, named like a photo\n");
        Response r = d.http().postForm("/v1/jobs", {{"plugin", "thumbnail", "", ""},
                                                    {"file", readFile(files / "notes.jpg"), "notes.jpg", "image/jpeg"}});
        requireError(r, 415, "unsupported_media_type", "file");
        CHECK(r.json()["error"]["message"].get<std::string>().find("text/plain") != std::string::npos);
        // And a real JPEG labelled as text is still a JPEG.
        Response ok = d.http().postForm("/v1/jobs", {{"plugin", "thumbnail", "", ""},
                                                     {"file", jpeg, "photo.txt", "text/plain"}});
        CHECK(ok.status == 202);
    }
    SECTION("malformed multipart") {
        std::string body = "--XYZ\r\nContent-Disposition: form-data; name=\"plugin\"\r\n\r\nthumbnail\r\n--XYZ\r\n"
                           "Content-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n" +
                           jpeg;  // no closing boundary
        requireError(d.http().post("/v1/jobs", body, "multipart/form-data; boundary=XYZ"), 400, "bad_multipart");
        requireError(d.http().post("/v1/jobs", "whatever", "multipart/form-data"), 400, "bad_multipart");
    }
    SECTION("unknown routes are 404 and wrong methods 405, in JSON") {
        requireError(d.http().get("/v1/nothing-here"), 404, "not_found");
        Response r = d.http().request("PUT", "/v1/jobs", "x");
        requireError(r, 405, "method_not_allowed");
        CHECK(r.header("allow").find("POST") != std::string::npos);
        requireError(d.http().del("/v1/plugins"), 405, "method_not_allowed");
    }
    SECTION("ids are checked before any lookup") {
        requireError(d.http().get("/v1/jobs/not-an-id"), 404, "not_found");
        // An encoded separator is not a path another component could read differently.
        requireError(d.http().get("/v1/jobs/..%2f..%2fetc%2fpasswd"), 400, "invalid_path");
        requireError(d.http().get("/v1/jobs/00000000-0000-4000-8000-000000000000"), 404, "not_found");
        requireError(d.http().get("/v1/jobs/00000000-0000-4000-8000-000000000000/outputs/0"), 404, "not_found");
    }
    CHECK(d.http().get("/healthz").status == 200);
    CHECK(countFiles(d.dataDir() / "tmp") == 0);
}

TEST_CASE("a source that cannot be decoded is refused or fails, and the daemon carries on") {
    Daemon d;
    TempDir files;

    SECTION("garbage after JPEG magic bytes: 422 at submit") {
        makeGarbageJpeg(files / "garbage.jpg");
        Response r = d.submit((files / "garbage.jpg").string(), "thumbnail");
        requireError(r, 422, "unprocessable");
    }
    SECTION("a truncated JPEG: accepted (its header is fine), then the job fails with unprocessable, no retries") {
        makeTruncatedJpeg(files / "cut.jpg");
        Response r = d.submit((files / "cut.jpg").string(), "thumbnail");
        REQUIRE(r.status == 202);
        auto job = d.waitForJob(r.json()["id"]);
        CHECK(job["state"] == "failed");
        CHECK(job["error"]["code"] == "unprocessable");
        CHECK(job["attempts"] == 1);
        CHECK(job["outputs"].empty());
        Response out = d.http().get("/v1/jobs/" + job["id"].get<std::string>() + "/outputs/0");
        requireError(out, 409, "not_ready");
    }
    SECTION("a decompression bomb is refused from its header in milliseconds") {
        makePngBomb(files / "bomb.png", 50000, 50000);
        Response r = d.submit((files / "bomb.png").string(), "thumbnail");
        requireError(r, 422, "unprocessable");
        CHECK(r.json()["error"]["message"].get<std::string>().find("50000") != std::string::npos);
        CHECK(r.seconds < 1.0);
    }
    // The daemon still works.
    makeJpeg(files / "ok.jpg", 300, 200);
    Response ok = d.submit((files / "ok.jpg").string(), "thumbnail");
    REQUIRE(ok.status == 202);
    CHECK(d.waitForJob(ok.json()["id"])["state"] == "succeeded");
    CHECK(countFiles(d.dataDir() / "tmp") == 0);
}

TEST_CASE("an upload over --max-upload-bytes gets 413 and leaves nothing on disk") {
    Daemon d(DaemonOptions{.args = {"--max-upload-bytes", "1MiB"}});
    TempDir files;
    std::string big(3 << 20, 'x');
    big[0] = '\x89';  // not text, not anything known
    writeFile(files / "big.bin", big);

    Response multipart = d.http().postFile("/v1/jobs", "file", (files / "big.bin").string(), {{"plugin", "slow", "", ""}});
    requireError(multipart, 413, "too_large");
    CHECK(multipart.json()["error"]["message"].get<std::string>().find("1 MiB") != std::string::npos);

    Response raw = d.http().post("/v1/jobs?plugin=slow", big);
    requireError(raw, 413, "too_large");

    // Chunked, so the size is only known while reading.
    Response chunked = d.http().post("/v1/jobs?plugin=slow", big, "application/octet-stream",
                                     {"Transfer-Encoding: chunked"});
    requireError(chunked, 413, "too_large");

    CHECK(countFiles(d.dataDir() / "tmp") == 0);
    CHECK(countFiles(d.dataDir() / "blobs") == 0);
    CHECK(d.http().get("/healthz").status == 200);

    // Just under the limit is fine.
    writeFile(files / "ok.txt", std::string(1000 * 1000, 'a'));
    CHECK(d.http().postFile("/v1/jobs", "file", (files / "ok.txt").string(),
                            {{"plugin", "slow", "", ""}, {"ms", "0", "", ""}})
              .status == 202);
}

TEST_CASE("HTTP framing: Expect: 100-continue, chunked bodies, oversized heads, keep-alive") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "p.jpg", 640, 480);
    std::string jpeg = readFile(files / "p.jpg");

    SECTION("100 Continue is sent before the body, then the job is accepted") {
        std::string head = "POST /v1/jobs?plugin=thumbnail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                           "Content-Length: " + std::to_string(jpeg.size()) + "\r\nExpect: 100-continue\r\n\r\n";
        std::string reply = rawExchange(d.port(), head, 500);
        CHECK(reply.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
    }
    SECTION("a chunked raw body") {
        Response r = d.http().post("/v1/jobs?plugin=thumbnail&size=32", jpeg, "image/jpeg", {"Transfer-Encoding: chunked"});
        REQUIRE(r.status == 202);
        CHECK(r.json()["original"]["size_bytes"] == jpeg.size());
    }
    SECTION("a request head over 16 KiB is refused with 431") {
        std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
        std::string reply = rawExchange(d.port(), head, 1000);
        CHECK(reply.rfind("HTTP/1.1 431", 0) == 0);
        CHECK(reply.find("headers_too_large") != std::string::npos);
    }
    SECTION("two requests on one connection") {
        std::string two = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /v1/plugins HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        std::string reply = rawExchange(d.port(), two, 1000);
        CHECK(reply.find("HTTP/1.1 200") != std::string::npos);
        CHECK(reply.find("\"plugins\"") != std::string::npos);
    }
    CHECK(d.http().get("/healthz").status == 200);
}
