// One plugin, compiled into this harness with coverage, behind a minimal
// host: the bytes become the source file, sniffed as the daemon would; a
// type the plugin does not accept is skipped (the daemon answers 415). The
// header probe and the full process must return a status, never crash,
// leak or overrun. Limits are small so that each run stays fast.
#include "jobs/sniff.h"

#include <pixelmill/plugin.h>

#include <vips/vips.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

extern "C" const pm_plugin pixelmill_plugin_v1;

namespace {

int addOutput(pm_host*, uint32_t, const char*, const char*, const void*, size_t, int32_t, int32_t) { return 0; }
void progress(pm_host*, uint32_t, uint32_t) {}
int shouldStop(pm_host*) { return 0; }
void log(pm_host*, int, const char*) {}
int parallelFor(pm_host*, uint32_t count, void (*fn)(void*, uint32_t), void* user) {
    for (uint32_t i = 0; i < count; ++i) fn(user, i);
    return 0;
}

std::string path;
std::vector<std::pair<std::string, std::string>> params;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (VIPS_INIT("pixelmill-fuzz") != 0) std::abort();
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    path = "/tmp/pixelmill-fuzz-" + std::to_string(::getpid());
    std::string spec = FUZZ_PARAMS;  // "k=v,k=v", or "" for a plugin without parameters
    for (size_t at = 0; !spec.empty() && at <= spec.size();) {
        size_t comma = spec.find(',', at);
        std::string kv = spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        size_t eq = kv.find('=');
        params.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string type = pixelmill::sniffMediaType(std::span<const unsigned char>(data, std::min<size_t>(size, 4096)));
    bool accepted = false;
    for (const char* const* a = pixelmill_plugin_v1.accepts; *a; ++a) accepted = accepted || type == *a;
    if (!accepted) return 0;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);

    pm_host* host = nullptr;
    pm_context ctx{sizeof(pm_context), host, 4'000'000, 3, addOutput, progress, shouldStop, log, parallelFor};
    pm_input input{path.c_str(), data, size, type.c_str()};
    char message[512];
    if (pixelmill_plugin_v1.probe) {
        pm_probe_result r{-1, -1, -1};
        if (pixelmill_plugin_v1.probe(&ctx, &input, &r, message, sizeof message) != PM_OK) return 0;  // refused at submit
        if (r.width > 0 && r.height > 0 && static_cast<uint64_t>(r.width) * r.height > ctx.max_pixels) return 0;
    }
    std::vector<pm_param> list;
    for (const auto& [k, v] : params) list.push_back(pm_param{k.c_str(), v.c_str()});
    pm_status status = pixelmill_plugin_v1.process(&ctx, &input, list.data(), list.size(), message, sizeof message);
    if (status != PM_OK && std::memchr(message, '\0', sizeof message) == nullptr) __builtin_trap();  // unterminated message
    return 0;
}
