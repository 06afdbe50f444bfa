// Helpers shared by the route files (declared in http/services.h).
#include "common/error.h"
#include "http/api/job_json.h"
#include "http/api/route_helpers.h"
#include "http/server/respond.h"

#include <charconv>
#include <chrono>
#include <cstdlib>

namespace pixelmill::http {

using namespace Pistache;

double waitSeconds(const Rest::Request& request) {
    auto text = request.query().get("wait");
    if (!text || text->empty()) return 0;
    char* end = nullptr;
    double v = std::strtod(text->c_str(), &end);
    if (end != text->c_str() + text->size() || !(v >= 0 && v <= 60))
        throw ApiError::invalidParam("wait", "wait must be a number of seconds from 0 to 60, got '" + *text + "'");
    return v;
}

void answerJob(Http::ResponseWriter& response, int status, const Job& job, bool location) {
    Headers headers;
    if (location) headers.emplace_back("Location", "/v1/jobs/" + job.id);
    sendJson(response, status, jobJson(job), headers);
}

void answerWhenEnded(Services& s, Http::ResponseWriter& response, const Job& job, double wait, JobAnswer answer) {
    if (wait <= 0 || isFinal(job.state)) {
        answer(response, job);
        return;
    }
    auto writer = std::make_shared<Http::ResponseWriter>(std::move(response));
    auto timing = handOffTiming();
    std::string id = job.id;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                           std::chrono::duration<double>(wait));
    bool waiting = s.waiters.wait(id, deadline, [&s, writer, timing, id, answer = std::move(answer)] {
        TimingScope scope(timing.get());
        answerOrRefuse("job_waiter", *writer, [&] {
            auto now = s.jobs.find(id);
            if (!now) throw ApiError::notFound("job " + id + " was deleted");
            answer(*writer, *now);
        });
    });
    if (!waiting) {
        TimingScope scope(timing.get());
        ApiError e = ApiError::unavailable("too_many_waiters",
                                           "more than " + std::to_string(s.waiters.limit()) +
                                               " requests are already waiting (?wait=); ask again without ?wait or later",
                                           1);
        sendError(*writer, e);
        return;
    }
    // It may have ended between the read above and the registration.
    try {
        auto again = s.jobs.find(id);
        if (!again || isFinal(again->state)) s.waiters.notify(id);
    } catch (const std::exception&) {
        s.waiters.notify(id);
    }
}

void answerWhenEnded(Services& s, Http::ResponseWriter& response, int status, const Job& job, bool location,
                     double wait) {
    answerWhenEnded(s, response, job, wait, [status, location](Http::ResponseWriter& w, const Job& j) {
        answerJob(w, status, j, location);
    });
}

namespace {

// Runs `work` on `pool` and sends what it answers or throws; 503 when `maxQueued` tasks wait already.
void answerOn(TaskPool& pool, size_t maxQueued, const char* what, Http::ResponseWriter& response,
              std::function<void(Http::ResponseWriter&)> work) {
    if (pool.queued() >= maxQueued)
        throw ApiError::unavailable("busy", std::to_string(maxQueued) + " " + what + " are waiting; try again shortly", 2);
    auto writer = std::make_shared<Http::ResponseWriter>(std::move(response));
    auto timing = handOffTiming();
    auto task = [writer, timing, what, work = std::move(work)] {
        TimingScope scope(timing.get());
        answerOrRefuse(what, *writer, [&] { work(*writer); });
    };
    if (!pool.tryPost(task, maxQueued))  // filled meanwhile
        sendError(*writer, ApiError::unavailable("busy", std::to_string(maxQueued) + " " + what +
                                                             " are waiting; try again shortly", 2));
}

}  // namespace

void answerLater(Services& s, Http::ResponseWriter& response, std::function<void(Http::ResponseWriter&)> work) {
    answerOn(s.outbound, kMaxQueuedDownloads, "source_url downloads", response, std::move(work));
}

void answerChecked(Services& s, Http::ResponseWriter& response, std::function<void(Http::ResponseWriter&)> work) {
    if (!s.intake || s.intake->onPoolThread()) {  // the route itself runs off the reactor already
        work(response);
        return;
    }
    answerOn(*s.intake, kMaxQueuedChecks, "uploads", response, std::move(work));
}

int parsePriority(const std::string& text) {
    int v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < -1000 || v > 1000)
        throw ApiError::invalidParam("priority", "priority must be an integer from -1000 to 1000, got '" + text + "'");
    return v;
}

std::string stringMember(const nlohmann::json& doc, const char* key) {
    if (!doc.contains(key) || doc[key].is_null()) return {};
    if (!doc[key].is_string()) throw ApiError::invalidParam(key, std::string(key) + " must be a string");
    return doc[key].get<std::string>();
}

int priorityMember(const nlohmann::json& doc) {
    if (!doc.contains("priority") || doc["priority"].is_null()) return 0;
    if (!doc["priority"].is_number_integer()) throw ApiError::invalidParam("priority", "priority must be an integer");
    return parsePriority(doc["priority"].dump());  // the digits as sent: 2^64-1 must not wrap to -1
}

int parseLimit(const Rest::Request& request) {
    auto text = request.query().get("limit");
    if (!text || text->empty()) return 50;
    int v = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || p != text->data() + text->size() || v < 1 || v > 1000)
        throw ApiError::invalidParam("limit", "limit must be an integer from 1 to 1000");
    return v;
}

std::optional<int64_t> parseCursor(const Rest::Request& request) {
    auto text = request.query().get("cursor");
    if (!text || text->empty()) return std::nullopt;
    int64_t seq = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), seq);
    if (ec != std::errc() || p != text->data() + text->size() || seq <= 0)
        throw ApiError::invalidParam("cursor", "cursor is not one this server gave out");
    return seq;
}

void sendPage(Http::ResponseWriter& response, const char* key, nlohmann::json items, std::optional<int64_t> nextCursor) {
    sendJson(response, 200,
             {{key, std::move(items)}, {"next_cursor", nextCursor ? nlohmann::json(std::to_string(*nextCursor)) : nullptr}});
}

}  // namespace pixelmill::http
