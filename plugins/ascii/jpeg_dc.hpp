// A fast preview of a progressive JPEG at 1/8 scale, from its DC scans alone.
//
// A progressive JPEG sends the DC coefficient of every 8x8 block (its mean)
// first, and the detail after it in several AC scans; decoding those is most
// of the work, even when libjpeg scales by 1/8. When the picture is wanted
// much smaller than 1/8 (ascii's 100 columns from 5120 pixels), the DC scans
// hold all it needs: reading only them is several times faster, and gives the
// same 8x8 block means that libjpeg's 1/8 scaling gives.
#pragma once

#include <vips/vips8>

#include <cstddef>
#include <optional>

namespace pixelmill::plugins::ascii {

// The source at 1/8 scale (each side rounded up), sRGB or B_W, 8 bits, with
// its embedded ICC profile attached; as stored, without EXIF orientation.
// Nothing (std::nullopt) when the shortcut does not apply or the file looks
// wrong in any way: not a progressive JPEG, a colour space other than
// YCbCr, RGB or grey, a 1/8 preview smaller than `minWidth` x `minHeight`,
// no EOI marker at the end (truncated), or any libjpeg error. The caller then
// decodes with libvips, which reports real errors as usual.
// `data` must stay valid until this returns; the result owns its pixels.
std::optional<vips::VImage> progressiveDcPreview(const unsigned char* data, size_t size, int minWidth, int minHeight);

}  // namespace pixelmill::plugins::ascii
