#pragma once

#include "http/services.h"

#include <nlohmann/json.hpp>
#include <pistache/http.h>
#include <pistache/router.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace pixelmill::http {

// Helpers the route files share: long-polls, answers from other threads, and
// the parsing of common parameters.
double waitSeconds(const Pistache::Rest::Request& request);
void answerJob(Pistache::Http::ResponseWriter& response, int status, const Job& job, bool location = false);
// Answers now if the job has ended or wait is 0, else when it ends or time is
// up (holding no thread), with `answer` given the job as it is then.
using JobAnswer = std::function<void(Pistache::Http::ResponseWriter&, const Job&)>;
void answerWhenEnded(Services& s, Pistache::Http::ResponseWriter& response, const Job& job, double wait,
                     JobAnswer answer);
// The same, answering with the job resource.
void answerWhenEnded(Services& s, Pistache::Http::ResponseWriter& response, int status, const Job& job,
                     bool location, double wait);
// Runs `work` (which may block: downloads) on the outbound pool and sends
// what it returns, or its ApiError; the reactor thread is free meanwhile.
void answerLater(Services& s, Pistache::Http::ResponseWriter& response,
                 std::function<void(Pistache::Http::ResponseWriter&)> work);
// The same on the intake pool, for the checks of a new source (checkSource):
// they read the whole file and must never hold a reactor thread.
void answerChecked(Services& s, Pistache::Http::ResponseWriter& response,
                   std::function<void(Pistache::Http::ResponseWriter&)> work);
// priority: an integer from -1000 to 1000 (400 naming the field otherwise).
int parsePriority(const std::string& text);
// Members of a JSON body: "" / 0 when absent, 400 naming the field when of the wrong type.
std::string stringMember(const nlohmann::json& doc, const char* key);
int priorityMember(const nlohmann::json& doc);
// ?limit= (1-1000, default 50) and ?cursor= (an opaque position this server gave out).
int parseLimit(const Pistache::Rest::Request& request);
std::optional<int64_t> parseCursor(const Pistache::Rest::Request& request);
// One page of a list: {"<key>": [...], "next_cursor": "…" or null}.
void sendPage(Pistache::Http::ResponseWriter& response, const char* key, nlohmann::json items,
              std::optional<int64_t> nextCursor);

}  // namespace pixelmill::http
