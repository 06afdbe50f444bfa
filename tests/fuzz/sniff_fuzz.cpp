// Content sniffing on arbitrary heads: always an answer, never a crash.
#include "jobs/sniff.h"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto type = pixelmill::sniffMediaType(std::span<const unsigned char>(data, size));
    if (type.empty()) __builtin_trap();
    return 0;
}
