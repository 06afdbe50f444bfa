// checkSource, the one check every new source goes through (uploads,
// source_url downloads, compat routes, the dashboard, `pixelmill run`), with
// the real plugins: what it answers for good files, and which error, with
// which status, it gives for each kind of bad one — before reading the file
// where the head alone decides.
#include "common/error.h"
#include "jobs/job_service.h"
#include "plugins/plugin_host.h"
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

namespace pixelmill {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Intake {
    Intake() : host(test::pluginBuildDir(), PluginLimits{}) {
        test::initVips();
        host.scan();
    }

    // checkSource for the file at `path`, with `plugin` as the client's choice.
    CheckedSource check(const std::filesystem::path& path, const std::string& plugin, const JobLimits& limits = {}) {
        const std::string bytes = slurp(path);
        const std::string head = bytes.substr(0, 4096);
        ChoosePlugin choose = [&](const std::string& mediaType) {
            auto p = host.find(plugin);
            REQUIRE(p);
            if (!p->acceptsType(mediaType)) throw ApiError::unsupportedMediaType("file is " + mediaType);
            return p;
        };
        return checkSource(host, limits, head, path.string(), bytes.size(), choose, [&] { ++readsAllowed; });
    }

    // The status checkSource refuses `path` with (0 if it accepts it).
    int refusal(const std::filesystem::path& path, const std::string& plugin, const JobLimits& limits = {},
                std::string* message = nullptr) {
        try {
            check(path, plugin, limits);
            return 0;
        } catch (const ApiError& e) {
            if (message) *message = e.what();
            return e.status();
        }
    }

    test::TempDir dir;
    PluginHost host;
    int readsAllowed = 0;  // times the check got past the head-only checks
};

}  // namespace

TEST_CASE("intake: images are typed from their bytes and measured, whatever their name", "[jobs][intake]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    Intake in;
    test::makeJpeg(in.dir / "photo.png", 640, 480);  // a JPEG named .png
    CheckedSource jpeg = in.check(in.dir / "photo.png", "thumbnail");
    CHECK(jpeg.mediaType == "image/jpeg");
    CHECK(jpeg.plugin->name == "thumbnail");
    CHECK(jpeg.info.width == 640);
    CHECK(jpeg.info.height == 480);

    test::makeJpeg(in.dir / "portrait.jpg", 640, 480, /*orientation=*/6);
    CheckedSource turned = in.check(in.dir / "portrait.jpg", "resize");
    CHECK(turned.info.width == 480);  // as displayed
    CHECK(turned.info.height == 640);

    test::makePng(in.dir / "icon.png", 32, 20, true);
    CheckedSource png = in.check(in.dir / "icon.png", "ascii");
    CHECK(png.mediaType == "image/png");
    CHECK((png.info.width == 32 && png.info.height == 20));
    CHECK(in.readsAllowed == 3);
}

TEST_CASE("intake: each kind of bad source gets its own status", "[jobs][intake]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    Intake in;
    std::string why;

    test::writeFile(in.dir / "notes.txt", "just some text, not an image\n");
    CHECK(in.refusal(in.dir / "notes.txt", "thumbnail", {}, &why) == 415);
    CHECK(in.readsAllowed == 0);  // decided from the head

    test::makeGarbageJpeg(in.dir / "garbage.jpg");
    CHECK(in.refusal(in.dir / "garbage.jpg", "thumbnail", {}, &why) == 422);
    CHECK(why.find("cannot be read") != std::string::npos);

    test::makePngBomb(in.dir / "bomb.png", 60000, 60000);
    JobLimits limits;
    limits.maxPixels = 100'000'000;
    CHECK(in.refusal(in.dir / "bomb.png", "thumbnail", limits, &why) == 422);
    CHECK(why.find("pixels") != std::string::npos);
}

TEST_CASE("intake: SVGs are bounded before they are read and refused when they point outside", "[jobs][intake]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    Intake in;
    const std::string inside =
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/></svg>)";
    test::writeFile(in.dir / "ok.svg", inside);
    CheckedSource ok = in.check(in.dir / "ok.svg", "thumbnail");
    CHECK(ok.mediaType == "image/svg+xml");

    std::string why;
    test::writeFile(in.dir / "outside.svg", R"(<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="file:///etc/passwd"/></svg>)");
    CHECK(in.refusal(in.dir / "outside.svg", "thumbnail", {}, &why) == 422);

    JobLimits small;
    small.maxSvgBytes = 64;
    const int before = in.readsAllowed;
    CHECK(in.refusal(in.dir / "ok.svg", "thumbnail", small, &why) == 422);
    CHECK(why.find("--max-svg-bytes") != std::string::npos);
    CHECK(in.readsAllowed == before);  // refused from its size alone
}

}  // namespace pixelmill
