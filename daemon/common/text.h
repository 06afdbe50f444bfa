#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pixelmill {

// `s` without leading and trailing characters from `chars` (by default space
// and tab: HTTP's optional whitespace).
std::string_view trim(std::string_view s, std::string_view chars = " \t");

// `s` with ASCII letters in lower case; other bytes as they are.
std::string lowerAscii(std::string_view s);
// True when `a` and `b` differ at most in the case of ASCII letters.
bool iequals(std::string_view a, std::string_view b);

// A size for people: "1 byte", "900 bytes", "16 KiB" (a whole number of a
// unit stays whole, so a limit reads as configured), "1.5 MiB".
std::string humanBytes(uint64_t bytes);

}  // namespace pixelmill
