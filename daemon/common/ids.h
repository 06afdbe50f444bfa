#pragma once

#include <string>
#include <string_view>

namespace pixelmill {

// A random UUIDv4, lower-case hex with dashes: the id of jobs, originals, batches.
std::string newId();

// True for exactly the shape newId() makes; checked before an id reaches the
// store or the file system.
bool isValidId(std::string_view id);

// True for 64 lower-case hex digits (a SHA-256 as the blob store names it).
bool isSha256Hex(std::string_view s);

}  // namespace pixelmill
