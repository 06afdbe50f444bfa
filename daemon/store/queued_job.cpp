#include "store/queued_job.h"

namespace pixelmill {

Job queuedJob(const NewJob& job, const Original& original, int64_t seq) {
    Job j;
    j.seq = seq;
    j.id = job.id;
    j.plugin = job.plugin;
    j.pluginVersion = job.pluginVersion;
    j.params = job.params;
    j.dedupKey = job.dedupKey;
    j.originalId = original.id;
    j.state = JobState::Queued;
    j.priority = job.priority;
    j.maxAttempts = job.maxAttempts;
    j.runAfter = job.createdAt;
    j.createdAt = job.createdAt;
    j.callbackUrl = job.callbackUrl;
    j.callbackEmail = job.callbackEmail;
    j.requestId = job.requestId;
    j.preset = job.preset;
    j.steps = job.steps;
    j.original = original;
    return j;
}

}  // namespace pixelmill
