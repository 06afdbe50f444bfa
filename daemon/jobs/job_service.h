#pragma once

#include "jobs/job_events.h"
#include "jobs/model/job.h"
#include "jobs/plugin_catalog.h"
#include "jobs/presets.h"
#include "jobs/storage_keeper.h"
#include "metrics/metrics.h"
#include "store/blob_references.h"
#include "store/blob_store.h"
#include "store/job_queue.h"
#include "store/job_reads.h"
#include "store/original_store.h"
#include "store/output_cache.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace pixelmill {

// The scheduler as the domain sees it.
class WorkSignal {
public:
    virtual ~WorkSignal() = default;
    virtual void jobsQueued(int count) = 0;
    virtual void cancelRunning(const std::string& jobId) = 0;
};

// A source streamed into a blob writer but not yet kept.
struct Upload {
    std::unique_ptr<BlobWriter> writer;
    std::string filename;
};

struct SubmitRequest {
    std::string plugin;
    std::string preset;  // instead of plugin: the preset's plugin and parameters, under `params`
    // Parameters as the client sent them: text (form fields, query) or JSON.
    SentParams params;
    int priority = 0;
    std::string callbackUrl;
    std::string callbackEmail;
    // Idempotency-Key (1-255 printable ASCII characters) and the client it
    // belongs to: the same client and key answer with the first job (see
    // JobQueue::submit); the same key for another request is 422.
    std::optional<std::string> idempotencyKey;
    std::string client;
    std::string requestId;  // the X-Request-Id the job remembers; "" for none
};

struct StoredOriginal {
    Original original;
    bool created = false;  // false: the same bytes were stored before
};

struct BatchRequest {
    SubmitRequest job;  // plugin, params, priority and callbacks for every job
    std::vector<std::string> originalIds;
};

struct Submitted {
    Job job;
    bool created = false;  // false: an equal job existed (dedup), or the Idempotency-Key's job
    int status = 202;      // what the submit answers: 200 for a succeeded equal job, or the key's first status
};

// A submit with `jobs`: one source, several jobs, made all or nothing.
struct SubmittedAll {
    Original original;
    std::vector<Submitted> jobs;  // in the order of the entries
    int status = 202;             // 200 when every entry is an equal job that had succeeded
};

// Entries of one `jobs` submit at most: each is validated and stored in one transaction.
inline constexpr size_t kMaxJobsPerSubmit = 32;

struct JobLimits {
    uint64_t maxPixels = 71'000'000;
    uint32_t maxPages = 1000;
    int maxAttempts = 3;
    uint64_t queueLimit = 100'000;
    uint64_t maxSvgBytes = 8ull << 20;  // SVGs are read whole (checkSource): a bound on that work
};

// A source that passed checkSource: its sniffed type, the plugin chosen for
// it and what its header says.
struct CheckedSource {
    std::string mediaType;
    std::shared_ptr<const PluginDescriptor> plugin;
    SourceInfo info;
};

// The plugin that will read a source of `mediaType`; throws ApiError (415) when none.
using ChoosePlugin = std::function<std::shared_ptr<const PluginDescriptor>(const std::string& mediaType)>;

// The one check every new source goes through, whoever brings it (an upload,
// a source_url download, `pixelmill run`): the media type sniffed from `head`
// (its first bytes), a plugin that accepts it (`choose`), an SVG no larger
// than limits.maxSvgBytes and without references outside itself, the header
// probed and the pixels within limits.maxPixels. `beforeReading` runs
// between the cheap checks and those that read the file at `path` (which
// must be complete by then). Throws ApiError (415, 422) naming the problem.
// It may read the whole file: never call it on an HTTP reactor thread.
CheckedSource checkSource(const PluginCatalog& plugins, const JobLimits& limits, std::string_view head,
                          const std::string& path, uint64_t size, const ChoosePlugin& choose,
                          const std::function<void()>& beforeReading = {});

// What a JobService works with that it can do without (in tests).
struct JobServiceHelpers {
    Metrics* metrics = nullptr;        // where submissions and uploads are counted
    StorageKeeper* storage = nullptr;  // the quota; without one, storage is unbounded
    // Checks a callback URL before it is accepted (the address policy); throws ApiError 400.
    std::function<void(const std::string& url)> checkCallback;
    const Presets* presets = nullptr;  // what `preset=` names; without them, a preset is unknown
};

// The domain's entry points: submit (validate, sniff, probe, dedup, enqueue),
// read, cancel, retry, delete. Knows neither HTTP nor SQL.

// Thread-safe: it keeps no mutable state but an accepting flag and the last
// queue length it read.
class JobService {
public:
    // The parts of the store it acts on.
    struct Store {
        JobQueue& queue;             // submit, cancel, retry, delete
        JobReads& reads;             // jobs and batches, the queue's length
        OriginalStore& originals;    // uploads kept for later
        OutputCache& cache;          // evicted outputs made again
        BlobReferences& references;  // blobs pinned while a submission refers to them
    };
    using Helpers = JobServiceHelpers;
    JobService(Store store, BlobStore& blobs, const PluginCatalog& plugins, WorkSignal& work, JobEvents& events,
               JobLimits limits, Helpers helpers = {});

    Submitted submit(const SubmitRequest& request, Upload upload);
    // Several jobs of one upload (`jobs`), all or nothing: an entry that is
    // wrong is a 400 naming `jobs[i].plugin`, `jobs[i].preset` or
    // `jobs[i].params.NAME`, and nothing is stored. No Idempotency-Key.
    SubmittedAll submitAll(const std::vector<SubmitRequest>& entries, Upload upload);
    SubmittedAll submitAllOriginal(const std::vector<SubmitRequest>& entries, std::string_view originalId);
    // Checks plugin, parameters and callbacks without a source (before a download).
    void validate(const SubmitRequest& request) const { prepare(request); }
    void validateAll(const std::vector<SubmitRequest>& entries) const { prepareAll(entries); }
    // A chain (`steps`): one job whose steps run in order, each on every
    // output of the step before. A step that is wrong, or that cannot take
    // what the step before writes, is a 400 naming `steps[i]` (or a path in
    // it). No Idempotency-Key.
    Submitted submitChain(const std::vector<SubmitRequest>& steps, Upload upload);
    Submitted submitChainOriginal(const std::vector<SubmitRequest>& steps, std::string_view originalId);
    void validateChain(const std::vector<SubmitRequest>& steps) const { prepareChain(steps); }
    // A job for an original stored earlier (404 if unknown or its content is gone).
    Submitted submitOriginal(const SubmitRequest& request, std::string_view originalId);
    // Stores an upload as an original, reading its metadata with any plugin
    // that accepts its type; the same bytes twice give the same original.
    StoredOriginal storeOriginal(Upload upload);
    Original getOriginal(std::string_view id) const;  // 404 if unknown
    // All or nothing: every id must exist (404 naming the first that does not)
    // and suit the plugin (415), else nothing is created.
    std::pair<Batch, std::vector<Job>> createBatch(const BatchRequest& request);
    std::pair<Batch, std::vector<Job>> getBatch(std::string_view id) const;

    // An output of `job` was asked for after it was evicted: run the job again.
    void regenerate(const Job& job);

    Job get(std::string_view id) const;  // 404 if unknown
    std::optional<Job> find(std::string_view id) const;  // nullopt if unknown
    JobPage list(const JobFilter& filter) const;
    OriginalPage listOriginals(const OriginalFilter& filter) const;
    // An output of `job` was downloaded: the cache counts a hit (fire and forget).
    void recordDownload(const Job& job);
    Job cancel(std::string_view id);
    Job retry(std::string_view id);
    void remove(std::string_view id);

    // Stops accepting new jobs (draining): submits answer 503.
    void stopAccepting() { accepting_ = false; }
    bool accepting() const { return accepting_; }

    // The dedup key of a source + plugin + version + canonical params.
    static std::string dedupKey(const std::string& sourceSha256, const PluginDescriptor& plugin,
                                const std::string& canonicalParams);
    // What an Idempotency-Key is held to: the SHA-256 of the source, plugin,
    // canonical params, priority and callbacks (not the plugin's version: a
    // retry across an upgrade is the same request).
    static std::string requestFingerprint(const std::string& sourceSha256, const NewJob& job);

private:
    struct Prepared {
        std::shared_ptr<const PluginDescriptor> plugin;
        std::string params;  // canonical JSON
        std::string preset;  // the preset named, if any
    };
    Prepared preparePlugin(const SubmitRequest& request) const;
    // Each of a `list` (jobs or steps) of 1 to `most` entries, errors naming the entry.
    std::vector<Prepared> prepareEach(const std::vector<SubmitRequest>& entries, const std::string& list,
                                      size_t most) const;
    std::vector<Prepared> prepareAll(const std::vector<SubmitRequest>& entries) const;
    std::vector<Prepared> prepareChain(const std::vector<SubmitRequest>& steps) const;
    // The first step takes `mediaType`, or the error names it.
    void checkChainAccepts(const std::vector<Prepared>& chain, const std::string& mediaType) const;
    NewJob newChainJob(const std::vector<SubmitRequest>& steps, const std::vector<Prepared>& chain,
                       const std::string& sourceSha256, int64_t now) const;
    // A stored original whose content is there, pinned until the caller's job refers to it.
    struct UsableOriginal {
        Original original;
        std::unique_ptr<BlobPin> pin;
    };
    UsableOriginal usableOriginal(std::string_view originalId);
    // Every entry's plugin takes `mediaType`, or the error names the entry.
    void checkAcceptsAll(const std::vector<Prepared>& prepared, const std::string& mediaType) const;
    // An upload checked (checkSource with `choose`), made room for and
    // committed as a blob, pinned until the caller's jobs refer to it.
    struct StoredUpload {
        CheckedSource source;
        BlobRef blob;
        std::unique_ptr<BlobPin> pin;
    };
    StoredUpload storeUpload(Upload& upload, const ChoosePlugin& choose);
    SubmittedAll enqueueAll(const Original& original, const std::vector<SubmitRequest>& entries,
                            const std::vector<Prepared>& prepared);
    // The client's answer for one stored job: counted, logged, seen with its own callbacks.
    Submitted answered(SubmitOutcome outcome, const Original& original, const NewJob& job, const std::string& mediaType);
    Prepared prepare(const SubmitRequest& request) const;
    void checkAccepts(const PluginDescriptor& plugin, const std::string& mediaType) const;
    void checkPixels(const SourceInfo& info) const;
    void checkQueue() const;
    NewJob newJob(const SubmitRequest& request, const Prepared& p, const std::string& sourceSha256, int64_t now) const;
    Submitted enqueue(const Original& original, const NewJob& job, const std::string& mediaType);
    std::shared_ptr<const PluginDescriptor> plugin(const std::string& name) const;

    Store store_;
    BlobStore& blobs_;
    const PluginCatalog& plugins_;
    WorkSignal& work_;
    JobEvents& events_;
    JobLimits limits_;
    std::atomic<bool> accepting_{true};
    // The queue length last read, when (ms), and the submits checked since: see checkQueue.
    mutable std::atomic<uint64_t> queuedSeen_{0};
    mutable std::atomic<uint64_t> checkedSince_{0};
    mutable std::atomic<int64_t> queuedSeenAt_{0};
    const std::function<void(const std::string&)> callbackCheck_;
    StorageKeeper* const storage_;
    Metrics* const metrics_;
    const Presets* const presets_;
};

}  // namespace pixelmill
