// pdf2png.so through its C ABI with a recording fake host (plugin_harness.hpp):
// outputs, order, sizes, progress, parallel tasks, stop checks and limits.
#include "page_ranges.hpp"
#include "support/pdf_writer.h"
#include "plugin_harness.hpp"
#include "support/png_check.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <random>

using namespace pixelmill::pdf2png::test;
using pixelmill::test::readFile;
using pixelmill::test::sourceDir;

namespace {

std::string fixture(const std::string& name) {
    return readFile(sourceDir() / "plugins" / "pdf2png" / "tests" / "fixtures" / name);
}

// Progress reports: the total never changes, done never goes back, and the
// last report is done == total.
void checkProgress(const std::vector<std::pair<uint32_t, uint32_t>>& progress, uint32_t total) {
    REQUIRE_FALSE(progress.empty());
    uint32_t last = 0;
    for (const auto& [done, t] : progress) {
        CHECK(t == total);
        CHECK(done >= last);
        last = done;
    }
    CHECK(progress.back().first == total);
}

}  // namespace

TEST_CASE("the plugin describes itself: name, version, accepts and a schema with defaults") {
    const pm_plugin& p = plugin();
    CHECK(p.abi_version == PIXELMILL_PLUGIN_ABI_VERSION);
    CHECK(std::string(p.name) == "pdf2png");
    CHECK(std::string(p.version) == "1.0.0");
    REQUIRE(p.accepts[0] != nullptr);
    CHECK(std::string(p.accepts[0]) == "application/pdf");
    CHECK(p.accepts[1] == nullptr);
    CHECK(p.probe != nullptr);

    auto schema = nlohmann::json::parse(p.params_schema);
    CHECK(schema["type"] == "object");
    CHECK(schema["additionalProperties"] == false);
    auto& props = schema["properties"];
    CHECK(props["dpi"]["type"] == "integer");
    CHECK(props["dpi"]["minimum"] == 18);
    CHECK(props["dpi"]["maximum"] == 600);
    CHECK(props["dpi"]["default"] == 72);
    CHECK(props["pages"]["default"] == "all");
    CHECK(props["pages"]["maxLength"] == pixelmill::pdf2png::kMaxSpecLength);
    // The host checks the same grammar that page_ranges.hpp parses.
    CHECK(props["pages"]["pattern"] == pixelmill::pdf2png::kSchemaPattern);
    CHECK(props["max_pages"]["minimum"] == 1);
    CHECK(props["max_pages"]["default"] == 1000);
}

TEST_CASE("every page becomes a PNG in page order, with its own size and content") {
    std::string pdf = makePdf(mixedPages());
    FakeHost host;
    Result r = host.process(pdf, {{"dpi", "72"}, {"pages", "all"}, {"max_pages", "1000"}});
    REQUIRE(r.status == PM_OK);
    auto outputs = host.outputs();
    REQUIRE(outputs.size() == 4);
    const int sizes[4][2] = {{612, 792}, {842, 595}, {300, 200}, {300, 400}};
    for (uint32_t i = 0; i < 4; ++i) {
        INFO("output " << i);
        REQUIRE(outputs.count(i));
        const RecordedOutput& o = outputs[i];
        CHECK(o.name == "page-" + std::to_string(i + 1) + ".png");
        CHECK(o.mediaType == "image/png");
        CHECK(o.width == sizes[i][0]);
        CHECK(o.height == sizes[i][1]);
        DecodedPng png = decodePng(o.bytes);
        CHECK(png.loader == "pngload_buffer");
        CHECK(png.width == sizes[i][0]);
        CHECK(png.height == sizes[i][1]);
        CHECK(png.bands == 3);  // opaque pages: RGB, no alpha
        CHECK(looksLikePage(png, mixedPages()[i]));
    }
    checkProgress(host.progress(), 4);
    CHECK(host.progress().front() == std::make_pair(0u, 4u));
}

TEST_CASE("144 dpi doubles every side, 18 dpi quarters it") {
    std::string pdf = makePdf(mixedPages());
    const int points[4][2] = {{612, 792}, {842, 595}, {300, 200}, {300, 400}};
    for (int dpi : {144, 18}) {
        INFO("dpi " << dpi);
        FakeHost host;
        REQUIRE(host.process(pdf, {{"dpi", std::to_string(dpi)}}).status == PM_OK);
        auto outputs = host.outputs();
        REQUIRE(outputs.size() == 4);
        for (uint32_t i = 0; i < 4; ++i) {
            DecodedPng png = decodePng(outputs[i].bytes);
            CHECK(std::abs(png.width - points[i][0] * dpi / 72) <= 1);
            CHECK(std::abs(png.height - points[i][1] * dpi / 72) <= 1);
            CHECK(outputs[i].width == png.width);
            CHECK(outputs[i].height == png.height);
            CHECK(looksLikePage(png, mixedPages()[i]));
        }
    }
}

TEST_CASE("a page subset keeps document numbers in the names and document order in the indices") {
    std::string pdf = makePdf(mixedPages());
    struct Case {
        const char* pages;
        std::vector<int> expected;
    };
    for (const Case& c : {Case{"2", {2}}, Case{"1-2", {1, 2}}, Case{"3,1", {1, 3}}, Case{"4,2-3,2", {2, 3, 4}},
                          Case{"3-", {3, 4}}}) {
        INFO("pages=" << c.pages);
        FakeHost host;
        REQUIRE(host.process(pdf, {{"pages", c.pages}}).status == PM_OK);
        auto outputs = host.outputs();
        REQUIRE(outputs.size() == c.expected.size());
        for (uint32_t i = 0; i < c.expected.size(); ++i) {
            int page = c.expected[i];
            CHECK(outputs[i].name == "page-" + std::to_string(page) + ".png");
            CHECK(looksLikePage(decodePng(outputs[i].bytes), mixedPages()[static_cast<size_t>(page - 1)]));
        }
        checkProgress(host.progress(), static_cast<uint32_t>(c.expected.size()));
    }
}

TEST_CASE("a page beyond the document is an invalid parameter, and nothing is rendered") {
    std::string pdf = makePdf(mixedPages());
    FakeHost host;
    Result r = host.process(pdf, {{"pages", "1,9"}});
    CHECK(r.status == PM_INVALID_PARAM);
    CHECK(r.message == "page 9 is beyond the document's 4 pages");
    CHECK(host.outputs().empty());

    FakeHost backwards;
    r = backwards.process(pdf, {{"pages", "3-2"}});
    CHECK(r.status == PM_INVALID_PARAM);
    CHECK_THAT(r.message, Catch::Contains("runs backwards"));
}

TEST_CASE("more pages than max_pages or the host's cap is refused before rendering") {
    std::string pdf = makePdf(mixedPages());
    SECTION("the job's max_pages") {
        FakeHost host;
        Result r = host.process(pdf, {{"max_pages", "3"}});
        CHECK(r.status == PM_UNPROCESSABLE);
        CHECK_THAT(r.message, Catch::Contains("selects 4 pages; the limit is 3"));
        CHECK(host.outputs().empty());
        FakeHost subset;
        CHECK(subset.process(pdf, {{"max_pages", "3"}, {"pages", "2-4"}}).status == PM_OK);
        CHECK(subset.outputs().size() == 3);
    }
    SECTION("the host's max_pages caps a larger max_pages") {
        FakeHost host;
        host.maxPages = 2;
        Result r = host.process(pdf, {{"max_pages", "1000"}});
        CHECK(r.status == PM_UNPROCESSABLE);
        CHECK_THAT(r.message, Catch::Contains("selects 4 pages; the limit is 2"));
        CHECK(host.outputs().empty());
    }
}

TEST_CASE("a page over the pixel limit at the requested dpi is refused before anything renders") {
    std::string pdf = makePdf(mixedPages());
    FakeHost host;
    host.maxPixels = 842 * 595 - 1;  // page 2 at 72 dpi is one pixel too many
    Result r = host.process(pdf, {});
    CHECK(r.status == PM_UNPROCESSABLE);
    CHECK(r.message == "page 2 is 842x595 pixels at 72 dpi = 500990 pixels; the limit is 500989");
    CHECK(host.outputs().empty());  // not even page 1

    FakeHost fits;
    fits.maxPixels = 842 * 595 - 1;
    CHECK(fits.process(pdf, {{"pages", "1,3-4"}}).status == PM_OK);
    CHECK(fits.outputs().size() == 3);

    FakeHost highDpi;
    highDpi.maxPixels = 612 * 792;  // page 1 fits at 72 dpi, not at 73
    r = highDpi.process(pdf, {{"dpi", "73"}, {"pages", "1"}});
    CHECK(r.status == PM_UNPROCESSABLE);
    CHECK_THAT(r.message, Catch::StartsWith("page 1 is 621x803 pixels at 73 dpi"));
}

TEST_CASE("gigantic page boxes are refused even by a host without a pixel limit") {
    // 14400 points is the largest page PDF allows: 120000 pixels a side at 600 dpi.
    std::string big = makePdf({{14400, 14400, 0, {1, 0, 0}, 0}});
    FakeHost host;
    host.maxPixels = 0;
    Result r = host.process(big, {{"dpi", "600"}});
    CHECK(r.status == PM_UNPROCESSABLE);
    CHECK_THAT(r.message, Catch::StartsWith("page 1 is 120000x120000 pixels at 600 dpi"));
    // A box no real page has must not overflow anything either.
    FakeHost absurd;
    r = absurd.process(makePdf({{1e30, 1e30, 0, {1, 0, 0}, 0}}), {});
    CHECK(r.status == PM_UNPROCESSABLE);
    CHECK(absurd.outputs().empty());
}

TEST_CASE("pages render in parallel tasks, each page exactly once") {
    auto pages = letterPages(12, 10);
    std::string pdf = makePdf(pages);
    FakeHost host;
    host.threads = 3;
    REQUIRE(host.process(pdf, {{"dpi", "50"}}).status == PM_OK);
    CHECK(host.parallelForCalls() == 1);
    CHECK(host.taskThreads().size() == 3);
    auto outputs = host.outputs();
    REQUIRE(outputs.size() == 12);
    std::set<std::thread::id> producers;
    for (uint32_t i = 0; i < 12; ++i) {
        CHECK(outputs[i].name == "page-" + std::to_string(i + 1) + ".png");
        CHECK(looksLikePage(decodePng(outputs[i].bytes), pages[i]));
        producers.insert(outputs[i].thread);
    }
    CHECK(producers.size() > 1);  // outputs are added from the tasks, as each page finishes
    checkProgress(host.progress(), 12);
    CHECK(host.progress().size() == 13);  // 0/12, then one report per page
}

TEST_CASE("a stop request ends the job between pages with PM_CANCELED") {
    std::string pdf = makePdf(letterPages(30, 5));
    FakeHost host;
    host.stopAfterOutputs = 2;
    Result r = host.process(pdf, {{"dpi", "40"}});
    CHECK(r.status == PM_CANCELED);
    size_t made = host.outputs().size();
    CHECK(made >= 2);
    CHECK(made <= 2 + host.threads);  // pages already under way may finish, no more start
}

TEST_CASE("pages look like pdftoppm's at the same dpi (antialiased, white paper)") {
    if (std::system("pdftoppm -v > /dev/null 2>&1") != 0) {
        WARN("pdftoppm (poppler-utils) is not installed: nothing to compare with");
        return;
    }
    pixelmill::test::TempDir dir;
    std::string pdf = makePdf(mixedPages());
    pixelmill::test::writeFile(dir / "in.pdf", pdf);
    std::string command = "pdftoppm -r 100 -png " + (dir / "in.pdf").string() + " " + (dir / "ref").string();
    REQUIRE(std::system(command.c_str()) == 0);
    FakeHost host;
    REQUIRE(host.process(pdf, {{"dpi", "100"}}).status == PM_OK);
    auto outputs = host.outputs();
    REQUIRE(outputs.size() == 4);
    for (uint32_t i = 0; i < 4; ++i) {
        INFO("page " << i + 1);
        DecodedPng ours = decodePng(outputs[i].bytes);
        DecodedPng reference = decodePng(readFile(dir / ("ref-" + std::to_string(i + 1) + ".png")));
        REQUIRE(ours.width == reference.width);
        REQUIRE(ours.height == reference.height);
        double difference = (ours.image.cast(VIPS_FORMAT_INT) - reference.image.cast(VIPS_FORMAT_INT)).abs().avg();
        CHECK(difference < 0.5);  // the same renderer and settings: identical in practice
    }
}

TEST_CASE("probe gives the page count without sizes") {
    FakeHost host;
    pm_probe_result probe{};
    REQUIRE(host.probe(makePdf(mixedPages()), probe).status == PM_OK);
    CHECK(probe.pages == 4);
    CHECK(probe.width == -1);
    CHECK(probe.height == -1);
    REQUIRE(host.probe(makePdf(letterPages(1, 0)), probe).status == PM_OK);
    CHECK(probe.pages == 1);
}

TEST_CASE("an encrypted PDF is refused by probe and by process, with a clear message") {
    std::string pdf = fixture("encrypted.pdf");
    REQUIRE(pdf.size() > 100);
    FakeHost host;
    pm_probe_result probe{};
    Result p = host.probe(pdf, probe);
    CHECK(p.status == PM_UNPROCESSABLE);
    CHECK_THAT(p.message, Catch::StartsWith("the PDF is encrypted"));
    Result r = host.process(pdf, {});
    CHECK(r.status == PM_UNPROCESSABLE);
    CHECK_THAT(r.message, Catch::StartsWith("the PDF is encrypted"));
    CHECK(host.outputs().empty());
}

TEST_CASE("a PDF with only an owner password opens and renders, as in any viewer") {
    FakeHost host;
    REQUIRE(host.process(fixture("owner-password-only.pdf"), {}).status == PM_OK);
    auto outputs = host.outputs();
    REQUIRE(outputs.size() == 1);
    DecodedPng png = decodePng(outputs[0].bytes);
    CHECK(png.width == 200);
    CHECK(png.height == 100);
    CHECK(isColour(png.at(50, 50), Rgb{0.5, 0.5, 0.5}));
}

TEST_CASE("truncated and garbage PDFs fail fast as unprocessable") {
    std::string whole = makePdf(mixedPages());
    std::vector<std::pair<std::string, std::string>> broken = {
        {"truncated", truncated(whole)},
        {"header only", "%PDF-1.7\n"},
        {"garbage", "%PDF-1.4\n" + std::string(4000, '\x9c')},
        {"no pages", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] "
                     "/Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"},
    };
    for (const auto& [what, pdf] : broken) {
        INFO(what);
        FakeHost host;
        pm_probe_result probe{};
        CHECK(host.probe(pdf, probe).status == PM_UNPROCESSABLE);
        Result r = host.process(pdf, {});
        CHECK(r.status == PM_UNPROCESSABLE);
        CHECK_THAT(r.message, Catch::StartsWith("the PDF"));
        CHECK(host.outputs().empty());
    }
}

TEST_CASE("damaged copies of a good PDF either render or fail as unprocessable, never anything else") {
    const std::string good = makePdf(mixedPages());
    std::mt19937 rng(20261123);  // fixed: the same damage every run
    for (int round = 0; round < 40; ++round) {
        std::string pdf = good;
        // Overwrite a few bytes past the header, or cut the file somewhere.
        std::uniform_int_distribution<size_t> where(9, pdf.size() - 1);
        if (round % 4 == 3) {
            pdf.resize(where(rng));
        } else {
            for (int k = 0; k < 1 + round % 5; ++k) pdf[where(rng)] = static_cast<char>(rng() & 0xff);
        }
        INFO("round " << round);
        FakeHost host;
        Result r = host.process(pdf, {{"dpi", "36"}});
        CHECK((r.status == PM_OK || r.status == PM_UNPROCESSABLE));
        if (r.status == PM_OK) CHECK_FALSE(host.outputs().empty());
        if (r.status != PM_OK) CHECK_FALSE(r.message.empty());
    }
}
