// Reading rendered pages back: size, bands and the colour at a point.
#pragma once

#include "support/pdf_writer.h"
#include "support/images.h"

#include <vips/vips8>

#include <cmath>
#include <string>
#include <vector>

namespace pixelmill::pdf2png::test {

struct DecodedPng {
    int width = 0;
    int height = 0;
    int bands = 0;
    std::string loader;
    vips::VImage image;

    // 0-255 per band at (x, y).
    std::vector<double> at(int x, int y) const { return image.getpoint(x, y); }
};

inline DecodedPng decodePng(const std::string& bytes) {
    pixelmill::test::initVips();
    DecodedPng d;
    d.image = vips::VImage::new_from_buffer(bytes.data(), bytes.size(), "").copy_memory();  // decodes every pixel
    d.width = d.image.width();
    d.height = d.image.height();
    d.bands = d.image.bands();
    const char* loader = nullptr;
    if (vips_image_get_string(d.image.get_image(), "vips-loader", &loader) == 0 && loader) d.loader = loader;
    return d;
}

// Whether `pixel` is `colour` (0-1 per channel) within a small tolerance.
inline bool isColour(const std::vector<double>& pixel, const Rgb& colour, double tolerance = 3) {
    return pixel.size() >= 3 && std::fabs(pixel[0] - colour.r * 255) <= tolerance &&
           std::fabs(pixel[1] - colour.g * 255) <= tolerance && std::fabs(pixel[2] - colour.b * 255) <= tolerance;
}

// Checks a page of mixedPages()/letterPages(): the coloured half where the
// page's /Rotate puts it, and white paper in the other half near its edge.
inline bool looksLikePage(const DecodedPng& png, const PageSpec& spec) {
    const Rgb white{1, 1, 1};
    int w = png.width, h = png.height;
    switch (spec.rotate) {
        case 90:  // the left half of the page is shown on top
            return isColour(png.at(w / 2, h / 4), spec.fill) && isColour(png.at(w / 2, h - 3), white);
        case 0:
            return isColour(png.at(w / 4, h - 10), spec.fill) && isColour(png.at(w - 3, h - 3), white);
        default:
            return false;
    }
}

}  // namespace pixelmill::pdf2png::test
