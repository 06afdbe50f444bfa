#pragma once

#include "common/error.h"

#include <filesystem>
#include <string>

namespace pixelmill::fsio {

// The daemon's error for a failed file operation: 507 when the disk or the
// quota is full (the path goes to the log, never to clients), else 500.
ApiError ioError(const std::string& what, int err);

// Moves `from` to `to` unless `to` exists; 0, or the errno (EEXIST: it exists).
int moveNoReplace(const std::filesystem::path& from, const std::filesystem::path& to);

// Refreshes a blob's age, so that a sweep spares content stored again.
void touch(const std::filesystem::path& file);

}  // namespace pixelmill::fsio
