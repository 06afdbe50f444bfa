#include "plugins/image_library.h"

#include "common/log.h"

#include <vips/vips.h>
// After vips.h, which it needs.
#include <vips/vector.h>

#include <cstdlib>

namespace pixelmill {

void initImageLibrary(const char* argv0, int threads, bool jobsAtOnce) {
    static bool done = false;
    if (done) return;
    done = true;
    if (VIPS_INIT(argv0 ? argv0 : "pixelmill") != 0) {
        log::error("vips_init_failed", {{"error", vips_error_buffer()}});
        std::exit(1);
    }
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_concurrency_set(threads);
    if (jobsAtOnce) allowConcurrentImageJobs();
}

void allowConcurrentImageJobs() { vips_vector_set_enabled(FALSE); }

}  // namespace pixelmill
