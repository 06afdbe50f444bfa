// Compatibility routes for the clients of the five seed services pixelmill
// replaces (docs/compat.md): each route is a thin adapter that speaks the
// seed's request and answer shapes over the same JobService as /v1, so
// validation, sniffing, dedup, limits and the store are shared. Each family
// sees only the jobs of its own plugin: /documents pdf2png, /image ascii,
// /resize resize, /thumbnail thumbnail.
#include "common/error.h"
#include "common/ids.h"
#include "common/mapped_file.h"
#include "http/api/job_json.h"
#include "http/api/route_helpers.h"
#include "http/server/body.h"
#include "http/server/respond.h"

#include <pistache/router.h>

#include <charconv>
#include <chrono>
#include <set>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {


// Form fields and query names that are never plugin parameters.
const std::set<std::string> kNotParams = {"wait"};

// The seeds' status words. A canceled job reads "failed" (with its error), so
// that a seed client polling for an end it knows still sees one.
const char* seedStatus(JobState state) {
    switch (state) {
        case JobState::Queued: return "queued";
        case JobState::Running: return "processing";
        case JobState::Succeeded: return "done";
        case JobState::Failed:
        case JobState::Canceled: return "failed";
    }
    return "failed";
}

json errorText(const Job& job) {
    if (job.state == JobState::Canceled) return "the job was canceled";
    if (job.state == JobState::Failed) return job.error ? json(job.error->message) : json("the job failed");
    return nullptr;
}

template <class T>
json orNull(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

// A job of `plugin` by id; 404 in the seed's words for anything else.
Job jobOf(Services& s, const std::string& id, std::string_view plugin, const std::string& noun) {
    std::optional<Job> job = isValidId(id) ? s.jobs.find(id) : std::nullopt;
    if (!job || job->plugin != plugin) throw ApiError::notFound("no " + noun + " with id '" + id + "'");
    return *job;
}

std::string param(const Rest::Request& request, const char* name) { return request.param(name).as<std::string>(); }

// Plugin parameters from the query string, then the multipart fields (which win).
std::map<std::string, std::string> textParams(const Rest::Request& request, const RequestBody& body) {
    std::map<std::string, std::string> params;
    const auto& query = request.query();
    for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it)
        if (!kNotParams.count(it->first)) params[it->first] = it->second;
    for (const auto& [k, v] : body.fields)
        if (!kNotParams.count(k)) params[k] = v;
    return params;
}

// The multipart file part `field`, or 400 saying where the source goes.
Upload formFile(RequestBody& body, const std::string& field) {
    if (!body.multipart)
        throw ApiError::badRequest("missing_file", "send the source as multipart/form-data field '" + field + "'", field);
    std::optional<Upload> upload = body.takeFile(field);
    if (!upload) {
        std::string hint = body.files.empty() ? "" : " (got a file in field '" + body.files.front().field + "')";
        throw ApiError::badRequest("missing_file", "the source goes in the multipart field '" + field + "'" + hint, field);
    }
    return std::move(*upload);
}

// A multipart upload of `field` submitted as a job of `plugin`, then `answer`
// called with what it made. The source's checks read the whole file (SVG
// references, probe), so they and the answer run off the reactor thread.
using SubmittedAnswer = std::function<void(Http::ResponseWriter&, const Submitted&)>;
void submitForm(Services& s, const Rest::Request& request, RequestBody& body, Http::ResponseWriter& response,
                const std::string& field, const std::string& plugin, SubmittedAnswer answer) {
    SubmitRequest submit;
    submit.plugin = plugin;
    submit.params = textParams(request, body);
    auto source = std::make_shared<Upload>(formFile(body, field));
    answerChecked(s, response, [&s, submit = std::move(submit), source, answer = std::move(answer)](Http::ResponseWriter& w) {
        answer(w, s.jobs.submit(submit, std::move(*source)));
    });
}

// New resource: 201 with Location; the same submission again: 200, same id.
void answerCreated(Http::ResponseWriter& rs, const Submitted& r, json body, const std::string& location) {
    sendJson(rs, r.created ? 201 : 200, body, {{"Location", location}});
}

// The output of `job` that `wanted` picks, or the error a client asking for
// it should see: 409 + Retry-After while it is being made, 422 with the
// job's own error if it failed, 409 if it was canceled, 404 if it never comes.
// Only a succeeded job's outputs count, unless `partial` (pages a running job
// has finished: each is complete once it is listed).
const Output& readyOutput(Services& s, const Job& job, const std::string& what,
                          const std::function<bool(const Output&)>& wanted, bool partial = false) {
    if (job.evicted) {
        s.jobs.regenerate(job);
        throw ApiError::conflict("not_ready", what + " was evicted to honour the storage quota; it is being made again")
            .retryAfter(2);
    }
    if (job.state == JobState::Succeeded || (partial && !isFinal(job.state)))
        for (const Output& o : job.outputs)
            if (wanted(o)) return o;
    switch (job.state) {
        case JobState::Queued:
        case JobState::Running:
            throw ApiError::conflict("not_ready", what + " is not ready yet: job " + job.id + " is " +
                                                      std::string(toString(job.state)))
                .retryAfter(1);
        case JobState::Failed:
            throw ApiError(422, job.error ? job.error->code : "unprocessable",
                           job.error ? job.error->message : "job " + job.id + " failed");
        case JobState::Canceled: throw ApiError::conflict("conflict", "job " + job.id + " was canceled");
        case JobState::Succeeded: break;
    }
    throw ApiError::notFound("job " + job.id + " has no " + what);
}

const Output& firstOutput(Services& s, const Job& job, const std::string& what) {
    return readyOutput(s, job, what, [](const Output& o) { return o.index == 0; });
}

std::string withCharset(const std::string& mediaType) {
    if (mediaType.rfind("text/", 0) == 0 && mediaType.find(';') == std::string::npos)
        return mediaType + "; charset=utf-8";
    return mediaType;
}

// Text outputs too stream from their file (never copied whole into memory);
// serving a file from a long-poll's thread is safe: Pistache hands writes
// from other threads to the connection's reactor.
void sendOutput(Services& s, Http::ResponseWriter& rs, const Job& job, const Output& o) {
    if (!s.blobs.exists(o.sha256)) throw ApiError::notFound("the bytes of " + o.name + " of job " + job.id + " are gone");
    s.jobs.recordDownload(job);
    sendFile(rs, s.blobs.path(o.sha256), withCharset(o.mediaType),
             storedContentHeaders(Stored::Output, s.behindTokens(), o.mediaType, o.name, o.sha256));
}

void sendOriginal(Services& s, Http::ResponseWriter& rs, const Job& job) {
    if (job.original.purgedAt || !s.blobs.exists(job.original.sha256))
        throw ApiError::notFound("the original of " + job.id + " was removed");
    sendFile(rs, s.blobs.path(job.original.sha256), job.original.mediaType,
             storedContentHeaders(Stored::Original, s.behindTokens(), job.original.mediaType, job.original.filename,
                                  job.original.sha256));
}

// Calls `answer` with the job once it has ended or `wait` seconds have passed,
// holding no thread meanwhile (answerWhenEnded with the seed's own answer).
// ---- PDF pages seed: /documents --------------------------------------------

json documentJson(const Job& job) {
    return {{"id", job.id},
            {"status", seedStatus(job.state)},
            {"pages", orNull(job.original.pages)},
            {"pages_done", job.outputs.size()},
            {"error", errorText(job)}};
}

void documentPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    Job job = jobOf(s, param(rq, ":id"), "pdf2png", "document");
    std::string text = param(rq, ":n");
    int page = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), page);
    if (ec != std::errc() || p != text.data() + text.size() || page < 1)
        throw ApiError::notFound("no page '" + text + "': pages are numbered from 1");
    if (job.original.pages && page > *job.original.pages)
        throw ApiError::notFound("document " + job.id + " has " + std::to_string(*job.original.pages) + " pages");
    std::string name = "page-" + std::to_string(page) + ".png";
    auto isPage = [&name](const Output& o) { return o.name == name; };
    sendOutput(s, rs, job, readyOutput(s, job, "page " + std::to_string(page), isPage, true));
}

void addDocumentRoutes(RouteTable& routes, Services& s) {
    routes.post("/documents", [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        submitForm(s, rq, body, rs, "data", "pdf2png", [](Http::ResponseWriter& w, const Submitted& r) {
            answerCreated(w, r, documentJson(r.job), "/documents/" + r.job.id);
        });
    });
    routes.get("/documents/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendJson(rs, 200, documentJson(jobOf(s, param(rq, ":id"), "pdf2png", "document")));
    });
    routes.get("/documents/:id/pages/:n",
               [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { documentPage(s, rq, rs); });
}

// ---- ASCII seed: /ascii, /upload, /image, /list, /status ---------------------

// The ASCII seed's words: `ready` where the other families say `done`.
const char* imageState(JobState state) { return state == JobState::Succeeded ? "ready" : seedStatus(state); }

// The ASCII seed's image_type: the format's short name, upper case
// ("image/png" → "PNG", "image/svg+xml" → "SVG").
std::string imageType(const std::string& mediaType) {
    std::string sub = mediaType.substr(mediaType.find('/') + 1);
    sub = sub.substr(0, sub.find_first_of("+;"));
    for (char& c : sub) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return sub;
}

json imageJson(const Job& job) {
    const Original& o = job.original;
    return {{"id", job.id},
            {"filename", o.filename},
            {"created", static_cast<double>(job.createdAt) / 1000.0},
            {"state", imageState(job.state)},
            {"image_type", imageType(o.mediaType)},
            {"media_type", o.mediaType},
            {"image_size", o.width && o.height ? json::array({*o.width, *o.height}) : json(nullptr)},
            {"convert_time", orNull(job.durationSeconds)},
            {"error", errorText(job)}};
}

void addAsciiRoutes(RouteTable& routes, Services& s) {
    // POST /ascii?size=N and POST /upload: the job's id at once, the text at /image/ID/ascii.
    RouteTable::BodyHandler submitImage = [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        submitForm(s, rq, body, rs, "file", "ascii", [](Http::ResponseWriter& w, const Submitted& r) {
            answerCreated(w, r, {{"image_id", r.job.id}}, "/image/" + r.job.id);
        });
    };
    routes.post("/ascii", submitImage);
    routes.post("/upload", submitImage);
    routes.get("/image/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendJson(rs, 200, imageJson(jobOf(s, param(rq, ":id"), "ascii", "image")));
    });
    routes.get("/image/:id/ascii", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        Job job = jobOf(s, param(rq, ":id"), "ascii", "image");
        sendOutput(s, rs, job, firstOutput(s, job, "the ASCII text"));
    });
    routes.get("/image/:id/original", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendOriginal(s, rs, jobOf(s, param(rq, ":id"), "ascii", "image"));
    });
    routes.get("/list", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        JobFilter filter;
        filter.plugin = "ascii";
        filter.limit = rq.query().has("limit") ? parseLimit(rq) : 1000;
        json list = json::array();
        for (const Job& j : s.jobs.list(filter).jobs) list.push_back(imageJson(j));
        sendJson(rs, 200, list);
    });
    routes.get("/status", [&s](const Rest::Request&, Http::ResponseWriter& rs) {
        StoreCounts counts = s.reads.counts();
        sendJson(rs, 200, {{"errors", counts.jobs[JobState::Failed]}, {"uploaded_count", counts.originals}});
    });
}

// ---- Resize seed: /resize ----------------------------------------------------

json resizeStatusJson(const Job& job) {
    const Output* out = job.state == JobState::Succeeded && !job.outputs.empty() ? &job.outputs.front() : nullptr;
    return {{"guid", job.id},
            {"status", seedStatus(job.state)},
            {"error", errorText(job)},
            {"width", out ? orNull(out->width) : json(nullptr)},
            {"height", out ? orNull(out->height) : json(nullptr)},
            {"url", out ? json("/resize/" + job.id) : json(nullptr)}};
}

void addResizeRoutes(RouteTable& routes, Services& s) {
    routes.post("/resize", [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        submitForm(s, rq, body, rs, "file", "resize", [](Http::ResponseWriter& w, const Submitted& r) {
            answerCreated(w, r, {{"guid", r.job.id}}, "/resize/status/" + r.job.id);
        });
    });
    routes.get("/resize/status/:guid", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendJson(rs, 200, resizeStatusJson(jobOf(s, param(rq, ":guid"), "resize", "resize job")));
    });
    routes.get("/resize/:guid", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        Job job = jobOf(s, param(rq, ":guid"), "resize", "resize job");
        sendOutput(s, rs, job, firstOutput(s, job, "the resized image"));
    });
}

// ---- Thumbnails from a URL seed: /thumbnail ----------------------------------

void thumbnailFromUrl(Services& s, const RequestBody& body, Http::ResponseWriter& rs) {
    nlohmann::json doc = body.jsonObject();
    std::string url = stringMember(doc, "url");
    if (url.empty()) throw ApiError::badRequest("missing_file", "the body names the image to fetch in 'url'", "url");
    SubmitRequest submit;
    submit.plugin = "thumbnail";
    submit.callbackUrl = stringMember(doc, "callback_url");
    submit.callbackEmail = stringMember(doc, "email");
    // Anything else is a thumbnail parameter (size, crop, format, quality).
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : doc.items())
        if (k != "url" && k != "callback_url" && k != "email") params[k] = v;
    submit.params = std::move(params);
    if (!s.fetchSource) throw ApiError::badRequest("invalid_param", "fetching a url is not available in this daemon", "url");
    s.jobs.validate(submit);  // before spending a download on it
    answerLater(s, rs, [&s, submit, url](Http::ResponseWriter& writer) {
        Submitted r = s.jobs.submit(submit, s.fetchSource(url));
        answerCreated(writer, r, {{"request_id", r.job.id}}, "/thumbnail/" + r.job.id);
    });
}

void addThumbnailRoutes(RouteTable& routes, Services& s) {
    routes.post("/thumbnail", [&s](const Rest::Request&, RequestBody& body, Http::ResponseWriter& rs) {
        thumbnailFromUrl(s, body, rs);
    });
    routes.get("/thumbnail/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        Job job = jobOf(s, param(rq, ":id"), "thumbnail", "thumbnail request");
        sendOutput(s, rs, job, firstOutput(s, job, "the thumbnail"));
    });
}

// ---- Photo processor seed: /photos --------------------------------------------

void addPhotoRoutes(RouteTable& routes, Services& s) {
    routes.get("/photos/pending", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        OriginalFilter filter;
        filter.pendingOnly = true;
        filter.limit = rq.query().has("limit") ? parseLimit(rq) : 1000;
        json list = json::array();
        for (const Original& o : s.jobs.listOriginals(filter).originals) list.push_back(originalJson(o));
        sendJson(rs, 200, list);
    });
    routes.put("/photos/process", [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        nlohmann::json doc = nlohmann::json::parse(body.text(), nullptr, false);
        if (doc.is_discarded() || !doc.is_array())
            throw ApiError::badRequest("bad_json", "the body is a JSON array of photo ids");
        BatchRequest request;
        request.job.plugin = "thumbnail";
        request.job.params = textParams(rq, body);
        for (const auto& id : doc) {
            if (!id.is_string()) throw ApiError::invalidParam("body", "the array holds photo ids as strings");
            request.originalIds.push_back(id.get<std::string>());
        }
        if (request.originalIds.empty()) throw ApiError::invalidParam("body", "the array of photo ids is empty");
        auto [batch, jobs] = s.jobs.createBatch(request);
        json ids = json::array();
        for (const Job& j : jobs) ids.push_back(j.id);
        sendJson(rs, 202, {{"batch_id", batch.id}, {"job_ids", std::move(ids)}},
                 {{"Location", "/v1/batches/" + batch.id}});
    });
}

}  // namespace

void addCompatRoutes(RouteTable& routes, Services& s) {
    addDocumentRoutes(routes, s);
    addAsciiRoutes(routes, s);
    addResizeRoutes(routes, s);
    addThumbnailRoutes(routes, s);
    addPhotoRoutes(routes, s);
}

}  // namespace pixelmill::http
