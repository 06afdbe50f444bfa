// pdf2png: one PNG per selected page of a PDF, rendered with poppler.
//
// Pages render in parallel through the host's parallelFor; each running task
// borrows its own poppler::document from a DocumentPool (poppler documents
// are not thread-safe), so one long PDF keeps every idle worker busy. Each
// page is handed to the host as soon as it is encoded, under its final index.
#include "document_pool.hpp"
#include "page_ranges.hpp"
#include "page_render.hpp"

#include <pixelmill/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace pixelmill;
using namespace pixelmill::pdf2png;

class Pdf2Png {
public:
    static constexpr const char* kName = "pdf2png";
    static constexpr const char* kVersion = "1.0.0";
    static constexpr const char* kDescription =
        "Renders PDF pages to PNG images, one per page, in page order (page-N.png)";
    static constexpr const char* kAccepts[] = {"application/pdf", nullptr};
    // The pattern is page_ranges.hpp's kSchemaPattern, spelled for JSON.
    static constexpr const char* kSchema = R"json({
      "type": "object",
      "properties": {
        "dpi":       {"type": "integer", "minimum": 18, "maximum": 600, "default": 72,
                      "description": "resolution in dots per inch; 72 gives one pixel per PDF point"},
        "pages":     {"type": "string", "default": "all", "maxLength": 1000,
                      "pattern": "^ *(all|[0-9]+( *- *[0-9]*)?( *, *[0-9]+( *- *[0-9]*)?)*) *$",
                      "description": "all, or page numbers and ranges such as 1-3,7 or 5- (to the end); rendered in document order, each page once"},
        "max_pages": {"type": "integer", "minimum": 1, "default": 1000,
                      "description": "refuse the job if it selects more pages than this (the server's --max-pages caps it too)"}
      },
      "additionalProperties": false,
      "x-produces": ["image/png"]
    })json";

    // The page count without rendering; PDFs have no single width or height.
    sdk::Probe probe(const sdk::Input& input) const {
        sdk::Probe probe;
        probe.pages = openDocument(input.bytes())->pages();
        return probe;
    }

    void process(sdk::Job& job) const {
        const int dpi = static_cast<int>(job.integer("dpi", 72));
        if (dpi < 18 || dpi > 600) throw sdk::Error(PM_INVALID_PARAM, "dpi must be between 18 and 600");
        uint64_t cap = static_cast<uint64_t>(std::max<long long>(1, job.integer("max_pages", 1000)));
        if (job.maxPages() > 0) cap = std::min<uint64_t>(cap, job.maxPages());

        DocumentPool pool(job.input().bytes());
        const auto pageCount = static_cast<uint32_t>(pool.pageCount());
        std::vector<uint32_t> pages = select(job.str("pages", "all"), pageCount, cap);
        checkSizes(pool, pages, dpi, job.maxPixels());

        const auto total = static_cast<uint32_t>(pages.size());
        job.progress(0, total);
        std::mutex progressMutex;  // keeps reported counts rising when tasks finish together
        uint32_t done = 0;
        std::atomic<bool> failed{false};
        job.parallelFor(total, [&](uint32_t index) {
            if (failed.load()) return;  // another page failed: the job has its error already
            try {
                job.throwIfStopped();
                const uint32_t number = pages[index];
                RenderedPage rendered;
                {
                    auto doc = pool.acquire();
                    std::unique_ptr<poppler::page> page(doc->create_page(static_cast<int>(number) - 1));
                    if (!page) throw unreadablePage(number);
                    rendered = renderPage(*page, static_cast<int>(number), dpi, renderedSize(*page, dpi));
                }
                job.addOutput(index, "page-" + std::to_string(number) + ".png", "image/png", rendered.png(),
                              rendered.width, rendered.height);
                std::lock_guard lock(progressMutex);
                job.progress(++done, total);
            } catch (...) {
                failed = true;
                throw;
            }
        });
    }

private:
    static sdk::Error unreadablePage(uint32_t number) {
        std::string why = lastPopplerError();
        return sdk::Error(PM_UNPROCESSABLE, "page " + std::to_string(number) + " of the PDF cannot be read" +
                                                (why.empty() ? "" : ": " + why));
    }

    // The selected page numbers in document order, within the page cap.
    static std::vector<uint32_t> select(const std::string& spec, uint32_t pageCount, uint64_t cap) {
        std::optional<PageSelection> selection;
        try {
            selection.emplace(selectPages(spec, pageCount));
        } catch (const PageRangeError& e) {
            throw sdk::Error(PM_INVALID_PARAM, e.what());
        }
        if (selection->count() > cap)
            throw sdk::Error(PM_UNPROCESSABLE, "the job selects " + std::to_string(selection->count()) +
                                                   " pages; the limit is " + std::to_string(cap) +
                                                   " (max_pages, capped by the server's page limit)");
        return selection->pages();
    }

    // Refuses the job before any rendering if one selected page would exceed
    // the pixel limit at this dpi. A host without a limit (0) still gets one
    // that keeps poppler's int-sized bitmaps (3 bytes a pixel) in range.
    static void checkSizes(DocumentPool& pool, const std::vector<uint32_t>& pages, int dpi, uint64_t maxPixels) {
        constexpr uint64_t kBitmapLimit = 500'000'000;
        maxPixels = maxPixels == 0 ? kBitmapLimit : std::min(maxPixels, kBitmapLimit);
        auto doc = pool.acquire();
        for (uint32_t number : pages) {
            std::unique_ptr<poppler::page> page(doc->create_page(static_cast<int>(number) - 1));
            if (!page) throw unreadablePage(number);
            PixelSize size = renderedSize(*page, dpi);
            if (size.width <= 0 || size.height <= 0)
                throw sdk::Error(PM_UNPROCESSABLE, "page " + std::to_string(number) + " has an empty page box");
            if (size.pixels() > maxPixels)
                throw sdk::Error(PM_UNPROCESSABLE, "page " + std::to_string(number) + " is " +
                                                       std::to_string(size.width) + "x" + std::to_string(size.height) +
                                                       " pixels at " + std::to_string(dpi) + " dpi = " +
                                                       std::to_string(size.pixels()) + " pixels; the limit is " +
                                                       std::to_string(maxPixels));
        }
    }
};

}  // namespace

PIXELMILL_PLUGIN(Pdf2Png)
