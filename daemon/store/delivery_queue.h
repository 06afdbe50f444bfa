#pragma once

#include "jobs/model/job.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pixelmill {

// Webhook and email notifications waiting to be delivered.
class DeliveryQueue {
public:
    virtual ~DeliveryQueue() = default;

    // Notifications, created when a job with callbacks ends.
    virtual std::vector<Delivery> claimDeliveries(int max, int64_t now, int64_t leaseMs) = 0;
    // Records an attempt: delivered, or failed with a next try at `retryAt`
    // (0: give up).
    virtual void recordDelivery(int64_t id, bool delivered, std::optional<int> status, const std::string& error,
                                int64_t retryAt, int64_t now) = 0;
    virtual uint64_t countPendingDeliveries() = 0;
};

}  // namespace pixelmill
