// Every JobStore: claims given back unstarted (releaseClaims) and the
// asynchronous writes of a running attempt (putOutputAsync, setProgressAsync,
// finishAttemptAsync): durable when answered, many to a commit, and an end
// not recorded as a success after an output write of its attempt failed.
#include "store_fixture.h"

#include "common/clock.h"
#include "store/postgres/pg.h"
#include "store/sqlite/db.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>
#include <vector>

namespace pixelmill {

using namespace test;

namespace {

// What an asynchronous write answered, waited for.
struct Answer {
    bool owned = false;
    std::exception_ptr error;
};

class Waiter {
public:
    JobStore::WriteDone done() {
        auto promise = std::make_shared<std::promise<Answer>>();
        futures_.push_back(promise->get_future());
        return [promise](bool owned, std::exception_ptr error) { promise->set_value({owned, error}); };
    }
    std::vector<Answer> all() {
        std::vector<Answer> out;
        for (auto& f : futures_) {
            REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
            out.push_back(f.get());
        }
        futures_.clear();
        return out;
    }

private:
    std::vector<std::future<Answer>> futures_;
};

// From now on the store fails to insert an output named poison.jpg (as a full
// disk or a broken connection would fail one write).
void poisonOutputs(StoreFixture<SqliteStore>& f) {
    // Another connection on the file: the writer sees the trigger at its next statement.
    sqlite::Connection c(f.location(), false);
    c.exec("CREATE TRIGGER poison BEFORE INSERT ON outputs WHEN NEW.name = 'poison.jpg' "
           "BEGIN SELECT RAISE(ABORT, 'poisoned output'); END");
}

void poisonOutputs(StoreFixture<PostgresStore>& f) {
    pg::Connection c(f.location());
    c.exec("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF NEW.name = 'poison.jpg' THEN RAISE EXCEPTION 'poisoned output'; END IF; RETURN NEW; END $$");
    c.exec("CREATE TRIGGER poison BEFORE INSERT ON outputs FOR EACH ROW EXECUTE FUNCTION poison()");
}

}  // namespace

TEMPLATE_TEST_CASE("job store: releaseClaims gives an unstarted claim back without using an attempt", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string first = submitJob(s, "given-back", t, 1);
    std::string second = submitJob(s, "stays", t + 1, 0);

    auto claimed = s.claim(2, t + 10, kLeaseMs);
    REQUIRE(claimed.size() == 2);
    CHECK(claimed[0].id == first);
    REQUIRE(claimed[0].attempt == 1);

    CHECK(s.releaseClaims({claimed[0]}) == 1);
    auto job = s.getJob(first);
    REQUIRE(job);
    CHECK(job->state == JobState::Queued);
    CHECK(job->attempts == 0);
    CHECK(job->leaseUntil == 0);
    CHECK_FALSE(job->startedAt);
    CHECK(job->history.empty());
    CHECK(job->runAfter == t);  // its place in the queue is kept
    CHECK(stateOf(s, second) == JobState::Running);

    // Given back twice, or after it was claimed again: nothing changes.
    CHECK(s.releaseClaims({claimed[0]}) == 0);
    ClaimedJob again = claimOne(s, t + 20);
    CHECK(again.id == first);
    CHECK(again.attempt == 1);
    CHECK(s.releaseClaims({claimed[0]}) == 1);  // same number: it is that attempt again, still unstarted
    CHECK(s.getJob(first)->attempts == 0);

    SECTION("an attempt that has ended is not given back") {
        REQUIRE(s.finishAttempt(second, claimed[1].attempt, succeeded()));
        CHECK(s.releaseClaims({claimed[1]}) == 0);
        CHECK(stateOf(s, second) == JobState::Succeeded);
    }
    SECTION("a canceled one neither") {
        s.cancel(second, t + 30);
        CHECK(s.releaseClaims({claimed[1]}) == 0);
        CHECK(stateOf(s, second) == JobState::Canceled);
    }
    SECTION("a later attempt keeps the history and start of the one before") {
        REQUIRE(s.finishAttempt(second, 1, ended(Outcome::Retry, "transient", "busy", t + 40)));
        ClaimedJob retry = claimOne(s, t + 50);
        // The first job is ready too: claim until the retry comes.
        if (retry.id != second) retry = claimOne(s, t + 50);
        REQUIRE(retry.id == second);
        REQUIRE(retry.attempt == 2);
        CHECK(s.releaseClaims({retry}) == 1);
        auto j = s.getJob(second);
        REQUIRE(j);
        CHECK(j->state == JobState::Queued);
        CHECK(j->attempts == 1);
        CHECK(j->startedAt == t + 10);
        REQUIRE(j->history.size() == 1);
        CHECK(j->history[0].outcome == "retry");
    }
}

TEMPLATE_TEST_CASE("job store: an attempt's writes posted without waiting are durable when answered", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string id = submitJob(s, "async", t);
    std::string other = submitJob(s, "async-canceled", t + 1);
    auto claimed = s.claim(2, t + 10, kLeaseMs);
    REQUIRE(claimed.size() == 2);
    int attempt = claimed[0].id == id ? claimed[0].attempt : claimed[1].attempt;

    Waiter w;
    s.setProgressAsync(id, attempt, 1, 2, w.done());
    s.putOutputAsync(id, attempt, makeOutput(0, "a.jpg", "async-a"), w.done());
    s.putOutputAsync(id, attempt, makeOutput(1, "b.jpg", "async-b"), w.done());
    s.finishAttemptAsync(id, attempt, succeeded(0.5), w.done());
    s.cancel(other, t + 20);
    s.putOutputAsync(other, 1, makeOutput(0, "late.jpg", "late"), w.done());
    s.finishAttemptAsync(other, 1, succeeded(), w.done());
    auto answers = w.all();
    REQUIRE(answers.size() == 6);
    for (const Answer& a : answers) CHECK_FALSE(a.error);
    CHECK(answers[1].owned);
    CHECK(answers[2].owned);
    CHECK(answers[3].owned);
    CHECK_FALSE(answers[4].owned);  // canceled meanwhile: not its output any more
    CHECK_FALSE(answers[5].owned);

    auto job = s.getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Succeeded);
    CHECK(job->outputs.size() == 2);
    CHECK(job->progressDone == 2);  // progress_done = progress_total at success
    CHECK(*job->durationSeconds == Approx(0.5));
    CHECK(stateOf(s, other) == JobState::Canceled);
    CHECK(s.getJob(other)->outputs.empty());
}

TEST_CASE("sqlite store: after a crash, claims that never began go back without using their attempt",
          "[store][sqlite]") {
    StoreFixture<SqliteStore> f;
    JobStore& s = f.store();
    int64_t t = nowMs();
    std::string ran = submitJob(s, "ran", t, 2);
    std::string waited = submitJob(s, "waited", t + 1, 1);
    std::string again = submitJob(s, "again", t + 2, 0);
    auto claimed = s.claim(3, t + 10, kLeaseMs);
    REQUIRE(claimed.size() == 3);
    REQUIRE(claimed[0].id == ran);
    begin(s, {claimed[0]});
    // The third had an attempt before: its history and start stay as they were.
    REQUIRE(s.finishAttempt(again, claimed[2].attempt, ended(Outcome::Retry, "transient", "busy", t + 20)));
    auto retried = s.claim(1, t + 30, kLeaseMs);
    REQUIRE(retried.size() == 1);
    REQUIRE(retried[0].attempt == 2);

    f.reopen();  // the daemon died; the next one recovers
    JobStore& next = f.store();
    CHECK(next.requeueExpired(t + 40, true) == 3);

    auto r = next.getJob(ran);
    CHECK(r->state == JobState::Queued);
    CHECK(r->attempts == 1);  // it began: the attempt counts
    REQUIRE(r->history.size() == 1);
    CHECK(r->history[0].error->code == "node_lost");

    auto w = next.getJob(waited);
    CHECK(w->state == JobState::Queued);
    CHECK(w->attempts == 0);
    CHECK(w->history.empty());
    CHECK_FALSE(w->startedAt);

    auto a = next.getJob(again);
    CHECK(a->state == JobState::Queued);
    CHECK(a->attempts == 1);
    REQUIRE(a->history.size() == 1);
    CHECK(a->history[0].outcome == "retry");
    CHECK(a->startedAt == t + 10);

    // The next claim of the one that waited is its first attempt.
    auto c = next.claim(3, t + 50, kLeaseMs);
    for (const ClaimedJob& j : c)
        if (j.id == waited) CHECK(j.attempt == 1);
}

TEMPLATE_TEST_CASE("job store: an end posted as a success after a failed output write is refused", "[store]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    poisonOutputs(f);
    int64_t t = nowMs();
    std::string id = submitJob(s, "poisoned", t);
    ClaimedJob c = claimOne(s, t + 1);

    Waiter w;
    s.putOutputAsync(id, c.attempt, makeOutput(0, "fine.jpg", "fine"), w.done());
    s.putOutputAsync(id, c.attempt, makeOutput(1, "poison.jpg", "poison"), w.done());
    s.finishAttemptAsync(id, c.attempt, succeeded(), w.done());
    auto answers = w.all();
    CHECK_FALSE(answers[0].error);
    CHECK(answers[1].error);
    CHECK(answers[2].error);
    CHECK_FALSE(answers[2].owned);
    CHECK(stateOf(s, id) == JobState::Running);  // nothing recorded

    SECTION("recorded again as a retry, it goes through") {
        CHECK(s.finishAttempt(id, c.attempt, ended(Outcome::Retry, "insufficient_storage", "poisoned", t + 5)));
        CHECK(stateOf(s, id) == JobState::Queued);
        CHECK(s.getJob(id)->outputs.empty());
    }
    SECTION("an end that is not a success is not held back") {
        s.putOutputAsync(id, c.attempt, makeOutput(1, "poison.jpg", "poison"), w.done());
        s.finishAttemptAsync(id, c.attempt, ended(Outcome::Failed, "internal", "gave up"), w.done());
        auto more = w.all();
        CHECK(more[0].error);
        CHECK_FALSE(more[1].error);
        CHECK(more[1].owned);
        CHECK(stateOf(s, id) == JobState::Failed);
    }
}

TEMPLATE_TEST_CASE("job store: the ends of many attempts share commits, and one bad write among them fails alone",
                   "[store]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    poisonOutputs(f);
    int64_t t = nowMs();
    constexpr int kJobs = 120;
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) ids.push_back(submitJob(s, "many-" + std::to_string(i), t + i));
    auto claimed = s.claim(kJobs, t + kJobs, kLeaseMs);
    REQUIRE(claimed.size() == static_cast<size_t>(kJobs));
    const std::string poisoned = claimed[kJobs / 2].id;

    WriteStats before = f.store().writeStats();
    Waiter w;
    for (const ClaimedJob& c : claimed) {
        std::string name = c.id == poisoned ? "poison.jpg" : "out.jpg";
        s.putOutputAsync(c.id, c.attempt, makeOutput(0, name, "many-" + c.id), w.done());
        s.finishAttemptAsync(c.id, c.attempt, succeeded(), w.done());
    }
    auto answers = w.all();
    REQUIRE(answers.size() == 2 * claimed.size());
    for (size_t i = 0; i < claimed.size(); ++i) {
        const Answer& put = answers[2 * i];
        const Answer& end = answers[2 * i + 1];
        if (claimed[i].id == poisoned) {
            CHECK(put.error);
            CHECK(end.error);
            CHECK_FALSE(end.owned);
            CHECK(stateOf(s, poisoned) == JobState::Running);
        } else {
            CHECK_FALSE(put.error);
            CHECK_FALSE(end.error);
            CHECK(end.owned);
            auto job = s.getJob(claimed[i].id);
            REQUIRE(job);
            CHECK(job->state == JobState::Succeeded);
            CHECK(job->outputs.size() == 1);
        }
    }
    WriteStats after = f.store().writeStats();
    uint64_t commits = after.commits - before.commits, writes = after.tasks - before.tasks;
    INFO("commits " << commits << ", writes " << writes);
    CHECK(writes == answers.size());
    CHECK(commits < writes / 4);  // posted faster than one commit each
}

}  // namespace pixelmill
