#include "notify/email_message.h"

#include "common/clock.h"
#include "common/text.h"
#include "notify/fetcher.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace pixelmill::notify {
namespace {

constexpr size_t kMaxLine = 900;  // RFC 5322 allows 998 octets per line

// RFC 5322 date-time in UTC; independent of the C locale.
std::string rfc5322Date(int64_t unixMs) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t seconds = static_cast<std::time_t>(unixMs / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7], tm.tm_mday,
                  kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

// Text from a plugin or a client on one line of bounded length, cut on a UTF-8 boundary.
std::string oneLine(std::string text) {
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n' || c == '\t'; }, ' ');
    std::erase_if(text, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    if (text.size() > kMaxLine) {
        size_t cut = kMaxLine;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text = text.substr(0, cut) + "…";
    }
    return text;
}

}  // namespace

std::string eventName(JobState state) {
    switch (state) {
        case JobState::Succeeded: return "job.succeeded";
        case JobState::Failed: return "job.failed";
        default: return "job." + std::string(toString(state));
    }
}

std::string localHostName() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
    return name;
}

bool plausibleAddress(const std::string& a) {
    auto at = a.find('@');
    if (a.size() > 254 || at == std::string::npos || at == 0 || at + 1 == a.size() ||
        a.find('@', at + 1) != std::string::npos)
        return false;
    return std::none_of(a.begin(), a.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' || c == '\\';
    });
}

std::string composeEmail(const Job& job, const Delivery& d, const EmailSettings& settings, int64_t now) {
    const std::string state(toString(job.state));
    const std::string jobUrl = settings.publicUrl + "/v1/jobs/" + job.id;
    std::string domain = settings.from.substr(settings.from.find('@') + 1);
    if (domain.empty() || domain == settings.from) domain = "pixelmill.invalid";

    std::string m;
    auto line = [&m](const std::string& text) { m += text + "\r\n"; };
    line("Date: " + rfc5322Date(now));
    line("From: pixelmill <" + settings.from + ">");
    line("To: <" + d.target + ">");
    line("Subject: pixelmill: job " + job.id + " " + state);
    line("Message-ID: <pixelmill." + job.id + "." + std::to_string(d.id) + "." + std::to_string(d.attempts) + "@" +
         domain + ">");
    line("MIME-Version: 1.0");
    line("Content-Type: text/plain; charset=utf-8");
    line("Content-Transfer-Encoding: 8bit");
    line("Auto-Submitted: auto-generated");
    line("X-Pixelmill-Job: " + job.id);
    line("X-Pixelmill-Event: " + eventName(job.state));
    line("X-Pixelmill-Delivery: " + std::to_string(d.id));
    line("");
    line("Job " + job.id + " " + state + ".");
    line("");
    line("Plugin:   " + oneLine(job.plugin + " " + job.pluginVersion));
    line("State:    " + state);
    if (job.finishedAt) line("Finished: " + formatTime(*job.finishedAt));
    if (job.error) line("Error:    " + oneLine(job.error->code + ": " + job.error->message));
    line("Job:      " + jobUrl);
    line("");
    if (job.outputs.empty()) {
        line("No outputs.");
    } else {
        line("Outputs:");
        for (const auto& o : job.outputs) {
            line("  " + oneLine(o.name) + " (" + oneLine(o.mediaType) + ", " + humanBytes(o.sizeBytes) + ")");
            line("  " + jobUrl + "/outputs/" + std::to_string(o.index));
        }
    }
    line("");
    line("-- ");
    line("pixelmill");
    return m;
}

}  // namespace pixelmill::notify
