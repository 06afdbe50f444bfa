// The daemon's own header reader on arbitrary bytes: never a crash, never a
// read past the bytes it was given, and never an answer libvips disagrees
// with. Where the reader answers, libvips (the loaders the plugin probe uses)
// must open the same bytes and report the same displayed size, one page.
#include "jobs/image_header.h"
#include "jobs/sniff.h"

#include <vips/vips.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (VIPS_INIT("image_header_fuzz") != 0) return 1;
    vips_cache_set_max(0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const unsigned char> bytes(data, size);
    const std::string type = pixelmill::sniffMediaType(bytes.first(std::min<size_t>(size, 4096)));
    const std::optional<pixelmill::SourceInfo> ours = pixelmill::readImageHeader(type, bytes);
    if (!ours) return 0;
    if (!ours->width || !ours->height || *ours->width <= 0 || *ours->height <= 0 || ours->pages) __builtin_trap();

    // The plugin probe's reading (plugins/common/vips_support.hpp readHeader), from memory.
    VipsImage* image = vips_image_new_from_buffer(data, size, "", "access", VIPS_ACCESS_SEQUENTIAL, nullptr);
    if (!image) __builtin_trap();  // the reader answered for bytes the probe refuses
    int orientation = 1;
    if (vips_image_get_typeof(image, VIPS_META_ORIENTATION)) vips_image_get_int(image, VIPS_META_ORIENTATION, &orientation);
    const bool swap = orientation >= 5 && orientation <= 8;
    const int width = swap ? vips_image_get_height(image) : vips_image_get_width(image);
    const int height = swap ? vips_image_get_width(image) : vips_image_get_height(image);
    const int pages = vips_image_get_n_pages(image);
    g_object_unref(image);
    if (width != *ours->width || height != *ours->height || pages > 1) __builtin_trap();
    return 0;
}
