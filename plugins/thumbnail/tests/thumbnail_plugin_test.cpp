// thumbnail.so through its C ABI with the SDK's recording fake host
// (pixelmill/testing.hpp), the way an out-of-tree plugin tests itself: no
// daemon, the host's limits and type set by the test.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pixelmill/testing.hpp>
#include <vips/vips8>

#include <algorithm>
#include <string>
#include <vector>

using pixelmill::test::decodeImage;
using pixelmill::test::readFile;
using pixelmill::test::TempDir;
using pixelmill::testing::FakeHost;

namespace {

const pm_plugin& thumbnail() {
    static const pm_plugin& table = []() -> const pm_plugin& {
        pixelmill::test::initVips();  // libvips belongs to the host
        return pixelmill::testing::loadPlugin((pixelmill::test::pluginBuildDir() / "thumbnail.so").string());
    }();
    return table;
}

std::string jpeg(int width, int height) {
    TempDir dir("pixelmill-thumbnail-test");
    pixelmill::test::makeJpeg(dir.path() / "in.jpg", width, height);
    return readFile(dir.path() / "in.jpg");
}

}  // namespace

TEST_CASE("thumbnail: one output whose longer side is the size asked for", "[thumbnail]") {
    FakeHost host(thumbnail(), "image/jpeg");
    pixelmill::testing::Result result = host.process(jpeg(800, 600), {{"size", "128"}});
    REQUIRE(result.status == PM_OK);
    auto outputs = host.outputs();
    REQUIRE(outputs.size() == 1);
    const auto& out = outputs.at(0);
    auto image = decodeImage(out.bytes);
    CHECK(std::max(image.width, image.height) == 128);
    CHECK(image.width == out.width);
    CHECK(image.height == out.height);
    CHECK(image.width > image.height);  // the aspect kept
}

TEST_CASE("thumbnail: the probe reads the size from the header", "[thumbnail]") {
    FakeHost host(thumbnail(), "image/jpeg");
    pm_probe_result probe{};
    pixelmill::testing::Result result = host.probe(jpeg(640, 480), probe);
    REQUIRE(result.status == PM_OK);
    CHECK(probe.width == 640);
    CHECK(probe.height == 480);
}

TEST_CASE("thumbnail: a source over the host's pixel limit is refused, and nothing is output", "[thumbnail]") {
    FakeHost host(thumbnail(), "image/jpeg");
    host.maxPixels = 100 * 100;
    pixelmill::testing::Result result = host.process(jpeg(400, 300), {{"size", "64"}});
    CHECK(result.status == PM_UNPROCESSABLE);
    CHECK_FALSE(result.message.empty());
    CHECK(host.outputs().empty());
}

namespace {

// The format enum of the plugin's schema, as the host reads it.
std::vector<std::string> formatEnum(const pm_plugin& plugin) {
    auto schema = nlohmann::json::parse(plugin.params_schema);
    return schema["properties"]["format"]["enum"].get<std::vector<std::string>>();
}

}  // namespace

TEST_CASE("thumbnail: AVIF (AV1) and JPEG XL outputs decode to the thumbnail's size", "[thumbnail]") {
    auto formats = formatEnum(thumbnail());
    // Debian 12's libvips writes both: a build that lost one should fail here, not quietly drop it.
    REQUIRE(std::count(formats.begin(), formats.end(), "avif") == 1);
    REQUIRE(std::count(formats.begin(), formats.end(), "jxl") == 1);
    struct Case {
        const char* format;
        const char* name;
        const char* mediaType;
        const char* loader;
    };
    for (Case c : {Case{"avif", "thumbnail.avif", "image/avif", "heifload_buffer"},
                   Case{"jxl", "thumbnail.jxl", "image/jxl", "jxlload_buffer"}}) {
        INFO(c.format);
        FakeHost host(thumbnail(), "image/jpeg");
        pixelmill::testing::Result result = host.process(jpeg(800, 600), {{"size", "96"}, {"format", c.format}});
        REQUIRE(result.status == PM_OK);
        auto outputs = host.outputs();
        REQUIRE(outputs.size() == 1);
        const auto& out = outputs.at(0);
        CHECK(out.name == c.name);
        CHECK(out.mediaType == c.mediaType);
        auto image = decodeImage(out.bytes);
        CHECK(image.loader == c.loader);
        CHECK(image.width == 96);
        CHECK(image.height == 72);
        CHECK(out.width == 96);
        CHECK(out.height == 72);
    }
}

TEST_CASE("thumbnail: AVIF is AV1 in a HEIF file, and quality changes its size", "[thumbnail]") {
    auto avifAt = [](const char* quality) {
        FakeHost host(thumbnail(), "image/jpeg");
        pixelmill::testing::Result result =
            host.process(jpeg(800, 600), {{"size", "256"}, {"format", "avif"}, {"quality", quality}});
        REQUIRE(result.status == PM_OK);
        return host.outputs().at(0).bytes;
    };
    std::string low = avifAt("10"), high = avifAt("95");
    CHECK(low.compare(4, 8, "ftypavif") == 0);  // the AVIF brand, not HEIC's
    pixelmill::test::initVips();
    vips::VImage image = vips::VImage::new_from_buffer(high.data(), high.size(), "");
    const char* compression = nullptr;
    REQUIRE(vips_image_get_string(image.get_image(), "heif-compression", &compression) == 0);
    CHECK(std::string(compression) == "av1");
    CHECK(low.size() < high.size());
}
