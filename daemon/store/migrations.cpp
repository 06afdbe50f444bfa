#include "store/migrations.h"

#include <algorithm>
#include <cstdlib>

namespace pixelmill {

std::vector<Migration> pendingMigrations(const std::vector<EmbeddedFile>& files, int current) {
    std::vector<Migration> out;
    for (const EmbeddedFile& f : files) {
        std::string name(f.path);
        auto slash = name.rfind('/');
        if (slash != std::string::npos) name = name.substr(slash + 1);
        int version = std::atoi(name.c_str());
        if (version > current) out.push_back({version, std::move(name), f.contents});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
    return out;
}

}  // namespace pixelmill
