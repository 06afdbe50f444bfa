#pragma once

#include <cstdint>
#include <string>

namespace pixelmill {

// Wall-clock milliseconds since the Unix epoch: the unit of every timestamp
// the store keeps.
int64_t nowMs();

// RFC 3339 UTC with milliseconds: 2026-11-22T17:49:03.412Z
std::string formatTime(int64_t unixMs);

// Monotonic seconds, for measuring durations.
double monotonicSeconds();

}  // namespace pixelmill
