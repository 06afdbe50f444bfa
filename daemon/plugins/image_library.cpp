#include "plugins/image_library.h"

#include "common/log.h"
#include "metrics/metrics.h"

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

void reportImageLibrary(Metrics& m) {
    m.gauge("pixelmill_vips_tracked_memory_bytes", "Memory libvips has allocated")
        .Set(static_cast<double>(vips_tracked_get_mem()));
    m.gauge("pixelmill_vips_tracked_memory_highwater_bytes", "Most memory libvips has had allocated at once")
        .Set(static_cast<double>(vips_tracked_get_mem_highwater()));
    m.gauge("pixelmill_vips_tracked_allocations", "Allocations libvips holds")
        .Set(static_cast<double>(vips_tracked_get_allocs()));
    m.gauge("pixelmill_vips_open_files", "Files libvips holds open").Set(static_cast<double>(vips_tracked_get_files()));
}

}  // namespace pixelmill
