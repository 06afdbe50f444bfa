#include "app/commands.h"

#include "common/log.h"

#include <vips/vips.h>

#include <cstdlib>
#include <system_error>

namespace fs = std::filesystem;

namespace pixelmill {

fs::path resolvePluginDir(const std::string& configured) {
    if (!configured.empty()) return fs::absolute(configured);
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    fs::path bin = ec ? fs::current_path() : exe.parent_path();
    for (const fs::path& candidate : {bin / ".." / "plugins", bin / ".." / "lib" / "pixelmill" / "plugins"}) {
        if (fs::is_directory(candidate, ec)) return fs::weakly_canonical(candidate, ec);
    }
    return fs::weakly_canonical(bin / ".." / "plugins", ec);
}

void initImageLibrary(const char* argv0, int threads) {
    static bool done = false;
    if (done) return;
    done = true;
    if (VIPS_INIT(argv0 ? argv0 : "pixelmill") != 0) {
        log::error("vips_init_failed", {{"error", vips_error_buffer()}});
        std::exit(1);
    }
    // A server sees each input once: caching operations only costs memory.
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_concurrency_set(threads);
}

}  // namespace pixelmill
