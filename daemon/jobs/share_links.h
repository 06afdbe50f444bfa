#pragma once

// Share links: a token that names one output of one job and the moment it
// stops working, signed with HMAC-SHA256 under the link secret. No link is
// stored anywhere: the token is all there is, so every daemon given the same
// secret honours it, and a new secret revokes every link at once.
//
// A token (version 1) is 61 bytes, base64url without padding (82 characters):
//
//     byte  0       version, 1
//     bytes 1-16    the job id (the UUID's 16 bytes)
//     bytes 17-20   the output index, big-endian
//     bytes 21-28   the expiry, Unix milliseconds, big-endian
//     bytes 29-60   HMAC-SHA256 under the secret of bytes 0-28
//
// verify() looks at nothing longer than kMaxTokenChars, decodes before it
// computes anything, and compares MACs in constant time.
//
// Thread-safe: a ShareLinks never changes once made.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace pixelmill {

struct ShareLink {
    std::string jobId;  // a UUID as newId() makes them
    uint32_t outputIndex = 0;
    int64_t expiresAtMs = 0;  // Unix milliseconds

    bool expired(int64_t nowMs) const { return nowMs >= expiresAtMs; }
};

class ShareLinks {
public:
    static constexpr size_t kMinSecretBytes = 16;
    static constexpr size_t kTokenChars = 82;
    // Anything longer is refused unread (a later version may be a little longer).
    static constexpr size_t kMaxTokenChars = 128;
    static constexpr int64_t kMaxLifetimeSeconds = 30 * 24 * 3600;

    // Throws std::invalid_argument when `secret` is shorter than kMinSecretBytes.
    explicit ShareLinks(std::string secret);

    // The token of `link`; throws std::invalid_argument when its job id is not a UUID.
    std::string sign(const ShareLink& link) const;
    // The link a token names when this secret signed it, expired or not;
    // nullopt for anything else: malformed, truncated, too long, an unknown
    // version, forged, or signed under another secret.
    std::optional<ShareLink> verify(std::string_view token) const;

private:
    std::string secret_;
};

// The link secret kept in `file`, made there first when there is none: 32
// random bytes as hex, written to a temporary file (mode 0600) and linked
// into place, so that a crash never leaves a partial secret and two starts
// racing agree on one. Throws std::runtime_error when the file cannot be
// read or made, or holds fewer than kMinSecretBytes characters.
std::string loadOrCreateLinkSecret(const std::filesystem::path& file);

}  // namespace pixelmill
