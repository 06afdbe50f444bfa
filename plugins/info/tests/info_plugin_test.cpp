// info.so through its C ABI with the SDK's recording fake host: the JSON it
// writes for images (orientation, alpha, animation, EXIF) and PDFs (pages,
// page sizes, document information), and its refusals.
#include "support/daemon.h"
#include "support/images.h"
#include "support/pdf_writer.h"

#include <pixelmill/testing.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <vips/vips8>

using pixelmill::pdf2png::test::makePdf;
using pixelmill::pdf2png::test::PageSpec;
using pixelmill::test::readFile;
using pixelmill::test::sourceDir;
using pixelmill::test::TempDir;
using nlohmann::json;

namespace {

const pm_plugin& plugin() {
    static const pm_plugin& table = []() -> const pm_plugin& {
        pixelmill::test::initVips();  // libvips belongs to the host: started before any plugin call
        return pixelmill::testing::loadPlugin((pixelmill::test::pluginBuildDir() / "info.so").string());
    }();
    return table;
}

// info.json for `bytes` sniffed as `mediaType`; the job must succeed.
json infoOf(const std::string& bytes, const std::string& mediaType, uint32_t maxPages = 1000) {
    pixelmill::testing::FakeHost host(plugin(), mediaType);
    host.maxPages = maxPages;
    auto r = host.process(bytes, {});
    INFO(r.message);
    REQUIRE(r.status == PM_OK);
    auto outputs = host.outputs();
    REQUIRE(outputs.size() == 1);
    CHECK(outputs[0].name == "info.json");
    CHECK(outputs[0].mediaType == "application/json");
    INFO(outputs[0].bytes);
    return json::parse(outputs[0].bytes);
}

const char* const kKeys[] = {"media_type", "format", "width", "height", "orientation", "display_width",
                             "display_height", "bands", "space", "icc", "frames", "exif", "pages", "page_sizes", "pdf"};

void hasEveryKey(const json& info) {
    for (const char* key : kKeys) {
        INFO(key);
        CHECK(info.contains(key));
    }
    CHECK(info.size() == std::size(kKeys));
}

std::string fileBytes(const TempDir& dir, const std::string& name) { return readFile(dir / name); }

}  // namespace

TEST_CASE("info: the plugin describes itself and accepts every image type and PDF") {
    const pm_plugin& p = plugin();
    CHECK(std::string(p.name) == "info");
    CHECK(p.probe != nullptr);
    std::vector<std::string> accepts;
    for (const char* const* a = p.accepts; *a; ++a) accepts.emplace_back(*a);
    for (const char* type : {"image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/svg+xml",
                             "image/heif", "image/avif", "application/pdf"}) {
        INFO(type);
        CHECK(std::find(accepts.begin(), accepts.end(), type) != accepts.end());
    }
    CHECK(json::parse(p.params_schema)["additionalProperties"] == false);
}

TEST_CASE("info: a JPEG with EXIF orientation 6 reports stored and displayed sizes, and its EXIF text") {
    pixelmill::test::initVips();
    TempDir dir;
    vips::VImage image = vips::VImage::black(120, 80, vips::VImage::option()->set("bands", 3)).copy();
    image.set(VIPS_META_ORIENTATION, 6);
    image.set("exif-ifd0-Make", "Pixelmill \"Optics\"");
    image.set("exif-ifd0-Model", "Model Nine");
    image.set("exif-ifd2-DateTimeOriginal", "2026:12:07 10:11:12");
    image.jpegsave((dir / "o6.jpg").c_str());

    json info = infoOf(fileBytes(dir, "o6.jpg"), "image/jpeg");
    hasEveryKey(info);
    CHECK(info["media_type"] == "image/jpeg");
    CHECK(info["format"] == "jpeg");
    CHECK(info["width"] == 120);
    CHECK(info["height"] == 80);
    CHECK(info["orientation"] == 6);
    CHECK(info["display_width"] == 80);
    CHECK(info["display_height"] == 120);
    CHECK(info["bands"] == 3);
    CHECK(info["space"] == "srgb");
    CHECK(info["icc"] == false);
    CHECK(info["frames"] == 1);
    REQUIRE(info["exif"].is_object());
    CHECK(info["exif"]["Make"] == "Pixelmill \"Optics\"");
    CHECK(info["exif"]["Model"] == "Model Nine");
    CHECK(info["exif"]["DateTimeOriginal"] == "2026:12:07 10:11:12");
    for (const char* key : {"pages", "page_sizes", "pdf"}) CHECK(info[key].is_null());

    // The probe gives the displayed size, as the daemon stores it on the original.
    pixelmill::testing::FakeHost host(plugin(), "image/jpeg");
    pm_probe_result probe{};
    REQUIRE(host.probe(fileBytes(dir, "o6.jpg"), probe).status == PM_OK);
    CHECK(probe.width == 80);
    CHECK(probe.height == 120);
}

TEST_CASE("info: a PNG with alpha has four bands, no EXIF and orientation 1, an ICC profile shows") {
    pixelmill::test::initVips();
    TempDir dir;
    pixelmill::test::makePng(dir / "a.png", 64, 48, true);
    json info = infoOf(fileBytes(dir, "a.png"), "image/png");
    hasEveryKey(info);
    CHECK(info["format"] == "png");
    CHECK(info["bands"] == 4);
    CHECK(info["orientation"] == 1);
    CHECK(info["display_width"] == 64);
    CHECK(info["display_height"] == 48);
    CHECK(info["exif"].is_null());
    CHECK(info["icc"] == false);

    vips::VImage::new_from_file((dir / "a.png").c_str())
        .pngsave((dir / "icc.png").c_str(), vips::VImage::option()->set("profile", "srgb"));
    CHECK(infoOf(fileBytes(dir, "icc.png"), "image/png")["icc"] == true);
}

TEST_CASE("info: an animated GIF counts its frames") {
    pixelmill::test::initVips();
    TempDir dir;
    // Three 40x30 frames stacked vertically, saved as one animation.
    vips::VImage strip = vips::VImage::black(40, 90, vips::VImage::option()->set("bands", 3)).copy();
    strip.set("page-height", 30);
    strip.set("delay", std::vector<int>{100, 100, 100});
    strip.gifsave((dir / "anim.gif").c_str());
    json info = infoOf(fileBytes(dir, "anim.gif"), "image/gif");
    CHECK(info["format"] == "gif");
    CHECK(info["frames"] == 3);
    CHECK(info["width"] == 40);
    CHECK(info["height"] == 30);
}

TEST_CASE("info: a PDF reports its pages, each page's size in points and its title") {
    std::vector<PageSpec> pages = {{612, 792}, {842, 595}, {300, 200}, {400, 300, 90}};
    std::string pdf = makePdf(pages, "/Title (Quarterly \\(draft\\) report) /Author <FEFF00C9006C00E9006E0065> "
                                     "/Producer (pdf_writer)");
    json info = infoOf(pdf, "application/pdf");
    hasEveryKey(info);
    CHECK(info["media_type"] == "application/pdf");
    CHECK(info["format"] == "pdf");
    CHECK(info["pages"] == 4);
    // Page 4 is 400x300 with /Rotate 90: a viewer shows it 300 wide.
    CHECK(info["page_sizes"] == json::parse("[[612,792],[842,595],[300,200],[300,400]]"));
    CHECK(info["pdf"]["title"] == "Quarterly (draft) report");
    CHECK(info["pdf"]["author"] == "\u00c9l\u00e9ne");
    CHECK(info["pdf"]["producer"] == "pdf_writer");
    for (const char* key : {"width", "height", "orientation", "exif", "frames"}) CHECK(info[key].is_null());

    pixelmill::testing::FakeHost host(plugin(), "application/pdf");
    pm_probe_result probe{};
    REQUIRE(host.probe(pdf, probe).status == PM_OK);
    CHECK(probe.pages == 4);
}

TEST_CASE("info: a PDF without information has null entries, the size list stops at the page limit") {
    json info = infoOf(makePdf(std::vector<PageSpec>(5, PageSpec{})), "application/pdf", 3);
    CHECK(info["pages"] == 5);
    CHECK(info["page_sizes"].size() == 3);
    CHECK(info["pdf"] == json({{"title", nullptr}, {"author", nullptr}, {"producer", nullptr}}));
}

TEST_CASE("info: a title that is not valid text still gives valid JSON") {
    // PDFDocEncoding byte 0x7f is undefined; a lone UTF-16 surrogate is invalid.
    std::string pdf = makePdf({PageSpec{}}, "/Title <FEFFD800> /Author (\x7f\x9f\xff)");
    json info = infoOf(pdf, "application/pdf");
    CHECK(info["pages"] == 1);
    CHECK((info["pdf"]["title"].is_null() || info["pdf"]["title"].is_string()));

    // 200 euro signs are 600 bytes of UTF-8: cut at 256, inside a character,
    // whose remains become U+FFFD.
    std::string euros = "/Title <FEFF";
    for (int i = 0; i < 200; ++i) euros += "20AC";
    info = infoOf(makePdf({PageSpec{}}, euros + ">"), "application/pdf");
    std::string title = info["pdf"]["title"];
    CHECK(title.size() <= 256 + 3);
    CHECK(title.rfind("\u20ac\u20ac", 0) == 0);
    CHECK(title.substr(title.size() - 3) == "\ufffd");
}

TEST_CASE("info: broken, truncated and encrypted files fail as unprocessable with a reason") {
    pixelmill::test::initVips();
    TempDir dir;
    pixelmill::test::makeGarbageJpeg(dir / "g.jpg");
    std::string pdf = makePdf({PageSpec{}, PageSpec{}});
    struct Case {
        std::string name, bytes, type, reason;
    } cases[] = {
        {"garbage JPEG", fileBytes(dir, "g.jpg"), "image/jpeg", ""},
        {"truncated PDF", pixelmill::pdf2png::test::truncated(pdf), "application/pdf", "the PDF cannot be read"},
        {"encrypted PDF", readFile(sourceDir() / "plugins/pdf2png/tests/fixtures/encrypted.pdf"), "application/pdf",
         "the PDF is encrypted"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        pixelmill::testing::FakeHost host(plugin(), c.type);
        auto r = host.process(c.bytes, {});
        CHECK(r.status == PM_UNPROCESSABLE);
        CHECK_FALSE(r.message.empty());
        CHECK_THAT(r.message, Catch::StartsWith(c.reason));
        CHECK(host.outputs().empty());
    }
}
