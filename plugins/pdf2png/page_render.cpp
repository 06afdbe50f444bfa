#include "page_render.hpp"

#include "document_pool.hpp"

#include <pixelmill/plugin.hpp>

#include <png.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace pixelmill::pdf2png {
namespace {

// PNG through libpng's simplified write API with PNG_IMAGE_FLAG_FAST: no row
// filter, zlib level 3. A rendered page is mostly flat paper, and per-page
// cost is what limits pages/s. Measured on 50 Letter pages at 72 dpi: about
// 4x faster to encode than libpng's defaults that pdftoppm uses (level 6,
// adaptive filters), which cost more than rendering the page; files within
// -20%..+50% of pdftoppm's. libvips' pngsave_buffer with the same settings
// spent ~5 ms more per page in its pipeline and thread hand-offs, and scaled
// worse across parallel pages; this writes straight from poppler's padded
// rows, with no copy.
std::span<const unsigned char> encodePng(const poppler::image& image, std::unique_ptr<unsigned char[]>& buffer,
                                         int pageNumber) {
    png_image png{};
    png.version = PNG_IMAGE_VERSION;
    png.width = static_cast<png_uint_32>(image.width());
    png.height = static_cast<png_uint_32>(image.height());
    png.format = PNG_FORMAT_RGB;
    png.flags = PNG_IMAGE_FLAG_FAST;
    // Big enough for any compression outcome; pages of it that are never
    // written are never touched, so this costs address space, not memory.
    png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(png);
    buffer = std::make_unique_for_overwrite<unsigned char[]>(size);
    // row_stride counts components, which are bytes for 8-bit RGB.
    if (!png_image_write_to_memory(&png, buffer.get(), &size, 0, image.const_data(), image.bytes_per_row(), nullptr)) {
        std::string why = png.message;
        png_image_free(&png);
        throw sdk::Error(PM_INTERNAL, "page " + std::to_string(pageNumber) + " could not be encoded as PNG: " + why);
    }
    return {buffer.get(), size};
}

}  // namespace

PixelSize renderedSize(const poppler::page& page, int dpi) {
    poppler::rectf box = page.page_rect(poppler::crop_box);
    // Rounded up as pdftoppm does, so that both give the same size (Splash
    // on its own would round to nearest).
    auto px = [&](double points) {
        double pixels = std::ceil(std::fabs(points) * dpi / 72.0);
        // A hostile page box (1e30 points, NaN) must not overflow the cast;
        // anything this large is refused by the pixel limit anyway.
        return std::isfinite(pixels) ? static_cast<int64_t>(std::min(pixels, 1e9)) : int64_t{0};
    };
    PixelSize size{px(box.width()), px(box.height())};
    auto o = page.orientation();
    if (o == poppler::page::landscape || o == poppler::page::seascape) std::swap(size.width, size.height);
    return size;
}

RenderedPage renderPage(const poppler::page& page, int pageNumber, int dpi, PixelSize size) {
    poppler::page_renderer renderer;
    renderer.set_render_hints(poppler::page_renderer::antialiasing | poppler::page_renderer::text_antialiasing);
    renderer.set_paper_color(0xffffffff);
    renderer.set_image_format(poppler::image::format_rgb24);
    clearPopplerError();
    poppler::image image = renderer.render_page(&page, dpi, dpi, 0, 0, static_cast<int>(size.width),
                                                static_cast<int>(size.height));
    if (!image.is_valid() || image.width() <= 0 || image.height() <= 0) {
        std::string why = lastPopplerError();
        throw sdk::Error(PM_UNPROCESSABLE,
                         "page " + std::to_string(pageNumber) + " could not be rendered" + (why.empty() ? "" : ": " + why));
    }
    RenderedPage out;
    out.width = image.width();
    out.height = image.height();
    out.size = encodePng(image, out.buffer, pageNumber).size();
    return out;
}

}  // namespace pixelmill::pdf2png
