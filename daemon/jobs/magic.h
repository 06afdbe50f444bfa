#pragma once

#include <cstring>
#include <span>
#include <string_view>

namespace pixelmill {

// Whether `bytes` hold `magic` at `offset`: the test every file-type check
// here starts with (sniff.cpp, image_header.cpp).
inline bool startsWith(std::span<const unsigned char> bytes, std::string_view magic, size_t offset = 0) {
    return bytes.size() >= offset + magic.size() && std::memcmp(bytes.data() + offset, magic.data(), magic.size()) == 0;
}

}  // namespace pixelmill
