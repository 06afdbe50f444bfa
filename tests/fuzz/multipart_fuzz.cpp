// The multipart/form-data parser on arbitrary bodies, fed in arbitrary
// chunk sizes: it must either deliver parts or throw ApiError, nothing else.
#include "common/error.h"
#include "http/server/multipart.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    size_t chunk = 1 + data[0] % 64;  // first byte: the chunk size the body arrives in
    std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    size_t bytes = 0;
    pixelmill::http::MultipartParser::Callbacks cb;
    cb.begin = [](const pixelmill::http::MultipartParser::Part& p) { (void)p.name.size(); };
    cb.data = [&bytes](const char*, size_t n) { bytes += n; };
    cb.end = [] {};
    try {
        pixelmill::http::MultipartParser parser("fuzzboundary", std::move(cb));
        for (size_t at = 0; at < body.size(); at += chunk) parser.feed(body.data() + at, std::min(chunk, body.size() - at));
        parser.finish();
    } catch (const pixelmill::ApiError&) {
    }
    if (bytes > body.size()) __builtin_trap();  // more file bytes out than went in
    return 0;
}
