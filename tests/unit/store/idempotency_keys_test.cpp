// Idempotency-Keys in every JobStore, SQLite and PostgreSQL alike: a known
// key answers with its job and first status, another request under it is
// refused, concurrent submissions with one key make one job, and expired
// keys are purged a bounded number at a time.
#include "store_fixture.h"

#include "common/clock.h"
#include "common/error.h"

#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace pixelmill;
using namespace pixelmill::test;

namespace {

// A submission of `content` under `key` from `client`; `fingerprint` stands for the request.
NewJob keyedJob(const std::string& content, int64_t createdAt, const std::string& client, const std::string& key,
                const std::string& fingerprint) {
    NewJob j = makeJob("dedup-" + content, createdAt);
    j.idempotency = IdempotencyKey{client, key, fingerprint};
    j.requestId = "request-" + content;
    return j;
}

}  // namespace

TEMPLATE_TEST_CASE("idempotency keys: the same client and key answer with the first job and status", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    auto first = s.submit(makeOriginal("a", t), keyedJob("a", t, "token:ci", "k-1", "fp-a"));
    REQUIRE(first.created);
    CHECK_FALSE(first.replayed);
    CHECK(first.status == 202);
    CHECK(s.getJob(first.job.id)->requestId == "request-a");

    // A retry: another job id is proposed (and another dedup key), the first job answers.
    NewJob retry = keyedJob("a", t + 1, "token:ci", "k-1", "fp-a");
    retry.dedupKey = "dedup-other";
    auto again = s.submit(makeOriginal("a", t + 1), retry);
    CHECK(again.replayed);
    CHECK_FALSE(again.created);
    CHECK(again.status == 202);
    CHECK(again.job.id == first.job.id);

    // The same key for another request.
    try {
        s.submit(makeOriginal("b", t + 2), keyedJob("b", t + 2, "token:ci", "k-1", "fp-b"));
        FAIL("a different request under a known key was accepted");
    } catch (const ApiError& e) {
        CHECK(e.status() == 422);
        CHECK(e.code() == "idempotency_conflict");
        CHECK(e.field() == "idempotency_key");
    }

    // Another client's key of the same name is its own.
    auto other = s.submit(makeOriginal("c", t + 3), keyedJob("c", t + 3, "token:other", "k-1", "fp-c"));
    CHECK(other.created);
    CHECK(other.job.id != first.job.id);
    CHECK(s.countByState()[JobState::Queued] == 2);
}

TEMPLATE_TEST_CASE("idempotency keys: a key first answered 200 (a succeeded equal job) replays 200", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    auto done = s.submit(makeOriginal("d", t), makeJob("dedup-d", t));
    auto c = claimOne(s, t + 1);
    REQUIRE(s.finishAttempt(c.id, c.attempt, succeeded()));

    auto first = s.submit(makeOriginal("d", t + 2), keyedJob("d", t + 2, "ip:127.0.0.1", "k-200", "fp-d"));
    CHECK_FALSE(first.created);
    CHECK(first.status == 200);
    CHECK(first.job.id == done.job.id);
    auto again = s.submit(makeOriginal("d", t + 3), keyedJob("d", t + 3, "ip:127.0.0.1", "k-200", "fp-d"));
    CHECK(again.replayed);
    CHECK(again.status == 200);
    CHECK(again.job.id == done.job.id);
}

TEMPLATE_TEST_CASE("idempotency keys: concurrent submissions with one key make one job", "[store]", SqliteStore,
                   PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    constexpr int kThreads = 8;
    std::vector<std::future<SubmitOutcome>> results;
    for (int i = 0; i < kThreads; ++i)
        results.push_back(std::async(std::launch::async, [&s, t, i] {
            // Each proposes its own job (dedup keys differ): only the key makes them one.
            NewJob j = keyedJob("race", t, "token:ci", "k-race", "fp-race");
            j.dedupKey = "dedup-race-" + std::to_string(i);
            return s.submit(makeOriginal("race", t), j);
        }));
    std::set<std::string> ids;
    int created = 0;
    for (auto& r : results) {
        SubmitOutcome o = r.get();
        ids.insert(o.job.id);
        created += o.created ? 1 : 0;
        CHECK(o.status == 202);
    }
    CHECK(ids.size() == 1);
    CHECK(created == 1);
    CHECK(s.countByState()[JobState::Queued] == 1);
}

TEMPLATE_TEST_CASE("idempotency keys: a key past 24 hours is free again, and the purge removes a bounded number",
                   "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    int64_t old = t - kIdempotencyKeyLifetimeMs - 60'000;
    for (const char* key : {"old-1", "old-2", "old-3"})
        REQUIRE(s.submit(makeOriginal(key, old), keyedJob(key, old, "token:ci", key, "fp-old")).created);
    auto fresh = s.submit(makeOriginal("new", t), keyedJob("new", t, "token:ci", "new", "fp-new"));

    // Expired but not yet purged: not answered with; a different request takes the key over.
    auto reused = s.submit(makeOriginal("reuse", t), keyedJob("reuse", t, "token:ci", "old-1", "fp-reuse"));
    CHECK(reused.created);
    CHECK_FALSE(reused.replayed);

    CHECK(s.purgeIdempotencyKeys(t - kIdempotencyKeyLifetimeMs, 1) == 1);
    CHECK(s.purgeIdempotencyKeys(t - kIdempotencyKeyLifetimeMs, 10) == 1);
    CHECK(s.purgeIdempotencyKeys(t - kIdempotencyKeyLifetimeMs, 10) == 0);

    // What is kept still answers.
    const std::tuple<const char*, const char*, std::string> kept[] = {{"new", "fp-new", fresh.job.id},
                                                                      {"old-1", "fp-reuse", reused.job.id}};
    for (const auto& [key, fp, id] : kept) {
        auto again = s.submit(makeOriginal("x", t + 1), keyedJob("x", t + 1, "token:ci", key, fp));
        CHECK(again.replayed);
        CHECK(again.job.id == id);
    }
}
