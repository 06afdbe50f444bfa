#pragma once

#include <cstddef>

namespace pixelmill {

// A store's pooled database connections at one moment, for the metrics:
// borrowed by a call now (inUse) and open but waiting in the pool (idle).
struct ConnectionCounts {
    size_t inUse = 0;
    size_t idle = 0;
};

}  // namespace pixelmill
