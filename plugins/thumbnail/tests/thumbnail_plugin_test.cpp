// thumbnail.so through its C ABI with the SDK's recording fake host
// (pixelmill/testing.hpp), the way an out-of-tree plugin tests itself: no
// daemon, the host's limits and type set by the test.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>
#include <pixelmill/testing.hpp>

#include <algorithm>

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
