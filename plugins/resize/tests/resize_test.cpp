// The resize plugin through the real daemon (and once through `pixelmill
// run`): exact output sizes for every fit, enlarge on and off, padding,
// EXIF orientation, format defaults and refused parameters.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>
#include <vips/vips8>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

using namespace pixelmill::test;

namespace {

using Fields = std::map<std::string, std::string>;

vips::VImage decoded(const std::string& bytes) {
    initVips();
    // Decoded now: libvips reads the buffer lazily, and `bytes` may be a temporary.
    return vips::VImage::new_from_buffer(bytes.data(), bytes.size(), "").copy_memory();
}

// Mean of one band over a rectangle: tolerant of JPEG noise.
double regionMean(const vips::VImage& image, int left, int top, int width, int height, int band) {
    return image.extract_area(left, top, width, height).extract_band(band).avg();
}

std::string describe(const Fields& fields) {
    std::string out;
    for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + k + "=" + v;
    return out;
}

// Submits, waits for success, and returns the job and the output's bytes.
struct Result {
    nlohmann::json job;
    std::string bytes;
    std::string contentType;
};

Result runJob(Daemon& d, const std::filesystem::path& file, const Fields& fields) {
    INFO(file.filename().string() << " " << describe(fields));
    Response r = d.submit(file.string(), "resize", fields);
    INFO(r.body);
    REQUIRE(r.status == 202);
    nlohmann::json job = d.waitForJob(r.json()["id"]);
    INFO(job.dump());
    REQUIRE(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == 1);
    Response out = d.http().get(job["outputs"][0]["url"].get<std::string>());
    REQUIRE(out.status == 200);
    return {job, out.body, out.header("content-type")};
}

void requireError(const Response& r, long status, const std::string& code, const std::string& field = "") {
    INFO("status " << r.status << " body " << r.body);
    REQUIRE(r.status == status);
    auto body = r.json();
    CHECK(body["error"]["code"] == code);
    if (!field.empty()) CHECK(body["error"]["field"] == field);
}


// A GIF of three 100x80 frames: red, green, blue.
void makeAnimatedGif(const std::filesystem::path& path) {
    initVips();
    std::vector<vips::VImage> frames;
    for (std::vector<double> colour : {std::vector<double>{255, 0, 0}, {0, 255, 0}, {0, 0, 255}})
        frames.push_back(vips::VImage::black(100, 80).new_from_image(colour).cast(VIPS_FORMAT_UCHAR));
    vips::VImage strip = vips::VImage::arrayjoin(frames, vips::VImage::option()->set("across", 1))
                             .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    strip.set("page-height", 80);
    strip.gifsave(path.c_str());
}

// Runs a command line; its exit status and what it printed.
struct Command {
    int status = -1;
    std::string output;
};

Command shell(const std::string& command) {
    Command result;
    result.status = runCommand(command, &result.output);
    return result;
}

}  // namespace

TEST_CASE("resize: every fit gives exact sizes, with and without enlarge, one side or two, EXIF rotated") {
    Daemon d;
    TempDir files;
    const auto land = files / "land.jpg";    // 800x400
    const auto port = files / "port.jpg";    // 300x600
    const auto small = files / "small.jpg";  // 200x100, smaller than most boxes
    const auto rot6 = files / "rot6.jpg";    // stored 800x400, displayed 400x800
    const auto odd = files / "odd.jpg";      // 1000x333: one-sided sizes round
    makeJpeg(land, 800, 400, 1, 1);
    makeJpeg(port, 300, 600, 1, 2);
    makeJpeg(small, 200, 100, 1, 3);
    makeJpeg(rot6, 800, 400, 6, 4);
    makeJpeg(odd, 1000, 333, 1, 5);

    struct Case {
        std::filesystem::path file;
        Fields fields;
        int width;
        int height;
    };
    const std::vector<Case> cases = {
        // inside: fit within the box, keep the aspect ratio
        {land, {{"width", "200"}, {"height", "200"}}, 200, 100},
        {land, {{"width", "200"}}, 200, 100},
        {land, {{"height", "100"}}, 200, 100},
        {land, {{"width", "400"}, {"height", "100"}, {"fit", "inside"}}, 200, 100},
        {port, {{"width", "200"}, {"height", "200"}}, 100, 200},
        {port, {{"width", "150"}}, 150, 300},
        {odd, {{"width", "300"}}, 300, 100},
        // cover: exactly the box, centre cropped
        {land, {{"width", "200"}, {"height", "200"}, {"fit", "cover"}}, 200, 200},
        {land, {{"width", "300"}, {"height", "100"}, {"fit", "cover"}}, 300, 100},
        {land, {{"width", "300"}, {"fit", "cover"}}, 300, 150},
        {port, {{"width", "200"}, {"height", "100"}, {"fit", "cover"}}, 200, 100},
        {odd, {{"width", "300"}, {"fit", "cover"}}, 300, 100},
        // fill: exactly the box, stretched
        {land, {{"width", "200"}, {"height", "300"}, {"fit", "fill"}}, 200, 300},
        {land, {{"height", "100"}, {"fit", "fill"}}, 200, 100},
        {port, {{"width", "50"}, {"height", "50"}, {"fit", "fill"}}, 50, 50},
        // contain: exactly the box, padded
        {land, {{"width", "200"}, {"height", "200"}, {"fit", "contain"}}, 200, 200},
        {land, {{"width", "300"}, {"fit", "contain"}}, 300, 150},
        {port, {{"width", "200"}, {"height", "200"}, {"fit", "contain"}}, 200, 200},
        {port, {{"height", "300"}, {"fit", "contain"}}, 150, 300},
        {odd, {{"width", "300"}, {"fit", "contain"}}, 300, 100},
        // a source smaller than the box: enlarge=false never scales up
        {small, {{"width", "400"}, {"height", "400"}}, 200, 100},
        {small, {{"width", "400"}, {"height", "400"}, {"enlarge", "true"}}, 400, 200},
        {small, {{"width", "400"}}, 200, 100},
        {small, {{"width", "400"}, {"enlarge", "true"}}, 400, 200},
        {small, {{"height", "50"}}, 100, 50},
        {small, {{"width", "400"}, {"height", "400"}, {"fit", "cover"}}, 200, 100},
        {small, {{"width", "150"}, {"height", "400"}, {"fit", "cover"}}, 150, 100},
        {small, {{"width", "400"}, {"height", "400"}, {"fit", "cover"}, {"enlarge", "true"}}, 400, 400},
        {small, {{"width", "400"}, {"height", "50"}, {"fit", "fill"}}, 200, 50},
        {small, {{"width", "400"}, {"height", "400"}, {"fit", "fill"}}, 200, 100},
        {small, {{"width", "400"}, {"height", "50"}, {"fit", "fill"}, {"enlarge", "true"}}, 400, 50},
        {small, {{"width", "400"}, {"height", "400"}, {"fit", "contain"}}, 400, 400},
        {small, {{"width", "400"}, {"height", "400"}, {"fit", "contain"}, {"enlarge", "true"}}, 400, 400},
        {small, {{"width", "400"}, {"fit", "contain"}}, 400, 200},
        {small, {{"width", "400"}, {"fit", "contain"}, {"enlarge", "true"}}, 400, 200},
        // EXIF orientation 6: sizes are those of the picture as displayed
        {rot6, {{"width", "200"}, {"height", "200"}}, 100, 200},
        {rot6, {{"width", "1000"}, {"height", "1000"}}, 400, 800},
        {rot6, {{"width", "100"}, {"height", "50"}, {"fit", "cover"}}, 100, 50},
        {rot6, {{"width", "100"}, {"fit", "fill"}}, 100, 200},
        {rot6, {{"width", "500"}, {"height", "300"}, {"fit", "fill"}}, 400, 300},
        {rot6, {{"width", "300"}, {"height", "300"}, {"fit", "contain"}}, 300, 300},
    };

    // Queue everything first so that both workers stay busy, then check.
    std::vector<std::string> ids;
    for (const Case& c : cases) {
        Response r = d.submit(c.file.string(), "resize", c.fields);
        INFO(c.file.filename().string() << " " << describe(c.fields) << " -> " << r.body);
        REQUIRE(r.status == 202);
        ids.push_back(r.json()["id"]);
    }
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        INFO(c.file.filename().string() << " " << describe(c.fields));
        nlohmann::json job = d.waitForJob(ids[i]);
        INFO(job.dump());
        REQUIRE(job["state"] == "succeeded");
        REQUIRE(job["outputs"].size() == 1);
        CHECK(job["outputs"][0]["name"] == "resized.jpg");
        CHECK(job["outputs"][0]["width"] == c.width);
        CHECK(job["outputs"][0]["height"] == c.height);
        ImageInfo info = decodeImage(d.http().get(job["outputs"][0]["url"].get<std::string>()).body);
        CHECK(info.width == c.width);
        CHECK(info.height == c.height);
    }
}

TEST_CASE("resize: contain pads white for JPEG and transparent for PNG and WebP, the picture centred") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "land.jpg", 800, 400, 1, 1);
    makeJpeg(files / "small.jpg", 200, 100, 1, 3);
    makeJpeg(files / "port.jpg", 300, 600, 1, 2);

    // 800x400 into 200x200: the picture is 200x100 at rows 50..149.
    vips::VImage jpeg = decoded(runJob(d, files / "land.jpg", {{"width", "200"}, {"height", "200"}, {"fit", "contain"}}).bytes);
    CHECK(jpeg.bands() == 3);
    for (int band = 0; band < 3; ++band) {
        CHECK(regionMean(jpeg, 0, 0, 200, 45, band) > 250);     // top padding
        CHECK(regionMean(jpeg, 0, 155, 200, 45, band) > 250);   // bottom padding
    }
    CHECK(regionMean(jpeg, 0, 60, 200, 80, 0) < 200);  // the picture, not padding

    // 300x600 into 200x200 as JPEG: white on the left and right.
    vips::VImage portrait = decoded(runJob(d, files / "port.jpg", {{"width", "200"}, {"height", "200"}, {"fit", "contain"}}).bytes);
    CHECK(regionMean(portrait, 0, 0, 45, 200, 1) > 250);
    CHECK(regionMean(portrait, 155, 0, 45, 200, 1) > 250);

    Result png = runJob(d, files / "land.jpg", {{"width", "200"}, {"height", "200"}, {"fit", "contain"}, {"format", "png"}});
    CHECK(png.contentType == "image/png");
    CHECK(png.job["outputs"][0]["name"] == "resized.png");
    vips::VImage rgba = decoded(png.bytes);
    REQUIRE(rgba.bands() == 4);
    CHECK(rgba.getpoint(100, 49)[3] == 0);
    CHECK(rgba.getpoint(100, 50)[3] == 255);
    CHECK(rgba.getpoint(100, 149)[3] == 255);
    CHECK(rgba.getpoint(100, 150)[3] == 0);
    CHECK(regionMean(rgba, 0, 0, 200, 50, 3) == 0);

    // enlarge=false: the 200x100 source stays 200x100, centred in 400x400.
    vips::VImage padded = decoded(
        runJob(d, files / "small.jpg", {{"width", "400"}, {"height", "400"}, {"fit", "contain"}, {"format", "png"}}).bytes);
    REQUIRE(padded.width() == 400);
    REQUIRE(padded.bands() == 4);
    CHECK(padded.getpoint(99, 200)[3] == 0);
    CHECK(padded.getpoint(100, 200)[3] == 255);
    CHECK(padded.getpoint(299, 200)[3] == 255);
    CHECK(padded.getpoint(300, 200)[3] == 0);
    CHECK(padded.getpoint(200, 149)[3] == 0);
    CHECK(padded.getpoint(200, 150)[3] == 255);
    CHECK(padded.getpoint(200, 249)[3] == 255);
    CHECK(padded.getpoint(200, 250)[3] == 0);

    Result webp = runJob(d, files / "land.jpg", {{"width", "200"}, {"height", "200"}, {"fit", "contain"}, {"format", "webp"}});
    CHECK(webp.contentType == "image/webp");
    vips::VImage webpImage = decoded(webp.bytes);
    REQUIRE(webpImage.bands() == 4);
    CHECK(regionMean(webpImage, 0, 0, 200, 45, 3) < 5);
    CHECK(regionMean(webpImage, 0, 60, 200, 80, 3) > 250);
}

TEST_CASE("resize: format defaults, quality, EXIF orientation of the pixels, first frame of a GIF") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "photo.jpg", 640, 480, 1, 1);
    makePng(files / "opaque.png", 640, 480, false, 2);
    makePng(files / "alpha.png", 640, 480, true, 3);
    makeJpeg(files / "rot6.jpg", 800, 400, 6, 4);
    makeAnimatedGif(files / "anim.gif");

    Result fromJpeg = runJob(d, files / "photo.jpg", {{"width", "320"}});
    CHECK(fromJpeg.contentType == "image/jpeg");
    CHECK(fromJpeg.job["outputs"][0]["name"] == "resized.jpg");
    CHECK(fromJpeg.job["params"] ==
          nlohmann::json({{"width", 320}, {"fit", "inside"}, {"quality", 80}, {"enlarge", false}}));
    CHECK(decodeImage(fromJpeg.bytes).loader == "jpegload_buffer");

    Result fromOpaque = runJob(d, files / "opaque.png", {{"width", "320"}});
    CHECK(fromOpaque.contentType == "image/jpeg");
    CHECK(decodeImage(fromOpaque.bytes).bands == 3);

    Result fromAlpha = runJob(d, files / "alpha.png", {{"width", "320"}});
    CHECK(fromAlpha.contentType == "image/png");
    CHECK(fromAlpha.job["outputs"][0]["name"] == "resized.png");
    ImageInfo alphaInfo = decodeImage(fromAlpha.bytes);
    CHECK(alphaInfo.bands == 4);
    CHECK(alphaInfo.width == 320);
    CHECK(alphaInfo.height == 240);

    Result webp = runJob(d, files / "photo.jpg", {{"width", "320"}, {"format", "webp"}});
    CHECK(webp.contentType == "image/webp");
    CHECK(webp.job["outputs"][0]["name"] == "resized.webp");
    CHECK(decodeImage(webp.bytes).loader == "webpload_buffer");

    Result asPng = runJob(d, files / "photo.jpg", {{"width", "320"}, {"format", "png"}});
    CHECK(asPng.contentType == "image/png");
    CHECK(decodeImage(asPng.bytes).bands == 3);

    Result low = runJob(d, files / "photo.jpg", {{"width", "320"}, {"quality", "10"}});
    Result high = runJob(d, files / "photo.jpg", {{"width", "320"}, {"quality", "95"}});
    CHECK(low.bytes.size() < high.bytes.size());

    // makeJpeg's red grows left to right and green top to bottom; orientation
    // 6 turns the picture a quarter clockwise, so red grows downwards and
    // green from right to left.
    vips::VImage upright = decoded(runJob(d, files / "rot6.jpg", {{"width", "200"}}).bytes);
    REQUIRE(upright.width() == 200);
    REQUIRE(upright.height() == 400);
    CHECK(regionMean(upright, 0, 0, 200, 40, 0) < 60);
    CHECK(regionMean(upright, 0, 360, 200, 40, 0) > 190);
    CHECK(regionMean(upright, 0, 0, 20, 400, 1) > 190);
    CHECK(regionMean(upright, 180, 0, 20, 400, 1) < 60);

    // Three 100x80 frames: only the first (red) one is resized. libvips
    // decodes GIF with alpha, so the default format is PNG.
    Result gif = runJob(d, files / "anim.gif", {{"width", "50"}});
    CHECK(gif.contentType == "image/png");
    vips::VImage frame = decoded(gif.bytes);
    CHECK(frame.width() == 50);
    CHECK(frame.height() == 40);
    CHECK(regionMean(frame, 0, 0, 50, 40, 0) > 240);
    CHECK(regionMean(frame, 0, 0, 50, 40, 1) < 15);
}

TEST_CASE("resize: parameters outside the schema are refused at submit, broken sources fail unprocessable") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "p.jpg", 320, 240);
    const std::string p = (files / "p.jpg").string();

    Response none = d.submit(p, "resize", {{"fit", "cover"}});
    requireError(none, 400, "invalid_param");
    std::string message = none.json()["error"]["message"];
    CHECK(message.find("width") != std::string::npos);
    CHECK(message.find("height") != std::string::npos);

    requireError(d.submit(p, "resize", {{"width", "100"}, {"fit", "bogus"}}), 400, "invalid_param", "fit");
    requireError(d.submit(p, "resize", {{"width", "0"}}), 400, "invalid_param", "width");
    requireError(d.submit(p, "resize", {{"width", "16385"}}), 400, "invalid_param", "width");
    requireError(d.submit(p, "resize", {{"height", "tall"}}), 400, "invalid_param", "height");
    requireError(d.submit(p, "resize", {{"width", "100"}, {"quality", "101"}}), 400, "invalid_param", "quality");
    requireError(d.submit(p, "resize", {{"width", "100"}, {"format", "gif"}}), 400, "invalid_param", "format");
    requireError(d.submit(p, "resize", {{"width", "100"}, {"enlarge", "maybe"}}), 400, "invalid_param", "enlarge");
    requireError(d.submit(p, "resize", {{"width", "100"}, {"size", "100"}}), 400, "invalid_param", "size");

    makeGarbageJpeg(files / "garbage.jpg");
    requireError(d.submit((files / "garbage.jpg").string(), "resize", {{"width", "100"}}), 422, "unprocessable");

    makeTruncatedJpeg(files / "cut.jpg");
    Response cut = d.submit((files / "cut.jpg").string(), "resize", {{"width", "100"}});
    REQUIRE(cut.status == 202);
    nlohmann::json job = d.waitForJob(cut.json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "unprocessable");

    // Enlarging past the pixel limit (71 M by default) fails before any pixel is made.
    Response huge = d.submit(p, "resize", {{"width", "16384"}, {"height", "16384"}, {"fit", "fill"}, {"enlarge", "true"}});
    REQUIRE(huge.status == 202);
    job = d.waitForJob(huge.json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "unprocessable");
    CHECK(job["error"]["message"].get<std::string>().find("limit") != std::string::npos);
}

TEST_CASE("resize: `pixelmill run` writes resized.<ext> into the output folder") {
    TempDir files;
    makeJpeg(files / "in.jpg", 640, 480);
    const std::string bin = binaryPath().string();
    const std::string pluginDir = pluginBuildDir().string();
    const auto out = files / "out";

    Command ok = shell(bin + " run resize " + (files / "in.jpg").string() + " --plugin-dir " + pluginDir +
                            " -p width=120 -p height=80 -p fit=cover -o " + out.string());
    INFO(ok.output);
    REQUIRE(ok.status == 0);
    CHECK(ok.output.find("resized.jpg") != std::string::npos);
    ImageInfo info = decodeImage(readFile(out / "resized.jpg"));
    CHECK(info.width == 120);
    CHECK(info.height == 80);

    Command bad = shell(bin + " run resize " + (files / "in.jpg").string() + " --plugin-dir " + pluginDir +
                             " -p fit=cover -o " + out.string());
    INFO(bad.output);
    CHECK(bad.status == 2);
    CHECK(bad.output.find("invalid_param") != std::string::npos);
}

TEST_CASE("resize: AVIF and JPEG XL outputs, with alpha padding and their own file names and types") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "land.jpg", 800, 400, 1, 1);
    struct Case {
        const char* format;
        const char* name;
        const char* mediaType;
    };
    for (Case c : {Case{"avif", "resized.avif", "image/avif"}, Case{"jxl", "resized.jxl", "image/jxl"}}) {
        INFO(c.format);
        Result plain = runJob(d, files / "land.jpg", {{"width", "320"}, {"format", c.format}});
        CHECK(plain.job["outputs"][0]["name"] == c.name);
        CHECK(plain.job["outputs"][0]["media_type"] == c.mediaType);
        CHECK(plain.contentType == c.mediaType);
        vips::VImage image = decoded(plain.bytes);
        CHECK(image.width() == 320);
        CHECK(image.height() == 160);

        // contain pads with transparency, as PNG and WebP do.
        Result padded =
            runJob(d, files / "land.jpg", {{"width", "200"}, {"height", "200"}, {"fit", "contain"}, {"format", c.format}});
        vips::VImage box = decoded(padded.bytes);
        CHECK(box.width() == 200);
        CHECK(box.height() == 200);
        REQUIRE(box.bands() == 4);
        CHECK(regionMean(box, 0, 0, 200, 45, 3) < 5);
        CHECK(regionMean(box, 0, 60, 200, 80, 3) > 250);
    }
}
