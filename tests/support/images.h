#pragma once

#include <filesystem>
#include <string>

namespace pixelmill::test {

// Test images made on the spot with libvips: nothing is fetched.
// Each has content that varies across the frame (gradients and noise), so
// encoders and decoders do real work, and a `seed` so files can differ.

// A JPEG of w x h pixels; `orientation` is written as the EXIF tag (1 = none).
void makeJpeg(const std::filesystem::path& path, int width, int height, int orientation = 1, int seed = 0,
              int quality = 85);
// A PNG, RGB or RGBA.
void makePng(const std::filesystem::path& path, int width, int height, bool alpha = false, int seed = 0);
// A valid JPEG cut short: the header is readable, the pixels are not all there.
void makeTruncatedJpeg(const std::filesystem::path& path);
// JPEG magic bytes followed by noise.
void makeGarbageJpeg(const std::filesystem::path& path);
// A tiny PNG whose header declares width x height (a decompression bomb).
void makePngBomb(const std::filesystem::path& path, uint32_t width, uint32_t height);

struct ImageInfo {
    int width = 0;
    int height = 0;
    int bands = 0;
    std::string loader;
};
// Decodes bytes fully (so a broken file fails here) and reports the result.
ImageInfo decodeImage(const std::string& bytes);
// Mean of all pixels and bands, for tolerant golden comparisons.
double meanPixel(const std::string& bytes);

// Starts libvips once for the test process.
void initVips();

}  // namespace pixelmill::test

// libvips is not built with ThreadSanitizer: its own threads' frees look like
// races to it (vips_tracked_free). These tests run in every other build.
#if defined(__SANITIZE_THREAD__)
#define PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS() \
    do {                                     \
        WARN("skipped under ThreadSanitizer: libvips is not instrumented"); \
        return;                              \
    } while (0)
#else
#define PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS() \
    do {                                     \
    } while (0)
#endif
