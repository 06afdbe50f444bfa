#include "plugins/plugin_host.h"

#include "common/error.h"
#include "common/log.h"
#include "common/mapped_file.h"
#include "common/sha256.h"
#include "plugins/host_bridge.h"

#include <boost/dll/shared_library.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <regex>

namespace fs = std::filesystem;

namespace pixelmill {
namespace {

bool validName(const char* name) {
    static const std::regex pattern("[a-z0-9][a-z0-9_-]{0,63}");
    return name && std::regex_match(name, pattern);
}

// Size, modification time and inode: a file replaced or rewritten gets a new one.
std::string fileSignature(const fs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
}

// What is wrong with a library's table, or "" if nothing. abi_version
// first: nothing else of the struct is trusted before it matches.
std::string abiProblem(const pm_plugin& abi) {
    if (abi.abi_version != PIXELMILL_PLUGIN_ABI_VERSION) {
        return "ABI version " + std::to_string(abi.abi_version) + ", this daemon speaks " +
               std::to_string(PIXELMILL_PLUGIN_ABI_VERSION);
    }
    if (!validName(abi.name)) return "name is missing or not [a-z0-9_-]";
    if (!abi.version || !*abi.version) return "version is missing";
    if (!abi.process) return "process is missing";
    if (!abi.accepts || !abi.accepts[0]) return "accepts no media types";
    return {};
}

// Fills `descriptor` from a library's table; returns why the library is
// refused (a broken table or parameter schema), or "".
std::string readDescriptor(const pm_plugin& abi, const fs::path& file, PluginDescriptor& descriptor) {
    if (std::string problem = abiProblem(abi); !problem.empty()) return problem;
    descriptor.name = abi.name;
    descriptor.version = abi.version;
    descriptor.description = abi.description ? abi.description : "";
    descriptor.file = file.string();
    for (const char* const* a = abi.accepts; *a; ++a) descriptor.accepts.emplace_back(*a);
    descriptor.canProbe = abi.probe != nullptr;
    try {
        descriptor.params = ParamSchema::parse(abi.params_schema ? abi.params_schema : "{}");
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

}  // namespace

int compareVersions(std::string_view a, std::string_view b) {
    auto next = [](std::string_view& s) -> long long {
        long long v = 0;
        size_t i = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        while (i < s.size() && s[i] != '.') ++i;  // ignore pre-release tails
        s.remove_prefix(i < s.size() ? i + 1 : i);
        return v;
    };
    while (!a.empty() || !b.empty()) {
        long long x = next(a), y = next(b);
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

namespace {

// The staging folder, emptied: it is the daemon's own.
fs::path emptied(fs::path dir) {
    if (dir.empty()) return dir;
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    return dir;
}

}  // namespace

PluginHost::PluginHost(fs::path folder, PluginLimits limits, PluginLoading loading)
    : folder_(std::move(folder)),
      limits_(limits),
      staging_(emptied(std::move(loading.staging))),
      libraryList_(std::move(loading.libraryList)),
      loadCheck_(std::move(loading.check)) {}

int PluginHost::scan(bool settle) {
    std::lock_guard scanning(scanMutex_);
    std::vector<fs::path> files;
    std::error_code ec;
    if (!libraryList_.empty()) {
        // Exactly the libraries listed: plain names of .so files in the folder.
        std::ifstream list(libraryList_);
        for (std::string name; std::getline(list, name);)
            if (!name.empty() && name.find('/') == std::string::npos && fs::path(name).extension() == ".so")
                files.push_back(folder_ / name);
    } else {
        for (const auto& entry : fs::directory_iterator(folder_, ec))
            if (entry.path().extension() == ".so") files.push_back(entry.path());
    }
    if (ec) log::warn("plugin_folder_unreadable", {{"folder", folder_.string()}, {"error", ec.message()}});
    std::sort(files.begin(), files.end());
    int accepted = 0;
    bool settling = false;
    auto now = fs::file_time_type::clock::now();
    for (const fs::path& f : files) {
        std::string signature = fileSignature(f);
        if (signature.empty()) continue;
        {
            std::lock_guard lock(mutex_);
            if (auto it = seen_.find(f.string()); it != seen_.end() && it->second == signature) continue;
        }
        // A file written to in the last half second may still be arriving (cp, scp, a slow disk).
        if (settle && now - fs::last_write_time(f, ec) < std::chrono::milliseconds(500)) {
            settling = true;
            continue;
        }
        {
            std::lock_guard lock(mutex_);
            seen_[f.string()] = signature;
            std::erase_if(refused_, [&](const RefusedPlugin& r) { return r.file == f.string(); });
        }
        if (load(f)) ++accepted;
    }
    settling_ = settling;
    if (!staging_.empty()) writeAcceptedList();
    return accepted;
}

void PluginHost::writeAcceptedList() {
    std::string text;
    {
        std::lock_guard lock(mutex_);
        for (const std::string& name : acceptedStaged_) text += name + "\n";
    }
    fs::path list = acceptedList();
    fs::path tmp = list;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) {
            log::warn("plugin_list_unwritable", {{"file", list.string()}});
            return;
        }
    }
    std::error_code ec;
    fs::rename(tmp, list, ec);
    if (ec) log::warn("plugin_list_unwritable", {{"file", list.string()}, {"error", ec.message()}});
}

void PluginHost::refuse(const fs::path& file, const std::string& reason) {
    log::warn("plugin_refused", {{"file", file.string()}, {"reason", reason}});
    std::lock_guard lock(mutex_);
    refused_.push_back(RefusedPlugin{file.string(), reason});
}

bool PluginHost::load(const fs::path& file) {
    fs::path from = file;  // what is mapped: the file itself, or its staged copy
    bool staged = false;   // from is a copy of ours: removed if refused
    // A refused library is never loaded by anyone else: its staged copy goes at once.
    auto refuseLoad = [&](const std::string& reason) {
        refuse(file, reason);
        if (staged) {
            std::error_code ec;
            fs::remove(from, ec);
        }
        return false;
    };
    if (!staging_.empty()) {
        std::optional<fs::path> copy = stage(file);
        if (!copy) return false;
        from = *copy;
        staged = true;
        if (loadCheck_) {
            std::string problem = loadCheck_(from);
            if (!problem.empty()) return refuseLoad(problem);
        }
    } else {
        std::lock_guard lock(mutex_);
        for (const LoadedPlugin& p : plugins_)
            if (p.descriptor->file == file.string()) return true;
        seen_[file.string()] = fileSignature(file);
    }
    boost::dll::shared_library library;
    if (std::string problem = openLibrary(from, library); !problem.empty()) return refuseLoad(problem);
    const pm_plugin& abi = library.get<const pm_plugin>(PIXELMILL_PLUGIN_SYMBOL);
    auto descriptor = std::make_shared<PluginDescriptor>();
    std::string problem = readDescriptor(abi, file, *descriptor);

    std::unique_lock lock(mutex_);
    libraries_.push_back(std::move(library));
    if (problem.empty()) problem = duplicateOf(*descriptor);
    if (!problem.empty()) {
        lock.unlock();
        return refuseLoad(problem);
    }
    plugins_.push_back(LoadedPlugin{descriptor, &abi});
    if (staged) acceptedStaged_.push_back(from.filename().string());
    lock.unlock();
    log::info("plugin_loaded", {{"plugin", descriptor->name}, {"version", descriptor->version}, {"file", file.string()}});
    return true;
}

std::optional<fs::path> PluginHost::stage(const fs::path& file) {
    std::string bytes;
    try {
        MappedFile mapped(file.string());
        bytes.assign(reinterpret_cast<const char*>(mapped.data()), mapped.size());
    } catch (const std::exception& e) {
        refuse(file, std::string("cannot be read: ") + e.what());
        return std::nullopt;
    }
    std::string sha = Sha256::hex(bytes);
    {
        std::lock_guard lock(mutex_);
        if (staged_.count(sha)) return std::nullopt;  // these very bytes were loaded (or refused) already
        staged_[sha] = file.string();
    }
    fs::path copy = staging_ / (sha + ".so");
    fs::path tmp = staging_ / (sha + ".so.tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            refuse(file, "cannot be copied to " + staging_.string());
            return std::nullopt;
        }
    }
    fs::rename(tmp, copy);
    return copy;
}

std::string PluginHost::openLibrary(const fs::path& from, boost::dll::shared_library& library) {
    try {
        library.load(from.string(), boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
    } catch (const std::exception& e) {
        return std::string("cannot be loaded: ") + e.what();
    }
    if (!library.has(PIXELMILL_PLUGIN_SYMBOL)) {
        {
            std::lock_guard lock(mutex_);
            libraries_.push_back(std::move(library));  // never unload: its constructors have run
        }
        return std::string("does not export ") + PIXELMILL_PLUGIN_SYMBOL;
    }
    return {};
}

std::string PluginHost::duplicateOf(const PluginDescriptor& descriptor) const {
    for (const LoadedPlugin& p : plugins_) {
        if (p.descriptor->name == descriptor.name && p.descriptor->version == descriptor.version) {
            return "duplicate: plugin '" + descriptor.name + "' " + descriptor.version +
                   " is already loaded from " + p.descriptor->file;
        }
    }
    return {};
}

std::shared_ptr<const PluginDescriptor> PluginHost::find(std::string_view name, std::string_view version) const {
    std::lock_guard lock(mutex_);
    std::shared_ptr<const PluginDescriptor> best;
    for (const LoadedPlugin& p : plugins_) {
        if (p.descriptor->name != name) continue;
        if (!version.empty()) {
            if (p.descriptor->version == version) return p.descriptor;
            continue;
        }
        if (!best || compareVersions(p.descriptor->version, best->version) > 0) best = p.descriptor;
    }
    return best;
}

std::vector<std::shared_ptr<const PluginDescriptor>> PluginHost::list() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<const PluginDescriptor>> out;
    for (const LoadedPlugin& p : plugins_) out.push_back(p.descriptor);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a->name != b->name ? a->name < b->name : compareVersions(a->version, b->version) < 0;
    });
    return out;
}

std::vector<RefusedPlugin> PluginHost::refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
}

const pm_plugin* PluginHost::abi(std::string_view name, std::string_view version) const {
    std::lock_guard lock(mutex_);
    for (const LoadedPlugin& p : plugins_)
        if (p.descriptor->name == name && p.descriptor->version == version) return p.abi;
    return nullptr;
}

SourceInfo PluginHost::probe(const PluginDescriptor& plugin, const std::string& path,
                             std::string_view mediaType) const {
    if (probeRunner_) {
        if (!plugin.canProbe) return {};
        ProbeResult r = probeRunner_(plugin, path, mediaType);
        if (!r.error.empty()) {
            if (r.unreadable) throw ApiError::unprocessable(r.error);
            throw ApiError::unprocessable("the file cannot be read as " + std::string(mediaType) + ": " + r.error);
        }
        return SourceInfo{r.width, r.height, r.pages};
    }
    const pm_plugin* table = abi(plugin.name, plugin.version);
    if (!table || !table->probe) return {};
    MappedFile file(path);
    std::string type(mediaType);
    pm_input input{path.c_str(), file.data(), file.size(), type.c_str()};
    NullControl control;
    pm_host host{&control};
    pm_context ctx = makeContext(&host, limits_);
    pm_probe_result result{-1, -1, -1};
    char message[512] = {0};
    pm_status status = table->probe(&ctx, &input, &result, message, sizeof message);
    if (status != PM_OK) {
        throw ApiError::unprocessable(std::string("the file cannot be read as ") + type + ": " +
                                      (message[0] ? message : "unreadable header"));
    }
    SourceInfo info;
    if (result.width > 0) info.width = result.width;
    if (result.height > 0) info.height = result.height;
    if (result.pages > 0) info.pages = result.pages;
    return info;
}

}  // namespace pixelmill
