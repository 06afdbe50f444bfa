// A pool of poppler documents over one PDF, for pages rendered in parallel.
#pragma once

#include "pdf_document.hpp"

#include <pixelmill/plugin.hpp>

#include <poppler-document.h>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace pixelmill::pdf2png {

// Opening one document, and poppler's last message: plugins/common.
using plugins::clearPopplerError;
using plugins::lastPopplerError;
using plugins::openDocument;

// Documents over one job's input, one per concurrently running task: a
// poppler::document (and every page made from it) must not be used from two
// threads at once, while separate documents may render in parallel.
// Thread-safe: mutex_ guards idle_; a lent document belongs to its Lease.
class DocumentPool {
public:
    // Opens the first document (see openDocument), so a bad PDF fails here.
    explicit DocumentPool(std::span<const unsigned char> bytes);
    DocumentPool(const DocumentPool&) = delete;
    DocumentPool& operator=(const DocumentPool&) = delete;

    // A document lent to one task; goes back to the pool when destroyed.
    class Lease {
    public:
        Lease(DocumentPool& pool, std::unique_ptr<poppler::document> doc) : pool_(pool), doc_(std::move(doc)) {}
        ~Lease() { pool_.giveBack(std::move(doc_)); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        poppler::document& operator*() const { return *doc_; }
        poppler::document* operator->() const { return doc_.get(); }

    private:
        DocumentPool& pool_;
        std::unique_ptr<poppler::document> doc_;
    };

    // An idle document, or a newly opened one when all are lent: a job opens
    // at most as many documents as it had tasks running at once.
    Lease acquire();
    int pageCount() const { return pageCount_; }

private:
    void giveBack(std::unique_ptr<poppler::document> doc) noexcept;

    std::span<const unsigned char> bytes_;
    int pageCount_ = 0;
    std::mutex mutex_;
    std::vector<std::unique_ptr<poppler::document>> idle_;
};

}  // namespace pixelmill::pdf2png
