#pragma once

#include "jobs/model/job.h"
#include "jobs/model/listing.h"
#include "jobs/model/submission.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pixelmill {

// The originals: uploaded sources, kept by content, listed, expired and purged.
class OriginalStore {
public:
    virtual ~OriginalStore() = default;

    // Stores the original if its content is new; returns it and whether it was created.
    virtual std::pair<Original, bool> putOriginal(const Original& original) = 0;
    virtual std::optional<Original> getOriginal(std::string_view id) = 0;

    virtual OriginalPage listOriginals(const OriginalFilter& filter) = 0;
    // Marks the original's content removed; returns its blob name, or nullopt
    // if unknown. In the same transaction it checks that no job needs the
    // content: none queued or running, none succeeded whose evicted outputs
    // would have to be made again from it; otherwise it throws
    // originalInUse() and changes nothing.
    virtual std::optional<std::string> purgeOriginal(std::string_view id, int64_t now) = 0;
    // Originals created before `cutoff` whose content is kept and that no job
    // needs (as purgeOriginal judges).
    virtual std::vector<std::string> originalsToExpire(int64_t cutoff, int limit) = 0;
};

}  // namespace pixelmill
