// info: what a file is, as one JSON document (info.json), without decoding
// a pixel: libvips reads an image's header only, poppler a PDF's page tree
// and document information.
#include "pdf_document.hpp"
#include "vips_support.hpp"

#include <pixelmill/plugin.hpp>

#include <nlohmann/json.hpp>
#include <poppler-page.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace pixelmill;
using nlohmann::json;

// Longest text kept from an EXIF field or a PDF information entry: enough for
// any real camera model or title, and a hostile file cannot make info.json large.
constexpr size_t kMaxText = 256;
// Most page sizes listed when the host sets no page limit.
constexpr uint32_t kMaxListedPages = 1000;

// A JSON object with every key of the contract, each null until known.
json emptyInfo(std::string_view mediaType) {
    json info;
    for (const char* key : {"format", "width", "height", "orientation", "display_width", "display_height", "bands",
                            "space", "icc", "frames", "exif", "pages", "page_sizes", "pdf"})
        info[key] = nullptr;
    info["media_type"] = mediaType;
    return info;
}

std::string clipped(std::string text) {
    if (text.size() > kMaxText) text.resize(kMaxText);  // a cut character becomes U+FFFD when dumped
    return text;
}

// --- images -----------------------------------------------------------------

// "jpegload", "pngload_source", "heifload_buffer" -> "jpeg", "png", "heif";
// HEIF files whose pictures are AV1 are "avif".
std::string formatOf(const vips::VImage& image) {
    const char* loader = nullptr;
    if (vips_image_get_string(image.get_image(), "vips-loader", &loader) != 0 || !loader) return "unknown";
    std::string format(loader);
    format = format.substr(0, format.find("load"));
    const char* compression = nullptr;
    if (format == "heif" && vips_image_get_typeof(image.get_image(), "heif-compression") &&
        vips_image_get_string(image.get_image(), "heif-compression", &compression) == 0 && compression &&
        std::string_view(compression) == "av1")
        return "avif";
    return format;
}

// libvips gives an EXIF field as "raw (readable, Format, N components, M bytes)".
// The readable form, or the raw one when both are the same text (ASCII fields).
std::string exifText(std::string_view value) {
    for (int i = 0; i < 3; ++i) {  // drops ", M bytes)", ", N components" and ", Format"
        size_t comma = value.rfind(", ");
        if (comma == std::string_view::npos) return std::string(value);
        value = value.substr(0, comma);
    }
    size_t half = value.size() >= 2 ? (value.size() - 2) / 2 : 0;
    if (value.size() >= 2 && value.size() % 2 == 0 && value.substr(half, 2) == " (" &&
        value.substr(0, half) == value.substr(half + 2))
        return std::string(value.substr(0, half));
    size_t open = value.find(" (");
    return std::string(open == std::string_view::npos ? value : value.substr(open + 2));
}

// The EXIF text fields a person looks for; null when the file has no EXIF.
json exifOf(const vips::VImage& image) {
    if (!vips_image_get_typeof(image.get_image(), VIPS_META_EXIF_NAME)) return nullptr;
    static constexpr std::array<std::pair<const char*, const char*>, 12> kFields{{
        {"Make", "exif-ifd0-Make"},
        {"Model", "exif-ifd0-Model"},
        {"Software", "exif-ifd0-Software"},
        {"DateTime", "exif-ifd0-DateTime"},
        {"Artist", "exif-ifd0-Artist"},
        {"Copyright", "exif-ifd0-Copyright"},
        {"DateTimeOriginal", "exif-ifd2-DateTimeOriginal"},
        {"LensModel", "exif-ifd2-LensModel"},
        {"ExposureTime", "exif-ifd2-ExposureTime"},
        {"FNumber", "exif-ifd2-FNumber"},
        {"ISOSpeedRatings", "exif-ifd2-ISOSpeedRatings"},
        {"FocalLength", "exif-ifd2-FocalLength"},
    }};
    json exif = json::object();
    for (const auto& [key, field] : kFields) {
        const char* value = nullptr;
        if (vips_image_get_typeof(image.get_image(), field) &&
            vips_image_get_string(image.get_image(), field, &value) == 0 && value) {
            std::string text = clipped(exifText(value));
            if (!text.empty()) exif[key] = std::move(text);
        }
    }
    return exif;
}

json imageInfo(const sdk::Input& input) {
    vips::VImage image = plugins::openHeader(input);
    plugins::ImageHeader header = plugins::headerOf(image);
    json info = emptyInfo(input.mediaType());
    std::string format = formatOf(image);
    info["format"] = format;
    info["width"] = image.width();
    info["height"] = image.height();
    info["orientation"] = std::clamp(header.orientation, 1, 8);
    info["display_width"] = header.probe.width;
    info["display_height"] = header.probe.height;
    info["bands"] = image.bands();
    const char* space = vips_enum_nick(VIPS_TYPE_INTERPRETATION, image.interpretation());
    info["space"] = space ? space : "unknown";
    info["icc"] = vips_image_get_typeof(image.get_image(), VIPS_META_ICC_NAME) != 0;
    bool animated = format == "gif" || format == "webp";
    info["frames"] = animated ? std::max(1, vips_image_get_n_pages(image.get_image())) : 1;
    info["exif"] = exifOf(image);
    return info;
}

// --- PDFs -------------------------------------------------------------------

// A page's size in points as a viewer shows it: the crop box, turned by /Rotate.
json pageSize(const poppler::page& page) {
    poppler::rectf box = page.page_rect(poppler::crop_box);
    auto points = [](double v) {
        v = std::fabs(v);
        return std::isfinite(v) ? std::round(v * 100) / 100 : 0.0;
    };
    double width = points(box.width()), height = points(box.height());
    auto o = page.orientation();
    if (o == poppler::page::landscape || o == poppler::page::seascape) std::swap(width, height);
    return json::array({width, height});
}

// A document information entry as UTF-8, or null when empty.
json infoText(const poppler::ustring& value) {
    if (value.empty()) return nullptr;
    std::string out;
    try {
        poppler::byte_array utf8 = value.to_utf8();
        out.assign(utf8.data(), utf8.size());
    } catch (const std::exception&) {
        return nullptr;  // not convertible: as if absent, rather than failing the whole job
    }
    out = out.substr(0, out.find('\0'));
    return out.empty() ? json(nullptr) : json(clipped(std::move(out)));
}

json pdfInfo(const sdk::Job& job) {
    auto doc = plugins::openDocument(job.input().bytes());
    const int pages = doc->pages();
    json info = emptyInfo(job.input().mediaType());
    info["format"] = "pdf";
    info["pages"] = pages;
    // The list stops at the host's page limit (or kMaxListedPages): `pages`
    // still gives the whole count.
    uint32_t cap = job.maxPages() > 0 ? std::min(job.maxPages(), kMaxListedPages) : kMaxListedPages;
    const int listed = std::min<int64_t>(pages, cap);
    json sizes = json::array();
    for (int i = 0; i < listed; ++i) {
        job.throwIfStopped();
        std::unique_ptr<poppler::page> page(doc->create_page(i));
        sizes.push_back(page ? pageSize(*page) : json(nullptr));
    }
    info["page_sizes"] = std::move(sizes);
    info["pdf"] = {{"title", infoText(doc->get_title())},
                   {"author", infoText(doc->get_author())},
                   {"producer", infoText(doc->get_producer())}};
    return info;
}

class Info {
public:
    static constexpr const char* kName = "info";
    static constexpr const char* kVersion = "1.0.0";
    static constexpr const char* kDescription =
        "Describes an image or a PDF as JSON (info.json): format, size, orientation, colour, EXIF, pages";
    static constexpr const char* kAccepts[] = {"image/jpeg", "image/png",  "image/webp", "image/gif",       "image/tiff",
                                               "image/svg+xml", "image/heif", "image/avif", "application/pdf", nullptr};
    static constexpr const char* kSchema = R"({"type": "object", "properties": {}, "additionalProperties": false,
                                             "x-produces": ["application/json"]})";

    sdk::Probe probe(const sdk::Input& input) const {
        if (input.mediaType() != "application/pdf") return plugins::probeImage(input);
        sdk::Probe probe;
        probe.pages = plugins::openDocument(input.bytes())->pages();
        return probe;
    }

    void process(sdk::Job& job) const {
        json info = job.input().mediaType() == "application/pdf" ? pdfInfo(job) : imageInfo(job.input());
        // Text from the file may be any bytes: invalid UTF-8 becomes U+FFFD.
        std::string out = info.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
        job.addOutput(0, "info.json", "application/json",
                      {reinterpret_cast<const unsigned char*>(out.data()), out.size()});
    }
};

}  // namespace

PIXELMILL_PLUGIN(Info)
