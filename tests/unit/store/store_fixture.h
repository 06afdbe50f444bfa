#pragma once

// What the JobStore tests share: the two stores they run on (a template
// parameter of TEMPLATE_TEST_CASE), a fixture that opens one on fresh data,
// and builders of originals, jobs, outputs and attempt results.
#include "store/postgres/postgres_job_store.h"
#include "store/sqlite/sqlite_job_store.h"

#include "common/ids.h"
#include "common/log.h"
#include "common/sha256.h"
#include "support/daemon.h"
#include "support/postgres.h"

#include <catch2/catch.hpp>

#include <future>
#include <memory>
#include <vector>
#include <string>

namespace pixelmill::test {

// SQLite: a file in the test's temp folder.
struct SqliteStore {
    using Store = SqliteJobStore;
    static std::string unavailableReason() { return {}; }
    static std::string newLocation(const TempDir& dir) { return (dir / "jobs.db").string(); }
    static std::unique_ptr<Store> open(const std::string& path, const std::string& /*node*/) {
        SqliteJobStore::Options options;
        options.fsync = false;
        return std::make_unique<SqliteJobStore>(path, options);
    }
};

// PostgreSQL: a fresh database on the process's shared server.
struct PostgresStore {
    using Store = PostgresJobStore;
    static std::string unavailableReason() { return PostgresServer::unavailableReason(); }
    static std::string newLocation(const TempDir&) { return sharedPostgres().createDatabase(); }
    static std::unique_ptr<Store> open(const std::string& uri, const std::string& node) {
        PostgresJobStore::Options options;
        options.nodeId = node;
        return std::make_unique<PostgresJobStore>(uri, options);
    }
};

// One store of `Kind` on fresh data. Where the kind cannot run here, it says
// why (WARN) and converts to false: the test then returns, passing.
template <class Kind>
class StoreFixture {
public:
    StoreFixture() {
        if (std::string why = Kind::unavailableReason(); !why.empty()) {
            WARN("SKIPPED: PostgreSQL is not available here: " << why);
            return;
        }
        location_ = Kind::newLocation(dir_);
        store_ = open("node-a");
    }
    explicit operator bool() const { return store_ != nullptr; }

    typename Kind::Store& store() { return *store_; }
    // Another store on the same data (for PostgreSQL: another daemon, `node`).
    std::unique_ptr<typename Kind::Store> open(const std::string& node) { return Kind::open(location_, node); }
    // Closes the store and opens it again on the same data.
    void reopen() {
        store_.reset();
        store_ = open("node-a");
    }
    const std::string& location() const { return location_; }

private:
    struct QuietLog {
        QuietLog() { log::init(log::Level::Error); }
    } quiet_;  // first: opening the store logs its migrations
    TempDir dir_{"pixelmill-store"};
    std::string location_;
    std::unique_ptr<typename Kind::Store> store_;
};

using Outcome = AttemptResult::Outcome;

constexpr int64_t kLeaseMs = 60'000;

inline Original makeOriginal(const std::string& content, int64_t createdAt) {
    Original o;
    o.id = newId();
    o.sha256 = Sha256::hex(content);
    o.filename = "photo-" + content + ".png";
    o.mediaType = "image/png";
    o.sizeBytes = content.size();
    o.width = 640;
    o.height = 480;
    o.createdAt = createdAt;
    return o;
}

inline NewJob makeJob(const std::string& dedupKey, int64_t createdAt, int priority = 0) {
    NewJob j;
    j.id = newId();
    j.plugin = "thumbnail";
    j.pluginVersion = "1.2.0";
    j.params = R"({"size":256})";
    j.dedupKey = dedupKey;
    j.priority = priority;
    j.maxAttempts = 3;
    j.callbackUrl = "https://example.com/hook";
    j.createdAt = createdAt;
    return j;
}

// Submits a job over its own original; returns the job id.
inline std::string submitJob(JobStore& store, const std::string& name, int64_t createdAt, int priority = 0) {
    auto outcome = store.submit(makeOriginal("source-" + name, createdAt), makeJob("dedup-" + name, createdAt, priority));
    REQUIRE(outcome.created);
    return outcome.job.id;
}

inline Output makeOutput(uint32_t index, const std::string& name, const std::string& content) {
    Output o;
    o.index = index;
    o.name = name;
    o.mediaType = "image/jpeg";
    o.sha256 = Sha256::hex(content);
    o.sizeBytes = content.size();
    o.width = 32;
    o.height = 24;
    return o;
}

inline AttemptResult succeeded(double seconds = 0.25) {
    AttemptResult r;
    r.outcome = Outcome::Succeeded;
    r.durationSeconds = seconds;
    return r;
}

inline AttemptResult ended(Outcome outcome, const std::string& code = {}, const std::string& message = {},
                           int64_t retryAt = 0) {
    AttemptResult r;
    r.outcome = outcome;
    r.error = {code, message};
    r.retryAt = retryAt;
    return r;
}

// Marks claimed attempts begun, as a worker does when it starts one; waits until that is durable.
inline void begin(JobStore& store, const std::vector<ClaimedJob>& claimed) {
    for (const ClaimedJob& c : claimed) {
        std::promise<void> begun;
        store.beginAttemptAsync(c.id, c.attempt, [&](bool, std::exception_ptr) { begun.set_value(); });
        begun.get_future().wait();
    }
}

// Claims exactly the one job expected to be ready, and begins it.
inline ClaimedJob claimOne(JobStore& store, int64_t now) {
    auto claimed = store.claim(1, now, kLeaseMs);
    REQUIRE(claimed.size() == 1);
    begin(store, claimed);
    return claimed.front();
}

inline JobState stateOf(JobStore& store, const std::string& id) {
    auto job = store.getJob(id);
    REQUIRE(job);
    return job->state;
}

}  // namespace pixelmill::test
