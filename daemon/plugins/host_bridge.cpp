#include "plugins/host_bridge.h"

#include <exception>

namespace pixelmill {
namespace {

int addOutput(pm_host* host, uint32_t index, const char* name, const char* mediaType, const void* data, size_t size,
              int32_t width, int32_t height) {
    try {
        std::span<const unsigned char> bytes(static_cast<const unsigned char*>(data), size);
        return host->control->addOutput(index, name ? name : "", mediaType ? mediaType : "", bytes, width, height)
                   ? 0
                   : 1;
    } catch (...) {
        return 1;  // nothing may unwind into plugin code
    }
}

void progress(pm_host* host, uint32_t done, uint32_t total) {
    try {
        host->control->progress(done, total);
    } catch (...) {
    }
}

int shouldStop(pm_host* host) { return host->control->shouldStop() ? 1 : 0; }

void logLine(pm_host* host, int level, const char* message) {
    try {
        host->control->log(level, message ? message : "");
    } catch (...) {
    }
}

int parallelFor(pm_host* host, uint32_t count, void (*fn)(void*, uint32_t), void* user) {
    try {
        host->control->parallelFor(count, fn, user);
        return 0;
    } catch (...) {
        return 1;
    }
}

}  // namespace

pm_context makeContext(pm_host* host, const PluginLimits& limits) {
    pm_context ctx{};
    ctx.struct_size = sizeof(pm_context);
    ctx.host = host;
    ctx.max_pixels = limits.maxPixels;
    ctx.max_pages = limits.maxPages;
    ctx.add_output = &addOutput;
    ctx.progress = &progress;
    ctx.should_stop = &shouldStop;
    ctx.log = &logLine;
    ctx.parallel_for = &parallelFor;
    return ctx;
}

ExecResult::Status fromPluginStatus(pm_status status) {
    using S = ExecResult::Status;
    switch (status) {
        case PM_OK: return S::Ok;
        case PM_INVALID_PARAM: return S::InvalidParam;
        case PM_UNPROCESSABLE: return S::Unprocessable;
        case PM_UNSUPPORTED: return S::Unsupported;
        case PM_CANCELED: return S::Canceled;
        case PM_TRANSIENT: return S::Transient;
        case PM_INTERNAL: return S::Internal;
    }
    return S::Internal;
}

}  // namespace pixelmill
