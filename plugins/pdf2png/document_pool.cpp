#include "document_pool.hpp"

#include <poppler-global.h>

#include <climits>
#include <string>

namespace pixelmill::pdf2png {
namespace {

// poppler reports through one process-wide function (by default to stderr,
// which in a daemon is noise). Each thread keeps its last message instead, so
// that a failure can say what poppler saw.
thread_local std::string tLastError;

void keepError(const std::string& message, void*) {
    std::string_view m = message;
    if (m.starts_with("error: ")) m.remove_prefix(7);
    tLastError.assign(m.substr(0, 300));
}

void installErrorSink() {
    static std::once_flag once;
    std::call_once(once, [] { poppler::set_debug_error_function(&keepError, nullptr); });
}

}  // namespace

std::string lastPopplerError() { return tLastError; }
void clearPopplerError() { tLastError.clear(); }

std::unique_ptr<poppler::document> openDocument(std::span<const unsigned char> bytes) {
    installErrorSink();
    if (bytes.size() > static_cast<size_t>(INT_MAX))
        throw sdk::Error(PM_UNPROCESSABLE, "the PDF is larger than 2 GiB, which poppler cannot open from memory");
    clearPopplerError();
    std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(
        reinterpret_cast<const char*>(bytes.data()), static_cast<int>(bytes.size())));
    if (!doc) {
        std::string why = lastPopplerError();
        throw sdk::Error(PM_UNPROCESSABLE,
                         "the PDF cannot be read (damaged or truncated)" + (why.empty() ? "" : ": " + why));
    }
    if (doc->is_locked())
        throw sdk::Error(PM_UNPROCESSABLE,
                         "the PDF is encrypted and needs a password to open; pdf2png does not take passwords");
    if (doc->pages() <= 0) throw sdk::Error(PM_UNPROCESSABLE, "the PDF has no pages");
    return doc;
}

DocumentPool::DocumentPool(std::span<const unsigned char> bytes) : bytes_(bytes) {
    auto first = openDocument(bytes_);
    pageCount_ = first->pages();
    idle_.push_back(std::move(first));
}

DocumentPool::Lease DocumentPool::acquire() {
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            auto doc = std::move(idle_.back());
            idle_.pop_back();
            return Lease(*this, std::move(doc));
        }
    }
    // Opened outside the lock: parsing the xref of a large file takes a while.
    return Lease(*this, openDocument(bytes_));
}

void DocumentPool::giveBack(std::unique_ptr<poppler::document> doc) noexcept {
    if (!doc) return;
    try {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(doc));
    } catch (...) {
        // Out of memory for one pointer: the document is simply closed.
    }
}

}  // namespace pixelmill::pdf2png
