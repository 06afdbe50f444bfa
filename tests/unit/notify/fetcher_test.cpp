// fetchSource against a real HTTP server on loopback (allow-listed, since the
// policy refuses loopback otherwise): bytes and hash, the size limit with and
// without Content-Length, redirects followed and re-checked, refused hops,
// redirect loops, error answers, dead ports and timeouts; nothing stays in
// the blob store's temp folder after a failure.
#include "notify/fetcher.h"

#include "notify/curl_support.h"

#include "common/error.h"
#include "common/log.h"
#include "common/sha256.h"
#include "store/fs/fs_blob_store.h"
#include "support/daemon.h"
#include "support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>

namespace pixelmill::notify {
namespace {

using test::HttpServer;
using test::Reply;
using Clock = std::chrono::steady_clock;

std::string randomBytes(size_t n, unsigned seed = 7) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

class FetchFixture {
public:
    FetchFixture() { log::init(log::Level::Error); }

    FsBlobStore& blobs() { return blobs_; }
    bool tmpEmpty() const { return test::filesUnder(dir_ / "tmp").empty(); }
    bool blobsEmpty() const { return test::filesUnder(dir_ / "blobs").empty(); }

    HttpServer server;
    AddressPolicy policy{false, {"127.0.0.1"}};

private:
    test::TempDir dir_{"pixelmill-fetch"};
    FsBlobStore blobs_{dir_ / "blobs", dir_ / "tmp", false};
};

ApiError fetchError(const std::string& url, const AddressPolicy& policy, BlobStore& blobs, FetchLimits limits = {}) {
    try {
        fetchSource(url, policy, blobs, limits);
    } catch (const ApiError& e) {
        return e;
    }
    FAIL("fetched without an error: " << url);
    return ApiError(0, "", "");
}

// A loopback port nothing listens on.
int deadPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE_METHOD(FetchFixture, "fetcher: the body streams into a blob writer with the URL's file name",
                 "[notify][fetch]") {
    const std::string bytes = randomBytes(300 * 1024 + 17);
    Reply reply;
    reply.headers = {{"Content-Type", "image/png"}};
    reply.body = bytes;
    server.on("/files/photo%20one.png", reply);

    Upload upload = fetchSource(server.url("/files/photo%20one.png?v=2#top"), policy, blobs());
    REQUIRE(upload.writer);
    CHECK(upload.filename == "photo one.png");
    CHECK(upload.writer->size() == bytes.size());
    CHECK(upload.writer->head() == bytes.substr(0, BlobWriter::kHeadSize));
    BlobRef ref = upload.writer->commit();
    CHECK(ref.sha256 == Sha256::hex(bytes));
    CHECK(ref.size == bytes.size());
    CHECK(test::readFile(blobs().path(ref.sha256)) == bytes);

    auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].method == "GET");
    CHECK(requests[0].target == "/files/photo%20one.png?v=2");
    CHECK_THAT(requests[0].header("user-agent"), Catch::StartsWith("pixelmill/"));
}

TEST_CASE_METHOD(FetchFixture, "fetcher: a body over the limit is 413 and leaves no temp file", "[notify][fetch]") {
    FetchLimits limits;
    limits.maxBytes = 1 << 20;

    SECTION("Content-Length says so: refused before the body") {
        Reply big;
        big.fillBytes = 64ull << 20;  // would take a while to send: proves the early refusal
        big.chunkDelay = std::chrono::milliseconds(5);
        server.on("/big", big);
        auto started = Clock::now();
        ApiError e = fetchError(server.url("/big"), policy, blobs(), limits);
        CHECK(Clock::now() - started < std::chrono::seconds(2));
        CHECK(e.status() == 413);
        CHECK(e.code() == "too_large");
        CHECK(e.field() == "source_url");
        CHECK_THAT(e.what(), Catch::Contains("1 MiB"));
    }
    SECTION("no Content-Length: refused as soon as the bytes pass the limit") {
        Reply stream;
        stream.sendContentLength = false;
        stream.fillBytes = 64ull << 20;
        server.on("/stream", stream);
        ApiError e = fetchError(server.url("/stream"), policy, blobs(), limits);
        CHECK(e.status() == 413);
        CHECK_THAT(e.what(), Catch::Contains("1 MiB"));
    }
    SECTION("exactly the limit is fine") {
        Reply exact;
        exact.fillBytes = limits.maxBytes;
        server.on("/exact", exact);
        Upload upload = fetchSource(server.url("/exact"), policy, blobs(), limits);
        CHECK(upload.writer->size() == limits.maxBytes);
        upload.writer.reset();
    }
    CHECK(tmpEmpty());
    CHECK(blobsEmpty());
}

TEST_CASE_METHOD(FetchFixture, "fetcher: a redirect chain is followed to the final file", "[notify][fetch]") {
    server.on("/a", Reply::redirect("/b"));                                  // relative
    server.on("/b", Reply::redirect(server.url("/c?x=1"), 301));             // absolute
    server.on("/c", Reply::redirect("../final/name.bin", 307));              // relative with dots
    Reply last;
    last.body = "the bytes";
    server.on("/final/name.bin", last);

    Upload upload = fetchSource(server.url("/a"), policy, blobs());
    CHECK(upload.filename == "name.bin");
    CHECK(upload.writer->size() == 9);
    auto requests = server.requests();
    REQUIRE(requests.size() == 4);
    CHECK(requests[0].path == "/a");
    CHECK(requests[1].path == "/b");
    CHECK(requests[2].target == "/c?x=1");
    CHECK(requests[3].path == "/final/name.bin");
    for (const auto& r : requests) CHECK(r.method == "GET");
}

TEST_CASE_METHOD(FetchFixture, "fetcher: every hop is checked: a redirect to a refused address is refused",
                 "[notify][fetch]") {
    HttpServer other("127.0.0.2");  // loopback too, but not allow-listed
    other.on("/x", Reply{});

    SECTION("to another loopback address") {
        server.on("/r", Reply::redirect(other.url("/x")));
        ApiError e = fetchError(server.url("/r"), policy, blobs());
        CHECK(e.status() == 400);
        CHECK(e.code() == "invalid_param");
        CHECK(e.field() == "source_url");
        CHECK_THAT(e.what(), Catch::Contains("redirected to") && Catch::Contains("127.0.0.2") &&
                                 Catch::Contains("loopback"));
    }
    SECTION("to localhost") {
        server.on("/r", Reply::redirect("http://localhost:" + std::to_string(server.port()) + "/x"));
        ApiError e = fetchError(server.url("/r"), policy, blobs());
        CHECK(e.field() == "source_url");
        CHECK_THAT(e.what(), Catch::Contains("localhost") && Catch::Contains("loopback"));
        CHECK(server.requestCount() == 1);
    }
    SECTION("to another scheme") {
        server.on("/r", Reply::redirect("file:///etc/passwd"));
        ApiError e = fetchError(server.url("/r"), policy, blobs());
        CHECK_THAT(e.what(), Catch::Contains("only http and https"));
    }
    CHECK(other.requestCount() == 0);
    CHECK(tmpEmpty());
}

TEST_CASE_METHOD(FetchFixture, "fetcher: more redirects than the limit fail", "[notify][fetch]") {
    server.on("/loop", Reply::redirect("/loop"));
    ApiError e = fetchError(server.url("/loop"), policy, blobs());
    CHECK(e.status() == 400);
    CHECK(e.field() == "source_url");
    CHECK_THAT(e.what(), Catch::Contains("redirected more than 5 times"));
    CHECK(server.requestCount() == 6);

    FetchLimits two;
    two.maxRedirects = 2;
    server.on("/1", Reply::redirect("/2"));
    server.on("/2", Reply::redirect("/3"));
    server.on("/3", Reply::redirect("/4"));
    CHECK_THAT(fetchError(server.url("/1"), policy, blobs(), two).what(), Catch::Contains("more than 2 times"));
    CHECK(server.requestCount() == 6 + 3);

    Reply noLocation;
    noLocation.status = 302;
    server.on("/nowhere", noLocation);
    CHECK_THAT(fetchError(server.url("/nowhere"), policy, blobs()).what(), Catch::Contains("without a Location"));
}

TEST_CASE_METHOD(FetchFixture, "fetcher: an error answer names its status", "[notify][fetch]") {
    ApiError e = fetchError(server.url("/missing"), policy, blobs());
    CHECK(e.status() == 400);
    CHECK(e.code() == "invalid_param");
    CHECK(e.field() == "source_url");
    CHECK(std::string(e.what()) == "source_url answered 404");

    Reply broken;
    broken.status = 500;
    broken.fillBytes = 1 << 20;  // a big error page is not read to its end
    server.on("/broken", broken);
    CHECK(std::string(fetchError(server.url("/broken"), policy, blobs()).what()) == "source_url answered 500");
    CHECK(tmpEmpty());
}

TEST_CASE_METHOD(FetchFixture, "fetcher: dead ports and slow servers fail with a clear message", "[notify][fetch]") {
    SECTION("nothing listens") {
        int port = deadPort();
        ApiError e = fetchError("http://127.0.0.1:" + std::to_string(port) + "/x", policy, blobs());
        CHECK(e.status() == 400);
        CHECK(e.field() == "source_url");
        CHECK_THAT(e.what(), Catch::StartsWith("could not connect to 127.0.0.1:" + std::to_string(port) + ": "));
    }
    SECTION("the body takes longer than the total timeout") {
        Reply slow;
        slow.fillBytes = 1 << 20;
        slow.chunkDelay = std::chrono::milliseconds(50);
        server.on("/slow", slow);
        FetchLimits limits;
        limits.totalTimeout = std::chrono::milliseconds(300);
        auto started = Clock::now();
        ApiError e = fetchError(server.url("/slow"), policy, blobs(), limits);
        CHECK(Clock::now() - started < std::chrono::seconds(2));
        CHECK_THAT(e.what(), Catch::Contains("within 0.3 s"));
    }
    CHECK(tmpEmpty());
}

TEST_CASE_METHOD(FetchFixture, "fetcher: the connection goes to the checked address, not to a new DNS answer",
                 "[notify][fetch]") {
    // The system resolver does not know files.test: only the pin can reach the server.
    AddressPolicy pinned(false, {"files.test"}, [](const std::string& host) -> std::vector<std::string> {
        if (host == "files.test") return {"127.0.0.1"};
        throw std::runtime_error("unknown");
    });
    Reply reply;
    reply.body = "pinned";
    server.on("/p.bin", reply);
    std::string url = "http://files.test:" + std::to_string(server.port()) + "/p.bin";
    Upload upload = fetchSource(url, pinned, blobs());
    CHECK(upload.writer->size() == 6);
    CHECK(upload.filename == "p.bin");
    REQUIRE(server.requestCount() == 1);
    CHECK(server.requests()[0].header("host") == "files.test:" + std::to_string(server.port()));
}

TEST_CASE_METHOD(FetchFixture, "fetcher: the socket guard refuses an address that was not checked",
                 "[notify][fetch]") {
    // The pin's second line of defence: whatever curl resolved, it may only
    // open sockets to the checked addresses. Here the pre-resolved entry is
    // swapped behind the pin's back, as a resolver bug or a bypass would.
    server.on("/x", Reply{});
    Target target;
    target.scheme = "http";
    target.host = "files.test";
    target.port = static_cast<uint16_t>(server.port());
    target.addresses = {"127.0.0.2"};
    target.url = "http://files.test:" + std::to_string(server.port()) + "/x";

    detail::Easy easy = detail::newEasy("http,https", std::chrono::seconds(2));
    detail::Pin pin(easy.get(), target);
    detail::SList swapped;
    swapped.add("files.test:" + std::to_string(server.port()) + ":127.0.0.1");
    curl_easy_setopt(easy.get(), CURLOPT_RESOLVE, swapped.get());
    curl_easy_setopt(easy.get(), CURLOPT_URL, target.url.c_str());
    CURLcode rc = curl_easy_perform(easy.get());
    CHECK(rc == CURLE_COULDNT_CONNECT);
    CHECK(pin.refusedAddress() == "127.0.0.1");
    CHECK(server.requestCount() == 0);
}

TEST_CASE("fetcher: file names come from the last path segment, decoded and without slashes", "[notify][fetch]") {
    CHECK(filenameFromUrl("http://h/a/b/photo.jpg") == "photo.jpg");
    CHECK(filenameFromUrl("http://h/a/photo%20one.jpg?x=1#f") == "photo one.jpg");
    CHECK(filenameFromUrl("http://h/a/b%2Fc.png") == "c.png");
    CHECK(filenameFromUrl("http://h/..%2F..%2Fetc%2Fpasswd") == "passwd");
    CHECK(filenameFromUrl("http://h/x/%2e%2e") == "");
    CHECK(filenameFromUrl("http://h/dir/") == "");
    CHECK(filenameFromUrl("http://h") == "");
    CHECK(filenameFromUrl("http://h/a%0Ab%00c.txt") == "abc.txt");
    CHECK(filenameFromUrl("http://h/%E2%82%AC.txt") == "\xE2\x82\xAC.txt");
}

}  // namespace pixelmill::notify
