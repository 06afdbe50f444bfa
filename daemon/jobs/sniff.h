#pragma once

#include <span>
#include <string>

namespace pixelmill {

// The media type of content, judged from its first bytes alone (pass at least
// the first 4 KiB when there are that many); never from a file name or a
// client's Content-Type. Unknown binary is application/octet-stream.
std::string sniffMediaType(std::span<const unsigned char> head);

}  // namespace pixelmill
