// One PDF page to one PNG: poppler's Splash renderer, then libpng.
#pragma once

#include <poppler-page.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace pixelmill::pdf2png {

struct PixelSize {
    int64_t width = 0;
    int64_t height = 0;
    uint64_t pixels() const { return static_cast<uint64_t>(width) * static_cast<uint64_t>(height); }
};

// The size the page renders to at `dpi`: its crop box turned by its /Rotate,
// in pixels rounded up as pdftoppm does; known without rendering anything.
PixelSize renderedSize(const poppler::page& page, int dpi);

struct RenderedPage {
    std::unique_ptr<unsigned char[]> buffer;  // holds the PNG file in its first `size` bytes
    size_t size = 0;
    int width = 0;
    int height = 0;

    std::span<const unsigned char> png() const { return {buffer.get(), size}; }
};

// Renders the crop box like `pdftoppm -png -cropbox`: antialiased text and
// vectors, no font hinting, white paper, RGB without alpha, `size` pixels
// (from renderedSize). Throws sdk::Error(PM_UNPROCESSABLE) when poppler gives
// no image, sdk::Error(PM_INTERNAL) when libpng fails.
RenderedPage renderPage(const poppler::page& page, int pageNumber, int dpi, PixelSize size);

}  // namespace pixelmill::pdf2png
