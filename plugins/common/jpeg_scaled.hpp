#pragma once

// The common case of a thumbnail, a plain JPEG, decoded straight with
// libjpeg at the largest DCT scale (1/2, 1/4, 1/8) that still covers the
// box: what libvips' shrink-on-load does, without its pipeline set-up, the
// second open of the file and the line cache, which cost a third of the
// time on photos of a few megapixels. Anything out of the ordinary (an ICC
// profile, CMYK, a warning from the decoder such as a truncated file) is
// left to libvips by returning nothing, so the results and the errors stay
// libvips' own.
#include <vips/vips8>

#include <cstddef>
#include <cstdio>  // jpeglib.h needs size_t and FILE first

#include <jpeglib.h>

#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace pixelmill::plugins {

namespace jpeg_detail {

struct ErrorManager {
    jpeg_error_mgr base;
    std::jmp_buf jump;
    int warnings = 0;
};

[[noreturn]] inline void onError(j_common_ptr info) {
    std::longjmp(reinterpret_cast<ErrorManager*>(info->err)->jump, 1);
}

inline void onMessage(j_common_ptr info, int level) {
    if (level < 0) ++reinterpret_cast<ErrorManager*>(info->err)->warnings;  // corrupt data, premature end
}

inline uint16_t read16(const unsigned char* p, bool little) {
    return little ? static_cast<uint16_t>(p[0] | p[1] << 8) : static_cast<uint16_t>(p[0] << 8 | p[1]);
}

inline uint32_t read32(const unsigned char* p, bool little) {
    return little ? static_cast<uint32_t>(p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24)
                  : static_cast<uint32_t>(static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]);
}

// The EXIF orientation (1-8) in an APP1 marker, or 1.
inline int exifOrientation(const unsigned char* data, size_t size) {
    if (size < 14 || std::memcmp(data, "Exif\0\0", 6) != 0) return 1;
    const unsigned char* tiff = data + 6;
    size_t len = size - 6;
    bool little = tiff[0] == 'I' && tiff[1] == 'I';
    if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
    size_t ifd = read32(tiff + 4, little);  // size_t: an offset near 2^32 must not wrap past the check
    if (ifd > len || len - ifd < 2) return 1;
    uint16_t entries = read16(tiff + ifd, little);
    for (uint16_t i = 0; i < entries; ++i) {
        size_t at = ifd + 2 + static_cast<size_t>(i) * 12;
        if (at + 12 > len) return 1;
        if (read16(tiff + at, little) == 0x0112 && read16(tiff + at + 2, little) == 3) {
            int o = read16(tiff + at + 8, little);
            return o >= 1 && o <= 8 ? o : 1;
        }
    }
    return 1;
}

}  // namespace jpeg_detail

struct ScaledJpeg {
    vips::VImage image;    // decoded at a DCT scale, EXIF orientation applied
    int fullWidth = 0;     // the source's size as displayed (after orientation)
    int fullHeight = 0;
};

// Decodes `bytes` (a JPEG) at the smallest DCT scale whose longer or shorter
// side still reaches `box`; nullopt when libvips should do it instead.
// `maxPixels` is checked from the header, before any pixel is decoded; a
// source over it returns nullopt too (libvips' path refuses it with its message).
inline std::optional<ScaledJpeg> decodeScaledJpeg(std::span<const unsigned char> bytes, int box, uint64_t maxPixels) {
    using namespace jpeg_detail;
    jpeg_decompress_struct info;
    ErrorManager err;
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = onError;
    err.base.emit_message = onMessage;
    unsigned char* volatile pixels = nullptr;  // freed after a longjmp too
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&info);
        g_free(pixels);
        return std::nullopt;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_save_markers(&info, JPEG_APP0 + 1, 0xffff);
    jpeg_save_markers(&info, JPEG_APP0 + 2, 0xffff);
    jpeg_read_header(&info, TRUE);

    int orientation = 1;
    bool plain = (info.jpeg_color_space == JCS_YCbCr && info.num_components == 3) ||
                 (info.jpeg_color_space == JCS_GRAYSCALE && info.num_components == 1);
    for (auto* m = info.marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 2 && m->data_length >= 12 && std::memcmp(m->data, "ICC_PROFILE", 11) == 0)
            plain = false;  // colour management is libvips' job
        if (m->marker == JPEG_APP0 + 1) orientation = exifOrientation(m->data, m->data_length);
    }
    uint64_t w = info.image_width, h = info.image_height;
    if (!plain || w == 0 || h == 0 || w * h > maxPixels || err.warnings > 0) {
        jpeg_destroy_decompress(&info);
        return std::nullopt;
    }
    // The fit: the longer side becomes `box`. Scale down by DCT while the longer side stays >= box.
    uint64_t longer = std::max(w, h);
    unsigned denom = 1;
    while (denom < 8 && longer / (denom * 2) >= static_cast<uint64_t>(box)) denom *= 2;
    info.scale_num = 1;
    info.scale_denom = denom;
    info.out_color_space = info.num_components == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_start_decompress(&info);
    int ow = static_cast<int>(info.output_width), oh = static_cast<int>(info.output_height);
    int bands = info.output_components;
    size_t stride = static_cast<size_t>(ow) * static_cast<size_t>(bands);
    pixels = static_cast<unsigned char*>(g_malloc(stride * static_cast<size_t>(oh)));
    while (info.output_scanline < info.output_height) {
        unsigned char* row = pixels + static_cast<size_t>(info.output_scanline) * stride;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    bool clean = err.warnings == 0;
    jpeg_destroy_decompress(&info);
    if (!clean) {
        g_free(pixels);
        return std::nullopt;
    }
    ScaledJpeg out;
    out.image = vips::VImage::new_from_memory_steal(pixels, stride * static_cast<size_t>(oh), ow, oh, bands,
                                                    VIPS_FORMAT_UCHAR);
    out.image = out.image.copy(vips::VImage::option()->set(
        "interpretation", bands == 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W));
    bool swap = orientation >= 5;
    out.fullWidth = static_cast<int>(swap ? h : w);
    out.fullHeight = static_cast<int>(swap ? w : h);
    if (orientation != 1) {
        out.image.set(VIPS_META_ORIENTATION, orientation);
        out.image = out.image.autorot();
    }
    return out;
}

}  // namespace pixelmill::plugins
