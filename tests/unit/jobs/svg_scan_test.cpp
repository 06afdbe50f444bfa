// svgExternalReference and the SVG sniff on adversarial input: one pass over
// the text whatever it holds, with the same verdicts as the plain
// find-every-occurrence scan it replaced (kept below as the reference).
#include "jobs/sniff.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <random>
#include <string>

namespace pixelmill {
namespace {

// The scan as it was: correct, but quadratic on "<svg#href=#href=…".
bool referenceInternal(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r' ||
                          v.front() == '"' || v.front() == '\''))
        v.remove_prefix(1);
    return v.empty() || v.front() == '#' || v.substr(0, 5) == "data:";
}

std::string reference(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("<!entity") != std::string::npos) return "an SVG that declares entities is not accepted";
    if (lower.find("<?xml-stylesheet") != std::string::npos || lower.find("@import") != std::string::npos)
        return "an SVG that imports a stylesheet is not accepted";
    for (std::string_view name : {"href", "src"}) {
        for (size_t at = lower.find(name); at != std::string::npos; at = lower.find(name, at + 1)) {
            char before = at > 0 ? lower[at - 1] : ' ';
            if (std::isalnum(static_cast<unsigned char>(before)) || before == '-' || before == '_') continue;
            size_t i = at + name.size();
            while (i < lower.size() && std::isspace(static_cast<unsigned char>(lower[i]))) ++i;
            if (i >= lower.size() || lower[i] != '=') continue;
            ++i;
            while (i < lower.size() && std::isspace(static_cast<unsigned char>(lower[i]))) ++i;
            if (i >= lower.size()) break;
            char quote = lower[i];
            size_t end = quote == '"' || quote == '\'' ? lower.find(quote, i + 1) : lower.find_first_of(" >", i);
            std::string_view value = std::string_view(lower).substr(i, end == std::string::npos ? std::string::npos : end - i);
            if (!referenceInternal(value))
                return "an SVG that refers to something outside itself (" + std::string(name) +
                       ") is not accepted; embed it as data: or #fragment";
        }
    }
    for (size_t at = lower.find("url("); at != std::string::npos; at = lower.find("url(", at + 1))
        if (!referenceInternal(std::string_view(lower).substr(at + 4))) return "an SVG that refers to something outside itself (url()) is not accepted";
    return {};
}

std::string repeated(std::string head, const std::string& unit, size_t bytes, const std::string& tail = "") {
    while (head.size() < bytes) head += unit;
    return head + tail;
}

double secondsFor(const std::function<void()>& f) {
    auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// Time grows with the length, not its square. A wall-clock bound alone fails
// on a loaded or sanitized build, so the check compares two lengths 8x apart
// (linear: about 8x the time; the old quadratic scan: 64x), each the best of
// three runs; the short run has a generous ceiling so a quadratic scan fails
// fast instead of running for minutes.
TEST_CASE("svg scan: adversarial repetitions take time linear in their length", "[jobs][sniff][svg]") {
    struct Case {
        const char* unit;
        std::string tail;  // what decides the verdict, at the very end
        bool refused;
    };
    const std::vector<Case> cases = {
        {"#href=", "", false},                                  // unquoted values without an end (was quadratic)
        {"#src=#", "", false},
        {"#HREF=", " href=\"http://x/\"", true},                // the one bad reference, last
        {" href='#", "", false},                                // quotes that never close
        {" href=\"", "", true},                                // the first value is " href=": external
        {"url(", "", true},                                     // url(url(…: external
        {"url(#", " url(http://x/)", true},
        {"<!entit", "", false},                                 // near misses of every keyword
        {"<?xml-styleshee", "", false},
        {"@impor", "", false},
        {"\t\n href \t=", "", true},                         // the value is the next "href"
        {"   ", " src=file:///etc/passwd", true},
    };
    auto best = [](const std::string& text, std::string& why) {
        double fastest = 1e9;
        for (int run = 0; run < 3; ++run) fastest = std::min(fastest, secondsFor([&] { why = svgExternalReference(text); }));
        return fastest;
    };
    for (const Case& c : cases) {
        INFO(c.unit);
        std::string shortText = repeated("<svg", c.unit, 256u << 10, c.tail);
        std::string longText = repeated("<svg", c.unit, 2u << 20, c.tail);
        std::string why;
        double shortTook = best(shortText, why);
        CHECK(why.empty() != c.refused);
        REQUIRE(shortTook < 2.0);
        double longTook = best(longText, why);
        CHECK(why.empty() != c.refused);
        INFO("256 KiB: " << shortTook << " s, 2 MiB: " << longTook << " s");
        CHECK(longTook < 24 * std::max(shortTook, 1e-4));
    }
}

TEST_CASE("svg scan: the same verdicts as the reference scan on random documents", "[jobs][sniff][svg]") {
    const std::vector<std::string> pieces = {"<svg", " ", "\t", "\n", "=", "\"", "'", "#", "x", "href", "HREF", "src",
                                             "xlink:", "-", "_", "data:", "DATA:", "url(", "http://h/", ">", "<",
                                             "<!ENTITY", "<?xml-stylesheet", "@import", "a", "9"};
    std::mt19937 random(1234);
    std::uniform_int_distribution<size_t> piece(0, pieces.size() - 1);
    std::uniform_int_distribution<int> length(0, 24);
    for (int i = 0; i < 50'000; ++i) {
        std::string text;
        for (int n = length(random); n > 0; --n) text += pieces[piece(random)];
        INFO(text);
        REQUIRE(svgExternalReference(text) == reference(text));
    }
}

TEST_CASE("svg scan: known references are refused, fragments and data: are not", "[jobs][sniff][svg]") {
    const std::string open = R"x(<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">)x";
    CHECK_FALSE(svgExternalReference(open + R"x(<image href="file:///etc/passwd"/></svg>)x").empty());
    CHECK_FALSE(svgExternalReference(open + R"x(<image xlink:href='../x.png'/></svg>)x").empty());
    CHECK_FALSE(svgExternalReference(open + R"x(<IMAGE HREF = "FILE:///x"/></svg>)x").empty());
    CHECK_FALSE(svgExternalReference(open + R"x(<rect style="fill: url( 'http://e/p.svg#g')"/></svg>)x").empty());
    CHECK_THAT(svgExternalReference(R"x(<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///h">]>)x" + open),
               Catch::Contains("entities"));
    CHECK_THAT(svgExternalReference(open + "<style>@import 'x.css';</style>"), Catch::Contains("stylesheet"));
    CHECK(svgExternalReference(open + R"x(<use href="#g"/><rect fill="url(#g)"/><image src="data:image/png;base64,AA"/>)x")
              .empty());
    CHECK(svgExternalReference(open + R"x(<a href="">empty</a><a href=''/><a href= >x</a>)x").empty());
    CHECK(svgExternalReference(open + R"x(<a data-href="http://x">not an attribute named href</a>)x").empty());
}

TEST_CASE("svg sniff: a head of repeated prologue parts is judged in one pass", "[jobs][sniff][svg]") {
    std::string doctypes = repeated("", "<!doctype x>", 4090, "svg");  // "svg" last: every doctype looked for it
    std::string svgAtEnd = repeated("", "<!doctype svg>", 4000, "<svg>");
    std::string comments = repeated("", "<!---->", 4096);
    double took = secondsFor([&] {
        for (int i = 0; i < 200; ++i) {
            CHECK(sniffMediaType(doctypes) != "image/svg+xml");
            CHECK(sniffMediaType(comments) != "image/svg+xml");
            CHECK(sniffMediaType(svgAtEnd) == "image/svg+xml");
        }
    });
    CHECK(took < 1.0);
    CHECK(sniffMediaType("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" [<!ATTLIST x>]>\n<svg/>") == "image/svg+xml");
    CHECK(sniffMediaType("<!DOCTYPE html><p>svg</p>") != "image/svg+xml");
}

}  // namespace pixelmill
