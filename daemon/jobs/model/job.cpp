#include "jobs/model/job.h"

namespace pixelmill {

std::string_view toString(JobState state) {
    switch (state) {
        case JobState::Queued: return "queued";
        case JobState::Running: return "running";
        case JobState::Succeeded: return "succeeded";
        case JobState::Failed: return "failed";
        case JobState::Canceled: return "canceled";
    }
    return "queued";
}

std::optional<JobState> parseJobState(std::string_view text) {
    if (text == "queued") return JobState::Queued;
    if (text == "running") return JobState::Running;
    if (text == "succeeded") return JobState::Succeeded;
    if (text == "failed") return JobState::Failed;
    if (text == "canceled") return JobState::Canceled;
    return std::nullopt;
}

Job asSeenBy(const Job& job, const std::string& callbackUrl, const std::string& callbackEmail) {
    Job view = job;
    view.callbackUrl = callbackUrl;
    view.callbackEmail = callbackEmail;
    view.deliveries.clear();
    for (const Delivery& d : job.deliveries) {
        const std::string& mine = d.kind == "webhook" ? callbackUrl : callbackEmail;
        if (!mine.empty() && d.target == mine) view.deliveries.push_back(d);
    }
    return view;
}

}  // namespace pixelmill
