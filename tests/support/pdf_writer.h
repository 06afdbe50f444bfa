// Small, valid PDFs written on the spot for the PDF plugins' tests: nothing fetched,
// no PDF library. Each page has its own size, an optional /Rotate, and a left
// half filled with its own colour, so order, size and orientation all show in
// the rendered pixels. Text uses Helvetica (a standard font: not embedded).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace pixelmill::pdf2png::test {

struct Rgb {
    double r = 0, g = 0, b = 0;
};

struct PageSpec {
    double width = 612;   // points
    double height = 792;  // points
    int rotate = 0;       // /Rotate: 0, 90, 180, 270
    Rgb fill{1, 0, 0};    // colour of the left half (in unrotated page space)
    int textLines = 0;    // extra lines of body text, to give Splash real work
};

namespace detail {

inline std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

inline std::string pageContent(const PageSpec& p, int number) {
    std::string s = "q " + num(p.fill.r) + " " + num(p.fill.g) + " " + num(p.fill.b) + " rg 0 0 " +
                    num(p.width / 2) + " " + num(p.height) + " re f Q\n";
    s += "BT /F1 18 Tf " + num(p.width / 2 + 10) + " " + num(p.height - 30) + " Td (Page " + std::to_string(number) +
         ") Tj ET\n";
    for (int i = 0; i < p.textLines; ++i) {
        double y = p.height - 60 - 12.0 * i;
        if (y < 20) break;
        s += "BT /F1 9 Tf " + num(p.width / 2 + 10) + " " + num(y) +
             " Td (Line " + std::to_string(i + 1) + ": the quick brown fox jumps over the lazy dog) Tj ET\n";
        s += "0 0 0 RG 0.5 w 10 " + num(y) + " m " + num(p.width / 2 - 10) + " " + num(y - 6) + " l S\n";
    }
    return s;
}

}  // namespace detail

// A PDF with the given pages. Objects are written page by page first, and the
// page tree and catalog last, so that a file cut short loses its catalog.
// `info`, when given, is the body of the document information dictionary as
// written, e.g. "/Title (Report) /Author <FEFF00E9>".
inline std::string makePdf(const std::vector<PageSpec>& pages, const std::string& info = "") {
    const int n = static_cast<int>(pages.size());
    // 1 font, 2 page tree, 3 catalog, then page 4+2i and its content 5+2i,
    // then the information dictionary.
    const int objects = 3 + 2 * n + (info.empty() ? 0 : 1);
    std::vector<size_t> offsets(static_cast<size_t>(objects) + 1, 0);
    std::string out = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
    auto object = [&](int id, const std::string& body) {
        offsets[static_cast<size_t>(id)] = out.size();
        out += std::to_string(id) + " 0 obj\n" + body + "\nendobj\n";
    };
    object(1, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    std::string kids;
    for (int i = 0; i < n; ++i) {
        const PageSpec& p = pages[static_cast<size_t>(i)];
        int pageId = 4 + 2 * i;
        kids += std::to_string(pageId) + " 0 R ";
        std::string page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + detail::num(p.width) + " " +
                           detail::num(p.height) + "] /Resources << /Font << /F1 1 0 R >> >> /Contents " +
                           std::to_string(pageId + 1) + " 0 R";
        if (p.rotate != 0) page += " /Rotate " + std::to_string(p.rotate);
        object(pageId, page + " >>");
        std::string content = detail::pageContent(p, i + 1);
        object(pageId + 1, "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "endstream");
    }
    object(2, "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n) + " >>");
    object(3, "<< /Type /Catalog /Pages 2 0 R >>");
    if (!info.empty()) object(objects, "<< " + info + " >>");

    size_t xref = out.size();
    out += "xref\n0 " + std::to_string(objects + 1) + "\n0000000000 65535 f \n";
    for (int id = 1; id <= objects; ++id) {
        char entry[32];
        std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", offsets[static_cast<size_t>(id)]);
        out += entry;
    }
    std::string infoRef = info.empty() ? "" : " /Info " + std::to_string(objects) + " 0 R";
    out += "trailer\n<< /Size " + std::to_string(objects + 1) + " /Root 3 0 R" + infoRef + " >>\nstartxref\n" +
           std::to_string(xref) + "\n%%EOF\n";
    return out;
}

// The mixed document most tests use: four pages that differ in size, colour
// and orientation. Page 4 is 400x300 points with /Rotate 90: it renders
// portrait, 300 wide and 400 high at 72 dpi.
inline std::vector<PageSpec> mixedPages() {
    return {
        {612, 792, 0, {1, 0, 0}, 3},    // 1: Letter portrait, red
        {842, 595, 0, {0, 0.6, 0}, 3},  // 2: A4 landscape, green
        {300, 200, 0, {0, 0, 1}, 0},    // 3: small, blue
        {400, 300, 90, {1, 1, 0}, 0},   // 4: rotated, yellow
    };
}

// `count` Letter pages with body text, alternating colours: a "long" PDF.
inline std::vector<PageSpec> letterPages(int count, int textLines = 40) {
    std::vector<PageSpec> pages;
    for (int i = 0; i < count; ++i)
        pages.push_back({612, 792, 0, i % 2 ? Rgb{0.2, 0.4, 0.8} : Rgb{0.9, 0.5, 0.1}, textLines});
    return pages;
}

// The first 60% of a makePdf() file: the header still says %PDF-, but the
// page tree, the catalog and the xref table are gone.
inline std::string truncated(const std::string& pdf) { return pdf.substr(0, pdf.size() * 6 / 10); }

}  // namespace pixelmill::pdf2png::test
