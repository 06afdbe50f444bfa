// Content sniffing and the SVG reference check on arbitrary bytes: always an
// answer, never a crash (the check reads every byte of an SVG, in one pass).
#include "jobs/sniff.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto type = pixelmill::sniffMediaType(std::span<const unsigned char>(data, size));
    if (type.empty()) __builtin_trap();
    (void)pixelmill::svgExternalReference(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
