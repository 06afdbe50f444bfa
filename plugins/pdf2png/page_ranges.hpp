// The `pages` parameter of pdf2png: "all", or page numbers and ranges such as
// "1-3,7" or "5-" (page 5 to the last). Header-only and free of poppler so
// that it can be unit-tested and fuzzed on its own.
//
// Grammar (spaces are allowed around numbers, dashes and commas):
//   spec  := "all" | item ("," item)*
//   item  := N | N "-" | N "-" M        N, M >= 1, N <= M
// kSchemaPattern is the same grammar as an ECMAScript regex for the schema;
// the host checks it (after maxLength) before the plugin sees the value.
//
// A selection is always in document order with each page once: "3,1,3"
// renders pages 1 and 3, as outputs 0 and 1. Page numbers are checked against
// the real page count only in selectPages(), which never expands a range
// before it knows the selection is within the document.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::pdf2png {

inline constexpr const char* kSchemaPattern =
    R"(^ *(all|[0-9]+( *- *[0-9]*)?( *, *[0-9]+( *- *[0-9]*)?)*) *$)";
// Keeps the host's std::regex (a backtracking matcher) far from deep recursion.
inline constexpr std::size_t kMaxSpecLength = 1000;

// A syntax error, page 0, or a backwards range; the message is for the client.
class PageRangeError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Inclusive, 1-based. `last == kToEnd` stands for "to the last page".
struct PageRange {
    static constexpr uint32_t kToEnd = UINT32_MAX;
    uint32_t first = 1;
    uint32_t last = kToEnd;
    friend bool operator==(const PageRange&, const PageRange&) = default;
};

// Parses a spec into ranges as written (no sorting, no page count yet).
// "all" gives one range {1, kToEnd}. Throws PageRangeError.
inline std::vector<PageRange> parsePageRanges(std::string_view spec) {
    if (spec.size() > kMaxSpecLength)
        throw PageRangeError("pages is longer than " + std::to_string(kMaxSpecLength) + " characters");
    size_t i = 0;
    auto skipSpaces = [&] {
        while (i < spec.size() && spec[i] == ' ') ++i;
    };
    // The spec as messages quote it: a long one is cut, it is the client's own text.
    const std::string quoted =
        "pages '" + (spec.size() <= 40 ? std::string(spec) : std::string(spec.substr(0, 40)) + "...") + "'";
    auto fail = [&](const std::string& what) -> PageRangeError {
        return PageRangeError(quoted + " " + what + "; expected 'all' or page numbers and ranges such as '1-3,7'");
    };
    // One page number at i; digits only, at most UINT32_MAX - 1.
    auto number = [&]() -> uint32_t {
        size_t start = i;
        uint64_t value = 0;
        while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
            value = value * 10 + static_cast<uint64_t>(spec[i] - '0');
            if (value >= PageRange::kToEnd)
                throw PageRangeError("page number " + std::string(spec.substr(start, i + 1 - start)) +
                                     "... is too large");
            ++i;
        }
        if (i == start) throw fail(i < spec.size() ? "has '" + std::string(1, spec[i]) + "' where a page number belongs"
                                                   : "ends where a page number belongs");
        if (value == 0) throw PageRangeError(quoted + " names page 0; pages are numbered from 1");
        return static_cast<uint32_t>(value);
    };

    skipSpaces();
    if (spec.substr(i, 3) == "all") {
        i += 3;
        skipSpaces();
        if (i != spec.size()) throw fail("has text after 'all'");
        return {PageRange{1, PageRange::kToEnd}};
    }
    std::vector<PageRange> ranges;
    for (;;) {
        skipSpaces();
        PageRange range;
        range.first = number();
        range.last = range.first;
        skipSpaces();
        if (i < spec.size() && spec[i] == '-') {
            ++i;
            skipSpaces();
            if (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
                range.last = number();
                if (range.last < range.first)
                    throw PageRangeError(quoted + ": the range " + std::to_string(range.first) + "-" +
                                         std::to_string(range.last) + " runs backwards");
            } else {
                range.last = PageRange::kToEnd;
            }
            skipSpaces();
        }
        ranges.push_back(range);
        if (i == spec.size()) return ranges;
        if (spec[i] != ',') throw fail("has '" + std::string(1, spec[i]) + "' where ',' or '-' belongs");
        ++i;
    }
}

// The pages a spec selects from a document of `pageCount` pages: sorted,
// disjoint, merged runs, each within [1, pageCount].
class PageSelection {
public:
    explicit PageSelection(std::vector<PageRange> runs) : runs_(std::move(runs)) {}

    const std::vector<PageRange>& runs() const { return runs_; }

    uint64_t count() const {
        uint64_t n = 0;
        for (const PageRange& r : runs_) n += static_cast<uint64_t>(r.last) - r.first + 1;
        return n;
    }

    // Every selected page number, ascending. Call after checking count().
    std::vector<uint32_t> pages() const {
        std::vector<uint32_t> out;
        out.reserve(static_cast<size_t>(count()));
        for (const PageRange& r : runs_)
            for (uint64_t p = r.first; p <= r.last; ++p) out.push_back(static_cast<uint32_t>(p));
        return out;
    }

private:
    std::vector<PageRange> runs_;
};

// Throws PageRangeError for a bad spec or a page beyond the document, with a
// message such as "page 9 is beyond the document's 5 pages".
inline PageSelection selectPages(std::string_view spec, uint32_t pageCount) {
    std::vector<PageRange> ranges = parsePageRanges(spec);
    auto beyond = [&](uint32_t page) {
        return PageRangeError("page " + std::to_string(page) + " is beyond the document's " +
                              std::to_string(pageCount) + (pageCount == 1 ? " page" : " pages"));
    };
    for (PageRange& r : ranges) {
        if (r.first > pageCount) throw beyond(r.first);
        if (r.last == PageRange::kToEnd) r.last = pageCount;
        else if (r.last > pageCount) throw beyond(r.last);
    }
    std::sort(ranges.begin(), ranges.end(), [](const PageRange& a, const PageRange& b) { return a.first < b.first; });
    std::vector<PageRange> runs;
    for (const PageRange& r : ranges) {
        // uint64_t: last + 1 cannot overflow for last near UINT32_MAX.
        if (!runs.empty() && static_cast<uint64_t>(r.first) <= static_cast<uint64_t>(runs.back().last) + 1)
            runs.back().last = std::max(runs.back().last, r.last);
        else
            runs.push_back(r);
    }
    return PageSelection(std::move(runs));
}

}  // namespace pixelmill::pdf2png
