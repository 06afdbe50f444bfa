#pragma once

#include <span>
#include <string>
#include <string_view>

namespace pixelmill {

// The media type of content, judged from its first bytes alone (pass at least
// the first 4 KiB when there are that many); never from a file name or a
// client's Content-Type. Unknown binary is application/octet-stream.
std::string sniffMediaType(std::span<const unsigned char> head);
inline std::string sniffMediaType(std::string_view head) {
    return sniffMediaType({reinterpret_cast<const unsigned char*>(head.data()), head.size()});
}

// Why an SVG document must not be rendered, or "" when it may: a reference
// to anything outside the document (href, xlink:href, src or url() that is
// not "#fragment" or "data:", an external entity, a stylesheet import)
// would let an upload make the renderer read other files or reach the
// network. Judged from the whole text, case-insensitively.
std::string svgExternalReference(std::string_view text);

}  // namespace pixelmill
