#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace pixelmill {

// Incremental SHA-256 (OpenSSL EVP). Not shared across threads.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, size_t size);
    std::string hexDigest();  // finishes; call once

    static std::string hex(std::string_view data);

private:
    struct Free {
        void operator()(evp_md_ctx_st* ctx) const;
    };
    std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

// HMAC-SHA256 of `data` under `key`: the 32 raw bytes, or lower-case hex.
std::string hmacSha256(std::string_view key, std::string_view data);
std::string hmacSha256Hex(std::string_view key, std::string_view data);

// Whether `a` and `b` hold the same bytes, taking the same time wherever
// they differ (for MACs and secrets; a length difference shows, nothing else).
bool equalInConstantTime(std::string_view a, std::string_view b);

}  // namespace pixelmill
