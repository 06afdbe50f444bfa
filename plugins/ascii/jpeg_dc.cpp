#include "jpeg_dc.hpp"

// jpeglib.h needs FILE and size_t declared first.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>

#include <jpeglib.h>

namespace pixelmill::plugins::ascii {
namespace {

// libjpeg reports a fatal error by calling error_exit, which must not
// return: it jumps back to decode(), which gives up quietly.
struct ErrorManager {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
};

[[noreturn]] void onError(j_common_ptr cinfo) { std::longjmp(reinterpret_cast<ErrorManager*>(cinfo->err)->jump, 1); }

void onMessage(j_common_ptr, int) {}  // warnings: libvips decodes the file again if it matters

// What decode() makes. Plain data: between setjmp and longjmp nothing may
// need a destructor.
struct Decoded {
    unsigned char* pixels = nullptr;  // g_malloc'd, width x height x bands
    int width = 0;
    int height = 0;
    int bands = 0;
    JOCTET* icc = nullptr;  // malloc'd by libjpeg
    unsigned int iccLength = 0;
};

void release(Decoded* out) {
    g_free(out->pixels);
    out->pixels = nullptr;
    std::free(out->icc);
    out->icc = nullptr;
}

// A complete JPEG ends with EOI (FF D9). A truncated one is left to libvips,
// which refuses it; so is one with bytes after EOI.
bool endsWithEoi(const unsigned char* data, size_t size) {
    return size >= 4 && data[size - 2] == 0xff && data[size - 1] == 0xd9;
}

bool decode(const unsigned char* data, size_t size, int minWidth, int minHeight, Decoded* out) {
    jpeg_decompress_struct cinfo;
    ErrorManager errors;
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = onError;
    errors.pub.emit_message = onMessage;
    if (setjmp(errors.jump)) {
        jpeg_destroy_decompress(&cinfo);
        release(out);
        return false;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
    jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xffff);  // ICC profile chunks
    jpeg_read_header(&cinfo, TRUE);

    bool usable = cinfo.progressive_mode &&
                  (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB ||
                   cinfo.jpeg_color_space == JCS_GRAYSCALE);
    if (usable) {
        cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
        cinfo.scale_num = 1;
        cinfo.scale_denom = 8;
        cinfo.buffered_image = TRUE;
        // Smoothing guesses the missing AC coefficients, which a 1/8 scale
        // (DC only) never uses.
        cinfo.do_block_smoothing = FALSE;
        jpeg_calc_output_dimensions(&cinfo);
        usable = static_cast<int>(cinfo.output_width) >= minWidth && static_cast<int>(cinfo.output_height) >= minHeight;
    }
    if (!usable) {
        jpeg_destroy_decompress(&cinfo);
        return false;
    }

    jpeg_start_decompress(&cinfo);  // buffered mode: reads up to the first scan
    // Read every DC scan (first passes and refinements), stop at the first AC one.
    int scan = 0;
    for (;;) {
        int status = jpeg_consume_input(&cinfo);
        if (status == JPEG_SUSPENDED) {
            jpeg_destroy_decompress(&cinfo);
            return false;
        }
        if (status == JPEG_REACHED_EOI) {
            scan = cinfo.input_scan_number;
            break;
        }
        if (status == JPEG_REACHED_SOS && cinfo.Ss != 0) {
            scan = cinfo.input_scan_number - 1;
            break;
        }
    }
    // Every component must have its DC coefficients.
    for (int c = 0; c < cinfo.num_components; ++c) {
        if (cinfo.coef_bits == nullptr || cinfo.coef_bits[c][0] < 0 || scan < 1) {
            jpeg_destroy_decompress(&cinfo);
            return false;
        }
    }

    jpeg_start_output(&cinfo, scan);
    out->width = static_cast<int>(cinfo.output_width);
    out->height = static_cast<int>(cinfo.output_height);
    out->bands = cinfo.output_components;
    size_t stride = static_cast<size_t>(out->width) * static_cast<size_t>(out->bands);
    out->pixels = static_cast<unsigned char*>(g_malloc(stride * static_cast<size_t>(out->height)));
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_read_icc_profile(&cinfo, &out->icc, &out->iccLength);
    // The AC scans are never read: destroying aborts the decompression.
    jpeg_destroy_decompress(&cinfo);
    return true;
}

int freeIcc(void* data, void*) {
    std::free(data);
    return 0;
}

}  // namespace

std::optional<vips::VImage> progressiveDcPreview(const unsigned char* data, size_t size, int minWidth, int minHeight) {
    if (!endsWithEoi(data, size)) return std::nullopt;
    Decoded decoded;
    if (!decode(data, size, minWidth, minHeight, &decoded)) return std::nullopt;
    size_t bytes = static_cast<size_t>(decoded.width) * static_cast<size_t>(decoded.height) *
                   static_cast<size_t>(decoded.bands);
    vips::VImage image;
    try {
        image = vips::VImage::new_from_memory_steal(decoded.pixels, bytes, decoded.width, decoded.height,
                                                    decoded.bands, VIPS_FORMAT_UCHAR);
        decoded.pixels = nullptr;  // the image owns them now
        image = image.copy(vips::VImage::option()->set(
            "interpretation", decoded.bands == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB));
        if (decoded.icc) {
            image.set(VIPS_META_ICC_NAME, &freeIcc, decoded.icc, decoded.iccLength);
            decoded.icc = nullptr;  // the image owns it now
        }
    } catch (const vips::VError&) {
        release(&decoded);
        return std::nullopt;
    }
    return image;
}

}  // namespace pixelmill::plugins::ascii
