#pragma once

#include "store/blob_references.h"

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace pixelmill {

// Blob pins within one process (a store that one daemon owns): a pin is a
// shared lock on the blob's name, a removal an exclusive one. A removal skips
// a pinned blob; a pin taken while a removal runs waits until it is done, so
// its holder then sees the blob either kept or gone, never going.
// Thread-safe.
class LocalBlobPins {
public:
    std::unique_ptr<BlobPin> pin(const std::string& sha256) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !removing_.contains(sha256); });
        ++pins_[sha256];
        return std::make_unique<Pin>(*this, sha256);
    }

    // Calls `remove` unless the blob is pinned or `referenced` says a row
    // refers to it; no pin is taken in between. True if it was removed.
    bool removeIfUnreferenced(const std::string& sha256, const std::function<bool()>& referenced,
                              const std::function<void()>& remove) {
        {
            std::lock_guard lock(mutex_);
            if (pins_.contains(sha256) || removing_.contains(sha256)) return false;
            removing_.insert(sha256);
        }
        struct Done {
            LocalBlobPins& pins;
            const std::string& sha256;
            ~Done() {
                {
                    std::lock_guard lock(pins.mutex_);
                    pins.removing_.erase(sha256);
                }
                pins.changed_.notify_all();
            }
        } done{*this, sha256};
        if (referenced()) return false;
        remove();
        return true;
    }

private:
    class Pin final : public BlobPin {
    public:
        Pin(LocalBlobPins& pins, std::string sha256) : pins_(pins), sha256_(std::move(sha256)) {}
        ~Pin() override {
            std::lock_guard lock(pins_.mutex_);
            auto it = pins_.pins_.find(sha256_);
            if (it != pins_.pins_.end() && --it->second == 0) pins_.pins_.erase(it);
        }

    private:
        LocalBlobPins& pins_;
        std::string sha256_;
    };

    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, int> pins_;  // pinned blobs, by how many pins
    std::set<std::string> removing_;   // blobs a removal is deciding on
};

}  // namespace pixelmill
