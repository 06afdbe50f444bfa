#include "jobs/job_service.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/sha256.h"
#include "jobs/sniff.h"

namespace pixelmill {

using json = nlohmann::json;

namespace {

std::string acceptsList(const PluginDescriptor& p) {
    std::string out;
    for (const std::string& a : p.accepts) out += (out.empty() ? "" : ", ") + a;
    return out;
}

void checkId(std::string_view id, std::string_view what) {
    if (!isValidId(id)) throw ApiError::notFound("no " + std::string(what) + " with id '" + std::string(id) + "'");
}

}  // namespace

JobService::JobService(JobStore& store, BlobStore& blobs, const PluginCatalog& plugins, WorkSignal& work,
                       JobEvents& events, JobLimits limits)
    : store_(store), blobs_(blobs), plugins_(plugins), work_(work), events_(events), limits_(limits) {}

std::string JobService::dedupKey(const std::string& sourceSha256, const PluginDescriptor& plugin,
                                 const std::string& canonicalParams) {
    return Sha256::hex(sourceSha256 + "\n" + plugin.name + "\n" + plugin.version + "\n" + canonicalParams);
}

std::shared_ptr<const PluginDescriptor> JobService::plugin(const std::string& name) const {
    if (name.empty()) throw ApiError::invalidParam("plugin", "plugin is required");
    auto p = plugins_.find(name, {});
    if (!p) {
        std::string known;
        for (const auto& d : plugins_.list()) known += (known.empty() ? "" : ", ") + d->name;
        throw ApiError(404, "unknown_plugin", "no plugin named '" + name + "'; loaded: " + known, "plugin");
    }
    return p;
}

Submitted JobService::submit(const SubmitRequest& request, Upload upload) {
    if (!accepting_) throw ApiError::unavailable("shutting_down", "pixelmill is shutting down", 5);
    auto p = plugin(request.plugin);
    json canonical = std::visit([&](const auto& raw) { return p->params.validate(raw); }, request.params);

    if (!upload.writer || upload.writer->size() == 0)
        throw ApiError::badRequest("missing_file", "the source file is missing or empty", "file");
    const std::string& head = upload.writer->head();
    std::string mediaType =
        sniffMediaType({reinterpret_cast<const unsigned char*>(head.data()), head.size()});
    if (!p->acceptsType(mediaType))
        throw ApiError::unsupportedMediaType("file is " + mediaType + "; plugin '" + p->name + "' accepts " +
                                             acceptsList(*p));

    if (limits_.queueLimit > 0 && store_.countQueued() >= limits_.queueLimit)
        throw ApiError(429, "queue_full",
                       "the queue holds " + std::to_string(limits_.queueLimit) + " jobs; try again shortly")
            .retryAfter(5);

    BlobRef blob = upload.writer->finish();
    SourceInfo info;
    if (p->canProbe) info = plugins_.probe(*p, upload.writer->tempPath(), mediaType);
    if (info.width && info.height) {
        uint64_t pixels = static_cast<uint64_t>(*info.width) * static_cast<uint64_t>(*info.height);
        if (pixels > limits_.maxPixels)
            throw ApiError::unprocessable("the image is " + std::to_string(*info.width) + "x" +
                                          std::to_string(*info.height) + " = " + std::to_string(pixels) +
                                          " pixels; the limit is " + std::to_string(limits_.maxPixels));
    }
    blob = upload.writer->commit();

    int64_t now = nowMs();
    NewOriginal original;
    original.id = newId();
    original.sha256 = blob.sha256;
    original.filename = upload.filename;
    original.mediaType = mediaType;
    original.sizeBytes = blob.size;
    original.width = info.width;
    original.height = info.height;
    original.pages = info.pages;
    original.createdAt = now;

    NewJob job;
    job.id = newId();
    job.plugin = p->name;
    job.pluginVersion = p->version;
    job.params = canonical.dump();
    job.dedupKey = dedupKey(blob.sha256, *p, job.params);
    job.priority = request.priority;
    job.maxAttempts = limits_.maxAttempts;
    job.callbackUrl = request.callbackUrl;
    job.createdAt = now;

    SubmitOutcome outcome = store_.submit(original, job);
    if (outcome.created) {
        work_.jobsQueued(1);
        log::info("job_submitted", {{"job", outcome.job.id},
                                    {"plugin", p->name},
                                    {"version", p->version},
                                    {"media_type", mediaType},
                                    {"size_bytes", blob.size},
                                    {"priority", request.priority}});
    } else {
        log::info("job_dedup", {{"job", outcome.job.id}, {"plugin", p->name}, {"state", toString(outcome.job.state)}});
    }
    return Submitted{std::move(outcome.job), outcome.created};
}

Job JobService::get(std::string_view id) const {
    checkId(id, "job");
    auto job = store_.getJob(id);
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    return *job;
}

JobPage JobService::list(const JobFilter& filter) const { return store_.listJobs(filter); }

Job JobService::cancel(std::string_view id) {
    checkId(id, "job");
    auto job = store_.cancel(id, nowMs());
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    work_.cancelRunning(job->id);
    events_.ended(job->id, JobState::Canceled);
    log::info("job_canceled", {{"job", job->id}, {"plugin", job->plugin}});
    return *job;
}

Job JobService::retry(std::string_view id) {
    checkId(id, "job");
    if (!accepting_) throw ApiError::unavailable("shutting_down", "pixelmill is shutting down", 5);
    auto job = store_.retry(id, nowMs());
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    work_.jobsQueued(1);
    log::info("job_retried", {{"job", job->id}, {"plugin", job->plugin}});
    return *job;
}

void JobService::remove(std::string_view id) {
    checkId(id, "job");
    auto job = store_.getJob(id);
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    if (!isFinal(job->state)) {
        try {
            store_.cancel(id, nowMs());
        } catch (const ApiError&) {
            // It ended meanwhile: nothing to cancel.
        }
        work_.cancelRunning(job->id);
    }
    if (!store_.remove(id)) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    events_.ended(job->id, JobState::Canceled);
    log::info("job_deleted", {{"job", job->id}});
}

}  // namespace pixelmill
