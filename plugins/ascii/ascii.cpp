// ascii: an image as text, one character per cell, picked from a ramp by the
// cell's brightness. Fast because the full-size picture never exists: libvips
// shrinks while it loads (libjpeg decodes a large JPEG at 1/8 scale), and a
// large progressive JPEG is read no further than its DC scans (jpeg_dc.hpp).
// Semantics in README.md.
#include "jpeg_dc.hpp"

#include "vips_support.hpp"

#include <pixelmill/plugin.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace pixelmill;

// The charset split into UTF-8 characters (each one to four bytes), so that a
// ramp such as " ░▒▓█" works. Throws PM_INVALID_PARAM on malformed UTF-8.
std::vector<std::string> splitCharacters(const std::string& text) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < text.size()) {
        auto lead = static_cast<unsigned char>(text[i]);
        size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
        if (length == 0 || i + length > text.size())
            throw sdk::Error(PM_INVALID_PARAM, "charset is not valid UTF-8");
        for (size_t k = 1; k < length; ++k)
            if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2)
                throw sdk::Error(PM_INVALID_PARAM, "charset is not valid UTF-8");
        out.emplace_back(text.substr(i, length));
        i += length;
    }
    return out;
}

std::string escapeHtml(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// Bounds on the text one job writes: a 1x1400 image at 1000 columns would
// otherwise ask for 700,000 rows (700 MB of text).
constexpr int64_t kMaxRows = 2'000;
constexpr int64_t kMaxCells = 4'000'000;

// Rows for `columns` so that the picture keeps its aspect ratio, counting a
// character cell as twice as tall as wide: round(columns * h / w / 2), >= 1.
// 64-bit throughout; more than kMaxRows rows or kMaxCells cells is refused
// (PM_UNPROCESSABLE, naming the limit) rather than cut.
int rowsFor(int columns, int width, int height) {
    int64_t rows = (int64_t{columns} * height + width) / (int64_t{2} * width);
    rows = std::max<int64_t>(rows, 1);
    if (rows > kMaxRows)
        throw sdk::Error(PM_UNPROCESSABLE, "the text would be " + std::to_string(rows) + " rows of " +
                                               std::to_string(columns) + " columns; the limit is " +
                                               std::to_string(kMaxRows) + " rows: ask for fewer columns");
    if (rows * columns > kMaxCells)
        throw sdk::Error(PM_UNPROCESSABLE, "the text would be " + std::to_string(rows * columns) +
                                               " characters; the limit is " + std::to_string(kMaxCells) +
                                               " cells: ask for fewer columns");
    return static_cast<int>(rows);
}

// The source reduced to exactly columns x rows, EXIF orientation applied.
vips::VImage cells(const sdk::Job& job, int orientation, int columns, int rows) {
    if (job.input().mediaType() == "image/jpeg") {
        // The 1/8 preview must be at least twice the target on each side, the
        // headroom libvips keeps for a clean reduction; sides as stored.
        bool swap = orientation >= 5 && orientation <= 8;
        auto bytes = job.input().bytes();
        std::optional<vips::VImage> preview = plugins::ascii::progressiveDcPreview(
            bytes.data(), bytes.size(), 2 * (swap ? rows : columns), 2 * (swap ? columns : rows));
        if (preview) {
            preview->set(VIPS_META_ORIENTATION, orientation);
            return preview->thumbnail_image(columns,
                                            vips::VImage::option()->set("height", rows)->set("size", VIPS_SIZE_FORCE));
        }
    }
    return plugins::thumbnailOf(job.input(), columns,
                                vips::VImage::option()->set("height", rows)->set("size", VIPS_SIZE_FORCE));
}

// Exactly columns x rows sRGB pixels, 8 bits, 3 bands, row by row. A
// transparent area is flattened onto the colour that maps to the charset's
// first character (black, or white with invert), so it reads as background.
std::vector<unsigned char> cellPixels(const sdk::Job& job, int orientation, int columns, int rows, bool invert) {
    vips::VImage image = cells(job, orientation, columns, rows);
    // sRGB is 8 bits a band, 16-bit sources included.
    if (image.interpretation() != VIPS_INTERPRETATION_sRGB) image = image.colourspace(VIPS_INTERPRETATION_sRGB);
    if (image.has_alpha()) {
        double background = invert ? 255.0 : 0.0;
        image = image.flatten(vips::VImage::option()->set("background", std::vector<double>(3, background)));
    }
    if (image.format() != VIPS_FORMAT_UCHAR) image = image.cast(VIPS_FORMAT_UCHAR);
    if (image.bands() > 3) image = image.extract_band(0, vips::VImage::option()->set("n", 3));
    if (image.bands() != 3 || image.width() != columns || image.height() != rows)
        throw sdk::Error(PM_INTERNAL, "libvips made an unexpected image");

    size_t size = 0;
    void* data = nullptr;
    {
        plugins::KillSwitch kill(image, job);
        try {
            data = image.write_to_memory(&size);
        } catch (const vips::VError& e) {
            job.throwIfStopped();
            throw sdk::Error(PM_UNPROCESSABLE, plugins::firstLine(e.what()));
        }
    }
    std::vector<unsigned char> pixels(static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
    g_free(data);
    if (pixels.size() != static_cast<size_t>(columns) * static_cast<size_t>(rows) * 3)
        throw sdk::Error(PM_INTERNAL, "libvips made an unexpected image");
    return pixels;
}

class Ascii {
public:
    static constexpr const char* kName = "ascii";
    static constexpr const char* kVersion = "1.0.0";
    static constexpr const char* kDescription =
        "Draws an image as text (plain or HTML), one character per cell by brightness; EXIF orientation applied";
    static constexpr const char* kAccepts[] = {"image/jpeg",    "image/png",  "image/webp", "image/gif", "image/tiff",
                                               "image/svg+xml", "image/heif", "image/avif", nullptr};
    static constexpr const char* kSchema = R"json({
      "type": "object",
      "properties": {
        "width":   {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "x-aliases": ["size"],
                    "description": "columns; rows follow the aspect ratio, a character cell counting as twice as tall as wide"},
        "charset": {"type": "string", "minLength": 2, "maxLength": 256, "default": " .:-=+*#%@",
                    "pattern": "^[^\\x00-\\x1f\\x7f]*$",
                    "description": "characters ordered from dark to light (UTF-8; no control characters)"},
        "invert":  {"type": "boolean", "default": false,
                    "description": "reverse the ramp: dark pixels get the last character"},
        "format":  {"type": "string", "enum": ["text", "html"], "default": "text",
                    "description": "text/plain, or a small text/html page"},
        "color":   {"type": "boolean", "default": false,
                    "description": "html only: colour each character like its source pixel"}
      },
      "additionalProperties": false,
      "x-produces": {"by": "format", "types": {"text": ["text/plain"], "html": ["text/html"]}}
    })json";

    sdk::Probe probe(const sdk::Input& input) const { return plugins::probeImage(input); }

    void process(sdk::Job& job) const {
        const plugins::ImageHeader header = plugins::readHeader(job.input());
        const sdk::Probe& source = header.probe;
        plugins::checkPixels(job, source);
        if (source.width <= 0 || source.height <= 0) throw sdk::Error(PM_UNPROCESSABLE, "the image has no size");

        const std::vector<std::string> charset = splitCharacters(job.str("charset", " .:-=+*#%@"));
        if (charset.size() < 2) throw sdk::Error(PM_INVALID_PARAM, "charset needs at least 2 characters");
        const int columns = static_cast<int>(job.integer("width", 100));
        const int rows = rowsFor(columns, source.width, source.height);
        const bool invert = job.flag("invert", false);
        const bool html = job.str("format", "text") == "html";
        const bool color = html && job.flag("color", false);

        const std::vector<unsigned char> pixels = cellPixels(job, header.orientation, columns, rows, invert);
        job.throwIfStopped();

        // One lookup per brightness: the (escaped) character it draws. Each
        // character gets an equal share of 0..255 (0 draws the first, 255 the
        // last); v * (len - 1) / 255 would keep the last one for pure white.
        const size_t last = charset.size() - 1;
        std::vector<std::string> glyph(256);
        for (size_t v = 0; v < 256; ++v) {
            size_t index = v * charset.size() / 256;
            const std::string& c = charset[invert ? last - index : index];
            glyph[v] = html ? escapeHtml(c) : c;
        }

        std::string body;
        body.reserve(static_cast<size_t>(rows) * (static_cast<size_t>(columns) * (color ? 32 : 2) + 1));
        const unsigned char* p = pixels.data();
        for (int y = 0; y < rows; ++y) {
            std::string open;  // the span now open, when colouring; runs of one colour share it
            for (int x = 0; x < columns; ++x, p += 3) {
                // Rec. 601 luma, as jp2a and most terminals' tools use.
                unsigned luma = (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u;
                if (color) {
                    char tag[32];
                    std::snprintf(tag, sizeof tag, "<span style=\"color:#%02x%02x%02x\">", p[0], p[1], p[2]);
                    if (open != tag) {
                        if (!open.empty()) body += "</span>";
                        open = tag;
                        body += open;
                    }
                }
                body += glyph[luma];
            }
            if (!open.empty()) body += "</span>";
            body += '\n';
        }

        std::string out = html ? page(body, invert) : std::move(body);
        job.addOutput(0, html ? "ascii.html" : "ascii.txt", html ? "text/html" : "text/plain",
                      {reinterpret_cast<const unsigned char*>(out.data()), out.size()});
    }

private:
    // A complete small page: light on dark as the default ramp assumes, dark
    // on light with invert.
    static std::string page(const std::string& pre, bool invert) {
        std::string out =
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ascii</title>\n"
            "<style>body{margin:0;padding:1em;";
        out += invert ? "background:#fff;color:#000" : "background:#000;color:#ccc";
        out += "}pre{margin:0;font-family:monospace;font-size:10px;line-height:1}</style>\n</head>\n<body><pre>\n";
        out += pre;
        out += "</pre></body>\n</html>\n";
        return out;
    }
};

}  // namespace

PIXELMILL_PLUGIN(Ascii)
