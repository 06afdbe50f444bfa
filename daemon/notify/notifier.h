#pragma once

#include "common/background_loop.h"
#include "jobs/model/job.h"
#include "notify/address_policy.h"
#include "store/delivery_queue.h"
#include "store/job_reads.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::notify {

struct NotifierOptions {
    std::string webhookSecret;  // empty: webhooks go unsigned (warned once)
    std::string smtpUrl;        // smtp[s]://[user:password@]host:port[?starttls=required] (see smtpTarget)
                                // by the AddressPolicy; empty: email deliveries are given up
    std::string mailFrom;       // empty: pixelmill@<host name>
    std::string publicUrl;      // base of the links in emails, e.g. https://pixelmill.example.com
                                // (empty: the links are bare paths, /v1/jobs/<id>/outputs/<n>)

    // Wait after failed attempt n before attempt n + 1; after a failure of
    // attempt size() + 1 the delivery is given up. Defaults: 6 attempts over ~8 min.
    std::vector<std::chrono::milliseconds> retrySchedule{std::chrono::seconds(5), std::chrono::seconds(15),
                                                         std::chrono::seconds(45), std::chrono::minutes(2),
                                                         std::chrono::minutes(5)};
    std::chrono::milliseconds pollInterval{500};     // when not woken
    std::chrono::milliseconds requestTimeout{10'000};  // one webhook POST or one email, all in
    std::chrono::milliseconds connectTimeout{5'000};
    // A claimed delivery belongs to this process for so long; past it (a
    // crash mid-send) another claim sends it again. Must exceed requestTimeout.
    std::chrono::milliseconds leaseTime{60'000};
    int senders = 2;  // deliveries sent at once
};

// Sends the notifications the store creates when a job with callback_url or
// callback_email ends: each sender thread claims a due delivery
// (DeliveryQueue::claimDeliveries), sends it and records the attempt
// (DeliveryQueue::recordDelivery), retrying on the schedule, so deliveries survive
// restarts because they live in the store.
//
// Webhook: one POST of render(job) to the URL (checked with the AddressPolicy
// and pinned on every attempt), Content-Type: application/json,
// X-Pixelmill-Signature: sha256=<hex HMAC-SHA256 of the exact body>,
// X-Pixelmill-Event: job.succeeded | job.failed, X-Pixelmill-Delivery: <id>.
// A 2xx answer is delivered; anything else (3xx included: redirects are not
// followed) is a failed attempt. Email: a text/plain message through smtpUrl
// with the job's id, plugin, state, error and absolute links to its outputs.
//
// A delivery whose job was retried before it went out (the job is queued or
// running again) is given up: the job's next end makes a new one.
//
// Thread-safe: start(), wake(), stop() and inFlight() may be called from any
// thread. `render` runs on the sender threads and must be thread-safe; the
// store and the policy must outlive the Notifier.
class Notifier {
public:
    using Render = std::function<std::string(const Job&)>;

    // `jobs`: where a delivery reads the job it tells of.
    Notifier(DeliveryQueue& deliveries, JobReads& jobs, const AddressPolicy& policy, Render render,
             NotifierOptions options);
    ~Notifier();  // stop()
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    // Starts the sender threads (once).
    void start();
    // A job ended: look for due deliveries now instead of at the next poll.
    void wake();
    // Stops the threads; a send under way is cut short and recorded as a failed
    // attempt due again at once, so the next start sends it. Idempotent.
    void stop();

    // Deliveries being sent right now.
    int inFlight() const { return inFlight_.load(); }

    // What this process's attempts came to since it started, per channel
    // ("webhook", "email"): delivered; failed and due again (retried); failed
    // for the last time (given_up); cut short by stop() (interrupted).
    struct Tally {
        uint64_t delivered = 0;
        uint64_t retried = 0;
        uint64_t givenUp = 0;
        uint64_t interrupted = 0;
    };
    Tally tally(std::string_view channel) const;

    // Claims and sends up to `max` due deliveries on the calling thread;
    // returns how many it handled. What the sender threads do, for tests and tools.
    int deliverDue(int max);

    // The RFC 5322 message an email delivery sends (exposed for tests).
    std::string emailMessage(const Job& job, const Delivery& delivery, int64_t nowMs) const;

private:
    struct Outcome {
        bool delivered = false;
        bool permanent = false;  // do not retry
        std::optional<int> status;
        std::string error;
    };

    // A sender's round: one due delivery claimed and sent.
    BackgroundLoop::Duration sendDue();
    void deliver(const Delivery& delivery);
    Outcome send(const Delivery& delivery, const Job& job);
    Outcome sendWebhook(const Delivery& delivery, const Job& job);
    Outcome sendEmail(const Delivery& delivery, const Job& job);
    bool stopping() const { return stopping_.load(); }

    DeliveryQueue& deliveries_;
    JobReads& jobs_;
    const AddressPolicy& policy_;
    Render render_;
    NotifierOptions options_;
    std::string mailFrom_;

    std::mutex mutex_;  // guards senders_
    std::vector<std::unique_ptr<BackgroundLoop>> senders_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> inFlight_{0};
    std::atomic<bool> warnedUnsigned_{false};

    struct Counters {
        std::atomic<uint64_t> delivered{0}, retried{0}, givenUp{0}, interrupted{0};
    };
    Counters& counters(std::string_view channel);
    Counters webhooks_, emails_, others_;
};

// How --smtp-url is reached: smtps:// is TLS from the first byte; smtp://
// upgrades with STARTTLS when the server offers it, and with
// ?starttls=required (or ?tls=required) only ever sends over TLS: a server
// without STARTTLS (or a man in the middle hiding it) fails the delivery
// rather than getting the message in clear. The query is not sent to curl.
// Throws std::invalid_argument on an unknown starttls value.
struct SmtpTarget {
    std::string url;          // what curl is given
    bool requireTls = false;  // CURLUSESSL_ALL rather than CURLUSESSL_TRY
};
SmtpTarget smtpTarget(const std::string& url);

}  // namespace pixelmill::notify
