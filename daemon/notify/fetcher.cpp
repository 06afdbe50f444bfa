#include "notify/fetcher.h"

#include "common/error.h"
#include "common/text.h"
#include "notify/curl_support.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <optional>
#include <string_view>

namespace pixelmill::notify {
namespace {

constexpr const char* kField = "source_url";
// What is read of a redirect's or an error's body before the connection is dropped.

// One hop's state, shared with curl's callbacks.
struct Transfer {
    BlobWriter* writer = nullptr;
    uint64_t maxBytes = 0;
    long status = 0;  // of the latest status line (interim 1xx included)
    std::optional<uint64_t> contentLength;
    uint64_t discarded = 0;
    bool tooLarge = false;
    bool discardedEnough = false;
    std::exception_ptr error;  // from the writer (disk full): rethrown after perform
};

bool isSuccess(long status) { return status >= 200 && status < 300; }
bool isRedirect(long status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::optional<uint64_t> parseUnsigned(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * count;
    std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
        auto space = line.find(' ');
        t->status = space == std::string_view::npos
                        ? 0
                        : static_cast<long>(parseUnsigned(line.substr(space + 1, 3)).value_or(0));
        t->contentLength.reset();
    } else if (line.size() > 15 && std::equal(line.begin(), line.begin() + 15, "content-length:", [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == b;
               })) {
        t->contentLength = parseUnsigned(line.substr(15));
    } else if (line == "\r\n" || line == "\n") {
        // End of this response's headers: refuse before a byte of body arrives.
        if (isSuccess(t->status) && t->contentLength && *t->contentLength > t->maxBytes) {
            t->tooLarge = true;
            return 0;
        }
    }
    return n;
}

size_t onBody(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * count;
    if (!isSuccess(t->status)) {
        t->discarded += n;
        if (t->discarded > detail::kDiscardLimit) {
            t->discardedEnough = true;
            return 0;
        }
        return n;
    }
    if (t->writer->size() + n > t->maxBytes) {
        t->tooLarge = true;
        return 0;
    }
    try {
        t->writer->write(data, n);
    } catch (...) {
        t->error = std::current_exception();
        return 0;
    }
    return n;
}

std::string seconds(std::chrono::milliseconds ms) {
    char buf[32];
    if (ms.count() % 1000 == 0) std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(ms.count() / 1000));
    else std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
    return buf;
}

[[noreturn]] void failed(const std::string& message) { throw ApiError::invalidParam(kField, message); }

[[noreturn]] void networkFailure(CURL* curl, CURLcode rc, const char* errbuf, const Target& target,
                                 const detail::Pin& pin, const FetchLimits& limits) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    curl_off_t connectUs = 0;
    curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connectUs);
    bool connected = connectUs > 0;
    if (!pin.refusedAddress().empty())
        failed("refused to connect to " + pin.refusedAddress() + " for " + target.authority() +
               ": not an address that was checked");
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        if (!connected)
            failed("could not connect to " + target.authority() + " within " + seconds(limits.connectTimeout));
        failed("source_url did not answer in full within " + seconds(limits.totalTimeout));
    }
    if (!connected) failed("could not connect to " + target.authority() + ": " + detail);
    failed("fetching source_url from " + target.authority() + " failed: " + detail);
}

std::string withoutFieldPrefix(const std::string& message) {
    std::string prefix = std::string(kField) + ": ";
    return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

}  // namespace

std::string filenameFromUrl(const std::string& url) {
    detail::ensureCurl();
    detail::Url parsed(curl_url());
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return {};
    char* raw = nullptr;
    if (curl_url_get(parsed.get(), CURLUPART_PATH, &raw, 0) != CURLUE_OK || !raw) return {};
    detail::CurlString path(raw);
    std::string_view p(raw);
    std::string_view segment = p.substr(p.rfind('/') == std::string_view::npos ? 0 : p.rfind('/') + 1);

    std::string decoded;
    for (size_t i = 0; i < segment.size(); ++i) {
        if (segment[i] == '%' && i + 2 < segment.size() && std::isxdigit(static_cast<unsigned char>(segment[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(segment[i + 2]))) {
            decoded += static_cast<char>(std::stoi(std::string(segment.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            decoded += segment[i];
        }
    }
    // An encoded slash must not smuggle in a path.
    if (auto slash = decoded.find_last_of("/\\"); slash != std::string::npos) decoded = decoded.substr(slash + 1);
    std::erase_if(decoded, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    if (decoded == "." || decoded == "..") return {};
    if (decoded.size() > 255) decoded.resize(255);
    return decoded;
}

Upload fetchSource(const std::string& url, const AddressPolicy& policy, BlobStore& blobs, FetchLimits limits) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + limits.totalTimeout;
    std::unique_ptr<BlobWriter> writer = blobs.writer();
    std::string current = url;

    for (int hop = 0;; ++hop) {
        Target target;
        try {
            target = policy.check(current, kField);
        } catch (const ApiError& e) {
            if (hop == 0) throw;
            failed("source_url redirected to " + current + ", which is refused: " + withoutFieldPrefix(e.what()));
        }

        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) failed("source_url did not answer in full within " + seconds(limits.totalTimeout));

        detail::Easy easy = detail::newEasy("http,https", limits.connectTimeout);
        CURL* c = easy.get();
        detail::Pin pin(c, target);
        Transfer t;
        t.writer = writer.get();
        t.maxBytes = limits.maxBytes;
        char errbuf[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(c, CURLOPT_URL, target.url.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &onHeader);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onBody);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));

        CURLcode rc = curl_easy_perform(c);
        if (t.error) std::rethrow_exception(t.error);
        if (t.tooLarge)
            throw ApiError(413, "too_large", "source_url is larger than the limit of " + humanBytes(limits.maxBytes),
                           kField);
        if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.discardedEnough))
            networkFailure(c, rc, errbuf, target, pin, limits);

        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (isSuccess(status)) return Upload{std::move(writer), filenameFromUrl(target.url)};
        if (!isRedirect(status)) failed("source_url answered " + std::to_string(status));

        char* location = nullptr;
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
        if (!location || !*location) failed("source_url answered " + std::to_string(status) + " without a Location");
        if (hop >= limits.maxRedirects)
            failed("source_url redirected more than " + std::to_string(limits.maxRedirects) + " times");
        current = location;
    }
}

}  // namespace pixelmill::notify
