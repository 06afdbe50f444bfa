// SqliteJobStore alone: its migrations (PRAGMA user_version) and a file
// reopened. What every store does is in job_store_test.cpp.
#include "common/embedded.h"
#include "store/migrations.h"
#include "store_fixture.h"

#include "common/clock.h"

#include <catch2/catch.hpp>

#include <string>

namespace pixelmill {

using namespace test;

TEST_CASE("sqlite store: a fresh file gets the migrations once, and a reopened file keeps its data",
          "[store][sqlite]") {
    StoreFixture<SqliteStore> f;
    REQUIRE(f);
    // Migrations are numbered 001, 002, …: the schema is at the newest number.
    const int latest = pendingMigrations(pixelmill::sqliteMigrations(), 0).back().version;
    CHECK(latest >= 2);
    CHECK(f.store().schemaVersion() == latest);

    int64_t t = nowMs();
    std::string id = submitJob(f.store(), "a", t);

    // Applying 001 again would fail on CREATE TABLE: reopening must apply nothing.
    REQUIRE_NOTHROW(f.reopen());
    CHECK(f.store().schemaVersion() == latest);
    auto job = f.store().getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Queued);
    CHECK(f.store().countOriginals() == 1);

    // And the reopened store is fully usable.
    submitJob(f.store(), "b", t + 1);
    CHECK(f.store().countQueued() == 2);
}

}  // namespace pixelmill
