// Scheduler over a real SqliteJobStore and FsBlobStore with a fake Executor:
// queue order, retries with backoff, give-ups, timeouts, cancel, drain,
// parallel_for help from idle workers, and the "job ended" events.
#include "scheduler/scheduler.h"

#include "jobs/job_events.h"
#include "jobs/job_service.h"

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "store/fs/fs_blob_store.h"
#include "store/sqlite/sqlite_job_store.h"
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {
namespace {

using namespace std::chrono_literals;
using test::TempDir;
using Status = ExecResult::Status;

// An Executor whose behaviour each test scripts, and which remembers every call.
class FakeExecutor final : public Executor {
public:
    // `call` counts this job's calls, from 1.
    using Behaviour = std::function<ExecResult(const ExecRequest&, JobControl&, int call)>;

    struct Call {
        std::string jobId;
        int call = 0;
        double startedAt = 0;  // monotonic seconds
        double endedAt = 0;
        int64_t endedAtMs = 0;  // wall clock, as the store counts time
        std::thread::id thread;
        ExecRequest request;
    };

    void setBehaviour(Behaviour b) { behaviour_ = std::move(b); }

    ExecResult execute(const ExecRequest& request, JobControl& control) override {
        size_t slot;
        int n;
        {
            std::lock_guard lock(mutex_);
            n = ++perJob_[request.jobId];
            slot = calls_.size();
            calls_.push_back({request.jobId, n, monotonicSeconds(), 0, 0, std::this_thread::get_id(), request});
        }
        changed_.notify_all();
        ExecResult result = behaviour_ ? behaviour_(request, control, n) : ExecResult{};
        {
            std::lock_guard lock(mutex_);
            calls_[slot].endedAt = monotonicSeconds();
            calls_[slot].endedAtMs = nowMs();
        }
        changed_.notify_all();
        return result;
    }

    std::vector<Call> calls() const {
        std::lock_guard lock(mutex_);
        return calls_;
    }
    std::vector<Call> callsFor(const std::string& jobId) const {
        std::vector<Call> out;
        for (const Call& c : calls())
            if (c.jobId == jobId) out.push_back(c);
        return out;
    }
    // Waits until call number `n` for the job has started.
    bool waitForCall(const std::string& jobId, int n, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] {
            auto it = perJob_.find(jobId);
            return it != perJob_.end() && it->second >= n;
        });
    }

private:
    Behaviour behaviour_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Call> calls_;
    std::map<std::string, int> perJob_;
};

// Loops until the scheduler asks the attempt to stop (or `cap` passes, so a
// broken scheduler fails the test instead of hanging it).
bool spinUntilStopped(JobControl& control, std::chrono::milliseconds cap = 5s) {
    auto end = std::chrono::steady_clock::now() + cap;
    while (std::chrono::steady_clock::now() < end) {
        if (control.shouldStop()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return false;
}

// JobService::cancel needs a catalog; cancel never looks at it.
class NoPlugins final : public PluginCatalog {
public:
    std::shared_ptr<const PluginDescriptor> find(std::string_view, std::string_view) const override { return nullptr; }
    std::vector<std::shared_ptr<const PluginDescriptor>> list() const override { return {}; }
    std::vector<RefusedPlugin> refused() const override { return {}; }
    SourceInfo probe(const PluginDescriptor&, const std::string&, std::string_view) const override { return {}; }
};

SchedulerOptions fastOptions(int workers) {
    SchedulerOptions o;
    o.workers = workers;
    o.jobTimeoutSeconds = 10;
    o.retryBaseSeconds = 0.05;
    o.retryMaxSeconds = 5;
    o.idlePollMs = 20;
    return o;
}

class Rig {
public:
    explicit Rig(SchedulerOptions options) : options_(options) {
        events_.subscribe([this](const std::string& id, JobState state) {
            std::lock_guard lock(hookMutex_);
            ended_.emplace_back(id, state);
        });
    }
    ~Rig() { stop(); }

    FakeExecutor& executor() { return executor_; }
    SqliteJobStore& store() { return store_; }
    FsBlobStore& blobs() { return blobs_; }
    Scheduler& scheduler() { return *scheduler_; }
    JobEvents& events() { return events_; }

    std::string submit(const std::string& name, int priority = 0, int maxAttempts = 3) {
        std::string content = "source of " + name;
        BlobRef blob = blobs_.put({reinterpret_cast<const unsigned char*>(content.data()), content.size()});
        Original o;
        o.id = newId();
        o.sha256 = blob.sha256;
        o.filename = name + ".txt";
        o.mediaType = "text/plain";
        o.sizeBytes = blob.size;
        o.createdAt = nowMs();
        NewJob j;
        j.id = newId();
        j.plugin = "fake";
        j.pluginVersion = "1.0.0";
        j.params = nlohmann::json{{"name", name}, {"n", 3}}.dump();
        j.dedupKey = "dedup-" + name + "-" + j.id;
        j.priority = priority;
        j.maxAttempts = maxAttempts;
        j.createdAt = nowMs();
        SubmitOutcome outcome = store_.submit(o, j);
        REQUIRE(outcome.created);
        names_[j.id] = name;
        if (scheduler_) scheduler_->jobsQueued(1);
        return j.id;
    }

    void start() {
        scheduler_ = std::make_unique<Scheduler>(store_, store_, blobs_, executor_, events_, options_);
        scheduler_->start();
    }
    void stop() {
        if (scheduler_) scheduler_->stop();
    }

    Job job(const std::string& id) {
        auto j = store_.getJob(id);
        REQUIRE(j);
        return *j;
    }

    // Polls the store until the job's state is one of `states`.
    Job waitFor(const std::string& id, std::set<JobState> states, std::chrono::milliseconds timeout = 5s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            Job j = job(id);
            if (states.count(j.state)) return j;
            if (std::chrono::steady_clock::now() > end) {
                FAIL("job " << names_[id] << " is " << toString(j.state) << " after " << timeout.count() << " ms");
            }
            std::this_thread::sleep_for(5ms);
        }
    }
    Job waitEnded(const std::string& id, std::chrono::milliseconds timeout = 5s) {
        return waitFor(id, {JobState::Succeeded, JobState::Failed, JobState::Canceled}, timeout);
    }

    std::vector<std::pair<std::string, JobState>> ended() {
        std::lock_guard lock(hookMutex_);
        return ended_;
    }
    std::vector<JobState> endedFor(const std::string& id) {
        std::vector<JobState> out;
        for (const auto& [jobId, state] : ended())
            if (jobId == id) out.push_back(state);
        return out;
    }
    const std::string& nameOf(const std::string& id) { return names_[id]; }

private:
    struct QuietLog {
        QuietLog() { log::init(log::Level::Error); }
    } quiet_;  // first: the store logs its migrations
    SchedulerOptions options_;
    TempDir dir_{"pixelmill-scheduler"};
    SqliteJobStore store_{(dir_ / "jobs.db").string(), SqliteJobStore::Options{false, 1000}};
    FsBlobStore blobs_{dir_ / "blobs", dir_ / "tmp", false};
    FakeExecutor executor_;
    JobEvents events_;
    std::map<std::string, std::string> names_;
    std::mutex hookMutex_;
    std::vector<std::pair<std::string, JobState>> ended_;
    std::unique_ptr<Scheduler> scheduler_;  // last: stopped before what it uses goes away
};

}  // namespace

TEST_CASE("scheduler: one worker runs the highest priority first, then the oldest", "[scheduler]") {
    Rig rig(fastOptions(1));
    rig.executor().setBehaviour([](const ExecRequest&, JobControl&, int) {
        return ExecResult{Status::Ok, "", 0.125};
    });
    std::string low = rig.submit("low", 0);
    std::string highOld = rig.submit("high-old", 5);
    std::string mid = rig.submit("mid", 1);
    std::string highNew = rig.submit("high-new", 5);
    std::string negative = rig.submit("negative", -1);
    rig.start();

    for (const std::string& id : {low, highOld, mid, highNew, negative}) rig.waitEnded(id);

    std::vector<std::string> order;
    for (const auto& c : rig.executor().calls()) order.push_back(rig.nameOf(c.jobId));
    CHECK(order == std::vector<std::string>{"high-old", "high-new", "mid", "low", "negative"});

    for (const std::string& id : {low, highOld, mid, highNew, negative}) {
        Job j = rig.job(id);
        CAPTURE(rig.nameOf(id));
        CHECK(j.state == JobState::Succeeded);
        CHECK(j.attempts == 1);
        REQUIRE(j.durationSeconds);
        CHECK(*j.durationSeconds == Approx(0.125));
    }

    // What the executor was asked to run: the source blob, its type, the params as text.
    auto calls = rig.executor().callsFor(mid);
    REQUIRE(calls.size() == 1);
    const ExecRequest& r = calls[0].request;
    CHECK(r.jobId == mid);
    CHECK(r.plugin == "fake");
    CHECK(r.pluginVersion == "1.0.0");
    CHECK(r.mediaType == "text/plain");
    CHECK(r.inputPath == rig.blobs().path(rig.job(mid).original.sha256));
    CHECK(test::readFile(r.inputPath) == "source of mid");
    CHECK(r.params == std::vector<std::pair<std::string, std::string>>{{"n", "3"}, {"name", "mid"}});
}

TEST_CASE("scheduler: a transient failure is retried after a backoff that doubles", "[scheduler]") {
    SchedulerOptions options = fastOptions(2);
    const double base = options.retryBaseSeconds;
    Rig rig(options);
    // The run_after each retry was given, as seen by the attempt that it let run.
    std::mutex mutex;
    std::map<std::string, std::vector<int64_t>> runAfterSeen;
    rig.executor().setBehaviour([&](const ExecRequest& r, JobControl&, int call) {
        if (call > 1) {
            int64_t runAfter = rig.store().getJob(r.jobId)->runAfter;
            std::lock_guard lock(mutex);
            runAfterSeen[r.jobId].push_back(runAfter);
        }
        if (call <= 2) return ExecResult{Status::Transient, "busy, try later", 0};
        return ExecResult{Status::Ok, "", 0.01};
    });
    rig.start();
    // Several jobs, so that a backoff shorter than configured shows up reliably.
    std::vector<std::string> ids;
    for (int i = 0; i < 8; ++i) ids.push_back(rig.submit("retry-" + std::to_string(i)));

    for (const std::string& id : ids) {
        CAPTURE(rig.nameOf(id));
        Job j = rig.waitEnded(id);
        CHECK(j.state == JobState::Succeeded);
        CHECK(j.attempts == 3);
        CHECK_FALSE(j.error);

        auto calls = rig.executor().callsFor(id);
        REQUIRE(calls.size() == 3);
        std::vector<int64_t> runAfter;
        {
            std::lock_guard lock(mutex);
            runAfter = runAfterSeen[id];
        }
        REQUIRE(runAfter.size() == 2);
        // The retry was scheduled no sooner than configured after the failed
        // attempt returned: the base before the first retry, twice that
        // before the second (1 ms of slack for millisecond timestamps).
        int64_t firstBackoffMs = runAfter[0] - calls[0].endedAtMs;
        int64_t secondBackoffMs = runAfter[1] - calls[1].endedAtMs;
        CAPTURE(firstBackoffMs, secondBackoffMs);
        CHECK(firstBackoffMs >= static_cast<int64_t>(base * 1000) - 1);
        CHECK(secondBackoffMs >= static_cast<int64_t>(2 * base * 1000) - 1);

        // And the attempts really were that far apart, but not stuck either.
        double firstGap = calls[1].startedAt - calls[0].endedAt;
        double secondGap = calls[2].startedAt - calls[1].endedAt;
        CAPTURE(firstGap, secondGap);
        CHECK(firstGap >= base - 0.003);
        CHECK(secondGap >= 2 * base - 0.003);
        CHECK(secondGap < 2.0);
    }
}

TEST_CASE("scheduler: a retry runs when it is due, not at the next idle poll", "[scheduler]") {
    SchedulerOptions options = fastOptions(2);
    options.idlePollMs = 3000;  // a fallback only: nothing should wait for it
    Rig rig(options);
    rig.executor().setBehaviour([](const ExecRequest&, JobControl&, int call) {
        if (call == 1) return ExecResult{Status::Transient, "busy", 0};
        return ExecResult{Status::Ok, "", 0.01};
    });
    rig.start();
    double started = monotonicSeconds();
    std::string id = rig.submit("due-soon");
    Job j = rig.waitEnded(id, 10s);
    double took = monotonicSeconds() - started;
    CHECK(j.state == JobState::Succeeded);
    CHECK(j.attempts == 2);
    CAPTURE(took);
    CHECK(took < 1.0);  // a 50 ms backoff, with room to spare on a busy machine
}

TEST_CASE("scheduler: when attempts run out the job fails with the last error", "[scheduler]") {
    SchedulerOptions options = fastOptions(1);
    options.retryBaseSeconds = 0.01;
    Rig rig(options);
    rig.executor().setBehaviour([](const ExecRequest&, JobControl&, int) {
        return ExecResult{Status::Transient, "disk busy", 0};
    });
    rig.start();
    std::string id = rig.submit("hopeless", 0, 3);
    Job j = rig.waitEnded(id);
    CHECK(j.state == JobState::Failed);
    CHECK(j.attempts == 3);
    REQUIRE(j.error);
    CHECK(j.error->code == "transient");
    CHECK_THAT(j.error->message, Catch::Contains("disk busy"));
    rig.stop();
    CHECK(rig.executor().callsFor(id).size() == 3);
    CHECK(rig.endedFor(id) == std::vector<JobState>{JobState::Failed});
}

TEST_CASE("scheduler: an unprocessable source fails at once", "[scheduler]") {
    Rig rig(fastOptions(1));
    rig.executor().setBehaviour([](const ExecRequest&, JobControl&, int) {
        return ExecResult{Status::Unprocessable, "corrupt header", 0};
    });
    rig.start();
    std::string id = rig.submit("corrupt", 0, 3);
    Job j = rig.waitEnded(id);
    CHECK(j.state == JobState::Failed);
    CHECK(j.attempts == 1);
    REQUIRE(j.error);
    CHECK(j.error->code == "unprocessable");
    CHECK(j.error->message == "corrupt header");
    rig.stop();
    CHECK(rig.executor().callsFor(id).size() == 1);
}

TEST_CASE("scheduler: an attempt past its time is stopped and fails with timeout", "[scheduler]") {
    SchedulerOptions options = fastOptions(1);
    options.jobTimeoutSeconds = 0.2;
    Rig rig(options);
    std::atomic<bool> sawStop{false};
    rig.executor().setBehaviour([&](const ExecRequest&, JobControl& control, int) {
        sawStop = spinUntilStopped(control);
        return ExecResult{Status::Canceled, "stopped", 0};
    });
    rig.start();
    std::string id = rig.submit("endless", 0, 3);
    Job j = rig.waitEnded(id);
    CHECK(sawStop);
    CHECK(j.state == JobState::Failed);
    CHECK(j.attempts == 1);  // a timeout is not retried
    REQUIRE(j.error);
    CHECK(j.error->code == "timeout");

    auto calls = rig.executor().callsFor(id);
    REQUIRE(calls.size() == 1);
    double ran = calls[0].endedAt - calls[0].startedAt;
    CHECK(ran >= 0.19);
    CHECK(ran < 2.0);
}

TEST_CASE("scheduler: canceling a running job stops it and it ends canceled", "[scheduler]") {
    Rig rig(fastOptions(2));
    NoPlugins catalog;
    std::atomic<bool> sawStop{false};
    rig.executor().setBehaviour([&](const ExecRequest&, JobControl& control, int) {
        sawStop = spinUntilStopped(control);
        return ExecResult{Status::Canceled, "stopped", 0};
    });
    rig.start();
    std::string id = rig.submit("to-cancel");
    REQUIRE(rig.executor().waitForCall(id, 1));
    REQUIRE(rig.job(id).state == JobState::Running);

    // What DELETE/cancel does: store.cancel, then scheduler.cancelRunning,
    // then the "ended" event from the one that canceled.
    JobService service({rig.store(), rig.store(), rig.store(), rig.store(), rig.store()}, rig.blobs(), catalog,
                       rig.scheduler(), rig.events(), JobLimits{});
    double canceledAt = monotonicSeconds();
    Job after = service.cancel(id);
    CHECK(after.state == JobState::Canceled);

    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (rig.scheduler().busy() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    rig.stop();  // every worker has returned: no event can still be on its way
    CHECK(sawStop);
    auto calls = rig.executor().callsFor(id);
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].endedAt - canceledAt < 1.0);
    Job j = rig.job(id);
    CHECK(j.state == JobState::Canceled);
    CHECK(j.attempts == 1);
    CHECK(rig.endedFor(id) == std::vector<JobState>{JobState::Canceled});
}

TEST_CASE("scheduler: parallelFor runs tasks on the idle worker too", "[scheduler]") {
    SchedulerOptions options = fastOptions(2);
    options.idlePollMs = 5000;  // the idle worker must be woken, not find the work by polling
    Rig rig(options);

    struct Tasks {
        std::mutex mutex;
        std::multiset<uint32_t> indexes;
        std::set<std::thread::id> threads;
        std::thread::id executorThread;
    } tasks;
    rig.executor().setBehaviour([&](const ExecRequest&, JobControl& control, int) {
        {
            std::lock_guard lock(tasks.mutex);
            tasks.executorThread = std::this_thread::get_id();
        }
        control.parallelFor(
            16,
            [](void* user, uint32_t i) {
                auto* t = static_cast<Tasks*>(user);
                std::this_thread::sleep_for(15ms);
                std::lock_guard lock(t->mutex);
                t->indexes.insert(i);
                t->threads.insert(std::this_thread::get_id());
            },
            &tasks);
        return ExecResult{Status::Ok, "", 0.01};
    });
    rig.start();
    std::this_thread::sleep_for(50ms);  // both workers have looked at the empty queue and gone idle
    std::string id = rig.submit("parallel");
    Job j = rig.waitEnded(id);
    CHECK(j.state == JobState::Succeeded);

    std::lock_guard lock(tasks.mutex);
    CHECK(tasks.indexes.size() == 16);
    for (uint32_t i = 0; i < 16; ++i) CHECK(tasks.indexes.count(i) == 1);
    CHECK(tasks.threads.size() == 2);
    CHECK(tasks.threads.count(tasks.executorThread) == 1);
}

TEST_CASE("scheduler: drain waits for a running job to finish", "[scheduler]") {
    Rig rig(fastOptions(2));
    rig.executor().setBehaviour([](const ExecRequest&, JobControl&, int) {
        std::this_thread::sleep_for(300ms);  // a job that does not look at should_stop
        return ExecResult{Status::Ok, "", 0.3};
    });
    rig.start();
    std::string id = rig.submit("finishing");
    REQUIRE(rig.executor().waitForCall(id, 1));

    double before = monotonicSeconds();
    bool clean = rig.scheduler().drain(5.0);
    double took = monotonicSeconds() - before;
    CHECK(clean);
    CHECK(took >= 0.2);
    CHECK(took < 4.0);
    // Drain returned after the job had ended, not before.
    CHECK(rig.job(id).state == JobState::Succeeded);

    // Nothing more is claimed after a drain.
    std::string late = rig.submit("late");
    std::this_thread::sleep_for(100ms);
    CHECK(rig.job(late).state == JobState::Queued);
}

TEST_CASE("scheduler: a job still running at the drain timeout goes back to the queue", "[scheduler]") {
    Rig rig(fastOptions(2));
    std::atomic<bool> sawStop{false};
    rig.executor().setBehaviour([&](const ExecRequest&, JobControl& control, int) {
        sawStop = spinUntilStopped(control);
        return ExecResult{Status::Canceled, "stopped", 0};
    });
    rig.start();
    std::string id = rig.submit("interrupted", 0, 3);
    REQUIRE(rig.executor().waitForCall(id, 1));

    double before = monotonicSeconds();
    bool clean = rig.scheduler().drain(0.1);
    double took = monotonicSeconds() - before;
    CHECK(clean);
    CHECK(sawStop);
    CHECK(took >= 0.09);
    CHECK(took < 3.0);

    Job j = rig.job(id);
    CHECK(j.state == JobState::Queued);
    CHECK(j.attempts == 1);
    std::this_thread::sleep_for(100ms);
    rig.stop();
    CHECK(rig.job(id).state == JobState::Queued);  // for the next start, not run again now
    CHECK(rig.executor().callsFor(id).size() == 1);
    CHECK(rig.endedFor(id).empty());  // not a final state

    // The next daemon picks it up as a fresh attempt.
    auto claimed = rig.store().claim(1, nowMs() + 1, 60'000);
    REQUIRE(claimed.size() == 1);
    CHECK(claimed[0].id == id);
    CHECK(claimed[0].attempt == 2);
}

TEST_CASE("scheduler: the ended event fires once per job, with its final state", "[scheduler]") {
    SchedulerOptions options = fastOptions(2);
    options.retryBaseSeconds = 0.01;
    Rig rig(options);
    std::map<std::string, std::function<ExecResult(int)>> script;
    rig.executor().setBehaviour([&](const ExecRequest& r, JobControl&, int call) { return script.at(r.jobId)(call); });

    std::string ok = rig.submit("ok");
    std::string bad = rig.submit("bad");
    std::string flaky = rig.submit("flaky");
    std::string hopeless = rig.submit("hopeless", 0, 2);
    script[ok] = [](int) { return ExecResult{Status::Ok, "", 0.01}; };
    script[bad] = [](int) { return ExecResult{Status::InvalidParam, "dpi too high for this page", 0}; };
    script[flaky] = [](int call) {
        return call == 1 ? ExecResult{Status::Crashed, "segfault", 0} : ExecResult{Status::Ok, "", 0.01};
    };
    script[hopeless] = [](int) { return ExecResult{Status::Internal, "always", 0}; };
    rig.start();

    for (const std::string& id : {ok, bad, flaky, hopeless}) rig.waitEnded(id);
    rig.stop();  // every worker has returned: no hook can still be on its way

    CHECK(rig.job(ok).state == JobState::Succeeded);
    CHECK(rig.job(bad).state == JobState::Failed);
    REQUIRE(rig.job(bad).error);
    CHECK(rig.job(bad).error->code == "invalid_param");
    CHECK(rig.job(flaky).state == JobState::Succeeded);
    CHECK(rig.job(flaky).attempts == 2);
    CHECK(rig.job(hopeless).state == JobState::Failed);
    CHECK(rig.job(hopeless).attempts == 2);

    CHECK(rig.endedFor(ok) == std::vector<JobState>{JobState::Succeeded});
    CHECK(rig.endedFor(bad) == std::vector<JobState>{JobState::Failed});
    CHECK(rig.endedFor(flaky) == std::vector<JobState>{JobState::Succeeded});
    CHECK(rig.endedFor(hopeless) == std::vector<JobState>{JobState::Failed});
    CHECK(rig.ended().size() == 4);
}

// A worker that has seen fast attempts claims many at a time and holds the
// rest in its ready queue: running in the store, not yet started. The first
// (priority 10) jobs teach it that attempts are fast; the gate then holds the
// worker while the others wait in the ready queue.
struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    bool entered = false;
    void enter() {
        std::unique_lock lock(mutex);
        entered = true;
        cv.notify_all();
        cv.wait_for(lock, 5s, [&] { return open; });
    }
    bool waitEntered() {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, 5s, [&] { return entered; });
    }
    void release() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
};

TEST_CASE("scheduler: fast jobs are claimed ahead, one canceled while waiting never runs", "[scheduler]") {
    Rig rig(fastOptions(1));
    NoPlugins catalog;
    Gate gate;
    std::string gated;
    rig.executor().setBehaviour([&](const ExecRequest& r, JobControl&, int) {
        if (r.jobId == gated) gate.enter();
        return ExecResult{Status::Ok, "", 0.001};
    });
    std::vector<std::string> warm;
    for (int i = 0; i < 3; ++i) warm.push_back(rig.submit("warm-" + std::to_string(i), 10));
    gated = rig.submit("gated", 5);
    std::vector<std::string> waiting;
    for (int i = 0; i < 6; ++i) waiting.push_back(rig.submit("waiting-" + std::to_string(i), 0));
    rig.start();

    REQUIRE(gate.waitEntered());
    // Claimed ahead: running in the store, not started.
    for (const std::string& id : waiting) {
        CAPTURE(rig.nameOf(id));
        CHECK(rig.job(id).state == JobState::Running);
        CHECK(rig.executor().callsFor(id).empty());
    }
    JobService service({rig.store(), rig.store(), rig.store(), rig.store(), rig.store()}, rig.blobs(), catalog,
                       rig.scheduler(), rig.events(), JobLimits{});
    CHECK(service.cancel(waiting[2]).state == JobState::Canceled);
    gate.release();

    for (const std::string& id : waiting) rig.waitEnded(id);
    rig.stop();
    CHECK(rig.executor().callsFor(waiting[2]).empty());
    CHECK(rig.job(waiting[2]).state == JobState::Canceled);
    CHECK(rig.endedFor(waiting[2]) == std::vector<JobState>{JobState::Canceled});
    for (const std::string& id : waiting) {
        if (id == waiting[2]) continue;
        CAPTURE(rig.nameOf(id));
        CHECK(rig.job(id).state == JobState::Succeeded);
        CHECK(rig.job(id).attempts == 1);
        CHECK(rig.executor().callsFor(id).size() == 1);
    }
}

TEST_CASE("scheduler: drain gives jobs waiting in the ready queue back without using an attempt", "[scheduler]") {
    Rig rig(fastOptions(1));
    Gate gate;
    std::string gated;
    rig.executor().setBehaviour([&](const ExecRequest& r, JobControl& control, int) {
        if (r.jobId == gated) {
            gate.enter();
            return spinUntilStopped(control) ? ExecResult{Status::Canceled, "stopped", 0} : ExecResult{};
        }
        return ExecResult{Status::Ok, "", 0.001};
    });
    for (int i = 0; i < 3; ++i) rig.submit("warm-" + std::to_string(i), 10);
    gated = rig.submit("gated", 5);
    std::vector<std::string> waiting;
    for (int i = 0; i < 5; ++i) waiting.push_back(rig.submit("waiting-" + std::to_string(i), 0));
    rig.start();
    REQUIRE(gate.waitEntered());
    for (const std::string& id : waiting) REQUIRE(rig.job(id).state == JobState::Running);

    // Given back as soon as drain begins, while the gated job still runs.
    std::thread release([&] {
        for (int i = 0; i < 500; ++i) {
            bool allBack = true;
            for (const std::string& id : waiting) allBack = allBack && rig.job(id).state == JobState::Queued;
            if (allBack) break;
            std::this_thread::sleep_for(2ms);
        }
        gate.release();
    });
    bool clean = rig.scheduler().drain(0.5);
    release.join();
    CHECK(clean);
    rig.stop();

    for (const std::string& id : waiting) {
        CAPTURE(rig.nameOf(id));
        Job j = rig.job(id);
        CHECK(j.state == JobState::Queued);
        CHECK(j.attempts == 0);
        CHECK_FALSE(j.startedAt);
        CHECK(j.history.empty());
        CHECK(rig.executor().callsFor(id).empty());
    }
    // The one that ran was stopped by the drain: back in the queue, its attempt counted.
    CHECK(rig.job(gated).state == JobState::Queued);
    CHECK(rig.job(gated).attempts == 1);
}

TEST_CASE("scheduler: many fast jobs share commits", "[scheduler]") {
    Rig rig(fastOptions(2));
    rig.executor().setBehaviour([](const ExecRequest&, JobControl&, int) { return ExecResult{Status::Ok, "", 0}; });
    std::vector<std::string> ids;
    for (int i = 0; i < 300; ++i) ids.push_back(rig.submit("many-" + std::to_string(i)));
    auto before = rig.store().writeStats();
    rig.start();
    for (const std::string& id : ids) rig.waitEnded(id, 20s);
    rig.stop();
    auto after = rig.store().writeStats();
    uint64_t commits = after.commits - before.commits;
    CAPTURE(commits, after.tasks - before.tasks);
    // A claim and an end each, waited for one by one, were two commits a job.
    CHECK(commits < ids.size() * 3 / 2);
    for (const std::string& id : ids) CHECK(rig.job(id).state == JobState::Succeeded);
}

}  // namespace pixelmill
