#include "document_pool.hpp"

namespace pixelmill::pdf2png {

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
