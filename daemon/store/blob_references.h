#pragma once

#include <functional>
#include <memory>
#include <string>

namespace pixelmill {

// Held while a submission refers to a blob that may already exist: a node
// removing unreferenced blobs skips the blob until it is released.
class BlobPin {
public:
    virtual ~BlobPin() = default;
};

// Which blobs rows still refer to, so a blob is removed only when nothing
// does, decided atomically with any new reference.
class BlobReferences {
public:
    virtual ~BlobReferences() = default;

    // True if a kept original or a non-evicted output refers to the blob.
    virtual bool isBlobReferenced(const std::string& sha256) = 0;

    // Pins a blob a submission or an output is about to refer to; see
    // BlobPin. A pin asked for while the blob is being removed waits for the
    // removal, so the holder then finds the blob kept or gone. nullptr:
    // nothing to pin.
    virtual std::unique_ptr<BlobPin> pinBlob(const std::string& /*sha256*/) { return nullptr; }
    // Calls `remove` if no row refers to the blob and no daemon pins it, in a
    // way that no daemon can refer to it in between. True if it was removed.
    virtual bool removeBlobIfUnreferenced(const std::string& sha256, const std::function<void()>& remove) {
        if (isBlobReferenced(sha256)) return false;
        remove();
        return true;
    }
};

}  // namespace pixelmill
