// Helpers shared by the libvips plugins (thumbnail, resize, ascii, info): a header
// compiled into each plugin, so every .so stays self-contained.
#pragma once

#include <pixelmill/plugin.hpp>

#include <vips/vips8>

#include <cstdint>
#include <string>

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

struct Encoded {
    std::string name;
    std::string mediaType;
    VipsBlob* blob = nullptr;
};

// Encodes `image` as jpeg, png or webp. JPEG has no alpha: it is flattened
// onto white. Metadata is stripped (orientation was applied already).
inline void encodeAndAdd(const sdk::Job& job, vips::VImage image, const std::string& format, int quality,
                         const std::string& baseName, uint32_t index = 0) {
    std::string suffix;
    std::string mediaType;
    vips::VOption* options = vips::VImage::option()->set("strip", true);
    if (format == "png") {
        suffix = ".png";
        mediaType = "image/png";
        options->set("compression", 6);
    } else if (format == "webp") {
        suffix = ".webp";
        mediaType = "image/webp";
        options->set("Q", quality);
    } else {
        suffix = ".jpg";
        mediaType = "image/jpeg";
        if (image.has_alpha())
            image = image.flatten(vips::VImage::option()->set("background", std::vector<double>{255, 255, 255}));
        options->set("Q", quality);
    }
    void* data = nullptr;
    size_t size = 0;
    {
        KillSwitch kill(image, job);
        try {
            image.write_to_buffer(suffix.c_str(), &data, &size, options);
        } catch (const vips::VError& e) {
            job.throwIfStopped();
            throw sdk::Error(PM_UNPROCESSABLE, firstLine(e.what()));
        }
    }
    struct Free {
        void* p;
        ~Free() { g_free(p); }
    } guard{data};
    job.addOutput(index, baseName + suffix, mediaType, {static_cast<const unsigned char*>(data), size}, image.width(),
                  image.height());
}

}  // namespace pixelmill::plugins
