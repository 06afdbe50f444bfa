#pragma once

#include "jobs/job_service.h"
#include "notify/address_policy.h"
#include "store/blob_store.h"

#include <chrono>
#include <cstdint>
#include <string>

namespace pixelmill::notify {

struct FetchLimits {
    uint64_t maxBytes = 256ull << 20;                      // the upload limit
    std::chrono::milliseconds connectTimeout{5'000};       // per connection
    std::chrono::milliseconds totalTimeout{60'000};        // all hops together
    int maxRedirects = 5;
};

// Downloads a `source_url` into a blob writer, the way an upload arrives.
//
// Every hop is checked with `policy` and its connection pinned to the checked
// addresses; redirects (301, 302, 303, 307, 308) are followed by hand, each
// as a GET. The body streams into a writer from `blobs` as it arrives and is
// refused as soon as it passes maxBytes (or at once when Content-Length says
// it will). The returned writer is neither finished nor committed; the
// filename is the last path segment of the final URL, percent-decoded, or "".
//
// Errors (nothing stays on disk: the writer removes its temp file):
//   ApiError 400 invalid_param, field "source_url": refused address, bad URL,
//     non-2xx answer ("source_url answered 404"), too many redirects,
//     connection failure or timeout;
//   ApiError 413 too_large, field "source_url": more than maxBytes;
//   ApiError 507 from the blob store when the disk is full.
// Thread-safe: holds no state; call from any thread.
Upload fetchSource(const std::string& url, const AddressPolicy& policy, BlobStore& blobs, FetchLimits limits = {});

// The file name a URL path ends with: last segment, percent-decoded, without
// slashes, control characters, "." or ".."; "" when there is none.
std::string filenameFromUrl(const std::string& url);

}  // namespace pixelmill::notify
