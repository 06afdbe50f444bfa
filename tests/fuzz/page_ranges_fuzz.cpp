// pdf2png's page selection: any text and page count either selects pages
// within the document, each once and in order, or throws.
#include "pdf2png/page_ranges.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    uint32_t pages = 1 + (static_cast<uint32_t>(data[0]) << 8 | data[1]);
    std::string_view spec(reinterpret_cast<const char*>(data + 2), size - 2);
    try {
        auto selection = pixelmill::pdf2png::selectPages(spec, pages);
        (void)selection;
    } catch (const std::exception&) {
    }
    return 0;
}
