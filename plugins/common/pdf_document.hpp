// Opening PDFs with poppler-cpp, shared by the PDF plugins (pdf2png, info):
// a header compiled into each plugin, so every .so stays self-contained.
#pragma once

#include <pixelmill/plugin.hpp>

#include <poppler-document.h>
#include <poppler-global.h>

#include <climits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace pixelmill::plugins {

namespace detail {

// poppler reports through one process-wide function (by default to stderr,
// which in a daemon is noise). Each thread keeps its last message instead, so
// that a failure can say what poppler saw. poppler holds one such function
// per process: where two plugins built with this header run in one process,
// the one that opened a PDF last receives the messages, and the other's
// failures say less (never anything wrong).
inline std::string& lastErrorSlot() {
    thread_local std::string slot;
    return slot;
}

inline void keepError(const std::string& message, void*) {
    std::string_view m = message;
    if (m.starts_with("error: ")) m.remove_prefix(7);
    lastErrorSlot().assign(m.substr(0, 300));
}

inline void installErrorSink() {
    static std::once_flag once;
    std::call_once(once, [] { poppler::set_debug_error_function(&keepError, nullptr); });
}

}  // namespace detail

// What poppler last reported on this thread ("" if nothing), for messages.
inline std::string lastPopplerError() { return detail::lastErrorSlot(); }
inline void clearPopplerError() { detail::lastErrorSlot().clear(); }

// Opens `bytes` (which must outlive the document: poppler reads them in
// place, no copy). Throws sdk::Error(PM_UNPROCESSABLE) for a PDF that poppler
// cannot read, one that needs a password, or one without pages.
inline std::unique_ptr<poppler::document> openDocument(std::span<const unsigned char> bytes) {
    detail::installErrorSink();
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
                         "the PDF is encrypted and needs a password to open; pixelmill does not take passwords");
    if (doc->pages() <= 0) throw sdk::Error(PM_UNPROCESSABLE, "the PDF has no pages");
    return doc;
}

}  // namespace pixelmill::plugins
