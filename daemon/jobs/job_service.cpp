#include "jobs/job_service.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/mapped_file.h"
#include "common/sha256.h"
#include "jobs/chains.h"
#include "jobs/image_header.h"
#include "jobs/sniff.h"

#include <algorithm>

namespace pixelmill {

using json = nlohmann::json;

namespace {

// The original an upload became once its blob was committed.
Original newOriginal(const BlobRef& blob, const std::string& filename, const CheckedSource& source, int64_t now) {
    Original original;
    original.id = newId();
    original.sha256 = blob.sha256;
    original.filename = filename;
    original.mediaType = source.mediaType;
    original.sizeBytes = blob.size;
    original.width = source.info.width;
    original.height = source.info.height;
    original.pages = source.info.pages;
    original.createdAt = now;
    return original;
}

void checkPixels(const SourceInfo& info, uint64_t maxPixels) {
    if (!info.width || !info.height) return;
    uint64_t pixels = static_cast<uint64_t>(*info.width) * static_cast<uint64_t>(*info.height);
    if (pixels > maxPixels)
        throw ApiError::unprocessable("the image is " + std::to_string(*info.width) + "x" +
                                      std::to_string(*info.height) + " = " + std::to_string(pixels) +
                                      " pixels; the limit is " + std::to_string(maxPixels));
}

std::string acceptsList(const PluginDescriptor& p) {
    std::string out;
    for (const std::string& a : p.accepts) out += (out.empty() ? "" : ", ") + a;
    return out;
}

// The header as the plugin's probe reports it. A JPEG, PNG, GIF or WebP whose
// header reads plainly is answered here, without the round trip to a worker
// process: from `head` (the first bytes, in memory) when they hold it, else
// from the file. Anything else goes to the probe.
SourceInfo probeHeader(const PluginCatalog& plugins, const PluginDescriptor& plugin, const std::string& path,
                       const std::string& mediaType, std::string_view head, uint64_t size) {
    std::optional<SourceInfo> info;
    if (imageHeaderReadable(mediaType)) {
        if (head.size() == size || imageHeaderInPrefix(mediaType))
            info = readImageHeader(mediaType, {reinterpret_cast<const unsigned char*>(head.data()), head.size()});
        if (!info && head.size() != size) {
            MappedFile file(path);
            info = readImageHeader(mediaType, file.bytes());
        }
    }
    return info ? *info : plugins.probe(plugin, path, mediaType);
}

void checkId(std::string_view id, std::string_view what) {
    if (!isValidId(id)) throw ApiError::notFound("no " + std::string(what) + " with id '" + std::string(id) + "'");
}

}  // namespace

CheckedSource checkSource(const PluginCatalog& plugins, const JobLimits& limits, std::string_view head,
                          const std::string& path, uint64_t size, const ChoosePlugin& choose,
                          const std::function<void()>& beforeReading) {
    CheckedSource out;
    out.mediaType = sniffMediaType(head);
    out.plugin = choose(out.mediaType);
    bool svg = out.mediaType == "image/svg+xml";
    // SVGs are rendered by librsvg, which would follow references to files and URLs:
    // each is read whole for them, so its size is bounded first.
    if (svg && size > limits.maxSvgBytes)
        throw ApiError::unprocessable("the SVG is " + std::to_string(size) + " bytes; the limit is " +
                                      std::to_string(limits.maxSvgBytes) + " bytes (--max-svg-bytes)");
    if (beforeReading) beforeReading();
    if (svg) {
        MappedFile file(path);
        std::string why = svgExternalReference(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
        if (!why.empty()) throw ApiError::unprocessable(why);
    }
    if (out.plugin->canProbe) out.info = probeHeader(plugins, *out.plugin, path, out.mediaType, head, size);
    checkPixels(out.info, limits.maxPixels);
    return out;
}

JobService::JobService(Store store, BlobStore& blobs, const PluginCatalog& plugins, WorkSignal& work,
                       JobEvents& events, JobLimits limits, Helpers helpers)
    : store_(store),
      blobs_(blobs),
      plugins_(plugins),
      work_(work),
      events_(events),
      limits_(limits),
      callbackCheck_(std::move(helpers.checkCallback)),
      storage_(helpers.storage),
      metrics_(helpers.metrics),
      presets_(helpers.presets) {}

std::string JobService::dedupKey(const std::string& sourceSha256, const PluginDescriptor& plugin,
                                 const std::string& canonicalParams) {
    return Sha256::hex(sourceSha256 + "\n" + plugin.name + "\n" + plugin.version + "\n" + canonicalParams);
}

std::string JobService::requestFingerprint(const std::string& sourceSha256, const NewJob& job) {
    nlohmann::json fields = {sourceSha256, job.plugin, job.params, job.priority, job.callbackUrl, job.callbackEmail};
    return Sha256::hex(fields.dump());
}

std::shared_ptr<const PluginDescriptor> JobService::plugin(const std::string& name) const {
    if (name.empty()) throw ApiError::invalidParam("plugin", "plugin or preset is required");
    auto p = plugins_.find(name, {});
    if (!p) {
        std::string known;
        for (const auto& d : plugins_.list()) known += (known.empty() ? "" : ", ") + d->name;
        throw ApiError(404, "unknown_plugin", "no plugin named '" + name + "'; loaded: " + known, "plugin");
    }
    return p;
}

// The plugin and canonical parameters: named, or a preset's with those sent in place of its own.
JobService::Prepared JobService::preparePlugin(const SubmitRequest& request) const {
    Prepared p;
    if (request.preset.empty()) {
        p.plugin = plugin(request.plugin);
        p.params = std::visit([&](const auto& raw) { return p.plugin->params.validate(raw); }, request.params).dump();
        return p;
    }
    if (!request.plugin.empty())
        throw ApiError::invalidParam("preset", "give plugin or preset, not both: a preset names its plugin");
    if (!presets_) throw ApiError(404, "unknown_preset", "no preset named '" + request.preset + "'", "preset");
    Preset preset = presets_->find(request.preset);
    p.plugin = plugin(preset.plugin);
    p.params = presets_->resolveParams(preset, *p.plugin, request.params).dump();
    p.preset = preset.name;
    return p;
}

JobService::Prepared JobService::prepare(const SubmitRequest& request) const {
    if (!accepting_) throw ApiError::unavailable("shutting_down", "pixelmill is shutting down", 5);
    if (const auto& key = request.idempotencyKey;
        key && (key->empty() || key->size() > 255 ||
                !std::all_of(key->begin(), key->end(), [](char c) { return c >= 0x20 && c < 0x7f; })))
        throw ApiError::invalidParam("idempotency_key",
                                     "an Idempotency-Key is 1 to 255 printable ASCII characters");
    Prepared p = preparePlugin(request);
    if (!request.callbackUrl.empty() && callbackCheck_) callbackCheck_(request.callbackUrl);
    if (!request.callbackEmail.empty()) {
        const std::string& e = request.callbackEmail;
        auto at = e.find('@');
        if (at == std::string::npos || at == 0 || at + 1 >= e.size() || e.size() > 254 ||
            e.find_first_of(" \r\n<>,;\"") != std::string::npos)
            throw ApiError::invalidParam("callback_email", "callback_email is not an email address");
    }
    return p;
}

void JobService::checkAccepts(const PluginDescriptor& p, const std::string& mediaType) const {
    if (!p.acceptsType(mediaType))
        throw ApiError::unsupportedMediaType("file is " + mediaType + "; plugin '" + p.name + "' accepts " +
                                             acceptsList(p));
}

void JobService::checkPixels(const SourceInfo& info) const { pixelmill::checkPixels(info, limits_.maxPixels); }

// Every submit asks, so the length read is reused for 100 ms while it and
// the submits checked since stay under half the limit (on PostgreSQL each
// read sums the count deltas of every daemon). Nearer the limit every
// submit reads it afresh, so the limit itself is exact.
void JobService::checkQueue() const {
    if (limits_.queueLimit == 0) return;
    const int64_t now = nowMs();
    uint64_t queued = queuedSeen_.load(std::memory_order_relaxed) + checkedSince_.fetch_add(1);
    if (queued >= limits_.queueLimit / 2 || now - queuedSeenAt_.load(std::memory_order_relaxed) >= 100) {
        queued = store_.reads.countQueued();
        queuedSeen_.store(queued, std::memory_order_relaxed);
        checkedSince_.store(0);
        queuedSeenAt_.store(now, std::memory_order_relaxed);
    }
    if (queued >= limits_.queueLimit)
        throw ApiError(429, "queue_full",
                       "the queue holds " + std::to_string(limits_.queueLimit) + " jobs; try again shortly")
            .retryAfter(5);
}

NewJob JobService::newJob(const SubmitRequest& request, const Prepared& p, const std::string& sourceSha256,
                          int64_t now) const {
    NewJob job;
    job.id = newId();
    job.plugin = p.plugin->name;
    job.pluginVersion = p.plugin->version;
    job.params = p.params;
    job.dedupKey = dedupKey(sourceSha256, *p.plugin, p.params);
    job.priority = request.priority;
    job.maxAttempts = limits_.maxAttempts;
    job.callbackUrl = request.callbackUrl;
    job.callbackEmail = request.callbackEmail;
    job.createdAt = now;
    job.requestId = request.requestId;
    job.preset = p.preset;
    if (request.idempotencyKey)
        job.idempotency =
            IdempotencyKey{request.client, *request.idempotencyKey, requestFingerprint(sourceSha256, job)};
    return job;
}

Submitted JobService::enqueue(const Original& original, const NewJob& job, const std::string& mediaType) {
    return answered(store_.queue.submit(original, job), original, job, mediaType);
}

Submitted JobService::answered(SubmitOutcome outcome, const Original& original, const NewJob& job,
                               const std::string& mediaType) {
    if (metrics_) {
        if (outcome.created) metrics_->jobSubmitted(job.plugin);
        else if (!outcome.replayed) metrics_->dedupHit();
    }
    if (outcome.replayed) {
        log::info("job_idempotent_replay", {{"job", outcome.job.id}, {"plugin", outcome.job.plugin},
                                            {"state", toString(outcome.job.state)}, {"status", outcome.status}});
        outcome.job = asSeenBy(outcome.job, job.callbackUrl, job.callbackEmail);
    } else if (outcome.created) {
        work_.jobsQueued(1);
        log::info("job_submitted", {{"job", outcome.job.id},
                                    {"plugin", job.plugin},
                                    {"version", job.pluginVersion},
                                    {"media_type", mediaType},
                                    {"size_bytes", original.sizeBytes},
                                    {"priority", job.priority}});
    } else {
        log::info("job_dedup", {{"job", outcome.job.id}, {"plugin", job.plugin}, {"state", toString(outcome.job.state)}});
        // Another client's job: this one sees its own callbacks (notified at the end too), never the other's.
        outcome.job = asSeenBy(outcome.job, job.callbackUrl, job.callbackEmail);
    }
    return Submitted{std::move(outcome.job), outcome.created, outcome.status};
}

Submitted JobService::submit(const SubmitRequest& request, Upload upload) {
    Prepared p = prepare(request);
    StoredUpload stored = storeUpload(upload, [&](const std::string& mediaType) {
        checkAccepts(*p.plugin, mediaType);
        return p.plugin;
    });
    int64_t now = nowMs();
    Original original = newOriginal(stored.blob, upload.filename, stored.source, now);
    return enqueue(original, newJob(request, p, stored.blob.sha256, now), stored.source.mediaType);
}

JobService::StoredUpload JobService::storeUpload(Upload& upload, const ChoosePlugin& choose) {
    if (!upload.writer || upload.writer->size() == 0)
        throw ApiError::badRequest("missing_file", "the source file is missing or empty", "file");
    if (metrics_) metrics_->uploadBytes(upload.writer->size());
    BlobRef finished;
    StoredUpload stored;
    stored.source = checkSource(plugins_, limits_, upload.writer->head(), upload.writer->tempPath(),
                                upload.writer->size(), choose, [&] {
                                    checkQueue();
                                    finished = upload.writer->finish();
                                });
    if (storage_) storage_->makeRoom(upload.writer->size());
    // The same content may be stored already, unreferenced: no daemon removes it until the job refers to it.
    stored.pin = store_.references.pinBlob(finished.sha256);
    stored.blob = upload.writer->commit();
    return stored;
}

namespace {

// `error`, about entry `index` of a submit's `list` (jobs or steps): its field as a path into the request.
ApiError inEntry(const ApiError& error, const std::string& list, size_t index) {
    std::string entry = list + "[" + std::to_string(index) + "]";
    const std::string& field = error.field();
    std::string path = field.empty()                              ? entry
                       : field == "plugin" || field == "preset"   ? entry + "." + field
                       : field == "file" || field.rfind("callback_", 0) == 0 ? field
                                                                  : entry + ".params." + field;
    return ApiError(error.status(), error.code(), entry + ": " + error.what(), path);
}

}  // namespace

std::vector<JobService::Prepared> JobService::prepareEach(const std::vector<SubmitRequest>& entries,
                                                          const std::string& list, size_t most) const {
    if (entries.empty()) throw ApiError::invalidParam(list, list + " lists at least one entry");
    if (entries.size() > most)
        throw ApiError::invalidParam(list, list + " lists at most " + std::to_string(most) + " entries");
    std::vector<Prepared> prepared;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].idempotencyKey)
            throw ApiError::invalidParam("idempotency_key", "an Idempotency-Key is not taken with " + list);
        try {
            prepared.push_back(prepare(entries[i]));
        } catch (const ApiError& e) {
            throw e.status() == 400 || e.status() == 404 ? inEntry(e, list, i) : e;
        }
    }
    return prepared;
}

std::vector<JobService::Prepared> JobService::prepareAll(const std::vector<SubmitRequest>& entries) const {
    return prepareEach(entries, "jobs", kMaxJobsPerSubmit);
}

void JobService::checkAcceptsAll(const std::vector<Prepared>& prepared, const std::string& mediaType) const {
    for (size_t i = 0; i < prepared.size(); ++i) try {
            checkAccepts(*prepared[i].plugin, mediaType);
        } catch (const ApiError& e) {
            throw inEntry(e, "jobs", i);
        }
}

std::vector<JobService::Prepared> JobService::prepareChain(const std::vector<SubmitRequest>& steps) const {
    std::vector<Prepared> prepared = prepareEach(steps, "steps", kMaxSteps);
    // Each step takes every type the step before may write (x-produces), or the chain cannot work.
    for (size_t i = 1; i < prepared.size(); ++i) {
        const PluginDescriptor& before = *prepared[i - 1].plugin;
        const PluginDescriptor& next = *prepared[i].plugin;
        std::string at = "steps[" + std::to_string(i) + "]";
        std::vector<std::string> types = before.params.produces(nlohmann::json::parse(prepared[i - 1].params));
        if (types.empty())
            throw ApiError::invalidParam(at, at + ": '" + next.name + "' cannot follow '" + before.name +
                                                 "', whose schema does not say what it writes (x-produces)");
        for (const std::string& type : types)
            if (!next.acceptsType(type))
                throw ApiError::invalidParam(at, at + ": '" + next.name + "' does not take " + type + ", which '" +
                                                     before.name + "' may write; it takes " + acceptsList(next));
    }
    return prepared;
}

void JobService::checkChainAccepts(const std::vector<Prepared>& chain, const std::string& mediaType) const {
    try {
        checkAccepts(*chain.front().plugin, mediaType);
    } catch (const ApiError& e) {
        throw inEntry(e, "steps", 0);
    }
}

NewJob JobService::newChainJob(const std::vector<SubmitRequest>& steps, const std::vector<Prepared>& chain,
                               const std::string& sourceSha256, int64_t now) const {
    NewJob job = newJob(steps.front(), chain.front(), sourceSha256, now);
    std::vector<ChainStep> spec;
    for (const Prepared& p : chain) spec.push_back({p.plugin->name, p.plugin->version, p.params});
    job.steps = stepsJson(spec);
    job.dedupKey = chainDedupKey(sourceSha256, spec);
    job.preset.clear();  // each step may name its own; the job's steps show them resolved
    return job;
}

Submitted JobService::submitChain(const std::vector<SubmitRequest>& steps, Upload upload) {
    std::vector<Prepared> chain = prepareChain(steps);
    StoredUpload stored = storeUpload(upload, [&](const std::string& mediaType) {
        checkChainAccepts(chain, mediaType);
        return chain.front().plugin;
    });
    int64_t now = nowMs();
    Original original = newOriginal(stored.blob, upload.filename, stored.source, now);
    return enqueue(original, newChainJob(steps, chain, stored.blob.sha256, now), stored.source.mediaType);
}

Submitted JobService::submitChainOriginal(const std::vector<SubmitRequest>& steps, std::string_view originalId) {
    std::vector<Prepared> chain = prepareChain(steps);
    UsableOriginal usable = usableOriginal(originalId);
    const Original& original = usable.original;
    checkChainAccepts(chain, original.mediaType);
    checkPixels(SourceInfo{original.width, original.height, original.pages});
    checkQueue();
    return enqueue(original, newChainJob(steps, chain, original.sha256, nowMs()), original.mediaType);
}

JobService::UsableOriginal JobService::usableOriginal(std::string_view originalId) {
    UsableOriginal usable{getOriginal(originalId), nullptr};
    Original& original = usable.original;
    // Pinned, the content cannot go between the check and the job's row (deleted originals, eviction, sweep).
    usable.pin = store_.references.pinBlob(original.sha256);
    if (auto fresh = store_.originals.getOriginal(original.id)) original = *fresh;
    if (original.purgedAt || !blobs_.exists(original.sha256))
        throw ApiError::notFound("the content of original '" + original.id + "' was removed", "not_found");
    return usable;
}

SubmittedAll JobService::submitAll(const std::vector<SubmitRequest>& entries, Upload upload) {
    std::vector<Prepared> prepared = prepareAll(entries);
    StoredUpload stored = storeUpload(upload, [&](const std::string& mediaType) {
        checkAcceptsAll(prepared, mediaType);
        return prepared.front().plugin;
    });
    return enqueueAll(newOriginal(stored.blob, upload.filename, stored.source, nowMs()), entries, prepared);
}

SubmittedAll JobService::submitAllOriginal(const std::vector<SubmitRequest>& entries, std::string_view originalId) {
    std::vector<Prepared> prepared = prepareAll(entries);
    UsableOriginal usable = usableOriginal(originalId);
    const Original& original = usable.original;
    checkAcceptsAll(prepared, original.mediaType);
    checkPixels(SourceInfo{original.width, original.height, original.pages});
    checkQueue();
    return enqueueAll(original, entries, prepared);
}

SubmittedAll JobService::enqueueAll(const Original& original, const std::vector<SubmitRequest>& entries,
                                    const std::vector<Prepared>& prepared) {
    int64_t now = nowMs();
    std::vector<NewJob> jobs;
    for (size_t i = 0; i < entries.size(); ++i) jobs.push_back(newJob(entries[i], prepared[i], original.sha256, now));
    std::vector<SubmitOutcome> outcomes = store_.queue.submitAll(original, jobs);
    SubmittedAll all;
    all.original = outcomes.front().job.original;
    bool allSucceeded = true;
    for (size_t i = 0; i < outcomes.size(); ++i) {
        all.jobs.push_back(answered(std::move(outcomes[i]), original, jobs[i], original.mediaType));
        allSucceeded = allSucceeded && all.jobs.back().status == 200;
    }
    all.status = allSucceeded ? 200 : 202;
    return all;
}

Submitted JobService::submitOriginal(const SubmitRequest& request, std::string_view originalId) {
    Prepared p = prepare(request);
    UsableOriginal usable = usableOriginal(originalId);
    const Original& original = usable.original;
    checkAccepts(*p.plugin, original.mediaType);
    checkPixels(SourceInfo{original.width, original.height, original.pages});
    checkQueue();
    return enqueue(original, newJob(request, p, original.sha256, nowMs()), original.mediaType);
}

StoredOriginal JobService::storeOriginal(Upload upload) {
    if (!accepting_) throw ApiError::unavailable("shutting_down", "pixelmill is shutting down", 5);
    if (!upload.writer || upload.writer->size() == 0)
        throw ApiError::badRequest("missing_file", "the file is missing or empty", "file");
    if (metrics_) metrics_->uploadBytes(upload.writer->size());
    BlobRef finished;
    CheckedSource source = checkSource(
        plugins_, limits_, upload.writer->head(), upload.writer->tempPath(), upload.writer->size(),
        [&](const std::string& mediaType) {
            std::shared_ptr<const PluginDescriptor> reader;
            for (const auto& d : plugins_.list()) {
                if (!d->acceptsType(mediaType)) continue;
                if (!reader || (d->canProbe && !reader->canProbe)) reader = d;
            }
            if (!reader) {
                std::string known;
                for (const auto& d : plugins_.list())
                    for (const auto& a : d->accepts)
                        if (known.find(a) == std::string::npos) known += (known.empty() ? "" : ", ") + a;
                throw ApiError::unsupportedMediaType("file is " + mediaType + "; the loaded plugins accept " + known);
            }
            return reader;
        },
        [&] { finished = upload.writer->finish(); });
    const std::string& mediaType = source.mediaType;
    if (storage_) storage_->makeRoom(upload.writer->size());
    auto pin = store_.references.pinBlob(finished.sha256);  // see submit()
    BlobRef blob = upload.writer->commit();

    Original original = newOriginal(blob, upload.filename, source, nowMs());
    auto [stored, created] = store_.originals.putOriginal(original);
    log::info("original_stored", {{"original", stored.id}, {"media_type", mediaType}, {"size_bytes", blob.size},
                                  {"created", created}});
    return StoredOriginal{std::move(stored), created};
}

void JobService::regenerate(const Job& job) {
    if (store_.cache.requeueEvicted(job.id, nowMs())) {
        work_.jobsQueued(1);
        log::info("job_regenerating", {{"job", job.id}, {"plugin", job.plugin}});
    }
}

Original JobService::getOriginal(std::string_view id) const {
    auto o = isValidId(id) ? store_.originals.getOriginal(id) : std::nullopt;
    if (!o) throw ApiError::notFound("no original with id '" + std::string(id) + "'");
    return *o;
}

std::pair<Batch, std::vector<Job>> JobService::createBatch(const BatchRequest& request) {
    Prepared p = prepare(request.job);
    if (request.originalIds.empty())
        throw ApiError::invalidParam("original_ids", "original_ids must list at least one original");
    if (request.originalIds.size() > 10'000)
        throw ApiError::invalidParam("original_ids", "a batch holds at most 10000 originals");
    int64_t now = nowMs();
    std::vector<BatchItem> items;
    for (const std::string& id : request.originalIds) {
        auto o = isValidId(id) ? store_.originals.getOriginal(id) : std::nullopt;
        if (!o || o->purgedAt) throw ApiError(404, "not_found", "no original with id '" + id + "'", "original_ids");
        checkAccepts(*p.plugin, o->mediaType);
        checkPixels(SourceInfo{o->width, o->height, o->pages});
        items.push_back(BatchItem{*o, newJob(request.job, p, o->sha256, now)});
    }
    checkQueue();
    Batch batch;
    batch.id = newId();
    batch.plugin = p.plugin->name;
    batch.params = p.params;
    batch.createdAt = now;
    batch = store_.queue.createBatch(batch, items);
    work_.jobsQueued(static_cast<int>(items.size()));
    log::info("batch_created", {{"batch", batch.id}, {"plugin", batch.plugin}, {"jobs", static_cast<int>(items.size())}});
    return getBatch(batch.id);
}

std::pair<Batch, std::vector<Job>> JobService::getBatch(std::string_view id) const {
    auto batch = isValidId(id) ? store_.reads.getBatch(id) : std::nullopt;
    if (!batch) throw ApiError::notFound("no batch with id '" + std::string(id) + "'");
    std::vector<Job> jobs;
    for (const std::string& jobId : batch->jobIds)
        if (auto j = store_.reads.getJob(jobId)) jobs.push_back(std::move(*j));
    return {std::move(*batch), std::move(jobs)};
}

Job JobService::get(std::string_view id) const {
    checkId(id, "job");
    auto job = store_.reads.getJob(id);
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    return *job;
}

std::optional<Job> JobService::find(std::string_view id) const { return store_.reads.getJob(id); }

JobPage JobService::list(const JobFilter& filter) const { return store_.reads.listJobs(filter); }

OriginalPage JobService::listOriginals(const OriginalFilter& filter) const {
    return store_.originals.listOriginals(filter);
}

void JobService::recordDownload(const Job& job) { store_.cache.recordHit(job.id); }

Job JobService::cancel(std::string_view id) {
    checkId(id, "job");
    auto job = store_.queue.cancel(id, nowMs());
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    work_.cancelRunning(job->id);
    events_.ended(job->id, JobState::Canceled);
    if (metrics_) metrics_->jobFinished(job->plugin, "canceled");
    log::info("job_canceled", {{"job", job->id}, {"plugin", job->plugin}});
    return *job;
}

Job JobService::retry(std::string_view id) {
    checkId(id, "job");
    if (!accepting_) throw ApiError::unavailable("shutting_down", "pixelmill is shutting down", 5);
    auto job = store_.queue.retry(id, nowMs(), limits_.maxAttempts);
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    work_.jobsQueued(1);
    log::info("job_retried", {{"job", job->id}, {"plugin", job->plugin}});
    return *job;
}

void JobService::remove(std::string_view id) {
    checkId(id, "job");
    auto job = store_.reads.getJob(id);
    if (!job) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    if (!isFinal(job->state)) {
        try {
            store_.queue.cancel(id, nowMs());
        } catch (const ApiError&) {
            // It ended meanwhile: nothing to cancel.
        }
        work_.cancelRunning(job->id);
    }
    if (!store_.queue.remove(id)) throw ApiError::notFound("no job with id '" + std::string(id) + "'");
    events_.ended(job->id, JobState::Canceled);
    log::info("job_deleted", {{"job", job->id}});
}

}  // namespace pixelmill
