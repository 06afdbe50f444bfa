// submitAll in every JobStore: several jobs of one original in one
// transaction, in order, dedup applying to each entry, to earlier entries of
// the same call and to jobs stored before.
#include "store_fixture.h"

#include "common/clock.h"

#include <catch2/catch.hpp>

using namespace pixelmill;
using namespace pixelmill::test;

TEMPLATE_TEST_CASE("submitAll: one original, the jobs in order, equal entries made once", "[store][submit_all]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    Original original = makeOriginal("many", t);
    std::string before = s.submit(makeOriginal("many", t), makeJob("key-c", t)).job.id;

    std::vector<NewJob> jobs = {makeJob("key-a", t), makeJob("key-b", t), makeJob("key-a", t), makeJob("key-c", t)};
    std::vector<SubmitOutcome> out = s.submitAll(original, jobs);
    REQUIRE(out.size() == 4);
    CHECK(out[0].created);
    CHECK(out[1].created);
    CHECK_FALSE(out[2].created);  // equal to entry 0
    CHECK(out[2].job.id == out[0].job.id);
    CHECK_FALSE(out[3].created);  // equal to the job stored before
    CHECK(out[3].job.id == before);
    CHECK(out[0].job.id == jobs[0].id);
    CHECK(out[1].job.id == jobs[1].id);
    for (const SubmitOutcome& o : out) {
        CHECK(o.status == 202);
        CHECK(o.job.original.sha256 == original.sha256);
    }
    // One original for the content, whichever id the call proposed.
    CHECK(out[0].job.original.id == out[3].job.original.id);
    CHECK(s.countQueued() == 3);
}
