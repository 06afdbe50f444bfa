// Every JobStore, SQLite and PostgreSQL alike: submit/dedup, the claim queue,
// attempts and their outputs, the cancel/retry state machine, lease expiry,
// and many writers at once. Every test uses a real file or a real database;
// the tests of one store alone are in sqlite_job_store_test.cpp and
// postgres_job_store_test.cpp.
#include "store_fixture.h"

#include "common/clock.h"
#include "common/error.h"
#include "store/fs/fs_blob_store.h"

#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {

using namespace test;

TEMPLATE_TEST_CASE("job store: submit and getJob round-trip every field and the original's metadata", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    int64_t t = nowMs();
    Original original = makeOriginal("round-trip", t - 5);
    original.pages = 3;
    NewJob nj = makeJob("key-rt", t, 7);
    nj.maxAttempts = 5;

    SubmitOutcome outcome = f.store().submit(original, nj);
    CHECK(outcome.created);
    CHECK(outcome.job.id == nj.id);
    CHECK(outcome.job.seq > 0);

    auto job = f.store().getJob(nj.id);
    REQUIRE(job);
    CHECK(job->id == nj.id);
    CHECK(job->seq == outcome.job.seq);
    CHECK(job->plugin == "thumbnail");
    CHECK(job->pluginVersion == "1.2.0");
    CHECK(job->params == R"({"size":256})");
    CHECK(job->dedupKey == "key-rt");
    CHECK(job->originalId == original.id);
    CHECK(job->state == JobState::Queued);
    CHECK(job->priority == 7);
    CHECK(job->attempts == 0);
    CHECK(job->maxAttempts == 5);
    CHECK(job->runAfter == t);
    CHECK(job->leaseUntil == 0);
    CHECK_FALSE(job->error);
    CHECK(job->progressDone == 0);
    CHECK(job->progressTotal == 0);
    CHECK(job->createdAt == t);
    CHECK_FALSE(job->startedAt);
    CHECK_FALSE(job->finishedAt);
    CHECK_FALSE(job->durationSeconds);
    CHECK(job->callbackUrl == "https://example.com/hook");
    CHECK(job->batchId.empty());
    CHECK(job->outputs.empty());

    CHECK(job->original.id == original.id);
    CHECK(job->original.sha256 == Sha256::hex("round-trip"));
    CHECK(job->original.filename == "photo-round-trip.png");
    CHECK(job->original.mediaType == "image/png");
    CHECK(job->original.sizeBytes == std::string("round-trip").size());
    CHECK(job->original.width == 640);
    CHECK(job->original.height == 480);
    CHECK(job->original.pages == 3);
    CHECK(job->original.createdAt == t - 5);

    // What submit answered is what a read sees.
    CHECK(outcome.job.originalId == job->originalId);
    CHECK(outcome.job.state == job->state);
    CHECK(outcome.job.runAfter == job->runAfter);
    CHECK(outcome.job.original.sha256 == job->original.sha256);

    auto o = f.store().getOriginal(original.id);
    REQUIRE(o);
    CHECK(o->sha256 == original.sha256);

    CHECK_FALSE(f.store().getJob(newId()));
    CHECK_FALSE(f.store().getOriginal(newId()));
}

TEMPLATE_TEST_CASE("job store: the same content is one original, whatever id a later upload proposes", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    int64_t t = nowMs();
    Original first = makeOriginal("same-bytes", t);
    Original second = makeOriginal("same-bytes", t + 10);
    REQUIRE(first.id != second.id);

    auto a = f.store().submit(first, makeJob("k1", t));
    auto b = f.store().submit(second, makeJob("k2", t + 10));
    CHECK(a.created);
    CHECK(b.created);
    CHECK(b.job.originalId == first.id);
    CHECK(f.store().countOriginals() == 1);

    auto [o, created] = f.store().putOriginal(makeOriginal("same-bytes", t + 20));
    CHECK_FALSE(created);
    CHECK(o.id == first.id);
}

TEMPLATE_TEST_CASE("job store: dedup returns the existing job while queued, running or succeeded", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    auto first = s.submit(makeOriginal("dd", t), makeJob("dedup-key", t));
    REQUIRE(first.created);

    auto resubmit = [&] { return s.submit(makeOriginal("dd", t + 1), makeJob("dedup-key", t + 1)); };

    SECTION("queued") {
        auto again = resubmit();
        CHECK_FALSE(again.created);
        CHECK(again.job.id == first.job.id);
        CHECK(again.job.state == JobState::Queued);
    }
    SECTION("running") {
        claimOne(s, t + 2);
        auto again = resubmit();
        CHECK_FALSE(again.created);
        CHECK(again.job.id == first.job.id);
        CHECK(again.job.state == JobState::Running);
    }
    SECTION("succeeded") {
        auto c = claimOne(s, t + 2);
        REQUIRE(s.finishAttempt(c.id, c.attempt, succeeded()));
        auto again = resubmit();
        CHECK_FALSE(again.created);
        CHECK(again.job.id == first.job.id);
        CHECK(again.job.state == JobState::Succeeded);
    }
    SECTION("failed: a new job is made") {
        auto c = claimOne(s, t + 2);
        REQUIRE(s.finishAttempt(c.id, c.attempt, ended(Outcome::Failed, "unprocessable", "corrupt")));
        auto again = resubmit();
        CHECK(again.created);
        CHECK(again.job.id != first.job.id);
        CHECK(again.job.state == JobState::Queued);
        CHECK(stateOf(s, first.job.id) == JobState::Failed);
    }
    SECTION("canceled: a new job is made") {
        s.cancel(first.job.id, t + 2);
        auto again = resubmit();
        CHECK(again.created);
        CHECK(again.job.id != first.job.id);
    }
    CHECK(s.countOriginals() == 1);
}

TEMPLATE_TEST_CASE("job store: claim takes the highest priority first, then the oldest", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string lowOld = submitJob(s, "low-old", t);
    std::string highOld = submitJob(s, "high-old", t + 1, 5);
    std::string mid = submitJob(s, "mid", t + 2, 1);
    std::string highNew = submitJob(s, "high-new", t + 3, 5);
    std::string lowNew = submitJob(s, "low-new", t + 4);
    std::string negative = submitJob(s, "negative", t + 5, -3);
    const std::vector<std::string> expected{highOld, highNew, mid, lowOld, lowNew, negative};

    std::vector<std::string> order;
    SECTION("one at a time") {
        for (int i = 0; i < 6; ++i) order.push_back(claimOne(s, t + 10).id);
        CHECK(s.claim(1, t + 10, kLeaseMs).empty());
    }
    SECTION("all in one claim, in queue order") {
        auto claimed = s.claim(10, t + 10, kLeaseMs);
        for (const auto& c : claimed) order.push_back(c.id);
    }
    SECTION("in batches smaller than the queue") {
        for (int i = 0; i < 3; ++i) {
            auto claimed = s.claim(2, t + 10, kLeaseMs);
            REQUIRE(claimed.size() == 2);
            for (const auto& c : claimed) order.push_back(c.id);
        }
    }
    CHECK(order == expected);
    CHECK(s.countQueued() == 0);
    CHECK(s.countByState()[JobState::Running] == 6);
}

TEMPLATE_TEST_CASE("job store: claim skips jobs whose run_after is still to come", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string later = submitJob(s, "later", t + 60'000, 10);  // run_after = created_at
    std::string now = submitJob(s, "now", t);

    CHECK(s.nextRunAfter() == t);
    auto claimed = s.claim(10, t + 1, kLeaseMs);
    REQUIRE(claimed.size() == 1);
    CHECK(claimed[0].id == now);
    CHECK(s.claim(10, t + 59'999, kLeaseMs).empty());
    CHECK(stateOf(s, later) == JobState::Queued);
    CHECK(s.nextRunAfter() == t + 60'000);

    auto due = s.claim(10, t + 60'000, kLeaseMs);
    REQUIRE(due.size() == 1);
    CHECK(due[0].id == later);
    CHECK_FALSE(s.nextRunAfter());
}

TEMPLATE_TEST_CASE("job store: claim counts the attempt, sets the lease and says where the source is", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "claimed", t, 2);

    ClaimedJob c = claimOne(s, t + 100);
    CHECK(c.id == id);
    CHECK(c.attempt == 1);
    CHECK(c.maxAttempts == 3);
    CHECK(c.plugin == "thumbnail");
    CHECK(c.pluginVersion == "1.2.0");
    CHECK(c.params == R"({"size":256})");
    CHECK(c.createdAt == t);
    CHECK(c.sourceSha256 == Sha256::hex("source-claimed"));
    CHECK(c.sourceMediaType == "image/png");

    auto job = s.getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Running);
    CHECK(job->attempts == 1);
    // A shared store keeps the lease on the database's clock: the claim's reading plus the round trip.
    CHECK(job->leaseUntil >= t + 100 + kLeaseMs);
    CHECK(job->leaseUntil < t + 100 + kLeaseMs + 1'000);
    CHECK(job->startedAt == t + 100);

    // A running job is not claimed twice.
    CHECK(s.claim(5, t + 200, kLeaseMs).empty());

    // Back in the queue, the next claim is attempt 2.
    REQUIRE(s.requeueExpired(t + 300, true) == 1);
    ClaimedJob again = claimOne(s, t + 400);
    CHECK(again.attempt == 2);
    CHECK(s.getJob(id)->attempts == 2);
}

TEMPLATE_TEST_CASE("job store: putOutput belongs to the running attempt only", "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "out", t);
    Output out = makeOutput(0, "thumb.jpg", "jpeg-bytes");

    SECTION("a queued job takes none") {
        CHECK_FALSE(s.putOutput(id, 0, out));
        CHECK_FALSE(s.putOutput(id, 1, out));
    }
    SECTION("a stale attempt number is refused") {
        ClaimedJob c = claimOne(s, t + 1);
        CHECK_FALSE(s.putOutput(id, c.attempt + 1, out));
        CHECK_FALSE(s.putOutput(id, c.attempt - 1, out));
        CHECK(s.putOutput(id, c.attempt, out));
        CHECK(s.getJob(id)->outputs.size() == 1);
    }
    SECTION("an older attempt, after the job was claimed again, is refused") {
        ClaimedJob first = claimOne(s, t + 1);
        REQUIRE(s.requeueExpired(t + 2, true) == 1);
        ClaimedJob second = claimOne(s, t + 3);
        CHECK_FALSE(s.putOutput(id, first.attempt, out));
        CHECK(s.putOutput(id, second.attempt, out));
    }
    SECTION("a job that has ended takes none") {
        ClaimedJob c = claimOne(s, t + 1);
        REQUIRE(s.finishAttempt(id, c.attempt, succeeded()));
        CHECK_FALSE(s.putOutput(id, c.attempt, makeOutput(1, "late.jpg", "late")));
        CHECK(s.getJob(id)->outputs.empty());
    }
    SECTION("a canceled job takes none") {
        ClaimedJob c = claimOne(s, t + 1);
        s.cancel(id, t + 2);
        CHECK_FALSE(s.putOutput(id, c.attempt, out));
    }
    SECTION("an unknown job takes none") {
        CHECK_FALSE(s.putOutput(newId(), 1, out));
    }
}

TEMPLATE_TEST_CASE("job store: outputs are unique per index and a new attempt starts without them", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "outputs", t);
    ClaimedJob c = claimOne(s, t + 1);

    REQUIRE(s.putOutput(id, c.attempt, makeOutput(1, "page-2.png", "second")));
    REQUIRE(s.putOutput(id, c.attempt, makeOutput(0, "page-1.png", "first")));
    REQUIRE(s.putOutput(id, c.attempt, makeOutput(0, "page-1-again.png", "first, replaced")));

    auto job = s.getJob(id);
    REQUIRE(job);
    REQUIRE(job->outputs.size() == 2);
    CHECK(job->outputs[0].index == 0);  // index order, not insertion order
    CHECK(job->outputs[0].name == "page-1-again.png");
    CHECK(job->outputs[0].sha256 == Sha256::hex("first, replaced"));
    CHECK(job->outputs[0].sizeBytes == std::string("first, replaced").size());
    CHECK(job->outputs[0].mediaType == "image/jpeg");
    CHECK(job->outputs[0].width == 32);
    CHECK(job->outputs[0].height == 24);
    CHECK(job->outputs[1].index == 1);
    CHECK(job->outputs[1].name == "page-2.png");
    CHECK(s.isBlobReferenced(Sha256::hex("first, replaced")));
    CHECK_FALSE(s.isBlobReferenced(Sha256::hex("first")));

    // The daemon died mid-job: the next attempt must not show the old outputs.
    REQUIRE(s.requeueExpired(t + 2, true) == 1);
    ClaimedJob next = claimOne(s, t + 3);
    CHECK(next.attempt == 2);
    CHECK(s.getJob(id)->outputs.empty());
    CHECK_FALSE(s.isBlobReferenced(Sha256::hex("second")));
}

TEMPLATE_TEST_CASE("job store: finishAttempt records how an attempt ended", "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "finish", t);
    ClaimedJob c = claimOne(s, t + 1);
    s.setProgress(id, c.attempt, 2, 4);
    REQUIRE(s.putOutput(id, c.attempt, makeOutput(0, "a.jpg", "a")));
    CHECK(s.getJob(id)->progressDone == 2);
    CHECK(s.getJob(id)->progressTotal == 4);

    SECTION("succeeded keeps the outputs") {
        int64_t before = nowMs();
        REQUIRE(s.finishAttempt(id, c.attempt, succeeded(0.5)));
        auto job = s.getJob(id);
        REQUIRE(job);
        CHECK(job->state == JobState::Succeeded);
        REQUIRE(job->durationSeconds);
        CHECK(*job->durationSeconds == Approx(0.5));
        REQUIRE(job->finishedAt);
        CHECK(*job->finishedAt >= before);
        CHECK(job->leaseUntil == 0);
        CHECK_FALSE(job->error);
        CHECK(job->attempts == 1);
        CHECK(job->outputs.size() == 1);
        CHECK(job->progressDone == job->progressTotal);
    }
    SECTION("failed keeps the error and drops the outputs") {
        REQUIRE(s.finishAttempt(id, c.attempt, ended(Outcome::Failed, "unprocessable", "bad file")));
        auto job = s.getJob(id);
        REQUIRE(job);
        CHECK(job->state == JobState::Failed);
        REQUIRE(job->error);
        CHECK(job->error->code == "unprocessable");
        CHECK(job->error->message == "bad file");
        CHECK(job->finishedAt);
        CHECK(job->outputs.empty());
    }
    SECTION("retry puts it back in the queue, due at retryAt") {
        REQUIRE(s.finishAttempt(id, c.attempt, ended(Outcome::Retry, "transient", "busy", t + 5'000)));
        auto job = s.getJob(id);
        REQUIRE(job);
        CHECK(job->state == JobState::Queued);
        CHECK(job->runAfter == t + 5'000);
        CHECK(job->attempts == 1);
        CHECK(job->leaseUntil == 0);
        CHECK(job->outputs.empty());
        CHECK(s.claim(1, t + 4'999, kLeaseMs).empty());
        ClaimedJob again = claimOne(s, t + 5'000);
        CHECK(again.attempt == 2);
    }
    SECTION("canceled") {
        REQUIRE(s.finishAttempt(id, c.attempt, ended(Outcome::Canceled)));
        auto job = s.getJob(id);
        REQUIRE(job);
        CHECK(job->state == JobState::Canceled);
        CHECK(job->finishedAt);
        CHECK(job->outputs.empty());
    }
    // Whatever happened, the attempt has ended: a second report changes nothing.
    JobState after = stateOf(s, id);
    CHECK_FALSE(s.finishAttempt(id, c.attempt, ended(Outcome::Failed, "internal", "late")));
    CHECK(stateOf(s, id) == after);
}

TEMPLATE_TEST_CASE("job store: a stale attempt cannot overwrite the job", "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "stale", t);
    ClaimedJob first = claimOne(s, t + 1);
    REQUIRE(s.requeueExpired(t + 2, true) == 1);  // its lease expired, say
    ClaimedJob second = claimOne(s, t + 3);
    REQUIRE(second.attempt == first.attempt + 1);

    for (Outcome o : {Outcome::Succeeded, Outcome::Failed, Outcome::Retry, Outcome::Canceled}) {
        CAPTURE(static_cast<int>(o));
        CHECK_FALSE(s.finishAttempt(id, first.attempt, ended(o, "x", "y", t + 10)));
        auto job = s.getJob(id);
        REQUIRE(job);
        CHECK(job->state == JobState::Running);
        CHECK(job->attempts == second.attempt);
        CHECK_FALSE(job->error);
        CHECK_FALSE(job->finishedAt);
    }
    s.setProgress(id, first.attempt, 9, 9);
    CHECK(s.getJob(id)->progressDone == 0);

    CHECK(s.finishAttempt(id, second.attempt, succeeded()));
    CHECK(stateOf(s, id) == JobState::Succeeded);
    CHECK_FALSE(s.finishAttempt(newId(), 1, succeeded()));
}

TEMPLATE_TEST_CASE("job store: cancel and retry follow the state machine", "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "sm", t);

    auto expectConflict = [](auto&& call) {
        try {
            call();
            FAIL_CHECK("expected ApiError 409");
        } catch (const ApiError& e) {
            CHECK(e.status() == 409);
            CHECK(e.code() == "conflict");
        }
    };

    SECTION("a queued job can be canceled, not retried") {
        expectConflict([&] { s.retry(id, t + 1, 3); });
        auto job = s.cancel(id, t + 2);
        REQUIRE(job);
        CHECK(job->state == JobState::Canceled);
        CHECK(job->finishedAt == t + 2);
        CHECK(s.claim(1, t + 3, kLeaseMs).empty());
    }
    SECTION("a running job can be canceled; its attempt then owns nothing") {
        ClaimedJob c = claimOne(s, t + 1);
        REQUIRE(s.putOutput(id, c.attempt, makeOutput(0, "partial.png", "partial")));
        expectConflict([&] { s.retry(id, t + 2, 3); });
        auto job = s.cancel(id, t + 3);
        REQUIRE(job);
        CHECK(job->state == JobState::Canceled);
        CHECK(job->outputs.empty());
        CHECK_FALSE(s.putOutput(id, c.attempt, makeOutput(0, "partial.png", "partial")));
        CHECK_FALSE(s.finishAttempt(id, c.attempt, succeeded()));
        CHECK(stateOf(s, id) == JobState::Canceled);
    }
    SECTION("a succeeded job can be neither canceled nor retried") {
        ClaimedJob c = claimOne(s, t + 1);
        REQUIRE(s.finishAttempt(id, c.attempt, succeeded()));
        expectConflict([&] { s.cancel(id, t + 2); });
        expectConflict([&] { s.retry(id, t + 2, 3); });
        CHECK(stateOf(s, id) == JobState::Succeeded);
    }
    SECTION("a failed job can be retried: back in the queue with a fresh budget of attempts") {
        ClaimedJob c = claimOne(s, t + 1);
        REQUIRE(s.finishAttempt(id, c.attempt, ended(Outcome::Failed, "transient", "gave up")));
        expectConflict([&] { s.cancel(id, t + 2); });
        auto job = s.retry(id, t + 3, 3);
        REQUIRE(job);
        CHECK(job->state == JobState::Queued);
        CHECK(job->attempts == 1);  // the count is the job's history
        CHECK(job->maxAttempts == 4);
        CHECK(job->runAfter == t + 3);
        CHECK_FALSE(job->error);
        CHECK_FALSE(job->finishedAt);
        CHECK_FALSE(job->startedAt);
        ClaimedJob again = claimOne(s, t + 4);
        CHECK(again.id == id);
        CHECK(again.attempt == 2);
    }
    SECTION("a canceled job can be retried, not canceled again") {
        s.cancel(id, t + 1);
        expectConflict([&] { s.cancel(id, t + 2); });
        auto job = s.retry(id, t + 3, 3);
        REQUIRE(job);
        CHECK(job->state == JobState::Queued);
    }
    SECTION("unknown ids") {
        CHECK_FALSE(s.cancel(newId(), t));
        CHECK_FALSE(s.retry(newId(), t, 3));
    }
}

TEMPLATE_TEST_CASE("job store: requeueExpired returns running jobs whose lease has passed", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string done = submitJob(s, "done", t, 10);
    std::string shortLease = submitJob(s, "short", t + 1, 5);
    std::string longLease = submitJob(s, "long", t + 2, 4);
    std::string queued = submitJob(s, "queued", t + 3);

    ClaimedJob d = claimOne(s, t + 10);
    REQUIRE(d.id == done);
    REQUIRE(s.finishAttempt(done, d.attempt, succeeded()));
    REQUIRE(s.claim(1, t + 10, 1'000).front().id == shortLease);   // lease until t + 1010
    REQUIRE(s.claim(1, t + 10, 10'000).front().id == longLease);   // lease until t + 10010
    REQUIRE(stateOf(s, queued) == JobState::Queued);

    // (A shared store keeps leases on the database's clock: the margins allow for the round trip.)
    CHECK(s.requeueExpired(t + 800, false) == 0);  // not yet past
    CHECK(s.requeueExpired(t + 1'300, false) == 1);
    auto job = s.getJob(shortLease);
    REQUIRE(job);
    CHECK(job->state == JobState::Queued);
    CHECK(job->runAfter == t + 1'300);
    CHECK(job->leaseUntil == 0);
    CHECK(stateOf(s, longLease) == JobState::Running);

    CHECK(s.requeueExpired(t + 2'000, true) == 1);  // all: the long lease too
    CHECK(stateOf(s, longLease) == JobState::Queued);
    CHECK(stateOf(s, done) == JobState::Succeeded);
    CHECK(s.requeueExpired(t + 3'000, true) == 0);
    CHECK(s.countQueued() == 3);
}

TEMPLATE_TEST_CASE("job store: a job whose daemon dies on its last attempt fails node_lost, notifications and all",
                   "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    NewJob nj = makeJob("dedup-killer", t);
    nj.maxAttempts = 2;
    nj.callbackEmail = "ops@example.com";
    std::string id = s.submit(makeOriginal("source-killer", t), nj).job.id;

    // The first attempt takes the daemon down: the job goes round again.
    REQUIRE(claimOne(s, t + 1).attempt == 1);
    CHECK(s.requeueExpired(t + 2, true) == 1);
    auto job = s.getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Queued);
    REQUIRE(job->history.size() == 1);
    CHECK(job->history[0].outcome == "retry");
    REQUIRE(job->history[0].error);
    CHECK(job->history[0].error->code == "node_lost");
    CHECK(job->deliveries.empty());

    // So does the last one: no attempt is left, the job fails.
    ClaimedJob last = claimOne(s, t + 3);
    REQUIRE(last.attempt == 2);
    REQUIRE(s.putOutput(id, last.attempt, makeOutput(0, "half.jpg", "half")));
    CHECK(s.requeueExpired(t + 4, true) == 0);
    job = s.getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Failed);
    REQUIRE(job->error);
    CHECK(job->error->code == "node_lost");
    CHECK(job->attempts == 2);
    CHECK(job->finishedAt == t + 4);
    CHECK(job->leaseUntil == 0);
    CHECK(job->outputs.empty());
    REQUIRE(job->history.size() == 2);
    CHECK(job->history[1].outcome == "failed");
    REQUIRE(job->history[1].error);
    CHECK(job->history[1].error->code == "node_lost");
    // Like any failure: the webhook and the email are due.
    REQUIRE(job->deliveries.size() == 2);
    CHECK(s.countPendingDeliveries() == 2);
    CHECK(s.claim(1, t + 5, kLeaseMs).empty());
    CHECK(s.countByState()[JobState::Failed] == 1);

    // A retry by hand gives it a fresh budget, as for any failed job.
    REQUIRE(s.retry(id, t + 6, 2));
    CHECK(stateOf(s, id) == JobState::Queued);
}

TEMPLATE_TEST_CASE("job store: a blob found stored by a submission is not removed before the job's row refers to it",
                   "[store][blobs]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    TempDir dir{"pixelmill-pins"};
    FsBlobStore blobs(dir / "blobs", dir / "tmp", false);
    auto bytes = [](const std::string& text) {
        return std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(text.data()), text.size());
    };
    // An evicted output left these bytes behind, unreferenced.
    const std::string content = "source-race";
    const std::string sha = blobs.put(bytes(content)).sha256;
    auto removeIfUnreferenced = [&] { return s.removeBlobIfUnreferenced(sha, [&] { blobs.remove(sha); }); };

    // A submission of the same bytes finds them stored, and stops right there,
    // before its row commits; a removal (eviction, a deleted original, the sweep) runs.
    std::promise<void> found, go;
    auto submitter = std::async(std::launch::async, [&] {
        auto pin = s.pinBlob(sha);
        bool exists = blobs.put(bytes(content)).sha256 == sha && blobs.exists(sha);
        found.set_value();
        go.get_future().wait();
        s.submit(makeOriginal(content, nowMs()), makeJob("dedup-race", nowMs()));
        return exists;
    });
    found.get_future().wait();
    CHECK_FALSE(removeIfUnreferenced());
    CHECK(blobs.exists(sha));
    go.set_value();
    CHECK(submitter.get());
    CHECK(blobs.exists(sha));
    CHECK_FALSE(removeIfUnreferenced());  // now the row refers to it
    CHECK(s.isBlobReferenced(sha));

    // The other way round: a removal under way holds back a submission's pin
    // until it is done, and the submission then finds the blob gone.
    const std::string other = blobs.put(bytes("source-gone")).sha256;
    std::promise<void> removing, finish;
    auto remover = std::async(std::launch::async, [&] {
        return s.removeBlobIfUnreferenced(other, [&] {
            removing.set_value();
            finish.get_future().wait();
            blobs.remove(other);
        });
    });
    removing.get_future().wait();
    auto pinner = std::async(std::launch::async, [&] {
        auto pin = s.pinBlob(other);
        return blobs.exists(other);
    });
    CHECK(pinner.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
    finish.set_value();
    CHECK(remover.get());
    CHECK_FALSE(pinner.get());  // gone: the caller stores the bytes again or answers 404
}

TEMPLATE_TEST_CASE("job store: an original that jobs need is not purged, and outputs that cannot be made again stay",
                   "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    Original original = makeOriginal("needed", t - 10);
    std::string queued = s.submit(original, makeJob("dedup-needed-1", t)).job.id;
    std::string running = s.submit(original, makeJob("dedup-needed-2", t + 1, 5)).job.id;
    REQUIRE(claimOne(s, t + 2).id == running);

    auto purgeRefused = [&](const std::vector<std::string>& jobs) {
        try {
            s.purgeOriginal(original.id, t + 3);
            FAIL_CHECK("expected 409");
        } catch (const ApiError& e) {
            CHECK(e.status() == 409);
            CHECK(e.code() == "conflict");
            CHECK(e.jobs() == jobs);
            for (const std::string& j : jobs) CHECK(std::string(e.what()).find(j) != std::string::npos);
        }
        auto o = s.getOriginal(original.id);
        REQUIRE(o);
        CHECK_FALSE(o->purgedAt);
        CHECK(s.isBlobReferenced(original.sha256));
    };
    purgeRefused({queued, running});
    CHECK(s.originalsToExpire(t + 1'000, 10).empty());

    REQUIRE(s.cancel(queued, t + 4));
    purgeRefused({running});

    // Succeeded, its outputs evicted: they are made again from the original, which it still needs.
    REQUIRE(s.putOutput(running, 1, makeOutput(0, "thumb.jpg", "needed-thumb")));
    REQUIRE(s.finishAttempt(running, 1, succeeded()));
    CHECK(s.evictLeastUsed(1) == std::vector<std::string>{Sha256::hex("needed-thumb")});
    purgeRefused({running});
    CHECK(s.originalsToExpire(t + 1'000, 10).empty());

    // Made again, nothing needs it: purged. From then on its job's outputs are never evicted.
    REQUIRE(s.requeueEvicted(running, t + 5));
    ClaimedJob again = claimOne(s, t + 6);
    REQUIRE(s.putOutput(running, again.attempt, makeOutput(0, "thumb.jpg", "needed-thumb")));
    REQUIRE(s.finishAttempt(running, again.attempt, succeeded()));
    CHECK(s.originalsToExpire(t + 1'000, 10) == std::vector<std::string>{original.id});
    CHECK(s.purgeOriginal(original.id, t + 7) == original.sha256);
    CHECK(s.evictLeastUsed(1'000'000).empty());
    auto job = s.getJob(running);
    REQUIRE(job);
    CHECK_FALSE(job->evicted);
    CHECK(job->outputs.size() == 1);
    CHECK(s.isBlobReferenced(Sha256::hex("needed-thumb")));
}

TEMPLATE_TEST_CASE("job store: each submitter answered with an equal job gets its own notifications of its end",
                   "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    Original original = makeOriginal("shared", t);
    auto submission = [&](const std::string& url, const std::string& email, int64_t at) {
        NewJob j = makeJob("dedup-shared", at);
        j.callbackUrl = url;
        j.callbackEmail = email;
        return s.submit(original, j);
    };
    auto targets = [&](const std::string& id) {
        std::multiset<std::string> out;
        auto job = s.getJob(id);
        REQUIRE(job);
        for (const Delivery& d : job->deliveries) out.insert(d.kind + " " + d.target);
        return out;
    };
    SubmitOutcome first = submission("https://a.example/hook", "", t);
    REQUIRE(first.created);
    std::string id = first.job.id;
    SubmitOutcome second = submission("https://b.example/hook", "b@example.com", t + 1);
    CHECK_FALSE(second.created);
    CHECK(second.job.id == id);
    CHECK_FALSE(submission("https://a.example/hook", "", t + 2).created);  // the creator's own: once
    CHECK_FALSE(submission("", "", t + 3).created);
    CHECK(targets(id).empty());  // nothing until the end

    ClaimedJob c = claimOne(s, t + 4);
    REQUIRE(s.finishAttempt(id, c.attempt, succeeded()));
    CHECK(targets(id) == std::multiset<std::string>{"webhook https://a.example/hook", "webhook https://b.example/hook",
                                                    "email b@example.com"});
    CHECK(s.countPendingDeliveries() == 3);

    // Answered with a job that has ended: notified at once, once.
    CHECK_FALSE(submission("https://d.example/hook", "", t + 5).created);
    CHECK_FALSE(submission("https://d.example/hook", "", t + 6).created);
    CHECK_FALSE(submission("https://b.example/hook", "", t + 7).created);
    CHECK(targets(id) == std::multiset<std::string>{"webhook https://a.example/hook", "webhook https://b.example/hook",
                                                    "email b@example.com", "webhook https://d.example/hook"});
    CHECK(s.countPendingDeliveries() == 4);
    auto due = s.claimDeliveries(10, nowMs() + 1'000, kLeaseMs);  // due from the end on
    CHECK(due.size() == 4);
}

TEMPLATE_TEST_CASE("job store: remove deletes the job and its outputs", "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "rm", t);
    std::string other = submitJob(s, "keep", t + 1);
    ClaimedJob c = claimOne(s, t + 2);
    REQUIRE(c.id == id);
    REQUIRE(s.putOutput(id, c.attempt, makeOutput(0, "x.png", "removed-output")));
    REQUIRE(s.finishAttempt(id, c.attempt, succeeded()));
    REQUIRE(s.isBlobReferenced(Sha256::hex("removed-output")));

    CHECK(s.remove(id));
    CHECK_FALSE(s.getJob(id));
    CHECK_FALSE(s.isBlobReferenced(Sha256::hex("removed-output")));
    CHECK(s.isBlobReferenced(Sha256::hex("source-rm")));  // the original stays
    CHECK_FALSE(s.remove(id));
    CHECK(s.getJob(other));
    CHECK(s.countByState()[JobState::Succeeded] == 0);
}

TEMPLATE_TEST_CASE("job store: countByState counts every state, zeros included", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();

    StateCounts empty = s.countByState();
    CHECK(empty.size() == 5);
    for (auto [state, n] : empty) CHECK(n == 0);

    for (int i = 0; i < 7; ++i) submitJob(s, "n" + std::to_string(i), t + i);
    auto claimed = s.claim(5, t + 100, kLeaseMs);
    REQUIRE(claimed.size() == 5);
    REQUIRE(s.finishAttempt(claimed[0].id, claimed[0].attempt, succeeded()));
    REQUIRE(s.finishAttempt(claimed[1].id, claimed[1].attempt, succeeded()));
    REQUIRE(s.finishAttempt(claimed[2].id, claimed[2].attempt, ended(Outcome::Failed, "internal", "x")));
    s.cancel(claimed[3].id, t + 101);

    StateCounts counts = s.countByState();
    CHECK(counts[JobState::Queued] == 2);
    CHECK(counts[JobState::Running] == 1);
    CHECK(counts[JobState::Succeeded] == 2);
    CHECK(counts[JobState::Failed] == 1);
    CHECK(counts[JobState::Canceled] == 1);
    CHECK(s.countQueued() == 2);
    CHECK(s.countOriginals() == 7);
}

TEMPLATE_TEST_CASE("job store: 8 threads submitting at once all land", "[store][concurrency]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    constexpr int kThreads = 8;
    constexpr int kPerThread = 200;
    int64_t t = nowMs();

    std::vector<std::vector<std::pair<std::string, int64_t>>> results(kThreads);
    std::vector<std::string> errors(kThreads);
    {
        std::vector<std::thread> threads;
        for (int th = 0; th < kThreads; ++th) {
            threads.emplace_back([&, th] {
                try {
                    for (int i = 0; i < kPerThread; ++i) {
                        std::string name = std::to_string(th) + "-" + std::to_string(i);
                        // A few originals shared between threads, so upserts race too.
                        auto outcome = s.submit(makeOriginal("shared-" + std::to_string(i % 5), t),
                                                makeJob("dedup-" + name, t + i));
                        if (!outcome.created) throw std::runtime_error("job " + name + " not created");
                        results[th].emplace_back(outcome.job.id, outcome.job.seq);
                    }
                } catch (const std::exception& e) {
                    errors[th] = e.what();
                }
            });
        }
        for (auto& th : threads) th.join();
    }
    for (const auto& e : errors) CHECK(e.empty());

    std::set<std::string> ids;
    std::set<int64_t> seqs;
    for (const auto& perThread : results) {
        CHECK(perThread.size() == kPerThread);
        for (const auto& [id, seq] : perThread) {
            ids.insert(id);
            seqs.insert(seq);
        }
    }
    CHECK(ids.size() == kThreads * kPerThread);
    CHECK(seqs.size() == kThreads * kPerThread);
    CHECK(s.countByState()[JobState::Queued] == kThreads * kPerThread);
    CHECK(s.countOriginals() == 5);

    // The seq each submit answered is the one stored.
    for (int th = 0; th < kThreads; ++th) {
        for (int i = 0; i < kPerThread; i += 37) {
            auto [id, seq] = results[th][i];
            auto job = s.getJob(id);
            REQUIRE(job);
            CHECK(job->seq == seq);
        }
    }
}

}  // namespace pixelmill
