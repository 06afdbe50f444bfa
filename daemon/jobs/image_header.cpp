#include "jobs/image_header.h"

#include "jobs/magic.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

// Each reader below accepts only what libvips 8.14's loaders (libjpeg-turbo,
// libpng, libnsgif, libwebp's demuxer) read without complaint AND whose size
// it can state for certain; anything else is left to the plugin probe. The
// rules that look arbitrary are those loaders' own limits, named where used.
namespace pixelmill {
namespace {

using Bytes = std::span<const unsigned char>;
using std::nullopt;

uint32_t be16(const unsigned char* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const unsigned char* p) { return be16(p) << 16 | be16(p + 2); }
uint32_t le16(const unsigned char* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le24(const unsigned char* p) { return le16(p) | uint32_t(p[2]) << 16; }
uint32_t le32(const unsigned char* p) { return le16(p) | le16(p + 2) << 16; }

// Width and height as the probe reports them: EXIF orientations 5-8 (a
// quarter turn) swap them; one page is reported as no page count.
SourceInfo displayed(uint32_t width, uint32_t height, int orientation) {
    bool swap = orientation >= 5 && orientation <= 8;
    SourceInfo info;
    info.width = static_cast<int>(swap ? height : width);
    info.height = static_cast<int>(swap ? width : height);
    return info;
}

// The orientation libvips (through libexif) takes from a TIFF-structured EXIF
// block: IFD0's Orientation tag, 1 when there is none. nullopt unless the
// block is plainly well formed and the tag, if present, is one SHORT of 1-8.
std::optional<int> exifOrientation(Bytes tiff) {
    if (tiff.size() < 8 || tiff.size() > 0xfff0) return nullopt;  // libexif reads at most 64 KiB
    bool little;
    if (startsWith(tiff, std::string_view("II*\0", 4)))
        little = true;
    else if (startsWith(tiff, std::string_view("MM\0*", 4)))
        little = false;
    else
        return nullopt;
    auto u16 = [&](size_t at) { return little ? le16(&tiff[at]) : be16(&tiff[at]); };
    auto u32 = [&](size_t at) { return little ? le32(&tiff[at]) : be32(&tiff[at]); };
    const uint64_t ifd = u32(4);
    if (ifd < 8 || ifd + 2 > tiff.size()) return nullopt;
    const uint32_t entries = u16(ifd);
    if (entries > 256 || ifd + 2 + 12ull * entries > tiff.size()) return nullopt;  // libexif would read part of it
    int orientation = 1;
    bool seen = false;
    for (uint32_t i = 0; i < entries; ++i) {
        const size_t e = ifd + 2 + 12 * i;
        if (u16(e) != 0x0112) continue;
        if (seen) return nullopt;
        seen = true;
        if (u16(e + 2) != 3 || u32(e + 4) != 1) return nullopt;  // SHORT, one value
        const uint32_t v = u16(e + 8);
        if (v < 1 || v > 8) return nullopt;
        orientation = static_cast<int>(v);
    }
    return orientation;
}

// What a JPEG's frame header (SOF) says.
struct JpegFrame {
    bool seen = false;
    uint32_t width = 0, height = 0;
    std::array<int, 4> ids{};  // the components' ids
    size_t components = 0;
};

// SOF0-2: baseline, extended sequential and progressive Huffman; the rest
// (lossless, arithmetic, hierarchical) is left to the probe.
bool readJpegFrame(Bytes seg, JpegFrame& frame) {
    if (frame.seen || seg.size() < 6) return false;
    frame.seen = true;
    frame.height = be16(&seg[1]);
    frame.width = be16(&seg[3]);
    const size_t components = frame.components = seg[5];
    // libjpeg-turbo: 8-bit samples only, at most 65500 pixels a side.
    if (seg[0] != 8 || (components != 1 && components != 3 && components != 4)) return false;
    if (seg.size() != 6 + 3 * components) return false;
    if (frame.width == 0 || frame.height == 0 || frame.width > 65500 || frame.height > 65500) return false;
    for (size_t c = 0; c < components; ++c) {
        const unsigned char id = seg[6 + 3 * c], h = seg[7 + 3 * c] >> 4, v = seg[7 + 3 * c] & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4 || seg[8 + 3 * c] > 3) return false;
        if (std::find(frame.ids.begin(), frame.ids.begin() + c, id) != frame.ids.begin() + c) return false;
        frame.ids[c] = id;
    }
    return true;
}

// DHT: whole tables, class 0/1, index 0-3, at most 256 symbols.
bool validHuffmanTables(Bytes seg) {
    for (size_t i = 0; i < seg.size();) {
        if (seg.size() - i < 17 || (seg[i] & 0xEC) != 0) return false;
        size_t count = 0;
        for (size_t k = 1; k <= 16; ++k) count += seg[i + k];
        if (count > 256 || seg.size() - i - 17 < count) return false;
        i += 17 + count;
    }
    return true;
}

// DQT: whole tables, 8 or 16 bits, index 0-3.
bool validQuantTables(Bytes seg) {
    for (size_t i = 0; i < seg.size();) {
        const unsigned precision = seg[i] >> 4, index = seg[i] & 15;
        if (precision > 1 || index > 3) return false;
        const size_t table = 1 + 64 * (precision + 1);
        if (seg.size() - i < table) return false;
        i += table;
    }
    return true;
}

// APP1: libvips parses every APP1 that starts "Exif" as EXIF; libexif wants
// "Exif\0\0". At most one, with a readable orientation.
bool readJpegExif(Bytes seg, bool& haveExif, int& orientation) {
    if (seg.size() <= 4 || !startsWith(seg, "Exif")) return true;  // another APP1 (XMP): fine
    if (haveExif || !startsWith(seg, std::string_view("Exif\0\0", 6))) return false;
    haveExif = true;
    auto o = exifOrientation(seg.subspan(6));
    if (!o) return false;
    orientation = *o;
    return true;
}

// SOS: one to four of the frame's components, each once.
bool validScanHeader(Bytes seg, const JpegFrame& frame) {
    if (!frame.seen || seg.empty()) return false;
    const size_t n = seg[0];
    if (n < 1 || n > 4 || seg.size() != 1 + 2 * n + 3) return false;
    std::array<int, 4> inScan{};
    const auto known = frame.ids.begin() + frame.components;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char id = seg[1 + 2 * i];
        if (std::find(frame.ids.begin(), known, id) == known) return false;
        if (std::find(inScan.begin(), inScan.begin() + i, id) != inScan.begin() + i) return false;
        inScan[i] = id;
    }
    return true;
}

// JPEG: markers from SOI to the first SOS, as libjpeg-turbo's
// jpeg_read_header would read them (with its limits), and no others: fill
// bytes are fine, stray bytes, restart markers and unknown markers are not.
std::optional<SourceInfo> readJpeg(Bytes f) {
    const size_t end = std::min(f.size(), kImageHeaderScanLimit);
    if (end < 4 || f[0] != 0xFF || f[1] != 0xD8) return nullopt;
    size_t pos = 2;
    JpegFrame frame;
    bool haveExif = false;
    int orientation = 1;
    for (;;) {
        if (pos >= end || f[pos] != 0xFF) return nullopt;
        while (pos < end && f[pos] == 0xFF) ++pos;
        if (pos + 3 > end) return nullopt;
        const unsigned char marker = f[pos];
        const bool standalone = marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9) || marker == 0x00;
        if (standalone) return nullopt;  // stuffing, TEM, RSTn, a second SOI, EOI before any scan
        const size_t length = be16(&f[pos + 1]);
        if (length < 2 || pos + 1 + length > end) return nullopt;
        const Bytes seg = f.subspan(pos + 3, length - 2);
        pos += 1 + length;
        bool valid = true;
        switch (marker) {
            case 0xC0: case 0xC1: case 0xC2: valid = readJpegFrame(seg, frame); break;
            case 0xC4: valid = validHuffmanTables(seg); break;
            case 0xDB: valid = validQuantTables(seg); break;
            case 0xDD: valid = seg.size() == 2; break;  // DRI
            case 0xE1: valid = readJpegExif(seg, haveExif, orientation); break;
            case 0xDA:  // SOS: the header ends here
                if (!validScanHeader(seg, frame)) return nullopt;
                return displayed(frame.width, frame.height, orientation);
            default:  // APPn and COM are fine; other SOFs, DAC, DNL, JPGn and reserved ones are not
                valid = (marker >= 0xE0 && marker <= 0xEF) || marker == 0xFE;
        }
        if (!valid) return nullopt;
    }
}

uint32_t crc32(Bytes b) {
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t n = 0; n < 256; ++n) {
            uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }();
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char x : b) c = table[(c ^ x) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

bool isLetter(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// PNG: IHDR as libpng's png_check_IHDR accepts it (libvips lifts the side
// limit to 10,000,000), then every chunk up to the first IDAT with a good CRC:
// png_read_info reads exactly that far.
std::optional<SourceInfo> readPng(Bytes f) {
    const size_t end = std::min(f.size(), kImageHeaderScanLimit);
    if (end < 8 + 25 + 8 || !startsWith(f, "\x89PNG\r\n\x1a\n")) return nullopt;
    if (be32(&f[8]) != 13 || !startsWith(f.subspan(12), "IHDR") || crc32(f.subspan(12, 17)) != be32(&f[29]))
        return nullopt;
    const unsigned char* h = &f[16];
    const uint32_t width = be32(h), height = be32(h + 4);
    const unsigned depth = h[8], color = h[9];
    if (width == 0 || height == 0 || width > 10'000'000 || height > 10'000'000) return nullopt;
    static constexpr std::array<unsigned char, 7> kDepths{0x1F, 0, 0x18, 0x0F, 0x18, 0, 0x18};  // bits 1,2,4,8,16
    const unsigned depthBit = depth == 1 ? 1 : depth == 2 ? 2 : depth == 4 ? 4 : depth == 8 ? 8 : depth == 16 ? 16 : 0;
    if (color > 6 || (kDepths[color] & depthBit) == 0) return nullopt;
    if (h[10] != 0 || h[11] != 0 || h[12] > 1) return nullopt;  // compression, filter, interlace
    bool palette = false, exif = false;
    int orientation = 1;
    size_t pos = 8 + 25;
    for (int chunks = 0; chunks < 64; ++chunks) {
        if (pos + 8 > end) return nullopt;
        const uint32_t length = be32(&f[pos]);
        const Bytes type = f.subspan(pos + 4, 4);
        if (length > 0x7FFFFFFF || !std::all_of(type.begin(), type.end(), isLetter)) return nullopt;
        if (startsWith(type, "IDAT")) {
            if (color == 3 && !palette) return nullopt;
            if (length > 50u << 20) return nullopt;  // libpng's chunk limit as libvips sets it
            return displayed(width, height, orientation);
        }
        if (end - pos < 12 || length > end - pos - 12) return nullopt;
        const Bytes data = f.subspan(pos + 8, length);
        if (crc32(f.subspan(pos + 4, 4 + length)) != be32(&f[pos + 8 + length])) return nullopt;
        pos += 12 + length;
        if (startsWith(type, "PLTE")) {
            if (palette || (color & 2) == 0 || length == 0 || length > 768 || length % 3 != 0) return nullopt;
            palette = true;
        } else if (startsWith(type, "eXIf")) {
            // libvips hands libexif the chunk with "Exif\0\0" put in front.
            if (exif || startsWith(data, "Exif")) return nullopt;
            exif = true;
            auto o = exifOrientation(data);
            if (!o) return nullopt;
            orientation = *o;
        } else if ((type[0] & 0x20) == 0 || startsWith(type, "acTL")) {
            return nullopt;  // IHDR again, IEND, an unknown critical chunk; APNG is left to the probe
        }
    }
    return nullopt;
}

// Skips GIF data sub-blocks from `pos`; false when they run off the end.
bool skipSubBlocks(Bytes f, size_t& pos) {
    for (;;) {
        if (pos >= f.size()) return false;
        const size_t n = f[pos++];
        if (n == 0) return true;
        if (n > f.size() - pos) return false;
        pos += n;
    }
}

// GIF: the whole file (libnsgif counts frames over all of it), one frame
// lying inside the logical screen, then the trailer and nothing more.
// libnsgif replaces some screen sizes (0, over 2048, common monitor sizes)
// with the first frame's extent: those are left to the probe.
std::optional<SourceInfo> readGif(Bytes f) {
    if (f.size() > kImageHeaderScanLimit || f.size() < 14) return nullopt;
    if (!startsWith(f, "GIF87a") && !startsWith(f, "GIF89a")) return nullopt;
    const uint32_t width = le16(&f[6]), height = le16(&f[8]);
    static constexpr std::array<std::pair<uint32_t, uint32_t>, 6> kQuirks{
        {{640, 480}, {640, 512}, {800, 600}, {1024, 768}, {1280, 1024}, {1600, 1200}}};
    if (width == 0 || height == 0 || width > 2048 || height > 2048) return nullopt;
    if (std::find(kQuirks.begin(), kQuirks.end(), std::pair{width, height}) != kQuirks.end()) return nullopt;
    size_t pos = 13;
    if (f[10] & 0x80) pos += size_t(3) << ((f[10] & 7) + 1);
    bool frame = false;
    while (pos < f.size()) {
        const unsigned char block = f[pos++];
        if (block == 0x3B) {
            if (!frame || pos != f.size()) return nullopt;
            return displayed(width, height, 1);
        }
        if (frame) return nullopt;  // a second frame (pages) or anything after the frame but the trailer
        if (block == 0x21) {
            if (pos >= f.size()) return nullopt;
            const unsigned char label = f[pos++];
            if (label == 0xF9 && (pos >= f.size() || f[pos] != 4)) return nullopt;  // graphic control: 4 bytes
            // libnsgif steps over the first sub-block of every extension but a comment
            // before it looks for the terminator, so an empty first block is not an end there.
            if (label != 0xFE && (pos >= f.size() || f[pos] == 0)) return nullopt;
            if (!skipSubBlocks(f, pos)) return nullopt;
        } else if (block == 0x2C) {
            if (f.size() - pos < 10) return nullopt;
            const uint32_t x = le16(&f[pos]), y = le16(&f[pos + 2]), w = le16(&f[pos + 4]), h = le16(&f[pos + 6]);
            const unsigned char flags = f[pos + 8];
            if (w == 0 || h == 0 || x + w > width || y + h > height) return nullopt;
            pos += 9;
            if (flags & 0x80) pos += size_t(3) << ((flags & 7) + 1);
            if (pos >= f.size() || f[pos] < 2 || f[pos] > 8) return nullopt;  // LZW minimum code size
            ++pos;
            if (!skipSubBlocks(f, pos)) return nullopt;
            frame = true;
        } else {
            return nullopt;
        }
    }
    return nullopt;
}

struct WebpFrame {
    uint32_t width = 0;
    uint32_t height = 0;
};

// A VP8 key frame header as libwebp's VP8GetInfo checks it.
std::optional<WebpFrame> vp8Frame(Bytes p) {
    if (p.size() < 10) return nullopt;
    const uint32_t bits = le24(&p[0]);
    if ((bits & 1) != 0 || ((bits >> 1) & 7) > 3 || ((bits >> 4) & 1) == 0 || (bits >> 5) >= p.size()) return nullopt;
    if (p[3] != 0x9D || p[4] != 0x01 || p[5] != 0x2A) return nullopt;
    WebpFrame frame{le16(&p[6]) & 0x3FFF, le16(&p[8]) & 0x3FFF};
    if (frame.width == 0 || frame.height == 0) return nullopt;
    return frame;
}

// A VP8L header as libwebp's VP8LGetInfo checks it.
std::optional<WebpFrame> vp8lFrame(Bytes p) {
    if (p.size() < 5 || p[0] != 0x2F) return nullopt;
    const uint32_t bits = le32(&p[1]);
    if ((bits >> 29) != 0) return nullopt;  // version
    return WebpFrame{(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
}

// WebP: the RIFF chunk list walked header by header (a bounded number of
// them), as libwebp's demuxer must parse all of it: a simple VP8 or VP8L
// file, or a still VP8X file (optional ICCP, EXIF, XMP, one ALPH before a
// VP8) whose frame fills the canvas. Animations are left to the probe.
std::optional<SourceInfo> readWebp(Bytes f) {
    if (f.size() < 12 + 8 + 5 || !startsWith(f, "RIFF") || !startsWith(f.subspan(8), "WEBP")) return nullopt;
    if (uint64_t(le32(&f[4])) + 8 != f.size()) return nullopt;  // trailing bytes or a cut file
    std::optional<WebpFrame> frame;
    WebpFrame canvas;
    uint32_t flags = 0;
    bool vp8x = false, alpha = false, exif = false;
    int orientation = 1;
    size_t pos = 12;
    for (int chunks = 0; pos < f.size(); ++chunks) {
        if (chunks == 16 || f.size() - pos < 8) return nullopt;
        const Bytes tag = f.subspan(pos, 4);
        const uint64_t size = le32(&f[pos + 4]), padded = size + (size & 1);
        if (padded > f.size() - pos - 8) return nullopt;
        const Bytes data = f.subspan(pos + 8, size);
        const bool first = pos == 12;
        pos += 8 + padded;
        if (startsWith(tag, "VP8 ") || startsWith(tag, "VP8L")) {
            const bool lossless = tag[3] == 'L';
            if (frame || (lossless && alpha)) return nullopt;  // a second image; ALPH belongs to VP8 only
            frame = lossless ? vp8lFrame(data) : vp8Frame(data);
            if (!frame) return nullopt;
            if (first) return pos == f.size() ? std::optional(displayed(frame->width, frame->height, 1)) : nullopt;
        } else if (first && startsWith(tag, "VP8X")) {
            if (size != 10) return nullopt;
            flags = data[0];
            if ((flags & ~0x3Eu) != 0 || (flags & 0x02) != 0) return nullopt;  // unknown flags; animation
            canvas = WebpFrame{le24(&data[4]) + 1, le24(&data[7]) + 1};
            vp8x = true;
        } else if (!vp8x) {
            return nullopt;
        } else if (startsWith(tag, "ALPH")) {
            if (alpha || frame) return nullopt;
            alpha = true;
        } else if (startsWith(tag, "EXIF")) {
            // libwebp's demuxer keeps it only when the VP8X flag says so.
            if (!(flags & 0x08) || exif) return nullopt;
            exif = true;
            const Bytes tiff = startsWith(data, std::string_view("Exif\0\0", 6)) ? data.subspan(6) : data;
            auto o = exifOrientation(tiff);
            if (!o) return nullopt;
            orientation = *o;
        } else if (!startsWith(tag, "ICCP") && !startsWith(tag, "XMP ")) {
            return nullopt;
        }
    }
    // A still image's frame must fill the canvas exactly (the demuxer checks it).
    if (!frame || (alpha && !(flags & 0x10)) || frame->width != canvas.width || frame->height != canvas.height)
        return nullopt;
    return displayed(canvas.width, canvas.height, orientation);
}

}  // namespace

bool imageHeaderReadable(std::string_view mediaType) {
    return mediaType == "image/jpeg" || mediaType == "image/png" || mediaType == "image/gif" ||
           mediaType == "image/webp";
}

bool imageHeaderInPrefix(std::string_view mediaType) { return mediaType == "image/jpeg" || mediaType == "image/png"; }

std::optional<SourceInfo> readImageHeader(std::string_view mediaType, std::span<const unsigned char> file) {
    if (mediaType == "image/jpeg") return readJpeg(file);
    if (mediaType == "image/png") return readPng(file);
    if (mediaType == "image/gif") return readGif(file);
    if (mediaType == "image/webp") return readWebp(file);
    return nullopt;
}

}  // namespace pixelmill
