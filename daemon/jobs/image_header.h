#pragma once

#include "jobs/plugin_catalog.h"

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace pixelmill {

// The most of a file's leading bytes readImageHeader walks through: a JPEG's
// SOF and a PNG's first IDAT must start within it, and a GIF must fit in it
// whole (its frame count is the whole file's). WebP chunk headers past it are
// read one by one, a bounded number of them.
inline constexpr size_t kImageHeaderScanLimit = 256 * 1024;

// What the image plugins' probe (libvips' header, EXIF orientation 5-8
// swapping width and height) reports for a JPEG, PNG, GIF or WebP, read here
// in one bounded linear pass without a worker process; nullopt whenever this
// reader is not sure its answer is the probe's: an unusual or damaged header,
// a size the probe would refuse, an animation, a layout it does not know.
// nullopt is no verdict on the file: probe it as before. `mediaType` is the
// sniffed type; `file` the whole file (only the parts named above are read).
// Pure and thread-safe.
std::optional<SourceInfo> readImageHeader(std::string_view mediaType, std::span<const unsigned char> file);

// True for the media types readImageHeader may answer for.
bool imageHeaderReadable(std::string_view mediaType);

// True where an answer from the file's first bytes alone (its JPEG markers up
// to SOS, its PNG chunks up to IDAT) is the answer for the whole file, so a
// caller holding them may try those first; not for GIF and WebP, read whole.
bool imageHeaderInPrefix(std::string_view mediaType);

}  // namespace pixelmill
