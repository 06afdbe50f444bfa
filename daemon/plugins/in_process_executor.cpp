#include "plugins/in_process_executor.h"

#include "common/clock.h"
#include "common/mapped_file.h"
#include "plugins/host_bridge.h"

#include <vips/vips.h>

namespace pixelmill {

ExecResult InProcessExecutor::execute(const ExecRequest& request, JobControl& control) {
    const pm_plugin* table = host_.abi(request.plugin, request.pluginVersion);
    if (!table)
        return {ExecResult::Status::Unavailable,
                "plugin " + request.plugin + " " + request.pluginVersion + " is not loaded", 0};

    std::unique_ptr<MappedFile> file;
    try {
        file = std::make_unique<MappedFile>(request.inputPath);
    } catch (const std::exception& e) {
        return {ExecResult::Status::Transient, std::string("source unreadable: ") + e.what(), 0};
    }

    std::vector<pm_param> params;
    params.reserve(request.params.size());
    for (const auto& [k, v] : request.params) params.push_back(pm_param{k.c_str(), v.c_str()});

    pm_input input{request.inputPath.c_str(), file->data(), file->size(), request.mediaType.c_str()};
    pm_host host{&control};
    pm_context ctx = makeContext(&host, host_.limits());
    char message[1024] = {0};

    double started = monotonicSeconds();
    pm_status status = table->process(&ctx, &input, params.data(), params.size(), message, sizeof message);
    double seconds = monotonicSeconds() - started;
    // libvips keeps per-thread buffers; hand them back after every job.
    vips_thread_shutdown();
    return {fromPluginStatus(status), message, seconds};
}

}  // namespace pixelmill
