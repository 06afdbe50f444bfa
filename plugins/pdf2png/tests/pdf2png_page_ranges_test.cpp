// The `pages` parser and selection, on their own (no poppler, no daemon).
#include "page_ranges.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace pixelmill::pdf2png;

namespace {

std::vector<uint32_t> pagesOf(const std::string& spec, uint32_t count) { return selectPages(spec, count).pages(); }

std::string errorOf(const std::string& spec, uint32_t count) {
    try {
        selectPages(spec, count);
    } catch (const PageRangeError& e) {
        return e.what();
    }
    return "";
}

bool schemaAccepts(const std::string& spec) {
    static const std::regex pattern(kSchemaPattern, std::regex::ECMAScript);
    return spec.size() <= kMaxSpecLength && std::regex_match(spec, pattern);
}

}  // namespace

TEST_CASE("pages=all selects every page in order") {
    CHECK(pagesOf("all", 1) == std::vector<uint32_t>{1});
    CHECK(pagesOf("all", 5) == std::vector<uint32_t>{1, 2, 3, 4, 5});
    CHECK(pagesOf("  all ", 3) == std::vector<uint32_t>{1, 2, 3});
    CHECK(parsePageRanges("all") == std::vector<PageRange>{{1, PageRange::kToEnd}});
}

TEST_CASE("single pages, ranges and open ranges") {
    CHECK(pagesOf("2", 5) == std::vector<uint32_t>{2});
    CHECK(pagesOf("1-2", 5) == std::vector<uint32_t>{1, 2});
    CHECK(pagesOf("1-3,7", 9) == std::vector<uint32_t>{1, 2, 3, 7});
    CHECK(pagesOf("4-", 6) == std::vector<uint32_t>{4, 5, 6});
    CHECK(pagesOf("5-5", 5) == std::vector<uint32_t>{5});
    CHECK(pagesOf(" 1 - 2 , 4 ", 5) == std::vector<uint32_t>{1, 2, 4});
    CHECK(parsePageRanges("3,1-2,9-") == std::vector<PageRange>{{3, 3}, {1, 2}, {9, PageRange::kToEnd}});
}

TEST_CASE("a selection is in document order with each page once") {
    CHECK(pagesOf("3,1", 5) == std::vector<uint32_t>{1, 3});
    CHECK(pagesOf("3,1,3,3", 5) == std::vector<uint32_t>{1, 3});
    CHECK(pagesOf("2-4,1-3", 5) == std::vector<uint32_t>{1, 2, 3, 4});
    CHECK(pagesOf("5,1-2,3-", 6) == std::vector<uint32_t>{1, 2, 3, 4, 5, 6});
    // Adjacent and overlapping ranges merge into runs.
    auto runs = selectPages("1-2,3-4,6,7,9-10,10", 10).runs();
    CHECK(runs == std::vector<PageRange>{{1, 4}, {6, 7}, {9, 10}});
    CHECK(selectPages("1-2,3-4,6,7,9-10,10", 10).count() == 8);
}

TEST_CASE("pages beyond the document fail with a message naming the page and the count") {
    CHECK(errorOf("9", 5) == "page 9 is beyond the document's 5 pages");
    CHECK(errorOf("1-9", 5) == "page 9 is beyond the document's 5 pages");
    CHECK(errorOf("6-", 5) == "page 6 is beyond the document's 5 pages");
    CHECK(errorOf("2", 1) == "page 2 is beyond the document's 1 page");
    CHECK(errorOf("1,2,4000000000", 3) == "page 4000000000 is beyond the document's 3 pages");
    CHECK(errorOf("5", 5).empty());
}

TEST_CASE("malformed specs, page 0 and backwards ranges are refused") {
    for (const char* bad : {"", " ", "0", "0-3", "3-1", "1,", ",1", "1,,2", "1--2", "-3", "a", "1a", "all,1", "allx",
                            "1-2-3", "1 2", "1;2", "ALL", "+1", "1.5", "\xff"}) {
        INFO("spec '" << bad << "'");
        CHECK_THROWS_AS(parsePageRanges(bad), PageRangeError);
    }
    CHECK_THAT(errorOf("0", 5), Catch::Contains("numbered from 1"));
    CHECK_THAT(errorOf("3-1", 5), Catch::Contains("3-1 runs backwards"));
    CHECK_THAT(errorOf("1,x", 5), Catch::Contains("'x' where a page number belongs"));
    // A long spec is quoted cut short.
    std::string longSpec = std::string(60, '1') + "x";
    CHECK_THAT(errorOf(longSpec, 5), Catch::StartsWith("page number 11111111111... is too large"));
    std::string longBad = "1," + std::string(60, ' ') + "x";
    CHECK_THAT(errorOf(longBad, 5), Catch::StartsWith("pages '1," + std::string(38, ' ') + "...' has 'x'"));
}

TEST_CASE("numbers too large for a page are refused without overflow") {
    CHECK_THROWS_AS(parsePageRanges("4294967295"), PageRangeError);
    CHECK_THROWS_AS(parsePageRanges("1-99999999999999999999999999"), PageRangeError);
    CHECK(parsePageRanges("4294967294") == std::vector<PageRange>{{4294967294u, 4294967294u}});
    // A huge range against a small document fails on the count, before any expansion.
    CHECK(errorOf("1-4294967294", 2) == "page 4294967294 is beyond the document's 2 pages");
}

TEST_CASE("a large selection is counted without expanding it") {
    PageSelection all = selectPages("all", 4000000000u);
    CHECK(all.count() == 4000000000u);
    CHECK(all.runs().size() == 1);
    CHECK(selectPages("2-", 4000000000u).count() == 3999999999u);
}

TEST_CASE("the schema pattern accepts exactly what the parser accepts") {
    for (const char* good : {"all", " all ", "1", "1-3,7", "5-", "1 - 2 , 4", "10-20,3,4-", "007"}) {
        INFO("spec '" << good << "'");
        CHECK(schemaAccepts(good));
        CHECK_NOTHROW(parsePageRanges(good));
    }
    // Syntax the pattern refuses; page 0 and backwards ranges pass the pattern
    // and are refused by the parser with a clearer message.
    for (const char* bad : {"", "1,", ",1", "1,,2", "1--2", "-3", "a", "all,1", "1-2-3", "1 2", "ALL", "+1"}) {
        INFO("spec '" << bad << "'");
        CHECK_FALSE(schemaAccepts(bad));
        CHECK_THROWS_AS(parsePageRanges(bad), PageRangeError);
    }
    CHECK(schemaAccepts("0"));
    CHECK(schemaAccepts("3-1"));
}

TEST_CASE("a spec at the length limit parses, and the host's std::regex matches it without trouble") {
    std::string spec;
    for (int page = 1; spec.size() + 8 < kMaxSpecLength; ++page) spec += (spec.empty() ? "" : ",") + std::to_string(page);
    REQUIRE(spec.size() <= kMaxSpecLength);
    CHECK(schemaAccepts(spec));
    CHECK(selectPages(spec, 1000).count() > 200);
    CHECK_THROWS_AS(parsePageRanges(spec + std::string(kMaxSpecLength, ' ')), PageRangeError);
}
