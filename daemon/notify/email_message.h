#pragma once

#include "jobs/model/job.h"

#include <cstdint>
#include <string>

namespace pixelmill::notify {

struct EmailSettings {
    std::string from;       // the sender's address
    std::string publicUrl;  // base of the links, without a trailing slash; "" gives bare paths
};

// The RFC 5322 message that tells `delivery.target` a job ended: Date,
// From, To, Subject ("pixelmill: job <id> succeeded|failed"), Message-ID,
// MIME-Version, Content-Type text/plain; charset=utf-8, then the job's id,
// plugin, state, error and a link to every output. CRLF line ends; text from
// plugins and clients is kept to one bounded line. `now` is unix ms.
std::string composeEmail(const Job& job, const Delivery& delivery, const EmailSettings& settings, int64_t now);

// "job.succeeded", "job.failed" (X-Pixelmill-Event).
std::string eventName(JobState state);

// gethostname(), or "localhost".
std::string localHostName();

// A bare address (local@domain) with nothing that could break a header or an
// SMTP command; the SMTP server judges the rest.
bool plausibleAddress(const std::string& address);

}  // namespace pixelmill::notify
