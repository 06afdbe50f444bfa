// sniffMediaType: the media type judged from the first bytes alone.
#include "jobs/sniff.h"

#include <catch2/catch.hpp>

#include <string>

namespace pixelmill {
namespace {

std::string sniff(const std::string& bytes) {
    return sniffMediaType({reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()});
}

// Bytes with NULs in them, from a literal: std::string(s) would stop at the first.
template <size_t N>
std::string raw(const char (&s)[N]) {
    return std::string(s, N - 1);
}

std::string isoBox(const std::string& majorBrand, const std::string& compatible = "mif1") {
    return raw("\0\0\0\x1c") + "ftyp" + majorBrand + raw("\0\0\0\0") + compatible + "miaf" + "meta";
}

}  // namespace

TEST_CASE("sniff: raster formats by their magic numbers", "[jobs][sniff]") {
    CHECK(sniff(raw("\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01")) == "image/jpeg");
    CHECK(sniff(raw("\xff\xd8\xff\xe1\0\x18" "Exif\0\0")) == "image/jpeg");
    CHECK(sniff(raw("\x89PNG\r\n\x1a\n\0\0\0\rIHDR")) == "image/png");
    CHECK(sniff("GIF87a\x01\0\x01\0") == "image/gif");
    CHECK(sniff(raw("GIF89a\x01\0\x01\0\x80\0\0")) == "image/gif");
    CHECK(sniff(raw("RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0")) == "image/webp");
    CHECK(sniff(raw("RIFF\x24\0\0\0WEBPVP8L")) == "image/webp");
    CHECK(sniff(raw("II*\0\x08\0\0\0")) == "image/tiff");  // little-endian
    CHECK(sniff(raw("MM\0*\0\0\0\x08")) == "image/tiff");  // big-endian
}

TEST_CASE("sniff: near misses are not the format", "[jobs][sniff]") {
    CHECK(sniff(raw("\xff\xd8")) != "image/jpeg");
    CHECK(sniff(raw("\x89PNG\r\n")) != "image/png");
    CHECK(sniff("GIF88a") != "image/gif");
    CHECK(sniff(raw("RIFF\x24\0\0\0WAVEfmt ")) != "image/webp");  // a WAV file
    CHECK(sniff(raw("II\0*\x08\0\0\0")) != "image/tiff");           // byte orders mixed up
    CHECK(sniff(raw("MM*\0\0\0\0\x08")) != "image/tiff");
    CHECK(sniff("%PD") != "application/pdf");
}

TEST_CASE("sniff: PDF", "[jobs][sniff]") {
    CHECK(sniff("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n") == "application/pdf");
    CHECK(sniff("%PDF-2.0\r\n") == "application/pdf");
    CHECK(sniff("%!PS-Adobe-3.0\n") != "application/pdf");
}

TEST_CASE("sniff: SVG behind a BOM, XML declaration, comments and a doctype", "[jobs][sniff]") {
    const std::string svg = R"(<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>)";
    CHECK(sniff(svg) == "image/svg+xml");
    CHECK(sniff("\n\t  " + svg) == "image/svg+xml");
    CHECK(sniff(R"(<?xml version="1.0" encoding="UTF-8" standalone="no"?>)" "\n" + svg) == "image/svg+xml");
    CHECK(sniff("<!-- Created with Inkscape (http://www.inkscape.org/) -->\n" + svg) == "image/svg+xml");
    CHECK(sniff("<?xml version=\"1.0\"?>\n<!-- one -->\n<!-- two > three -->\n" + svg) == "image/svg+xml");
    CHECK(sniff("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
                "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n" + svg) == "image/svg+xml");
    CHECK(sniff("\xef\xbb\xbf" + svg) == "image/svg+xml");
    CHECK(sniff("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE svg>\n" + svg) == "image/svg+xml");
    CHECK(sniff("<SVG xmlns=\"http://www.w3.org/2000/svg\"></SVG>") == "image/svg+xml");
    // Illustrator writes entity declarations inside the doctype; their '>'
    // does not end it.
    CHECK(sniff("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [\n"
                "\t<!ENTITY ns_extend \"http://ns.adobe.com/Extensibility/1.0/\">\n"
                "\t<!ENTITY ns_ai \"http://ns.adobe.com/AdobeIllustrator/10.0/\">\n"
                "]>\n" +
                svg) == "image/svg+xml");
}

TEST_CASE("sniff: XML that is not SVG is not SVG", "[jobs][sniff]") {
    CHECK(sniff("<?xml version=\"1.0\"?>\n<note><to>svg</to></note>") == "text/plain");
    CHECK(sniff("<!DOCTYPE html>\n<html><body><svg></svg></body></html>") == "text/html");
    CHECK(sniff("<!-- <svg> in a comment -->\n<note/>") == "text/plain");
    CHECK(sniff("<?xml version=\"1.0\"") == "text/plain");  // cut short
    CHECK(sniff("<!-- never closed <svg") == "text/plain");
}

TEST_CASE("sniff: HEIF and AVIF by their ftyp brand", "[jobs][sniff]") {
    CHECK(sniff(isoBox("avif")) == "image/avif");
    CHECK(sniff(isoBox("avis")) == "image/avif");
    CHECK(sniff(isoBox("heic")) == "image/heif");
    CHECK(sniff(isoBox("heix")) == "image/heif");
    CHECK(sniff(isoBox("mif1", "heic")) == "image/heif");
    CHECK(sniff(isoBox("msf1")) == "image/heif");
    CHECK(sniff(isoBox("isom", "avc1")) == "video/mp4");
    CHECK(sniff(raw("\0\0\0\x1c" "ftyp")) != "image/heif");  // no brand
}

TEST_CASE("sniff: text and HTML", "[jobs][sniff]") {
    CHECK(sniff("hello world\n") == "text/plain");
    CHECK(sniff("col1\tcol2\r\n1\t2\r\n") == "text/plain");
    CHECK(sniff("Grüße, 你好\n") == "text/plain");  // UTF-8 is text
    CHECK(sniff("<!DOCTYPE html>\n<html lang=\"en\">") == "text/html");
    CHECK(sniff("<html><head><title>x</title></head></html>") == "text/html");
    CHECK(sniff("  <HTML>\n<BODY>") == "text/html");
    // Only the start decides: control bytes far into a long text do not matter.
    CHECK(sniff(std::string(2000, 'a') + raw("\0\x01\x02")) == "text/plain");
}

TEST_CASE("sniff: empty and unknown binary", "[jobs][sniff]") {
    CHECK(sniff("") == "application/x-empty");
    CHECK(sniff(raw("\0\x01\x02\x03\x04\x05\x06\x07")) == "application/octet-stream");
    CHECK(sniff(raw("\x7f" "ELF\x02\x01\x01\0")) == "application/octet-stream");
    CHECK(sniff(raw("text then a NUL\0")) == "application/octet-stream");
    std::string noise;
    for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    CHECK(sniff(noise) == "application/octet-stream");
}

}  // namespace pixelmill
