// sniffMediaType: the media type judged from the first bytes alone.
#include "jobs/sniff.h"

#include <catch2/catch.hpp>

#include <string>

namespace pixelmill {
namespace {

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
    CHECK(sniffMediaType(raw("\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01")) == "image/jpeg");
    CHECK(sniffMediaType(raw("\xff\xd8\xff\xe1\0\x18" "Exif\0\0")) == "image/jpeg");
    CHECK(sniffMediaType(raw("\x89PNG\r\n\x1a\n\0\0\0\rIHDR")) == "image/png");
    CHECK(sniffMediaType("GIF87a\x01\0\x01\0") == "image/gif");
    CHECK(sniffMediaType(raw("GIF89a\x01\0\x01\0\x80\0\0")) == "image/gif");
    CHECK(sniffMediaType(raw("RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0")) == "image/webp");
    CHECK(sniffMediaType(raw("RIFF\x24\0\0\0WEBPVP8L")) == "image/webp");
    CHECK(sniffMediaType(raw("II*\0\x08\0\0\0")) == "image/tiff");  // little-endian
    CHECK(sniffMediaType(raw("MM\0*\0\0\0\x08")) == "image/tiff");  // big-endian
}

TEST_CASE("sniff: near misses are not the format", "[jobs][sniff]") {
    CHECK(sniffMediaType(raw("\xff\xd8")) != "image/jpeg");
    CHECK(sniffMediaType(raw("\x89PNG\r\n")) != "image/png");
    CHECK(sniffMediaType("GIF88a") != "image/gif");
    CHECK(sniffMediaType(raw("RIFF\x24\0\0\0WAVEfmt ")) != "image/webp");  // a WAV file
    CHECK(sniffMediaType(raw("II\0*\x08\0\0\0")) != "image/tiff");           // byte orders mixed up
    CHECK(sniffMediaType(raw("MM*\0\0\0\0\x08")) != "image/tiff");
    CHECK(sniffMediaType("%PD") != "application/pdf");
}

TEST_CASE("sniff: PDF", "[jobs][sniff]") {
    CHECK(sniffMediaType("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n") == "application/pdf");
    CHECK(sniffMediaType("%PDF-2.0\r\n") == "application/pdf");
    CHECK(sniffMediaType("%!PS-Adobe-3.0\n") != "application/pdf");
}

TEST_CASE("sniff: SVG behind a BOM, XML declaration, comments and a doctype", "[jobs][sniff]") {
    const std::string svg = R"(<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>)";
    CHECK(sniffMediaType(svg) == "image/svg+xml");
    CHECK(sniffMediaType("\n\t  " + svg) == "image/svg+xml");
    CHECK(sniffMediaType(R"(<?xml version="1.0" encoding="UTF-8" standalone="no"?>)" "\n" + svg) == "image/svg+xml");
    CHECK(sniffMediaType("<!-- Created with Inkscape (http://www.inkscape.org/) -->\n" + svg) == "image/svg+xml");
    CHECK(sniffMediaType("<?xml version=\"1.0\"?>\n<!-- one -->\n<!-- two > three -->\n" + svg) == "image/svg+xml");
    CHECK(sniffMediaType("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
                "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n" + svg) == "image/svg+xml");
    CHECK(sniffMediaType("\xef\xbb\xbf" + svg) == "image/svg+xml");
    CHECK(sniffMediaType("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE svg>\n" + svg) == "image/svg+xml");
    CHECK(sniffMediaType("<SVG xmlns=\"http://www.w3.org/2000/svg\"></SVG>") == "image/svg+xml");
    // Illustrator writes entity declarations inside the doctype; their '>'
    // does not end it.
    CHECK(sniffMediaType("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [\n"
                "\t<!ENTITY ns_extend \"http://ns.adobe.com/Extensibility/1.0/\">\n"
                "\t<!ENTITY ns_ai \"http://ns.adobe.com/AdobeIllustrator/10.0/\">\n"
                "]>\n" +
                svg) == "image/svg+xml");
}

TEST_CASE("sniff: XML that is not SVG is not SVG", "[jobs][sniff]") {
    CHECK(sniffMediaType("<?xml version=\"1.0\"?>\n<note><to>svg</to></note>") == "text/plain");
    CHECK(sniffMediaType("<!DOCTYPE html>\n<html><body><svg></svg></body></html>") == "text/html");
    CHECK(sniffMediaType("<!-- <svg> in a comment -->\n<note/>") == "text/plain");
    CHECK(sniffMediaType("<?xml version=\"1.0\"") == "text/plain");  // cut short
    CHECK(sniffMediaType("<!-- never closed <svg") == "text/plain");
}

TEST_CASE("sniff: HEIF and AVIF by their ftyp brand", "[jobs][sniff]") {
    CHECK(sniffMediaType(isoBox("avif")) == "image/avif");
    CHECK(sniffMediaType(isoBox("avis")) == "image/avif");
    CHECK(sniffMediaType(isoBox("heic")) == "image/heif");
    CHECK(sniffMediaType(isoBox("heix")) == "image/heif");
    CHECK(sniffMediaType(isoBox("mif1", "heic")) == "image/heif");
    CHECK(sniffMediaType(isoBox("msf1")) == "image/heif");
    CHECK(sniffMediaType(isoBox("isom", "avc1")) == "video/mp4");
    CHECK(sniffMediaType(raw("\0\0\0\x1c" "ftyp")) != "image/heif");  // no brand
}

TEST_CASE("sniff: text and HTML", "[jobs][sniff]") {
    CHECK(sniffMediaType("hello world\n") == "text/plain");
    CHECK(sniffMediaType("col1\tcol2\r\n1\t2\r\n") == "text/plain");
    CHECK(sniffMediaType("Grüße, 你好\n") == "text/plain");  // UTF-8 is text
    CHECK(sniffMediaType("<!DOCTYPE html>\n<html lang=\"en\">") == "text/html");
    CHECK(sniffMediaType("<html><head><title>x</title></head></html>") == "text/html");
    CHECK(sniffMediaType("  <HTML>\n<BODY>") == "text/html");
    // Only the start decides: control bytes far into a long text do not matter.
    CHECK(sniffMediaType(std::string(2000, 'a') + raw("\0\x01\x02")) == "text/plain");
}

TEST_CASE("sniff: empty and unknown binary", "[jobs][sniff]") {
    CHECK(sniffMediaType("") == "application/x-empty");
    CHECK(sniffMediaType(raw("\0\x01\x02\x03\x04\x05\x06\x07")) == "application/octet-stream");
    CHECK(sniffMediaType(raw("\x7f" "ELF\x02\x01\x01\0")) == "application/octet-stream");
    CHECK(sniffMediaType(raw("text then a NUL\0")) == "application/octet-stream");
    std::string noise;
    for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    CHECK(sniffMediaType(noise) == "application/octet-stream");
}

}  // namespace pixelmill
