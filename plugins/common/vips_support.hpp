// Helpers shared by the libvips plugins (thumbnail, resize, ascii, info): a header
// compiled into each plugin, so every .so stays self-contained.
#pragma once

#include <pixelmill/plugin.hpp>

#include <vips/vips8>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pixelmill::plugins {

// The first line of a libvips error, without the trailing newline.
inline std::string firstLine(const std::string& message) {
    std::string line = message.substr(0, message.find('\n'));
    return line.empty() ? "libvips could not decode the file" : line;
}

// Stops a running libvips pipeline once the job is canceled or out of time:
// libvips calls "eval" as it computes, and a killed image fails its write.
class KillSwitch {
public:
    KillSwitch(vips::VImage& image, const sdk::Job& job) : image_(image.get_image()), job_(job) {
        vips_image_set_progress(image_, TRUE);
        handler_ = g_signal_connect(image_, "eval", G_CALLBACK(&KillSwitch::onEval), this);
    }
    ~KillSwitch() { g_signal_handler_disconnect(image_, handler_); }
    KillSwitch(const KillSwitch&) = delete;
    KillSwitch& operator=(const KillSwitch&) = delete;

private:
    static void onEval(VipsImage* image, VipsProgress*, KillSwitch* self) {
        if (self->job_.shouldStop()) vips_image_set_kill(image, TRUE);
    }

    VipsImage* image_;
    const sdk::Job& job_;
    gulong handler_ = 0;
};

// What the source's header says, read without decoding pixels.
struct ImageHeader {
    sdk::Probe probe;     // width and height as displayed: EXIF orientations 5-8 swap them
    int orientation = 1;  // the EXIF orientation, 1-8
};

// The source opened for its header only: libvips reads no pixels until asked.
inline vips::VImage openHeader(const sdk::Input& input) {
    try {
        return vips::VImage::new_from_file(input.path(), vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
    } catch (const vips::VError& e) {
        throw sdk::Error(PM_UNPROCESSABLE, firstLine(e.what()));
    }
}

inline ImageHeader headerOf(const vips::VImage& image) {
    ImageHeader header;
    if (vips_image_get_typeof(image.get_image(), VIPS_META_ORIENTATION))
        vips_image_get_int(image.get_image(), VIPS_META_ORIENTATION, &header.orientation);
    bool swap = header.orientation >= 5 && header.orientation <= 8;
    header.probe.width = swap ? image.height() : image.width();
    header.probe.height = swap ? image.width() : image.height();
    int pages = vips_image_get_n_pages(image.get_image());
    if (pages > 1) header.probe.pages = pages;
    return header;
}

inline ImageHeader readHeader(const sdk::Input& input) { return headerOf(openHeader(input)); }

inline sdk::Probe probeImage(const sdk::Input& input) { return readHeader(input).probe; }

// libvips' thumbnail of the source file: shrink-on-load, EXIF orientation
// applied, first page or frame only, and a truncated or corrupt source
// refused (PM_UNPROCESSABLE) rather than padded with grey. `options` may be
// null; it is consumed, as libvips' option lists are.
inline vips::VImage thumbnailOf(const sdk::Input& input, int width, vips::VOption* options) {
    if (!options) options = vips::VImage::option();
    options->set("fail_on", VIPS_FAIL_ON_TRUNCATED);
    try {
        return vips::VImage::thumbnail(input.path(), width, options);
    } catch (const vips::VError& e) {
        throw sdk::Error(PM_UNPROCESSABLE, firstLine(e.what()));
    }
}

// Refuses an image the job would make over the pixel limit; libvips
// pipelines are lazy, so this runs before any pixel is computed.
inline void checkOutputPixels(const sdk::Job& job, const vips::VImage& image) {
    uint64_t pixels = static_cast<uint64_t>(image.width()) * static_cast<uint64_t>(image.height());
    if (pixels > job.maxPixels())
        throw sdk::Error(PM_UNPROCESSABLE, "the output would be " + std::to_string(image.width()) + "x" +
                                               std::to_string(image.height()) + "; the limit is " +
                                               std::to_string(job.maxPixels()) + " pixels");
}

// Refuses a source over the pixel limit before any pixel is decoded.
inline void checkPixels(const sdk::Job& job, const sdk::Probe& probe) {
    uint64_t pixels = static_cast<uint64_t>(probe.width) * static_cast<uint64_t>(probe.height);
    if (probe.width > 0 && probe.height > 0 && pixels > job.maxPixels())
        throw sdk::Error(PM_UNPROCESSABLE, "the image is " + std::to_string(probe.width) + "x" +
                                               std::to_string(probe.height) + "; the limit is " +
                                               std::to_string(job.maxPixels()) + " pixels");
}

// One output format: how the plugins name it, and what the output file is
// called and typed (encodeAs() picks the saver and its settings).
struct OutputFormat {
    const char* name;       // the value of the "format" parameter
    const char* extension;  // of the output's file name
    const char* mediaType;
};

inline constexpr OutputFormat kOutputFormats[] = {
    {"jpeg", ".jpg", "image/jpeg"}, {"png", ".png", "image/png"},   {"webp", ".webp", "image/webp"},
    {"avif", ".avif", "image/avif"}, {"jxl", ".jxl", "image/jxl"},
};

inline const OutputFormat& outputFormat(const std::string& name) {
    for (const OutputFormat& f : kOutputFormats)
        if (name == f.name) return f;
    return kOutputFormats[0];  // the schema allows nothing else; jpeg as the plugins' default
}

// `image` in `format`, metadata stripped (orientation was applied already).
// Throws vips::VError.
inline std::string encodeAs(const vips::VImage& image, const OutputFormat& format, int quality) {
    const std::string name = format.name;
    vips::VOption* options = vips::VImage::option()->set("strip", true);
    VipsBlob* blob = nullptr;
    if (name == "avif") {
        // AV1 in a HEIF container is AVIF (libheif's default is HEVC). effort
        // runs 0-9 (libvips' default 4; the encoder's speed is 9 - effort): on
        // a noisy 1024x768 image 2 took 5 s against 21 s at 4, for a file 2%
        // larger, so that a large resize still finishes within a job's time.
        options->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)->set("effort", 2)->set("Q", quality);
        blob = image.heifsave_buffer(options);
    } else if (name == "jxl") {
        // effort runs 3-9 (libvips' default 7); on the same image 5 took 2.4 s
        // against 3.8 s at 7 for the same size (4: 2.2 s, but 20% larger).
        // jxlsave is flagged untrusted in libvips, which is about reading
        // hostile files: here it writes pixels this plugin made. Where
        // untrusted operations are blocked (VIPS_BLOCK_UNTRUSTED) it fails,
        // and writableFormats() leaves jxl out.
        options->set("effort", 5)->set("Q", quality);
        blob = image.jxlsave_buffer(options);
    } else if (name == "png") {
        options->set("compression", 6);
        blob = image.pngsave_buffer(options);
    } else if (name == "webp") {
        options->set("Q", quality);
        blob = image.webpsave_buffer(options);
    } else {
        options->set("Q", quality);
        blob = image.jpegsave_buffer(options);
    }
    size_t size = 0;
    const void* data = vips_blob_get(blob, &size);
    std::string bytes(static_cast<const char*>(data), size);
    vips_area_unref(VIPS_AREA(blob));
    return bytes;
}

// Whether this build writes `format`: libheif may have no AV1 encoder, and
// jxlsave may be missing or blocked. A tiny image is encoded and checked.
inline bool canWrite(const OutputFormat& format) {
    try {
        vips::VImage tiny = vips::VImage::black(8, 8, vips::VImage::option()->set("bands", 3)) + 128;
        std::string bytes = encodeAs(tiny.cast(VIPS_FORMAT_UCHAR), format, 50);
        if (std::string(format.name) == "avif") return bytes.size() > 12 && bytes.compare(4, 8, "ftypavif") == 0;
        return !bytes.empty();
    } catch (const vips::VError&) {
        vips_error_clear();
        return false;
    }
}

// The JSON list of formats this build writes, decided once per process (when
// the plugin is loaded, for its schema). libvips is started here if the host
// has not yet: VIPS_INIT does nothing the second time.
inline const std::string& writableFormats() {
    static const std::string list = [] {
        bool vips = VIPS_INIT("pixelmill") == 0;
        std::string out = "[";
        for (const OutputFormat& f : kOutputFormats) {
            std::string name = f.name;
            bool always = name == "jpeg" || name == "png" || name == "webp";
            if (!always && !(vips && canWrite(f))) continue;
            out += (out.size() > 1 ? ", \"" : "\"") + name + "\"";
        }
        return out + "]";
    }();
    return list;
}

// The schema's "x-produces" for the formats this build writes: the type
// each "format" gives, and without one png or jpeg (alpha or not).
inline const std::string& producedTypes() {
    static const std::string map = [] {
        std::string types;
        for (const OutputFormat& f : kOutputFormats)
            if (writableFormats().find(std::string("\"") + f.name + "\"") != std::string::npos)
                types += (types.empty() ? "\"" : ", \"") + std::string(f.name) + "\": [\"" + f.mediaType + "\"]";
        return R"({"by": "format", "types": {)" + types + R"(}, "otherwise": ["image/jpeg", "image/png"]})";
    }();
    return map;
}

// `schema` with "@FORMATS@" replaced by writableFormats() and "@PRODUCES@" by producedTypes().
inline std::string withWritableFormats(std::string schema) {
    for (auto [token, text] : {std::pair<std::string, const std::string*>{"@FORMATS@", &writableFormats()},
                               {"@PRODUCES@", &producedTypes()}})
        if (size_t at = schema.find(token); at != std::string::npos) schema.replace(at, token.size(), *text);
    return schema;
}

// Encodes `image` in `format` (a name from the schema's enum) and adds it as
// output `index`, named baseName plus the format's extension.
inline void encodeAndAdd(const sdk::Job& job, vips::VImage image, const std::string& format, int quality,
                         const std::string& baseName, uint32_t index = 0) {
    const OutputFormat& f = outputFormat(format);
    // JPEG has no alpha: flattened onto white, before the kill switch is
    // attached to the image that is computed.
    if (std::string(f.name) == "jpeg" && image.has_alpha())
        image = image.flatten(vips::VImage::option()->set("background", std::vector<double>{255, 255, 255}));
    std::string bytes;
    {
        KillSwitch kill(image, job);
        try {
            bytes = encodeAs(image, f, quality);
        } catch (const vips::VError& e) {
            job.throwIfStopped();
            throw sdk::Error(PM_UNPROCESSABLE, firstLine(e.what()));
        }
    }
    job.addOutput(index, baseName + f.extension, f.mediaType,
                  {reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()}, image.width(), image.height());
}

}  // namespace pixelmill::plugins
