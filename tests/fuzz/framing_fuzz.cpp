// The front end's framing on arbitrary bytes. The first byte picks what is
// fed: a request head, or a chunked body. A head that is accepted leaves no
// framing header in what Pistache reads again, and never both lengths; a
// chunked body decodes to the same bytes, the same end and the same verdict
// whether it arrives whole or a byte at a time.
#include "common/error.h"
#include "common/text.h"
#include "http/server/framing.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace pixelmill;
using namespace pixelmill::http;

namespace {

void checkHead(std::string_view bytes) {
    RequestHead head;
    try {
        head = parseRequestHead(bytes);
    } catch (const ApiError&) {
        return;
    }
    if (head.chunked && head.contentLength) std::abort();
    if (!head.filtered.ends_with("\r\n\r\n")) std::abort();
    std::string lower = lowerAscii(head.filtered);
    for (const char* framing : {"\ncontent-length", "\ntransfer-encoding", "\nexpect"}) {
        // A name that only starts like a framing header is another header ("Expect-CT").
        for (size_t at = lower.find(framing); at != std::string::npos; at = lower.find(framing, at + 1)) {
            char after = lower[at + std::string_view(framing).size()];
            if (after == ':' || after == ' ' || after == '\t') std::abort();
        }
    }
}

struct Outcome {
    bool refused = false;
    bool done = false;
    size_t used = 0;
    std::string body;
    bool operator==(const Outcome&) const = default;
};

Outcome decode(std::string_view bytes, size_t piece) {
    ChunkedDecoder decoder;
    Outcome out;
    auto onData = [&](const char* data, size_t size) { out.body.append(data, size); };
    try {
        for (size_t at = 0; at < bytes.size() && !decoder.done(); at += piece) {
            std::string_view slice = bytes.substr(at, piece);
            size_t used = decoder.feed(slice, onData);
            out.used += used;
            if (used < slice.size()) break;
        }
    } catch (const ApiError&) {
        out.refused = true;
        out.used = 0;
        out.body.clear();
    }
    out.done = decoder.done();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0) {
        checkHead(bytes);
        return 0;
    }
    Outcome whole = decode(bytes, bytes.size() == 0 ? 1 : bytes.size());
    Outcome byByte = decode(bytes, 1);
    if (!(whole == byByte)) std::abort();
    if (whole.done && whole.body.size() > whole.used) std::abort();
    return 0;
}
