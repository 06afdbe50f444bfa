#include "common/ids.h"

#include <sys/random.h>

#include <array>
#include <cstdint>
#include <random>

namespace pixelmill {
namespace {

// Seeded once per thread from the kernel; ids need uniqueness, not secrecy.
std::mt19937_64& generator() {
    thread_local std::mt19937_64 gen = [] {
        std::array<uint64_t, 4> seed{};
        if (getrandom(seed.data(), sizeof seed, 0) != sizeof seed) seed[0] = std::random_device{}();
        std::seed_seq seq(reinterpret_cast<uint32_t*>(seed.data()),
                          reinterpret_cast<uint32_t*>(seed.data()) + 8);
        return std::mt19937_64(seq);
    }();
    return gen;
}

bool isLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string newId() {
    uint64_t hi = generator()();
    uint64_t lo = generator()();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(36, '-');
    int pos = 0;
    auto put = [&](uint64_t v, int shift) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
        out[pos++] = kHex[(v >> shift) & 0xf];
    };
    for (int s = 60; s >= 0; s -= 4) put(hi, s);
    for (int s = 60; s >= 0; s -= 4) put(lo, s);
    return out;
}

bool isValidId(std::string_view id) {
    if (id.size() != 36) return false;
    for (size_t i = 0; i < id.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-') return false;
        } else if (!isLowerHex(id[i])) {
            return false;
        }
    }
    return true;
}

bool isSha256Hex(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!isLowerHex(c)) return false;
    return true;
}

}  // namespace pixelmill
