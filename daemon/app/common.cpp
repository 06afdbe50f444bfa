#include "app/commands.h"

#include "common/log.h"


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

}  // namespace pixelmill
