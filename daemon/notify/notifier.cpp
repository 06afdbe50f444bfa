#include "notify/notifier.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sha256.h"
#include "notify/curl_support.h"
#include "notify/email_message.h"

#include <algorithm>
#include <stdexcept>
#include <cstdio>

namespace pixelmill::notify {
namespace {

struct Discard {
    uint64_t bytes = 0;
    bool enough = false;
};

size_t discardBody(char*, size_t size, size_t count, void* user) {
    auto* d = static_cast<Discard*>(user);
    d->bytes += size * count;
    if (d->bytes > detail::kDiscardLimit) {
        d->enough = true;
        return 0;
    }
    return size * count;
}

// Cuts a transfer short when the notifier stops.
int abortWhenStopping(void* stopping, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(stopping)->load() ? 1 : 0;
}

// Runs a transfer that is cut short when `stopping` turns true, with curl's
// message in `errbuf`; `status` is the server's answer code (0: none).
CURLcode perform(CURL* c, std::atomic<bool>& stopping, char* errbuf, long& status) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &abortWhenStopping);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stopping);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return rc;
}

struct MessageReader {
    const std::string* message = nullptr;
    size_t offset = 0;
};

size_t readMessage(char* buffer, size_t size, size_t count, void* user) {
    auto* r = static_cast<MessageReader*>(user);
    size_t n = std::min(size * count, r->message->size() - r->offset);
    std::copy_n(r->message->data() + r->offset, n, buffer);
    r->offset += n;
    return n;
}

std::string transferError(CURLcode rc, const char* errbuf) { return errbuf[0] ? errbuf : curl_easy_strerror(rc); }

// smtp://user:secret@host:25 -> smtp://host:25, for messages that end up in logs and the API.
std::string withoutCredentials(const std::string& url) {
    auto scheme = url.find("://");
    if (scheme == std::string::npos) return url;
    auto hostEnd = url.find_first_of("/?#", scheme + 3);
    auto at = url.rfind('@', hostEnd == std::string::npos ? std::string::npos : hostEnd);
    if (at == std::string::npos || at < scheme) return url;
    return url.substr(0, scheme + 3) + url.substr(at + 1);
}

std::string millis(std::chrono::milliseconds ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(ms.count()) / 1000.0);
    return buf;
}

}  // namespace

Notifier::Notifier(DeliveryQueue& deliveries, JobReads& jobs, const AddressPolicy& policy, Render render,
                   NotifierOptions options)
    : deliveries_(deliveries), jobs_(jobs), policy_(policy), render_(std::move(render)), options_(std::move(options)) {
    mailFrom_ = options_.mailFrom.empty() ? "pixelmill@" + localHostName() : options_.mailFrom;
    while (!options_.publicUrl.empty() && options_.publicUrl.back() == '/') options_.publicUrl.pop_back();
    if (options_.leaseTime <= options_.requestTimeout + options_.connectTimeout)
        options_.leaseTime = 2 * (options_.requestTimeout + options_.connectTimeout);
}

Notifier::~Notifier() { stop(); }

Notifier::Counters& Notifier::counters(std::string_view channel) {
    if (channel == "webhook") return webhooks_;
    if (channel == "email") return emails_;
    return others_;
}

Notifier::Tally Notifier::tally(std::string_view channel) const {
    const Counters& c = channel == "webhook" ? webhooks_ : channel == "email" ? emails_ : others_;
    return {c.delivered.load(), c.retried.load(), c.givenUp.load(), c.interrupted.load()};
}

void Notifier::start() {
    std::lock_guard lock(mutex_);
    if (!senders_.empty() || stopping()) return;
    int senders = std::max(1, options_.senders);
    for (int i = 0; i < senders; ++i) {
        senders_.push_back(std::make_unique<BackgroundLoop>("notify-send-" + std::to_string(i),
                                                            [this] { return sendDue(); }));
        senders_.back()->start();
    }
    log::info("notifier_started", {{"senders", senders}, {"signed", !options_.webhookSecret.empty()},
                                   {"smtp", !options_.smtpUrl.empty()}});
}

void Notifier::wake() {
    std::lock_guard lock(mutex_);
    for (auto& sender : senders_) sender->nudge();
}

void Notifier::stop() {
    std::vector<std::unique_ptr<BackgroundLoop>> senders;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;  // first: every send under way is cut short at once, not one sender after another
        senders.swap(senders_);
    }
    for (auto& sender : senders) sender->stop();
}

BackgroundLoop::Duration Notifier::sendDue() {
    int handled = 0;
    try {
        handled = deliverDue(1);
    } catch (const std::exception& e) {
        log::error("notify_claim_failed", {{"error", e.what()}});
    }
    // One was due: more may be, so the next claim comes at once.
    return handled > 0 ? BackgroundLoop::Duration::zero() : options_.pollInterval;
}

int Notifier::deliverDue(int max) {
    if (stopping()) return 0;
    auto due = deliveries_.claimDeliveries(max, nowMs(), options_.leaseTime.count());
    for (const auto& d : due) deliver(d);
    return static_cast<int>(due.size());
}

void Notifier::deliver(const Delivery& d) {
    ++inFlight_;
    struct Done {
        std::atomic<int>& count;
        ~Done() { --count; }
    } done{inFlight_};

    Outcome out;
    try {
        std::optional<Job> job = jobs_.getJob(d.jobId);
        if (!job) {
            out = {false, true, std::nullopt, "job " + d.jobId + " no longer exists"};
        } else if (!isFinal(job->state)) {
            out = {false, true, std::nullopt,
                   "job " + d.jobId + " is " + std::string(toString(job->state)) +
                       " again (retried) before this notification went out; its next end sends a new one"};
        } else {
            // The recipient sees its own callback only, never another submitter's (dedup shares one job).
            out = send(d, asSeenBy(*job, d.kind == "webhook" ? d.target : "", d.kind == "email" ? d.target : ""));
        }
    } catch (const std::exception& e) {
        out = {false, false, std::nullopt, e.what()};
    }

    const int64_t now = nowMs();
    const int attempt = std::max(1, d.attempts);
    try {
        if (out.delivered) {
            deliveries_.recordDelivery(d.id, true, out.status, "", 0, now);
            ++counters(d.kind).delivered;
            log::info("notification_delivered", {{"job", d.jobId}, {"delivery", d.id}, {"kind", d.kind},
                                                 {"attempt", attempt}, {"status", out.status.value_or(0)}});
            return;
        }
        if (stopping() && !out.permanent) {
            // Cut short by stop(): due again at once, for the next start.
            deliveries_.recordDelivery(d.id, false, out.status, "interrupted: the daemon was stopping", now, now);
            ++counters(d.kind).interrupted;
            log::info("notification_interrupted", {{"job", d.jobId}, {"delivery", d.id}, {"kind", d.kind}});
            return;
        }
        const auto& schedule = options_.retrySchedule;
        bool last = out.permanent || static_cast<size_t>(attempt) > schedule.size();
        int64_t retryAt = last ? 0 : now + schedule[static_cast<size_t>(attempt) - 1].count();
        deliveries_.recordDelivery(d.id, false, out.status, out.error, retryAt, now);
        ++(last ? counters(d.kind).givenUp : counters(d.kind).retried);
        if (last) {
            log::warn("notification_given_up", {{"job", d.jobId}, {"delivery", d.id}, {"kind", d.kind},
                                                {"attempt", attempt}, {"status", out.status.value_or(0)},
                                                {"error", out.error}});
        } else {
            log::warn("notification_failed", {{"job", d.jobId}, {"delivery", d.id}, {"kind", d.kind},
                                              {"attempt", attempt}, {"status", out.status.value_or(0)},
                                              {"error", out.error}, {"retry_in_ms", retryAt - now}});
        }
    } catch (const std::exception& e) {
        // The lease runs out and a later claim tries again.
        log::error("notification_record_failed", {{"job", d.jobId}, {"delivery", d.id}, {"error", e.what()}});
    }
}

Notifier::Outcome Notifier::send(const Delivery& d, const Job& job) {
    if (d.kind == "webhook") return sendWebhook(d, job);
    if (d.kind == "email") return sendEmail(d, job);
    return {false, true, std::nullopt, "unknown delivery kind '" + d.kind + "'"};
}

Notifier::Outcome Notifier::sendWebhook(const Delivery& d, const Job& job) {
    Target target;
    try {
        target = policy_.check(d.target, "callback_url");
    } catch (const ApiError& e) {
        return {false, false, std::nullopt, e.what()};
    }
    const std::string body = render_(job);

    detail::Easy easy = detail::newEasy("http,https", options_.connectTimeout);
    CURL* c = easy.get();
    detail::Pin pin(c, target);
    detail::SList headers;
    headers.add("Content-Type: application/json");
    headers.add("Expect:");
    headers.add("X-Pixelmill-Event: " + eventName(job.state));
    headers.add("X-Pixelmill-Delivery: " + std::to_string(d.id));
    // The submitting request's id (sanitised when it came in): the receiver can tie the two together.
    if (!job.requestId.empty()) headers.add("X-Request-Id: " + job.requestId);
    if (!options_.webhookSecret.empty()) {
        headers.add("X-Pixelmill-Signature: sha256=" + hmacSha256Hex(options_.webhookSecret, body));
    } else if (!warnedUnsigned_.exchange(true)) {
        log::warn("webhook_unsigned", {{"reason", "no webhook secret is configured (--webhook-secret); "
                                                  "webhooks go without X-Pixelmill-Signature"}});
    }

    Discard discard;
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_URL, target.url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.requestTimeout.count()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &discardBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &discard);
    long status = 0;
    CURLcode rc = perform(c, stopping_, errbuf, status);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && discard.enough)) {
        if (!pin.refusedAddress().empty())
            return {false, false, std::nullopt,
                    "refused to connect to " + pin.refusedAddress() + ": not an address that was checked"};
        if (rc == CURLE_ABORTED_BY_CALLBACK) return {false, false, std::nullopt, "interrupted"};
        if (rc == CURLE_OPERATION_TIMEDOUT && status == 0)
            return {false, false, std::nullopt,
                    "no answer from " + target.authority() + " within " + millis(options_.requestTimeout)};
        curl_off_t connectUs = 0;
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connectUs);
        std::string what = connectUs > 0 ? "POST to " + target.authority() + " failed: "
                                         : "could not connect to " + target.authority() + ": ";
        return {false, false, status > 0 ? std::optional<int>(static_cast<int>(status)) : std::nullopt,
                what + transferError(rc, errbuf)};
    }
    if (status >= 200 && status < 300) return {true, false, static_cast<int>(status), ""};
    return {false, false, static_cast<int>(status), "callback_url answered " + std::to_string(status)};
}

std::string Notifier::emailMessage(const Job& job, const Delivery& d, int64_t now) const {
    return composeEmail(job, d, EmailSettings{mailFrom_, options_.publicUrl}, now);
}

SmtpTarget smtpTarget(const std::string& url) {
    SmtpTarget t;
    size_t q = url.find('?');
    t.url = url.substr(0, q);
    t.requireTls = url.rfind("smtps://", 0) == 0;
    if (q == std::string::npos) return t;
    std::string query = url.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
        size_t amp = query.find('&', start);
        std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        size_t eq = pair.find('=');
        std::string key = pair.substr(0, eq), value = eq == std::string::npos ? "" : pair.substr(eq + 1);
        if (key == "starttls" || key == "tls") {
            if (value == "required") t.requireTls = true;
            else if (value != "optional" && value != "try")
                throw std::invalid_argument("--smtp-url: " + key + "=" + value +
                                            " is not understood; use " + key + "=required or " + key + "=optional");
        } else if (!key.empty()) {
            throw std::invalid_argument("--smtp-url: unknown option '" + key + "' (only starttls=required|optional)");
        }
        if (amp == std::string::npos) break;
        start = amp + 1;
    }
    return t;
}

Notifier::Outcome Notifier::sendEmail(const Delivery& d, const Job& job) {
    if (options_.smtpUrl.empty())
        return {false, true, std::nullopt, "no SMTP server is configured (--smtp-url)"};
    if (!plausibleAddress(d.target)) return {false, true, std::nullopt, "callback_email is not a plain email address"};

    const std::string message = emailMessage(job, d, nowMs());
    detail::Easy easy = detail::newEasy("smtp,smtps", options_.connectTimeout);
    CURL* c = easy.get();
    detail::SList recipients;
    recipients.add("<" + d.target + ">");
    MessageReader reader{&message, 0};
    char errbuf[CURL_ERROR_SIZE] = {};
    std::string from = "<" + mailFrom_ + ">";
    SmtpTarget target;
    try {
        target = smtpTarget(options_.smtpUrl);
    } catch (const std::invalid_argument& e) {
        return {false, true, std::nullopt, e.what()};
    }
    curl_easy_setopt(c, CURLOPT_URL, target.url.c_str());
    curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(target.requireTls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &readMessage);
    curl_easy_setopt(c, CURLOPT_READDATA, &reader);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.requestTimeout.count()));
    long code = 0;
    CURLcode rc = perform(c, stopping_, errbuf, code);
    std::optional<int> status = code > 0 ? std::optional<int>(static_cast<int>(code)) : std::nullopt;
    if (rc == CURLE_OK) return {true, false, status, ""};
    if (rc == CURLE_ABORTED_BY_CALLBACK) return {false, false, status, "interrupted"};
    return {false, false, status,
            "sending mail through " + withoutCredentials(options_.smtpUrl) + " failed: " + transferError(rc, errbuf)};
}

}  // namespace pixelmill::notify
