// Chains in every JobStore: a job's steps stored and claimed, its progress
// per step, and what steps made kept by key, holding their blobs until the
// job that made them goes.
#include "store_fixture.h"

#include "common/clock.h"

#include <catch2/catch.hpp>

using namespace pixelmill;
using namespace pixelmill::test;

TEMPLATE_TEST_CASE("chains: steps stored and claimed, progress per step, step results kept by key",
                   "[store][steps]", SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    const std::string steps = R"([{"plugin":"pdf2png","version":"1.0.0","params":{"dpi":72}},)"
                              R"({"plugin":"thumbnail","version":"1.0.0","params":{"size":64}}])";
    NewJob chain = makeJob("chain-key", t);
    chain.steps = steps;
    Original original = makeOriginal("chain", t);
    std::string id = s.submit(original, chain).job.id;
    std::string single = submitJob(s, "single", t + 1);

    auto job = s.getJob(id);
    REQUIRE(job);
    CHECK(job->steps == steps);
    CHECK(job->stepsProgress.empty());
    CHECK(s.getJob(single)->steps.empty());

    auto claimed = s.claim(2, t + 2, kLeaseMs);
    REQUIRE(claimed.size() == 2);
    const ClaimedJob& c = claimed[0].id == id ? claimed[0] : claimed[1];
    CHECK(c.steps == steps);
    CHECK(c.sourceFilename == original.filename);
    CHECK((claimed[0].id == id ? claimed[1] : claimed[0]).steps.empty());

    s.setStepsProgress(id, c.attempt, "[[1,1],[2,3]]");
    CHECK(s.getJob(id)->stepsProgress == "[[1,1],[2,3]]");
    s.setStepsProgress(id, c.attempt + 1, "[[0,0],[0,0]]");  // not its attempt: nothing changes
    CHECK(s.getJob(id)->stepsProgress == "[[1,1],[2,3]]");

    CHECK_FALSE(s.findStepOutputs("key-a"));
    std::vector<Output> pages = {makeOutput(0, "page-1.png", "page one"), makeOutput(1, "page-2.png", "page two")};
    s.saveStepOutputs("key-a", id, pages, t + 3);
    auto kept = s.findStepOutputs("key-a");
    REQUIRE(kept);
    REQUIRE(kept->size() == 2);
    CHECK((*kept)[1].name == "page-2.png");
    CHECK((*kept)[1].sha256 == pages[1].sha256);
    CHECK((*kept)[0].width == 32);
    // The same key again (another job made it too) leaves the first as it was.
    s.saveStepOutputs("key-a", single, {makeOutput(0, "other.png", "other")}, t + 4);
    CHECK(s.findStepOutputs("key-a")->front().name == "page-1.png");
    CHECK(s.isBlobReferenced(pages[0].sha256));

    // Ended and claimed again: the progress starts over.
    REQUIRE(s.finishAttempt(id, c.attempt, ended(Outcome::Retry, "transient", "again", t + 5)));
    auto again = s.claim(1, t + 10, kLeaseMs);
    REQUIRE(again.size() == 1);
    CHECK(s.getJob(id)->stepsProgress.empty());

    // The job goes, and with it what its steps made.
    REQUIRE(s.cancel(id, t + 11));
    REQUIRE(s.remove(id));
    CHECK_FALSE(s.findStepOutputs("key-a"));
    CHECK_FALSE(s.isBlobReferenced(pages[0].sha256));
}
