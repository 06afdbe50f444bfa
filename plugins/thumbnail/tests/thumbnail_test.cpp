// The thumbnail plugin through the real daemon: plain JPEGs take the libjpeg
// DCT-scaled path, everything else libvips' thumbnail; both must give what
// libvips' own thumbnail gives (size, orientation, picture).
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>
#include <vips/vips8>

#include <cmath>
#include <map>
#include <string>

using namespace pixelmill::test;

namespace {

vips::VImage decoded(const std::string& bytes) {
    initVips();
    return vips::VImage::new_from_buffer(bytes.data(), bytes.size(), "").copy_memory();
}

std::string thumbnailOf(Daemon& d, const std::filesystem::path& file, const std::map<std::string, std::string>& fields) {
    Response r = d.submit(file.string(), "thumbnail", fields);
    INFO(r.body);
    REQUIRE(r.status == 202);
    auto job = d.waitForJob(r.json()["id"]);
    INFO(job.dump());
    REQUIRE(job["state"] == "succeeded");
    Response out = d.http().get(job["outputs"][0]["url"].get<std::string>());
    REQUIRE(out.status == 200);
    return out.body;
}

// Means of the four quadrants of band 0: which way up the picture is.
std::vector<double> quadrants(const vips::VImage& image) {
    int w = image.width() / 2, h = image.height() / 2;
    std::vector<double> out;
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x) out.push_back(image.extract_area(x * w, y * h, w, h).extract_band(0).avg());
    return out;
}

void sameAsLibvips(const std::string& got, const std::filesystem::path& source, int size) {
    vips::VImage ours = decoded(got);
    vips::VImage reference = vips::VImage::thumbnail(source.c_str(), size,
                                                     vips::VImage::option()->set("height", size)->set("size", VIPS_SIZE_DOWN))
                                  .copy_memory();
    CHECK(ours.width() == reference.width());
    CHECK(ours.height() == reference.height());
    if (ours.width() != reference.width() || ours.height() != reference.height()) return;
    auto a = quadrants(ours), b = quadrants(reference.colourspace(ours.bands() == 1 ? VIPS_INTERPRETATION_B_W
                                                                                    : VIPS_INTERPRETATION_sRGB));
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) < 4.0);
}

}  // namespace

TEST_CASE("thumbnail: plain JPEGs in every EXIF orientation match libvips' thumbnail") {
    initVips();
    Daemon d;
    TempDir files;
    for (int orientation = 1; orientation <= 8; ++orientation) {
        for (auto [w, h, size] : {std::tuple{1920, 1080, 256}, std::tuple{1000, 1500, 300}, std::tuple{300, 200, 256},
                                  std::tuple{641, 399, 64}}) {
            INFO("orientation " << orientation << " " << w << "x" << h << " size " << size);
            auto path = files / ("o" + std::to_string(orientation) + "-" + std::to_string(w) + ".jpg");
            makeJpeg(path, w, h, orientation, orientation * 7 + w);
            sameAsLibvips(thumbnailOf(d, path, {{"size", std::to_string(size)}}), path, size);
        }
    }
}

TEST_CASE("thumbnail: grayscale JPEGs, PNGs and JPEGs with an ICC profile give libvips' result") {
    initVips();
    Daemon d;
    TempDir files;
    makeJpeg(files / "colour.jpg", 800, 600, 1, 3);
    vips::VImage colour = vips::VImage::new_from_file((files / "colour.jpg").c_str());
    colour.colourspace(VIPS_INTERPRETATION_B_W).jpegsave((files / "grey.jpg").c_str());
    colour.jpegsave((files / "icc.jpg").c_str(), vips::VImage::option()->set("profile", "srgb"));
    makePng(files / "p.png", 700, 500, false, 5);
    for (std::string name : {"grey.jpg", "icc.jpg", "p.png"}) {
        INFO(name);
        std::string got = thumbnailOf(d, files / name, {{"size", "128"}});
        sameAsLibvips(got, files / name, 128);
        if (name == "grey.jpg") CHECK(decoded(got).bands() == 1);
    }
}

TEST_CASE("thumbnail: a truncated JPEG still fails as unprocessable, and a format asked for is honoured") {
    initVips();
    Daemon d;
    TempDir files;
    makeJpeg(files / "a.jpg", 1200, 800, 1, 9);
    std::string bytes = readFile(files / "a.jpg");
    writeFile(files / "cut.jpg", bytes.substr(0, bytes.size() * 2 / 3));
    Response r = d.submit((files / "cut.jpg").string(), "thumbnail", {{"size", "100"}});
    if (r.status == 202) {
        auto job = d.waitForJob(r.json()["id"]);
        CHECK(job["state"] == "failed");
        CHECK(job["error"]["code"] == "unprocessable");
    } else {
        CHECK(r.status == 422);
    }
    std::string webp = thumbnailOf(d, files / "a.jpg", {{"size", "100"}, {"format", "webp"}});
    CHECK(webp.substr(8, 4) == "WEBP");
    CHECK(decoded(webp).width() == 100);
}

TEST_CASE("thumbnail: a JPEG whose EXIF points past its end is read safely (found by plugin_thumbnail_fuzz)") {
    initVips();
    Daemon d;
    auto file = sourceDir() / "tests/fuzz/corpus/plugin_image/exif-ifd-offset-overflow.jpg";
    Response r = d.submit(file.string(), "thumbnail", {{"size", "64"}});
    if (r.status == 202) {
        auto job = d.waitForJob(r.json()["id"]);
        INFO(job.dump());
        CHECK(job["state"] != "canceled");
        if (job["state"] == "failed") CHECK(job["error"]["code"] == "unprocessable");
        CHECK(job["attempts"] == 1);  // no worker crash and retry
    } else {
        CHECK(r.status == 422);
    }
    CHECK(d.http().get("/healthz").status == 200);
}
