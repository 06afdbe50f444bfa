// AVIF and JPEG XL through the real daemon and plugins: the formats the
// plugins list, what a client downloads (type, file name, pixels), an AVIF
// upload as a source, and a build where libvips refuses JPEG XL.
#include "support/daemon.h"
#include "support/images.h"
#include "support/jobs.h"

#include <catch2/catch.hpp>
#include <vips/vips8>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace pixelmill::test;
using nlohmann::json;

namespace {

// The format enum of each plugin, as GET /v1/plugins lists it.
std::map<std::string, std::vector<std::string>> formatEnums(Daemon& d) {
    Response r = d.http().get("/v1/plugins");
    INFO(r.body);
    REQUIRE(r.status == 200);
    std::map<std::string, std::vector<std::string>> out;
    const json body = r.json();  // kept: a range-for over r.json()["plugins"] would dangle
    for (const json& p : body["plugins"]) {
        const json& format = p["params"]["properties"]["format"];
        if (format.contains("enum")) out[p["name"].get<std::string>()] = format["enum"].get<std::vector<std::string>>();
    }
    return out;
}

bool lists(const std::vector<std::string>& formats, const std::string& format) {
    return std::find(formats.begin(), formats.end(), format) != formats.end();
}

struct Download {
    json job;
    json output;
    Response response;
};

// Submits, waits for success, and downloads the one output.
Download runOne(Daemon& d, const std::filesystem::path& file, const std::string& plugin,
                const std::map<std::string, std::string>& fields) {
    json job = succeededJob(d, d.submit(file.string(), plugin, fields), 1);
    return {job, job["outputs"][0], downloadOutput(d, job)};
}

// An AV1-coded AVIF of width x height, a gradient.
void makeAvif(const std::filesystem::path& path, int width, int height) {
    initVips();
    vips::VImage xy = vips::VImage::xyz(width, height);
    vips::VImage rgb = xy[0].bandjoin(xy[1]).bandjoin(xy[0] + xy[1]).cast(VIPS_FORMAT_UCHAR);
    rgb = rgb.copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    rgb.heifsave(path.c_str(), vips::VImage::option()->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)->set("effort", 0));
}

}  // namespace

TEST_CASE("output formats: thumbnail and resize list avif and jxl, and their outputs download as such") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "photo.jpg", 640, 480);

    auto enums = formatEnums(d);
    for (const char* plugin : {"thumbnail", "resize"}) {
        INFO(plugin);
        CHECK(lists(enums[plugin], "avif"));
        CHECK(lists(enums[plugin], "jxl"));
        CHECK(lists(enums[plugin], "jpeg"));
    }

    Download avif = runOne(d, files / "photo.jpg", "thumbnail", {{"size", "128"}, {"format", "avif"}});
    CHECK(avif.output["name"] == "thumbnail.avif");
    CHECK(avif.output["media_type"] == "image/avif");
    CHECK(avif.response.header("content-type") == "image/avif");
    CHECK(avif.response.header("content-disposition") == "inline; filename=\"thumbnail.avif\"");
    CHECK(avif.response.body.compare(4, 8, "ftypavif") == 0);
    ImageInfo thumb = decodeImage(avif.response.body);
    CHECK(thumb.loader == "heifload_buffer");
    CHECK(thumb.width == 128);
    CHECK(thumb.height == 96);

    Download jxl = runOne(d, files / "photo.jpg", "resize", {{"width", "300"}, {"format", "jxl"}});
    CHECK(jxl.output["name"] == "resized.jxl");
    CHECK(jxl.response.header("content-type") == "image/jxl");
    CHECK(jxl.response.header("content-disposition") == "inline; filename=\"resized.jxl\"");
    ImageInfo resized = decodeImage(jxl.response.body);
    CHECK(resized.loader == "jxlload_buffer");
    CHECK(resized.width == 300);
    CHECK(resized.height == 225);
}

TEST_CASE("output formats: an AVIF upload is sniffed, sized and thumbnailed") {
    Daemon d;
    TempDir files;
    makeAvif(files / "in.avif", 320, 200);
    Download png = runOne(d, files / "in.avif", "thumbnail", {{"size", "64"}, {"format", "png"}});
    ImageInfo out = decodeImage(png.response.body);
    CHECK(out.width == 64);
    CHECK(out.height == 40);
    CHECK(png.job["original"]["media_type"] == "image/avif");
    CHECK(png.job["original"]["width"] == 320);  // from the plugin's probe
    CHECK(png.job["original"]["height"] == 200);
}

TEST_CASE("output formats: where libvips blocks untrusted operations, jxl is not offered and is refused") {
    DaemonOptions options;
    options.env["VIPS_BLOCK_UNTRUSTED"] = "1";  // libvips blocks jxlsave, flagged untrusted
    Daemon d(options);
    TempDir files;
    makeJpeg(files / "photo.jpg", 320, 240);

    auto enums = formatEnums(d);
    for (const char* plugin : {"thumbnail", "resize"}) {
        INFO(plugin);
        CHECK_FALSE(lists(enums[plugin], "jxl"));
        CHECK(lists(enums[plugin], "avif"));  // heifsave is not flagged
    }
    Response refused = d.submit((files / "photo.jpg").string(), "resize", {{"width", "100"}, {"format", "jxl"}});
    INFO(refused.body);
    REQUIRE(refused.status == 400);
    CHECK(refused.json()["error"]["code"] == "invalid_param");
    CHECK(refused.json()["error"]["field"] == "format");
    Download avif = runOne(d, files / "photo.jpg", "resize", {{"width", "100"}, {"format", "avif"}});
    CHECK(avif.response.header("content-type") == "image/avif");
}
