// The dashboard queries of every JobStore, SQLite and PostgreSQL alike: the
// jobs table's filters, search (both of its plans: few matches collected from
// the indexes, many matches walked in order) and cursor paging both ways; the
// overview's aggregates.
#include "store_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pixelmill {
namespace {

using namespace test;
using Query = JobStore::DashboardJobQuery;

// A store of `Kind` and a way to fill it fast.
template <class Kind>
class Fixture : public StoreFixture<Kind> {
public:
    // Adds jobs named by `name(i)` in one transaction (a batch); returns their ids, oldest first.
    std::vector<std::string> add(int n, const std::function<std::string(int)>& name, const std::string& plugin = "thumbnail") {
        Batch batch{newId(), plugin, "{}", 1000, {}};
        std::vector<BatchItem> items;
        for (int i = 0; i < n; ++i) {
            BatchItem item;
            std::string content = name(i) + "#" + std::to_string(counter_++);
            item.original = Original{newId(), Sha256::hex(content), name(i), "image/jpeg", 10, 4, 3, {}, 1000 + i};
            item.job.id = newId();
            item.job.plugin = plugin;
            item.job.pluginVersion = "1.0.0";
            item.job.params = "{}";
            item.job.dedupKey = Sha256::hex("job " + content);
            item.job.createdAt = 1000 + i;
            items.push_back(item);
        }
        return this->store().createBatch(batch, items).jobIds;
    }

private:
    int counter_ = 0;
};

std::vector<std::string> ids(const std::vector<Job>& jobs) {
    std::vector<std::string> out;
    for (const Job& j : jobs) out.push_back(j.id);
    return out;
}

// Every page of `q` from the newest, following the older cursor.
std::vector<std::string> walk(JobStore& store, Query q, int* pages = nullptr) {
    std::vector<std::string> all;
    for (int guard = 0; guard < 1000; ++guard) {
        auto page = store.dashboardJobs(q);
        auto got = ids(page.jobs);
        all.insert(all.end(), got.begin(), got.end());
        if (pages) ++*pages;
        if (!page.olderCursor) break;
        q.beforeSeq = page.olderCursor;
    }
    return all;
}

std::string name(const char* format, int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, i);
    return buf;
}

}  // namespace

TEMPLATE_TEST_CASE("dashboard store: search by filename gives the same answer with few matches or many", "[store]",
                   SqliteStore, PostgresStore) {
    Fixture<TestType> f;
    if (!f) return;
    // 5200 IMG_ names (more than the narrow plan's limit), 300 scans, interleaved.
    std::vector<std::string> img, scan, all;
    for (int round = 0; round < 4; ++round) {
        auto a = f.add(1300, [&](int i) { return name("IMG_%05d.JPG", round * 1300 + i); });
        auto b = f.add(75, [&](int i) { return name("scan-%04d.pdf", round * 75 + i); }, "pdf2png");
        img.insert(img.end(), a.begin(), a.end());
        scan.insert(scan.end(), b.begin(), b.end());
        all.insert(all.end(), a.begin(), a.end());
        all.insert(all.end(), b.begin(), b.end());
    }
    std::reverse(img.begin(), img.end());  // newest first, as pages list them
    std::reverse(scan.begin(), scan.end());
    std::reverse(all.begin(), all.end());

    SECTION("many matches, any case") {
        Query q;
        q.search = "img_";
        q.limit = 500;
        CHECK(walk(f.store(), q) == img);
        q.search = "Img_";
        q.limit = 50;
        auto first = f.store().dashboardJobs(q);
        CHECK(ids(first.jobs) == std::vector<std::string>(img.begin(), img.begin() + 50));
        CHECK(first.olderCursor);
        CHECK(!first.newerCursor);
    }
    SECTION("few matches") {
        Query q;
        q.search = "SCAN-";
        q.limit = 40;
        int pages = 0;
        CHECK(walk(f.store(), q, &pages) == scan);
        CHECK(pages == 8);
        q.search = "scan-000";  // scan-0000 … scan-0009
        CHECK(walk(f.store(), q).size() == 10);
        q.search = "scan-0299.pdf";
        CHECK(walk(f.store(), q) == std::vector<std::string>{scan.front()});
        q.search = "nothing";
        CHECK(walk(f.store(), q).empty());
    }
    SECTION("by id prefix, alone or with filenames") {
        Query q;
        q.search = scan[7].substr(0, 13);
        CHECK(walk(f.store(), q) == std::vector<std::string>{scan[7]});
        q.search = scan[7];
        CHECK(walk(f.store(), q) == std::vector<std::string>{scan[7]});
    }
    SECTION("filters combine with search") {
        Query q;
        q.search = "img_";
        q.plugin = "pdf2png";
        CHECK(walk(f.store(), q).empty());
        q.plugin = "thumbnail";
        q.state = JobState::Queued;
        q.limit = 1000;
        CHECK(walk(f.store(), q) == img);
        q.state = JobState::Failed;
        CHECK(walk(f.store(), q).empty());
    }
    SECTION("paging back from the middle returns the page before") {
        Query q;
        q.limit = 100;
        auto one = f.store().dashboardJobs(q);
        q.beforeSeq = one.olderCursor;
        auto two = f.store().dashboardJobs(q);
        q.beforeSeq = two.olderCursor;
        auto three = f.store().dashboardJobs(q);
        REQUIRE(three.newerCursor);
        Query back;
        back.limit = 100;
        back.afterSeq = three.newerCursor;
        auto again = f.store().dashboardJobs(back);
        CHECK(ids(again.jobs) == ids(two.jobs));
        CHECK(again.olderCursor);
        REQUIRE(again.newerCursor);
        back.afterSeq = again.newerCursor;
        auto start = f.store().dashboardJobs(back);
        CHECK(ids(start.jobs) == ids(one.jobs));
        CHECK(!start.newerCursor);
        CHECK(walk(f.store(), Query{}).size() == all.size());
    }
}

TEMPLATE_TEST_CASE("dashboard store: finished jobs, failures by code, latest failures and original usage", "[store]",
                   SqliteStore, PostgresStore) {
    Fixture<TestType> f;
    if (!f) return;
    auto jobs = f.add(6, [](int i) { return "f" + std::to_string(i) + ".png"; });
    auto claimed = f.store().claim(6, 5000, 60'000);
    REQUIRE(claimed.size() == 6);
    for (size_t i = 0; i < claimed.size(); ++i) {
        AttemptResult r;
        if (i < 3) {
            r.outcome = AttemptResult::Outcome::Succeeded;
            r.durationSeconds = 0.01 * static_cast<double>(i + 1);
        } else {
            r.outcome = AttemptResult::Outcome::Failed;
            r.error = {i == 5 ? "timeout" : "unprocessable", "bad " + std::to_string(i)};
        }
        REQUIRE(f.store().finishAttempt(claimed[i].id, claimed[i].attempt, r));
    }
    auto finished = f.store().finishedSince(0);
    CHECK(finished.size() == 6);
    CHECK(std::count_if(finished.begin(), finished.end(), [](const auto& x) { return x.durationSeconds.has_value(); }) == 3);
    CHECK(f.store().finishedSince(finished.back().finishedAt + 1).empty());

    auto codes = f.store().failuresByCode();
    REQUIRE(codes.size() == 2);
    CHECK(codes[0].code == "unprocessable");
    CHECK(codes[0].jobs == 2);
    CHECK(codes[1].code == "timeout");
    CHECK(codes[0].plugin == "thumbnail");

    auto failures = f.store().latestFailures(10);
    REQUIRE(failures.size() == 3);
    CHECK(failures[0].error.has_value());
    CHECK(failures[0].original.filename.rfind("f", 0) == 0);

    auto one = f.store().getJob(jobs[0]);
    REQUIRE(one);
    auto usage = f.store().originalUsage({one->originalId, "00000000-0000-4000-8000-000000000000"}, 3);
    CHECK(usage[one->originalId].jobs == 1);
    REQUIRE(usage[one->originalId].latest.size() == 1);
    CHECK(usage[one->originalId].latest[0].id == jobs[0]);
    CHECK(usage["00000000-0000-4000-8000-000000000000"].jobs == 0);
}

}  // namespace pixelmill
