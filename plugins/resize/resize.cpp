// resize: scales an image to a width and/or height with one of four fits
// (inside, cover, fill, contain), built on libvips' thumbnail so that a large
// JPEG is shrunk while it loads and never decoded whole. The semantics,
// including what enlarge=false does for each fit, are in README.md.
#include "vips_support.hpp"

#include <pixelmill/plugin.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace pixelmill;

enum class Fit { Inside, Cover, Fill, Contain };

Fit parseFit(const std::string& name) {
    if (name == "cover") return Fit::Cover;
    if (name == "fill") return Fit::Fill;
    if (name == "contain") return Fit::Contain;
    return Fit::Inside;
}

// round(a * b / c) in integers, halves up, at least 1.
int scaledSide(int64_t a, int64_t b, int64_t c) {
    int64_t v = (2 * a * b + c) / (2 * c);
    return static_cast<int>(std::clamp<int64_t>(v, 1, VIPS_MAX_COORD));
}

// Opaque white, or fully transparent, in the image's own range.
std::vector<double> padColour(const vips::VImage& image, bool transparent) {
    double max = image.format() == VIPS_FORMAT_USHORT ? 65535.0 : 255.0;
    return std::vector<double>(static_cast<size_t>(image.bands()), transparent ? 0.0 : max);
}

// Centres `image` on a width x height canvas (an odd leftover pixel goes to
// the right or bottom). JPEG has no alpha, so its padding is white; the other
// formats get an alpha band (always, for contain, so that the output's kind does
// not depend on the source's shape) and transparent padding.
vips::VImage pad(vips::VImage image, int width, int height, bool transparent) {
    if (transparent && !image.has_alpha()) {
        double max = image.format() == VIPS_FORMAT_USHORT ? 65535.0 : 255.0;
        image = image.bandjoin_const({max});
    }
    if (image.width() == width && image.height() == height) return image;
    return image.embed((width - image.width()) / 2, (height - image.height()) / 2, width, height,
                       vips::VImage::option()
                           ->set("extend", VIPS_EXTEND_BACKGROUND)
                           ->set("background", padColour(image, transparent)));
}

class Resize {
public:
    static constexpr const char* kName = "resize";
    static constexpr const char* kVersion = "1.0.0";
    static constexpr const char* kDescription =
        "Resizes an image to a width and/or height: fit inside, cover (crop), fill (stretch) or contain (pad); "
        "EXIF orientation applied, never enlarges unless asked";
    static constexpr const char* kAccepts[] = {"image/jpeg",    "image/png",  "image/webp", "image/gif", "image/tiff",
                                               "image/svg+xml", "image/heif", "image/avif", nullptr};
    static constexpr const char* kSchemaTemplate = R"json({
      "type": "object",
      "properties": {
        "width":   {"type": "integer", "minimum": 1, "maximum": 16384,
                    "description": "box width in pixels; alone, the height follows the aspect ratio"},
        "height":  {"type": "integer", "minimum": 1, "maximum": 16384,
                    "description": "box height in pixels; alone, the width follows the aspect ratio"},
        "fit":     {"type": "string", "enum": ["inside", "cover", "fill", "contain"], "default": "inside",
                    "description": "inside: fit within the box; cover: fill the box and crop the centre; fill: stretch to the box; contain: fit within and pad to the box (white for JPEG, transparent for the other formats)"},
        "format":  {"type": "string", "enum": @FORMATS@,
                    "description": "default: png when the source has alpha, else jpeg"},
        "quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": 80,
                    "description": "JPEG, WebP, AVIF and JPEG XL quality"},
        "enlarge": {"type": "boolean", "default": false,
                    "description": "allow scaling up a source smaller than the box"}
      },
      "anyOf": [{"required": ["width"]}, {"required": ["height"]}],
      "additionalProperties": false,
      "x-produces": @PRODUCES@
    })json";

    // The format enum lists what this build of libvips can write (AVIF and
    // JPEG XL are optional), decided once when the plugin is loaded.
    static const char* schema() {
        static const std::string text = plugins::withWritableFormats(kSchemaTemplate);
        return text.c_str();
    }

    sdk::Probe probe(const sdk::Input& input) const { return plugins::probeImage(input); }

    void process(sdk::Job& job) const {
        const sdk::Probe source = probe(job.input());
        plugins::checkPixels(job, source);
        if (source.width <= 0 || source.height <= 0)
            throw sdk::Error(PM_UNPROCESSABLE, "the image has no size");

        std::optional<int> width, height;
        if (job.has("width")) width = static_cast<int>(job.integer("width"));
        if (job.has("height")) height = static_cast<int>(job.integer("height"));
        if (!width && !height) throw sdk::Error(PM_INVALID_PARAM, "at least one of width, height is required");
        const Fit fit = parseFit(job.str("fit", "inside"));
        const bool enlarge = job.flag("enlarge", false);

        std::string format = job.str("format");
        vips::VImage image = width && height ? resizeToBox(job, source, *width, *height, fit, enlarge, format)
                                             : resizeOneSide(job, source, width, height, fit, enlarge, format);
        plugins::checkOutputPixels(job, image);
        job.throwIfStopped();
        plugins::encodeAndAdd(job, image, format, static_cast<int>(job.integer("quality", 80)), "resized");
    }

private:
    static VipsSize scaling(bool enlarge) { return enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN; }

    // The default format is the source's: png when it has alpha, else jpeg.
    static void settleFormat(std::string& format, const vips::VImage& image) {
        if (format.empty()) format = image.has_alpha() ? "png" : "jpeg";
    }

    static vips::VImage resizeToBox(const sdk::Job& job, const sdk::Probe& source, int width, int height, Fit fit,
                                    bool enlarge, std::string& format) {
        vips::VImage image;
        switch (fit) {
            case Fit::Inside:
            case Fit::Contain:
                image = plugins::thumbnailOf(job.input(), width,
                                             vips::VImage::option()->set("height", height)->set("size", scaling(enlarge)));
                break;
            case Fit::Cover:
                // With size=down libvips scales by min(1, cover scale) and crops
                // each side to min(box side, scaled side).
                image = plugins::thumbnailOf(job.input(), width,
                                             vips::VImage::option()
                                                 ->set("height", height)
                                                 ->set("size", scaling(enlarge))
                                                 ->set("crop", VIPS_INTERESTING_CENTRE));
                break;
            case Fit::Fill: {
                // Without enlarge each axis only shrinks, independently.
                int w = enlarge ? width : std::min(width, source.width);
                int h = enlarge ? height : std::min(height, source.height);
                image = plugins::thumbnailOf(job.input(), w,
                                             vips::VImage::option()->set("height", h)->set("size", VIPS_SIZE_FORCE));
                break;
            }
        }
        settleFormat(format, image);
        if (fit == Fit::Contain) image = pad(image, width, height, format != "jpeg");
        return image;
    }

    // Only one side given: every fit scales the picture to that side keeping
    // its aspect (the box's other side follows the aspect ratio, so nothing is
    // cropped or stretched). Without enlarge a smaller source keeps its size,
    // and contain pads it to the box the aspect ratio gives.
    static vips::VImage resizeOneSide(const sdk::Job& job, const sdk::Probe& source, std::optional<int> width,
                                      std::optional<int> height, Fit fit, bool enlarge, std::string& format) {
        vips::VImage image = plugins::thumbnailOf(
            job.input(), width.value_or(VIPS_MAX_COORD),
            vips::VImage::option()->set("height", height.value_or(VIPS_MAX_COORD))->set("size", scaling(enlarge)));
        settleFormat(format, image);
        if (fit != Fit::Contain) return image;
        int boxWidth = 0, boxHeight = 0;
        if (width) {
            boxWidth = *width;
            boxHeight = image.width() == *width ? image.height() : scaledSide(source.height, *width, source.width);
        } else {
            boxHeight = *height;
            boxWidth = image.height() == *height ? image.width() : scaledSide(source.width, *height, source.height);
        }
        return pad(image, std::max(boxWidth, image.width()), std::max(boxHeight, image.height()), format != "jpeg");
    }
};

}  // namespace

PIXELMILL_PLUGIN(Resize)
