// Helpers shared by the libvips plugins (thumbnail, resize, ascii): a header
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

// Width and height as displayed: EXIF orientations 5-8 swap them.
inline sdk::Probe probeImage(const sdk::Input& input) {
    vips::VImage image;
    try {
        image = vips::VImage::new_from_file(input.path(), vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
    } catch (const vips::VError& e) {
        throw sdk::Error(PM_UNPROCESSABLE, firstLine(e.what()));
    }
    int orientation = 1;
    if (vips_image_get_typeof(image.get_image(), VIPS_META_ORIENTATION))
        vips_image_get_int(image.get_image(), VIPS_META_ORIENTATION, &orientation);
    sdk::Probe probe;
    bool swap = orientation >= 5 && orientation <= 8;
    probe.width = swap ? image.height() : image.width();
    probe.height = swap ? image.width() : image.height();
    int pages = vips_image_get_n_pages(image.get_image());
    if (pages > 1) probe.pages = pages;
    return probe;
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
