// The ascii plugin through the real daemon (and once through `pixelmill
// run`): exact rows and columns, the size alias, charsets, invert, HTML
// escaping and colour, and refused parameters.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>
#include <vips/vips8>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace pixelmill::test;

namespace {

using Fields = std::map<std::string, std::string>;

const std::string kRamp = " .:-=+*#%@";

std::string describe(const Fields& fields) {
    std::string out;
    for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + k + "=" + v;
    return out;
}

struct Result {
    nlohmann::json job;
    std::string body;
    std::string contentType;
};

Result fetch(Daemon& d, const std::string& id) {
    nlohmann::json job = d.waitForJob(id);
    INFO(job.dump());
    REQUIRE(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == 1);
    Response out = d.http().get(job["outputs"][0]["url"].get<std::string>());
    REQUIRE(out.status == 200);
    return {job, out.body, out.header("content-type")};
}

Result runJob(Daemon& d, const std::filesystem::path& file, const Fields& fields) {
    INFO(file.filename().string() << " " << describe(fields));
    Response r = d.submit(file.string(), "ascii", fields);
    INFO(r.body);
    REQUIRE((r.status == 202 || r.status == 200));
    return fetch(d, r.json()["id"]);
}

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(text.substr(start, nl - start));
    if (start < text.size()) lines.push_back(text.substr(start));  // an unterminated last line
    return lines;
}

// Characters of a UTF-8 string.
std::vector<std::string> characters(const std::string& text) {
    std::vector<std::string> out;
    for (size_t i = 0; i < text.size();) {
        auto lead = static_cast<unsigned char>(text[i]);
        size_t n = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
        out.push_back(text.substr(i, n));
        i += n;
    }
    return out;
}

// Checks `text` is `rows` lines of `columns` characters, newline-terminated.
void checkGrid(const std::string& text, int columns, int rows) {
    REQUIRE_FALSE(text.empty());
    CHECK(text.back() == '\n');
    CHECK(text.find('\r') == std::string::npos);
    std::vector<std::string> lines = splitLines(text);
    CHECK(lines.size() == static_cast<size_t>(rows));
    for (const std::string& line : lines) {
        INFO(line);
        CHECK(characters(line).size() == static_cast<size_t>(columns));
    }
}

std::string unescapeHtml(const std::string& text) {
    static const std::vector<std::pair<std::string, std::string>> entities = {
        {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}};
    std::string out;
    for (size_t i = 0; i < text.size();) {
        bool matched = false;
        for (const auto& [entity, c] : entities) {
            if (text.compare(i, entity.size(), entity) == 0) {
                out += c;
                i += entity.size();
                matched = true;
                break;
            }
        }
        if (!matched) out += text[i++];
    }
    return out;
}

// The text inside <pre>…</pre>, without the newline HTML drops after <pre>.
std::string preContent(const std::string& html) {
    size_t open = html.find("<pre>");
    size_t close = html.find("</pre>");
    REQUIRE(open != std::string::npos);
    REQUIRE(close != std::string::npos);
    std::string inner = html.substr(open + 5, close - open - 5);
    if (!inner.empty() && inner.front() == '\n') inner.erase(0, 1);
    return inner;
}

std::string stripTags(const std::string& html) {
    std::string out;
    bool inTag = false;
    for (char c : html) {
        if (c == '<') inTag = true;
        else if (c == '>' && inTag) inTag = false;
        else if (!inTag) out += c;
    }
    return out;
}

void makeSolidPng(const std::filesystem::path& path, int width, int height, std::vector<double> colour) {
    initVips();
    vips::VImage::black(width, height)
        .new_from_image(colour)
        .cast(VIPS_FORMAT_UCHAR)
        .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
        .pngsave(path.c_str());
}

// A one-band PNG `values.size()` wide and 2 high, each column one grey level:
// at width=values.size() it maps to exactly one row, one cell per column.
void makeGreyLevels(const std::filesystem::path& path, const std::vector<int>& values) {
    initVips();
    std::vector<unsigned char> pixels;
    for (int row = 0; row < 2; ++row)
        for (int v : values) pixels.push_back(static_cast<unsigned char>(v));
    vips::VImage::new_from_memory(pixels.data(), pixels.size(), static_cast<int>(values.size()), 2, 1, VIPS_FORMAT_UCHAR)
        .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W))
        .pngsave(path.c_str());
}

// Re-saves a JPEG as progressive, keeping its metadata (EXIF orientation).
void makeProgressive(const std::filesystem::path& from, const std::filesystem::path& to) {
    initVips();
    vips::VImage::new_from_file(from.c_str()).jpegsave(to.c_str(), vips::VImage::option()->set("interlace", true));
}

// How far apart two drawings of the same picture are: the number of cells
// whose ramp index differs by more than one, and the share that are equal.
struct Difference {
    size_t far = 0;
    double equal = 0;
};

Difference compareDrawings(const std::string& a, const std::string& b) {
    Difference d;
    REQUIRE(a.size() == b.size());
    size_t cells = 0, same = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] == '\n' || b[i] == '\n') {
            CHECK(a[i] == b[i]);
            continue;
        }
        ++cells;
        long ia = static_cast<long>(kRamp.find(a[i])), ib = static_cast<long>(kRamp.find(b[i]));
        if (ia == ib) ++same;
        else if (std::labs(ia - ib) > 1) ++d.far;
    }
    d.equal = cells ? static_cast<double>(same) / static_cast<double>(cells) : 0;
    return d;
}

// The colour of every drawn cell of a coloured <pre>, as R, G, B in turn
// (for charsets without HTML-special characters).
std::vector<int> cellColours(const std::string& pre) {
    std::vector<int> out;
    int colour[3] = {-1, -1, -1};
    for (size_t i = 0; i < pre.size();) {
        if (pre.compare(i, 19, "<span style=\"color:") == 0) {
            for (int c = 0; c < 3; ++c) colour[c] = std::stoi(pre.substr(i + 20 + 2 * static_cast<size_t>(c), 2), nullptr, 16);
            i = pre.find('>', i) + 1;
        } else if (pre[i] == '<') {
            i = pre.find('>', i) + 1;
        } else {
            if (pre[i] != '\n') out.insert(out.end(), colour, colour + 3);
            ++i;
        }
    }
    return out;
}

void requireError(const Response& r, long status, const std::string& code, const std::string& field = "") {
    INFO("status " << r.status << " body " << r.body);
    REQUIRE(r.status == status);
    auto body = r.json();
    CHECK(body["error"]["code"] == code);
    if (!field.empty()) CHECK(body["error"]["field"] == field);
}


// Runs a command line; its exit status and what it printed.
struct Command {
    int status = -1;
    std::string output;
};

Command shell(const std::string& command) {
    Command result;
    result.status = runCommand(command, &result.output);
    return result;
}

}  // namespace

TEST_CASE("ascii: rows = round(columns x height / width / 2), EXIF orientation included") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "hd.jpg", 1920, 1080, 1, 1);
    makeJpeg(files / "port.jpg", 300, 600, 1, 2);
    makePng(files / "wide.png", 1000, 100, false, 3);
    makePng(files / "strip.png", 2000, 10, true, 4);
    makeJpeg(files / "rot6.jpg", 800, 400, 6, 5);
    makeJpeg(files / "rot8.jpg", 800, 400, 8, 6);
    makeJpeg(files / "rot3.jpg", 800, 400, 3, 7);
    makePng(files / "tiny.png", 3, 2, false, 8);
    makeProgressive(files / "hd.jpg", files / "progressive.jpg");  // as the benchmarks use

    struct Case {
        std::string file;
        Fields fields;
        int columns;
        int rows;
    };
    const std::vector<Case> cases = {
        {"hd.jpg", {}, 100, 28},                      // 100 * 1080 / 1920 / 2 = 28.1
        {"hd.jpg", {{"width", "37"}}, 37, 10},        // 10.4
        {"hd.jpg", {{"width", "1"}}, 1, 1},           // 0.28, at least one row
        {"hd.jpg", {{"width", "1000"}}, 1000, 281},   // 281.25
        {"port.jpg", {{"width", "50"}}, 50, 50},
        {"wide.png", {}, 100, 5},
        {"strip.png", {}, 100, 1},                    // 0.25
        {"rot6.jpg", {{"width", "40"}}, 40, 40},      // displayed 400x800
        {"rot8.jpg", {{"width", "41"}}, 41, 41},
        {"rot3.jpg", {{"width", "40"}}, 40, 10},      // upside down: no swap
        {"tiny.png", {{"width", "90"}}, 90, 30},      // a 3x2 source, scaled up
        {"progressive.jpg", {{"width", "64"}}, 64, 18},
    };
    std::vector<std::string> ids;
    for (const Case& c : cases) {
        Response r = d.submit((files / c.file).string(), "ascii", c.fields);
        INFO(c.file << " " << describe(c.fields) << " -> " << r.body);
        REQUIRE(r.status == 202);
        ids.push_back(r.json()["id"]);
    }
    for (size_t i = 0; i < cases.size(); ++i) {
        INFO(cases[i].file << " " << describe(cases[i].fields));
        Result result = fetch(d, ids[i]);
        CHECK(result.contentType == "text/plain");
        CHECK(result.job["outputs"][0]["name"] == "ascii.txt");
        CHECK(result.job["outputs"][0]["media_type"] == "text/plain");
        checkGrid(result.body, cases[i].columns, cases[i].rows);
        for (char c : result.body) CHECK((c == '\n' || kRamp.find(c) != std::string::npos));
    }
}

TEST_CASE("ascii: the size alias, charsets, invert, and black and white") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "hd.jpg", 1920, 1080, 1, 1);
    makeSolidPng(files / "black.png", 64, 64, {0, 0, 0});
    makeSolidPng(files / "white.png", 64, 64, {255, 255, 255});
    makeGreyLevels(files / "levels.png", {0, 25, 26, 127, 128, 230, 231, 255});

    // `size` is another name for `width`: same canonical parameters, same job.
    Response bySize = d.submit((files / "hd.jpg").string(), "ascii", {{"size", "60"}});
    REQUIRE(bySize.status == 202);
    const nlohmann::json canonical = {
        {"width", 60}, {"charset", kRamp}, {"invert", false}, {"format", "text"}, {"color", false}};
    CHECK(bySize.json()["params"] == canonical);
    Result sized = fetch(d, bySize.json()["id"]);
    checkGrid(sized.body, 60, 17);  // 16.9
    Response byWidth = d.submit((files / "hd.jpg").string(), "ascii", {{"width", "60"}});
    CHECK(byWidth.status == 200);
    CHECK(byWidth.json()["id"] == bySize.json()["id"]);
    CHECK(byWidth.json()["params"] == canonical);

    // Black is the first character, white the last; invert swaps them.
    Result black = runJob(d, files / "black.png", {{"width", "20"}});
    checkGrid(black.body, 20, 10);
    CHECK(black.body.find_first_not_of(" \n") == std::string::npos);
    Result white = runJob(d, files / "white.png", {{"width", "20"}});
    CHECK(white.body.find_first_not_of("@\n") == std::string::npos);
    CHECK(runJob(d, files / "black.png", {{"width", "20"}, {"invert", "true"}}).body.find_first_not_of("@\n") ==
          std::string::npos);
    CHECK(runJob(d, files / "white.png", {{"width", "20"}, {"invert", "true"}}).body.find_first_not_of(" \n") ==
          std::string::npos);
    CHECK(runJob(d, files / "white.png", {{"width", "20"}, {"charset", "xy"}}).body.find_first_not_of("y\n") ==
          std::string::npos);

    // v in 0..255 draws charset[v * len / 256]: equal shares, bounds exact.
    CHECK(runJob(d, files / "levels.png", {{"width", "8"}, {"charset", "0123456789"}}).body == "00145899\n");
    CHECK(runJob(d, files / "levels.png", {{"width", "8"}, {"charset", "0123456789"}, {"invert", "true"}}).body ==
          "99854100\n");

    // A custom charset is the only thing drawn, and a gradient uses all of it.
    Result ab = runJob(d, files / "hd.jpg", {{"width", "80"}, {"charset", "ab"}});
    checkGrid(ab.body, 80, 23);
    CHECK(ab.body.find_first_not_of("ab\n") == std::string::npos);
    CHECK(ab.body.find('a') != std::string::npos);
    CHECK(ab.body.find('b') != std::string::npos);

    // Invert draws every cell with the mirror character of the ramp.
    Result plain = runJob(d, files / "hd.jpg", {{"width", "80"}});
    Result inverted = runJob(d, files / "hd.jpg", {{"width", "80"}, {"invert", "true"}});
    REQUIRE(plain.body.size() == inverted.body.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < plain.body.size(); ++i) {
        if (plain.body[i] == '\n') {
            if (inverted.body[i] != '\n') ++mismatches;
            continue;
        }
        size_t index = kRamp.find(plain.body[i]);
        if (index == std::string::npos || inverted.body[i] != kRamp[kRamp.size() - 1 - index]) ++mismatches;
    }
    CHECK(mismatches == 0);

    // Characters are UTF-8 characters, not bytes.
    const std::string blocks = " \u2591\u2592\u2593\u2588";
    Result unicode = runJob(d, files / "hd.jpg", {{"width", "50"}, {"charset", blocks}});
    checkGrid(unicode.body, 50, 14);
    std::set<std::string> allowed;
    for (const std::string& c : characters(blocks)) allowed.insert(c);
    for (const std::string& line : splitLines(unicode.body))
        for (const std::string& c : characters(line)) CHECK(allowed.count(c) == 1);
}

TEST_CASE("ascii: html is a complete page with every character escaped, coloured on request") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "hd.jpg", 1920, 1080, 1, 1);
    makeSolidPng(files / "red.png", 40, 40, {255, 0, 0});
    const std::string special = "<>&\"'";

    Result text = runJob(d, files / "hd.jpg", {{"width", "64"}, {"charset", special}});
    Result html = runJob(d, files / "hd.jpg", {{"width", "64"}, {"charset", special}, {"format", "html"}});
    CHECK(html.contentType == "text/html");
    CHECK(html.job["outputs"][0]["name"] == "ascii.html");
    CHECK(html.body.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(html.body.find("<meta charset=\"utf-8\">") != std::string::npos);
    CHECK(html.body.find("</html>") != std::string::npos);
    std::string pre = preContent(html.body);
    CHECK(pre.find_first_of("<>\"'") == std::string::npos);
    for (size_t amp = pre.find('&'); amp != std::string::npos; amp = pre.find('&', amp + 1)) {
        INFO(pre.substr(amp, 8));
        CHECK((pre.compare(amp, 4, "&lt;") == 0 || pre.compare(amp, 4, "&gt;") == 0 ||
               pre.compare(amp, 5, "&amp;") == 0 || pre.compare(amp, 6, "&quot;") == 0 ||
               pre.compare(amp, 5, "&#39;") == 0));
    }
    CHECK(unescapeHtml(pre) == text.body);
    checkGrid(text.body, 64, 18);

    // color: spans coloured by the source pixels; the characters are the same.
    Result red = runJob(d, files / "red.png", {{"width", "16"}, {"format", "html"}, {"color", "true"}});
    std::string redPre = preContent(red.body);
    const std::string redSpan = "<span style=\"color:#ff0000\">";
    size_t spans = 0;
    for (size_t at = redPre.find("<span"); at != std::string::npos; at = redPre.find("<span", at + 1)) {
        ++spans;
        CHECK(redPre.compare(at, redSpan.size(), redSpan) == 0);
    }
    CHECK(spans >= 8);  // at least one per row
    CHECK(unescapeHtml(stripTags(redPre)) == runJob(d, files / "red.png", {{"width", "16"}}).body);

    Result coloured = runJob(d, files / "hd.jpg", {{"width", "64"}, {"charset", special}, {"format", "html"}, {"color", "true"}});
    std::string colouredPre = preContent(coloured.body);
    CHECK(unescapeHtml(stripTags(colouredPre)) == text.body);
    std::set<std::string> colours;
    for (size_t at = colouredPre.find("color:#"); at != std::string::npos; at = colouredPre.find("color:#", at + 1))
        colours.insert(colouredPre.substr(at + 7, 6));
    CHECK(colours.size() > 100);

    // color only applies to html: text output ignores it.
    CHECK(runJob(d, files / "hd.jpg", {{"width", "64"}, {"charset", special}, {"color", "true"}}).body == text.body);
}

TEST_CASE("ascii: a large progressive JPEG, read only as far as its DC scans, draws what a full decode draws") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "base.jpg", 2400, 1600, 1, 11, 90);
    makeProgressive(files / "base.jpg", files / "prog.jpg");
    makeJpeg(files / "rot6.jpg", 2400, 1600, 6, 12, 90);  // displayed 1600x2400
    makeProgressive(files / "rot6.jpg", files / "rot6-prog.jpg");
    initVips();
    vips::VImage::new_from_file((files / "base.jpg").c_str())
        .colourspace(VIPS_INTERPRETATION_B_W)
        .jpegsave((files / "grey.jpg").c_str());
    makeProgressive(files / "grey.jpg", files / "grey-prog.jpg");
    std::string progressive = readFile(files / "prog.jpg");
    writeFile(files / "cut-prog.jpg", progressive.substr(0, progressive.size() * 6 / 10));

    struct Pair {
        std::string baseline;
        std::string progressive;
        Fields fields;
        int columns;
        int rows;
    };
    const std::vector<Pair> pairs = {
        {"base.jpg", "prog.jpg", {{"width", "100"}}, 100, 33},     // the 1/8 preview, 300x200, is enough
        {"base.jpg", "prog.jpg", {{"width", "150"}}, 150, 50},     // exactly enough
        {"base.jpg", "prog.jpg", {{"width", "400"}}, 400, 133},    // too small: a full decode
        {"rot6.jpg", "rot6-prog.jpg", {{"width", "80"}}, 80, 60},  // EXIF orientation 6
        {"grey.jpg", "grey-prog.jpg", {{"width", "100"}}, 100, 33},
    };
    for (const Pair& p : pairs) {
        INFO(p.progressive << " " << describe(p.fields));
        Result full = runJob(d, files / p.baseline, p.fields);
        Result quick = runJob(d, files / p.progressive, p.fields);
        checkGrid(full.body, p.columns, p.rows);
        checkGrid(quick.body, p.columns, p.rows);
        Difference diff = compareDrawings(full.body, quick.body);
        CHECK(diff.far == 0);
        CHECK(diff.equal > 0.9);
    }

    // Colours agree too.
    std::vector<int> full = cellColours(
        preContent(runJob(d, files / "base.jpg", {{"width", "60"}, {"format", "html"}, {"color", "true"}}).body));
    std::vector<int> quick = cellColours(
        preContent(runJob(d, files / "prog.jpg", {{"width", "60"}, {"format", "html"}, {"color", "true"}}).body));
    REQUIRE(full.size() == 60 * 20 * 3);
    REQUIRE(quick.size() == full.size());
    double error = 0;
    for (size_t i = 0; i < full.size(); ++i) error += std::abs(full[i] - quick[i]);
    CHECK(error / static_cast<double>(full.size()) < 4);

    // A progressive JPEG cut short is refused like any truncated JPEG.
    Response cut = d.submit((files / "cut-prog.jpg").string(), "ascii");
    REQUIRE(cut.status == 202);
    nlohmann::json job = d.waitForJob(cut.json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "unprocessable");
}

TEST_CASE("ascii: parameters outside the schema are refused at submit, broken sources fail unprocessable") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "p.jpg", 320, 240);
    const std::string p = (files / "p.jpg").string();

    requireError(d.submit(p, "ascii", {{"width", "0"}}), 400, "invalid_param", "width");
    requireError(d.submit(p, "ascii", {{"width", "1001"}}), 400, "invalid_param", "width");
    requireError(d.submit(p, "ascii", {{"size", "1001"}}), 400, "invalid_param", "width");
    requireError(d.submit(p, "ascii", {{"width", "wide"}}), 400, "invalid_param", "width");
    requireError(d.submit(p, "ascii", {{"size", "50"}, {"width", "50"}}), 400, "invalid_param");
    requireError(d.submit(p, "ascii", {{"format", "pdf"}}), 400, "invalid_param", "format");
    requireError(d.submit(p, "ascii", {{"invert", "maybe"}}), 400, "invalid_param", "invert");
    requireError(d.submit(p, "ascii", {{"color", "red"}}), 400, "invalid_param", "color");
    requireError(d.submit(p, "ascii", {{"charset", "a"}}), 400, "invalid_param", "charset");
    requireError(d.submit(p, "ascii", {{"charset", std::string(257, 'x')}}), 400, "invalid_param", "charset");
    requireError(d.submit(p, "ascii", {{"charset", "ab\ncd"}}), 400, "invalid_param", "charset");
    requireError(d.submit(p, "ascii", {{"charset", "ab\tcd"}}), 400, "invalid_param", "charset");
    requireError(d.submit(p, "ascii", {{"columns", "80"}}), 400, "invalid_param", "columns");

    // Two bytes but one character: valid by the schema, not for drawing.
    Response one = d.submit(p, "ascii", {{"charset", "\u00e9"}});
    REQUIRE(one.status == 202);
    nlohmann::json job = d.waitForJob(one.json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "invalid_param");

    makeGarbageJpeg(files / "garbage.jpg");
    requireError(d.submit((files / "garbage.jpg").string(), "ascii"), 422, "unprocessable");

    makeTruncatedJpeg(files / "cut.jpg");
    Response cut = d.submit((files / "cut.jpg").string(), "ascii");
    REQUIRE(cut.status == 202);
    job = d.waitForJob(cut.json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "unprocessable");
}

TEST_CASE("ascii: more than 2000 rows is refused, naming the limit, not drawn") {
    Daemon d;
    TempDir files;
    // 1 x 1400 at 1000 columns: 700,000 rows (~700 MB of text) if it were drawn.
    makePng(files / "tall.png", 1, 1400);
    Response r = d.submit((files / "tall.png").string(), "ascii", {{"width", "1000"}});
    INFO(r.body);
    REQUIRE(r.status == 202);
    nlohmann::json job = d.waitForJob(r.json()["id"]);
    INFO(job.dump());
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "unprocessable");
    CHECK(job["error"]["message"].get<std::string>().find("limit is 2000 rows") != std::string::npos);
    CHECK(job["outputs"].empty());

    // Exactly at the limit still draws: 4 x 4000 at 4 columns is 2000 rows.
    makePng(files / "edge.png", 4, 4000);
    Result edge = runJob(d, files / "edge.png", {{"width", "4"}});
    CHECK(splitLines(edge.body).size() == 2000);
}

TEST_CASE("ascii: `pixelmill run` writes ascii.txt into the output folder") {
    TempDir files;
    makeJpeg(files / "in.jpg", 1920, 1080);
    const std::string bin = binaryPath().string();
    const auto out = files / "out";
    Command ok = shell(bin + " run ascii " + (files / "in.jpg").string() + " --plugin-dir " +
                            pluginBuildDir().string() + " -p size=40 -o " + out.string());
    INFO(ok.output);
    REQUIRE(ok.status == 0);
    CHECK(ok.output.find("ascii.txt") != std::string::npos);
    checkGrid(readFile(out / "ascii.txt"), 40, 11);  // 11.25

    Command html = shell(bin + " run ascii " + (files / "in.jpg").string() + " --plugin-dir " +
                              pluginBuildDir().string() + " -p width=40 -p format=html -o " + out.string());
    INFO(html.output);
    REQUIRE(html.status == 0);
    CHECK(readFile(out / "ascii.html").rfind("<!DOCTYPE html>", 0) == 0);
}
