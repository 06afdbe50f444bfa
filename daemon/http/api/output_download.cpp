#include "http/api/output_download.h"

#include "common/error.h"
#include "http/server/respond.h"

#include <charconv>

namespace pixelmill::http {

using namespace Pistache;

const Output& findOutput(const Job& job, const std::string& indexText) {
    uint32_t index = 0;
    auto [p, ec] = std::from_chars(indexText.data(), indexText.data() + indexText.size(), index);
    if (ec != std::errc() || p != indexText.data() + indexText.size())
        throw ApiError::notFound("no output '" + indexText + "' of job " + job.id);
    for (const Output& o : job.outputs)
        if (o.index == index) return o;
    if (job.state == JobState::Succeeded) throw ApiError::notFound("job " + job.id + " has no output " + indexText);
    ApiError e = ApiError::conflict("not_ready", "job " + job.id + " is " + std::string(toString(job.state)) +
                                                     "; output " + indexText + " does not exist yet");
    if (job.state == JobState::Queued || job.state == JobState::Running) e.retryAfter(1);
    throw e;
}

void sendOutput(Services& s, const Rest::Request& request, Http::ResponseWriter& response, const Job& job,
                const std::string& indexText, const std::optional<std::string>& cacheControl) {
    if (job.evicted) {
        // The output cache let it go: make it again.
        s.jobs.regenerate(job);
        throw ApiError::conflict("not_ready", "the outputs of job " + job.id +
                                                  " were evicted to honour the storage quota; they are being made again")
            .retryAfter(2);
    }
    const Output& found = findOutput(job, indexText);
    Headers headers = storedContentHeaders(Stored::Output, s.behindTokens(), found.mediaType, found.name, found.sha256);
    if (cacheControl)
        for (auto& [name, value] : headers)
            if (name == "Cache-Control") value = *cacheControl;
    std::string etag = "\"" + found.sha256 + "\"";
    if (auto inm = request.headers().tryGetRaw("If-None-Match"); inm && inm->value() == etag) {
        Headers kept;
        for (auto& header : headers)
            if (header.first == "ETag" || header.first == "Cache-Control") kept.push_back(header);
        sendEmpty(response, 304, kept);
        return;
    }
    if (!s.blobs.exists(found.sha256)) throw ApiError::notFound("the bytes of output " + indexText + " are gone");
    // A download keeps the output ahead in the eviction order; a HEAD is no download.
    if (request.method() != Http::Method::Head) s.jobs.recordDownload(job);
    sendFile(response, s.blobs.path(found.sha256), found.mediaType, headers);
}

}  // namespace pixelmill::http
