// BackgroundLoop on real threads. The bounds are generous on purpose: these
// run under ThreadSanitizer on a loaded two-core machine, so a test tells
// "at once" from "after the hour-long period", never 5 ms from 50 ms.
#include "common/background_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace pixelmill {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kHour = std::chrono::duration_cast<BackgroundLoop::Duration>(1h);
constexpr auto kPatience = 10s;  // far beyond any wake-up, far below the period

bool eventually(const std::function<bool()>& condition) {
    auto until = Clock::now() + kPatience;
    while (Clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return condition();
}

TEST_CASE("background loop: a round every period, the first after the wait start() was given", "[loop]") {
    std::atomic<int> rounds{0};
    BackgroundLoop loop("test-every", BackgroundLoop::every(10ms, [&] { ++rounds; }));
    loop.start(10ms);
    CHECK(eventually([&] { return rounds.load() >= 3; }));
}

TEST_CASE("background loop: a nudge runs a round at once while the period is an hour", "[loop]") {
    std::atomic<int> rounds{0};
    BackgroundLoop loop("test-nudge", BackgroundLoop::every(kHour, [&] { ++rounds; }));
    loop.start(kHour);
    std::this_thread::sleep_for(50ms);
    CHECK(rounds.load() == 0);
    loop.nudge();
    CHECK(eventually([&] { return rounds.load() == 1; }));
    loop.nudge();
    CHECK(eventually([&] { return rounds.load() == 2; }));
}

TEST_CASE("background loop: the first round comes at once without a wait, or nudged before start()", "[loop]") {
    std::atomic<int> rounds{0};
    BackgroundLoop atOnce("test-first", BackgroundLoop::every(kHour, [&] { ++rounds; }));
    atOnce.start();
    CHECK(eventually([&] { return rounds.load() == 1; }));

    std::atomic<int> nudgedRounds{0};
    BackgroundLoop nudged("test-first", BackgroundLoop::every(kHour, [&] { ++nudgedRounds; }));
    nudged.nudge();
    nudged.start(kHour);
    CHECK(eventually([&] { return nudgedRounds.load() == 1; }));
}

TEST_CASE("background loop: a nudge during a round skips the wait after it", "[loop]") {
    std::atomic<int> rounds{0};
    std::atomic<bool> release{false};
    BackgroundLoop loop("test-during", BackgroundLoop::every(kHour, [&] {
                            ++rounds;
                            while (rounds.load() == 1 && !release.load()) std::this_thread::sleep_for(1ms);
                        }));
    loop.start();
    REQUIRE(eventually([&] { return rounds.load() == 1; }));
    loop.nudge();
    release = true;
    CHECK(eventually([&] { return rounds.load() == 2; }));
}

TEST_CASE("background loop: the round says how long to wait before the next", "[loop]") {
    std::atomic<int> rounds{0};
    BackgroundLoop loop("test-wait", [&] {
        // Two quick rounds, then the hour.
        return ++rounds < 3 ? BackgroundLoop::Duration::zero() : kHour;
    });
    loop.start();
    REQUIRE(eventually([&] { return rounds.load() == 3; }));
    std::this_thread::sleep_for(50ms);
    CHECK(rounds.load() == 3);
}

TEST_CASE("background loop: stop() ends an hour's wait at once, and is idempotent", "[loop]") {
    std::atomic<int> rounds{0};
    BackgroundLoop loop("test-stop", BackgroundLoop::every(kHour, [&] { ++rounds; }));
    loop.start(kHour);
    auto began = Clock::now();
    loop.stop();
    CHECK(Clock::now() - began < kPatience);
    loop.stop();
    loop.nudge();
    loop.start();  // after stop(): nothing
    std::this_thread::sleep_for(50ms);
    CHECK(rounds.load() == 0);
}

TEST_CASE("background loop: the destructor stops it, started or not", "[loop]") {
    std::atomic<int> rounds{0};
    auto began = Clock::now();
    {
        BackgroundLoop loop("test-dtor", BackgroundLoop::every(kHour, [&] { ++rounds; }));
        loop.start();
        REQUIRE(eventually([&] { return rounds.load() == 1; }));
    }
    { BackgroundLoop never("test-never", BackgroundLoop::every(kHour, [] {})); }
    CHECK(Clock::now() - began < kPatience);
    CHECK(rounds.load() == 1);
}

TEST_CASE("background loop: onStop wakes a round blocked in poll(2), once", "[loop]") {
    int pipeFds[2];
    REQUIRE(::pipe2(pipeFds, O_CLOEXEC) == 0);
    std::atomic<int> wakes{0};
    std::atomic<bool> polling{false};
    {
        BackgroundLoop loop("test-poll", [&] {
            pollfd p{pipeFds[0], POLLIN, 0};
            polling = true;
            ::poll(&p, 1, -1);
            return BackgroundLoop::Duration::zero();
        });
        loop.onStop([&] {
            ++wakes;
            char b = 1;
            [[maybe_unused]] auto n = ::write(pipeFds[1], &b, 1);
        });
        loop.start();
        REQUIRE(eventually([&] { return polling.load(); }));
        loop.stop();
        loop.stop();
    }
    CHECK(wakes.load() == 1);
    ::close(pipeFds[0]);
    ::close(pipeFds[1]);
}

TEST_CASE("background loop: a round that throws does not end the loop", "[loop]") {
    std::atomic<int> rounds{0};
    BackgroundLoop loop("test-throw", BackgroundLoop::every(10ms, [&] {
                            if (++rounds == 1) throw std::runtime_error("the store is away");
                        }));
    loop.start();
    CHECK(eventually([&] { return rounds.load() >= 3; }));
}

TEST_CASE("background loop: its thread carries the name, cut to what Linux keeps", "[loop]") {
    std::atomic<bool> done{false};
    std::string seen;
    BackgroundLoop loop("notify-sender-12345", BackgroundLoop::every(kHour, [&] {
                            char name[16] = {};
                            ::pthread_getname_np(::pthread_self(), name, sizeof name);
                            seen = name;
                            done = true;
                        }));
    loop.start();
    REQUIRE(eventually([&] { return done.load(); }));
    loop.stop();
    CHECK(seen == "notify-sender-1");
}

}  // namespace
}  // namespace pixelmill
