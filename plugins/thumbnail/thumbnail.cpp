// thumbnail: a small image that fits (or, with crop, fills) a square box,
// made with libvips' shrink-on-load so that a large JPEG is never decoded whole.
#include "jpeg_scaled.hpp"
#include "vips_support.hpp"

#include <pixelmill/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using namespace pixelmill;

class Thumbnail {
public:
    static constexpr const char* kName = "thumbnail";
    static constexpr const char* kVersion = "1.0.0";
    static constexpr const char* kDescription =
        "Shrinks an image to fit a square box (never enlarges), EXIF orientation applied";
    static constexpr const char* kAccepts[] = {"image/jpeg", "image/png",     "image/webp", "image/gif", "image/tiff",
                                               "image/svg+xml", "image/heif", "image/avif", nullptr};
    static constexpr const char* kSchemaTemplate = R"({
      "type": "object",
      "properties": {
        "size":    {"type": "integer", "minimum": 1, "maximum": 4096, "default": 256,
                    "description": "box in pixels; the longer side fits it"},
        "crop":    {"type": "string", "enum": ["none", "centre", "attention"], "default": "none",
                    "description": "none keeps the whole picture; centre and attention fill the box"},
        "format":  {"type": "string", "enum": @FORMATS@,
                    "description": "default: png when the source has alpha, else jpeg"},
        "quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": 80,
                    "description": "JPEG, WebP, AVIF and JPEG XL quality"}
      },
      "additionalProperties": false,
      "x-produces": @PRODUCES@
    })";

    // The format enum lists what this build of libvips can write (AVIF and
    // JPEG XL are optional), decided once when the plugin is loaded.
    static const char* schema() {
        static const std::string text = plugins::withWritableFormats(kSchemaTemplate);
        return text.c_str();
    }

    sdk::Probe probe(const sdk::Input& input) const { return plugins::probeImage(input); }

    void process(sdk::Job& job) const {
        int size = static_cast<int>(job.integer("size", 256));
        std::string crop = job.str("crop", "none");
        if (crop == "none" && job.input().mediaType() == "image/jpeg" && fastJpeg(job, size)) return;
        plugins::checkPixels(job, probe(job.input()));
        VipsInteresting interesting = crop == "centre"      ? VIPS_INTERESTING_CENTRE
                                      : crop == "attention" ? VIPS_INTERESTING_ATTENTION
                                                            : VIPS_INTERESTING_NONE;
        vips::VImage image;
        try {
            image = vips::VImage::thumbnail(job.input().path(), size,
                                            vips::VImage::option()
                                                ->set("height", size)
                                                ->set("size", VIPS_SIZE_DOWN)
                                                ->set("crop", interesting)
                                                ->set("fail_on", VIPS_FAIL_ON_TRUNCATED));
        } catch (const vips::VError& e) {
            throw sdk::Error(PM_UNPROCESSABLE, plugins::firstLine(e.what()));
        }
        std::string format = job.str("format");
        if (format.empty()) format = image.has_alpha() ? "png" : "jpeg";
        plugins::encodeAndAdd(job, image, format, static_cast<int>(job.integer("quality", 80)), "thumbnail");
    }

private:
    // A plain JPEG: decoded at a DCT scale by libjpeg, then resized to the
    // box as libvips' thumbnail would size it. False: not plain, use libvips.
    static bool fastJpeg(sdk::Job& job, int size) {
        std::vector<unsigned char> owned;
        auto bytes = job.input().bytes();
        if (bytes.empty()) {
            std::ifstream in(job.input().path(), std::ios::binary);
            owned.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            bytes = owned;
        }
        auto decoded = plugins::decodeScaledJpeg(bytes, size, job.maxPixels());
        if (!decoded) return false;
        int w = decoded->fullWidth, h = decoded->fullHeight;
        double scale = std::min(1.0, static_cast<double>(size) / std::max(w, h));
        int tw = std::max(1, static_cast<int>(std::lround(w * scale)));
        int th = std::max(1, static_cast<int>(std::lround(h * scale)));
        vips::VImage image = decoded->image;
        if (image.width() != tw || image.height() != th)
            image = image.resize(static_cast<double>(tw) / image.width(),
                                 vips::VImage::option()->set("vscale", static_cast<double>(th) / image.height()));
        std::string format = job.str("format", "jpeg");
        plugins::encodeAndAdd(job, image, format, static_cast<int>(job.integer("quality", 80)), "thumbnail");
        return true;
    }
};

}  // namespace

PIXELMILL_PLUGIN(Thumbnail)
