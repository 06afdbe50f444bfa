#include "jobs/share_links.h"

#include "common/ids.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/text.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pixelmill {
namespace {

constexpr unsigned char kVersion = 1;
constexpr size_t kSignedBytes = 1 + 16 + 4 + 8;  // version, job id, index, expiry
constexpr size_t kMacBytes = 32;
constexpr size_t kTokenBytes = kSignedBytes + kMacBytes;
static_assert((kTokenBytes * 8 + 5) / 6 == ShareLinks::kTokenChars);

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64UrlEncode(std::string_view bytes) {
    std::string out;
    uint32_t bits = 0;
    int held = 0;
    for (unsigned char b : bytes) {
        bits = (bits << 8) | b;
        held += 8;
        while (held >= 6) {
            held -= 6;
            out.push_back(kBase64Url[(bits >> held) & 63]);
        }
    }
    if (held > 0) out.push_back(kBase64Url[(bits << (6 - held)) & 63]);
    return out;
}

int base64UrlValue(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

// Only the canonical form decodes: an alphabet character each, no padding,
// and the unused low bits of the last character zero (so one link has one token).
std::optional<std::string> base64UrlDecode(std::string_view text) {
    std::string out;
    uint32_t bits = 0;
    int held = 0;
    for (char c : text) {
        int v = base64UrlValue(c);
        if (v < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<uint32_t>(v);
        held += 6;
        if (held >= 8) {
            held -= 8;
            out.push_back(static_cast<char>((bits >> held) & 0xff));
        }
    }
    if (held >= 6 || (bits & ((1u << held) - 1)) != 0) return std::nullopt;
    return out;
}

int hexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

void putBigEndian(std::string& out, uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t readBigEndian(std::string_view in, size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
    return v;
}

std::string uuidText(std::string_view raw) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        auto b = static_cast<unsigned char>(raw[i]);
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

}  // namespace

ShareLinks::ShareLinks(std::string secret) : secret_(std::move(secret)) {
    if (secret_.size() < kMinSecretBytes)
        throw std::invalid_argument("the link secret must be at least " + std::to_string(kMinSecretBytes) +
                                    " characters long");
}

std::string ShareLinks::sign(const ShareLink& link) const {
    if (!isValidId(link.jobId)) throw std::invalid_argument("'" + link.jobId + "' is not a job id");
    std::string bytes(1, static_cast<char>(kVersion));
    for (size_t i = 0; i < link.jobId.size(); i += 2) {  // hex pairs; every group has an even length
        if (link.jobId[i] == '-') ++i;
        bytes.push_back(static_cast<char>(hexValue(link.jobId[i]) * 16 + hexValue(link.jobId[i + 1])));
    }
    putBigEndian(bytes, link.outputIndex, 4);
    putBigEndian(bytes, static_cast<uint64_t>(link.expiresAtMs), 8);
    bytes += hmacSha256(secret_, bytes);
    return base64UrlEncode(bytes);
}

std::optional<ShareLink> ShareLinks::verify(std::string_view token) const {
    if (token.size() > kMaxTokenChars || token.size() != kTokenChars) return std::nullopt;
    std::optional<std::string> bytes = base64UrlDecode(token);
    if (!bytes || bytes->size() != kTokenBytes || static_cast<unsigned char>((*bytes)[0]) != kVersion)
        return std::nullopt;
    std::string_view all(*bytes);
    if (!equalInConstantTime(hmacSha256(secret_, all.substr(0, kSignedBytes)), all.substr(kSignedBytes)))
        return std::nullopt;
    ShareLink link;
    link.jobId = uuidText(all.substr(1, 16));
    link.outputIndex = static_cast<uint32_t>(readBigEndian(all, 17, 4));
    link.expiresAtMs = static_cast<int64_t>(readBigEndian(all, 21, 8));
    return link;
}

namespace {

// Out of line: inlined, GCC 12 takes the length check for the bounds of the
// string's copy that follows and warns (-Warray-bounds) where nothing is wrong.
[[gnu::noinline]] void requireLongSecret(const std::filesystem::path& file, const std::string& secret) {
    if (secret.size() < ShareLinks::kMinSecretBytes)
        throw std::runtime_error("the link secret " + file.string() + " holds fewer than " +
                                 std::to_string(ShareLinks::kMinSecretBytes) +
                                 " characters; remove it to make a new one (every link made so far stops working)");
}

// The secret in `file` (surrounding white space removed), or "" when there is no such file.
std::string readLinkSecret(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return {};
        throw std::runtime_error("cannot read the link secret " + file.string() + ": " + std::strerror(errno));
    }
    struct stat st {};
    std::string text;
    char buffer[256];
    for (ssize_t n; text.size() < 4096 && (n = ::read(fd, buffer, sizeof buffer)) > 0;)
        text.append(buffer, static_cast<size_t>(n));
    bool shared = ::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0;
    ::close(fd);
    if (shared) log::warn("link_secret_readable_by_others", {{"file", file.string()}, {"want_mode", "0600"}});
    std::string secret(trim(text, " \t\r\n"));
    requireLongSecret(file, secret);
    return secret;
}

std::string randomSecret() {
    std::array<unsigned char, 32> raw{};
    size_t got = 0;
    while (got < raw.size()) {
        ssize_t n = ::getrandom(raw.data() + got, raw.size() - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(std::string("no random bytes for the link secret: ") + std::strerror(errno));
        got += static_cast<size_t>(n);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char b : raw) {
        hex.push_back(kHex[b >> 4]);
        hex.push_back(kHex[b & 15]);
    }
    return hex;
}

// Writes `secret` to a new file beside `file` and links it into place; false
// when `file` appeared meanwhile (another start made it first).
bool placeLinkSecret(const std::filesystem::path& file, const std::string& secret) {
    std::filesystem::path temp = file;
    temp += ".tmp-" + std::to_string(::getpid()) + "-" + newId().substr(0, 8);
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + temp.string() + ": " + std::strerror(errno));
    std::string line = secret + "\n";
    bool written = ::fchmod(fd, 0600) == 0 &&
                   ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    int writeError = errno;
    ::close(fd);
    if (!written) {
        ::unlink(temp.c_str());
        throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(writeError));
    }
    int linked = ::link(temp.c_str(), file.c_str());  // never replaces: the first start's secret stays
    int linkError = errno;
    ::unlink(temp.c_str());
    if (linked != 0 && linkError == EEXIST) return false;
    if (linked != 0) throw std::runtime_error("cannot create " + file.string() + ": " + std::strerror(linkError));
    if (int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
        ::fsync(dir);  // the new name survives a power cut
        ::close(dir);
    }
    return true;
}

}  // namespace

std::string loadOrCreateLinkSecret(const std::filesystem::path& file) {
    if (std::string existing = readLinkSecret(file); !existing.empty()) return existing;
    std::string secret = randomSecret();
    if (placeLinkSecret(file, secret)) {
        log::info("link_secret_created", {{"file", file.string()}});
        return secret;
    }
    if (std::string existing = readLinkSecret(file); !existing.empty()) return existing;
    throw std::runtime_error("the link secret " + file.string() + " vanished while it was being made");
}

}  // namespace pixelmill
