// Share link tokens: what sign() makes, verify() gives back under the same
// secret and refuses in every other case (another secret, a changed byte,
// a cut or lengthened token, characters outside base64url); and the secret
// file made once, 0600, and read back at the next start.
#include "jobs/share_links.h"

#include "common/ids.h"
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <thread>
#include <vector>

using namespace pixelmill;

namespace {

const std::string kSecret = "0123456789abcdef-a-test-secret";

ShareLink someLink() { return ShareLink{newId(), 7, 1'800'000'000'123}; }

bool isBase64Url(const std::string& s) {
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    return true;
}

}  // namespace

TEST_CASE("a signed link verifies under its secret and names what was signed", "[share_link]") {
    ShareLinks links(kSecret);
    ShareLink link = someLink();
    std::string token = links.sign(link);
    CHECK(token.size() == ShareLinks::kTokenChars);
    CHECK(isBase64Url(token));
    auto back = links.verify(token);
    REQUIRE(back);
    CHECK(back->jobId == link.jobId);
    CHECK(back->outputIndex == 7);
    CHECK(back->expiresAtMs == link.expiresAtMs);
    CHECK_FALSE(back->expired(link.expiresAtMs - 1));
    CHECK(back->expired(link.expiresAtMs));

    // The largest index and a UUID of all ones survive the trip too.
    ShareLink edge{"ffffffff-ffff-4fff-bfff-ffffffffffff", UINT32_MAX, 1};
    auto edgeBack = links.verify(links.sign(edge));
    REQUIRE(edgeBack);
    CHECK(edgeBack->jobId == edge.jobId);
    CHECK(edgeBack->outputIndex == UINT32_MAX);

    // Another link, another token; the same link, the same token.
    CHECK(links.sign(someLink()) != token);
    CHECK(links.sign(link) == token);
}

TEST_CASE("a token under another secret, or changed anywhere, is refused", "[share_link]") {
    ShareLinks links(kSecret);
    std::string token = links.sign(someLink());
    CHECK_FALSE(ShareLinks("another-secret-of-32-characters!").verify(token));

    // Every character changed to another of the alphabet: no token verifies.
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < token.size(); ++i) {
        std::string forged = token;
        forged[i] = alphabet[(alphabet.find(token[i]) + 1 + i % 63) % alphabet.size()];  // never itself
        INFO("position " << i << ": " << forged);
        CHECK_FALSE(links.verify(forged));
    }
}

TEST_CASE("truncated, overlong and garbage tokens are refused", "[share_link]") {
    ShareLinks links(kSecret);
    std::string token = links.sign(someLink());
    for (size_t n : {size_t{0}, size_t{1}, size_t{40}, token.size() - 1}) {
        INFO("first " << n << " characters");
        CHECK_FALSE(links.verify(token.substr(0, n)));
    }
    CHECK_FALSE(links.verify(token + "A"));
    CHECK_FALSE(links.verify(token + token));
    CHECK_FALSE(links.verify(std::string(1 << 20, 'A')));
    CHECK_FALSE(links.verify(std::string(ShareLinks::kTokenChars, 'A')));
    // Padding, the standard alphabet's + and /, percent-encoding, NUL, spaces.
    std::vector<std::string> garbage = {token.substr(0, 80) + "==", token.substr(0, 81) + "+",
                                        token.substr(0, 81) + "/", token.substr(0, 79) + "%41",
                                        token.substr(0, 81) + std::string(1, '\0'), " " + token.substr(1),
                                        token.substr(0, 81) + "."};
    for (const std::string& g : garbage) {
        INFO(g);
        CHECK(g.size() == ShareLinks::kTokenChars);
        CHECK_FALSE(links.verify(g));
    }
    // A last character whose unused low bits are set decodes to the same
    // bytes: only the canonical spelling is the link.
    std::string lastBits = token;
    REQUIRE(std::string("AQgw").find(token.back()) != std::string::npos);  // 2 bits of data, 4 zero bits
    lastBits.back() = static_cast<char>(lastBits.back() + 1);
    CHECK_FALSE(links.verify(lastBits));
    // Version 2 in the first byte.
    CHECK_FALSE(links.verify("Ag" + token.substr(2)));
}

TEST_CASE("secrets shorter than 16 characters and job ids that are not UUIDs are refused", "[share_link]") {
    CHECK_THROWS_AS(ShareLinks("short"), std::invalid_argument);
    CHECK_THROWS_AS(ShareLinks(""), std::invalid_argument);
    ShareLinks links(kSecret);
    CHECK_THROWS_AS(links.sign(ShareLink{"not-an-id", 0, 1}), std::invalid_argument);
    CHECK_THROWS_AS(links.sign(ShareLink{"5D0F3C1E-8A4B-4C2D-9E6F-0A1B2C3D4E5F", 0, 1}), std::invalid_argument);
}

TEST_CASE("the link secret is made once, mode 0600, and read back afterwards", "[share_link]") {
    test::TempDir dir;
    auto file = dir / "link-secret";
    std::string first = loadOrCreateLinkSecret(file);
    CHECK(first.size() == 64);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(loadOrCreateLinkSecret(file) == first);
    // Nothing of the temporary file is left beside it.
    CHECK(test::filesUnder(dir.path()).size() == 1);

    // Starts racing on an empty folder agree on one secret.
    test::TempDir raced;
    std::vector<std::string> seen(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < seen.size(); ++i)
        threads.emplace_back([&, i] { seen[i] = loadOrCreateLinkSecret(raced / "link-secret"); });
    for (auto& t : threads) t.join();
    for (const std::string& s : seen) CHECK(s == seen.front());

    // A secret put there by hand is used as written; one too short is refused.
    test::writeFile(dir / "given", "  a-secret-an-operator-chose\n");
    CHECK(loadOrCreateLinkSecret(dir / "given") == "a-secret-an-operator-chose");
    test::writeFile(dir / "short", "tiny\n");
    CHECK_THROWS_AS(loadOrCreateLinkSecret(dir / "short"), std::runtime_error);
}
