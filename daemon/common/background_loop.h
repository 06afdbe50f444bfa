#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace pixelmill {

// A thread of its own on which a subsystem runs one round of its background
// work (a heartbeat, a sweep, a checkpoint, one poll), waits, and runs the
// next. Each round says how long to wait before the next one; nudge() cuts
// that wait short, and stop() ends the loop between two rounds.
//
// A round that blocks somewhere other than the loop's wait (poll(2) on a
// socket or an inotify descriptor) is woken for stop() by onStop(): the
// write to an eventfd or a pipe that the round polls, say.
//
// A round that throws is logged (event=background_round_failed) and the next
// one comes a second later, so that a round that keeps failing does not spin;
// rounds whose failures deserve their own log line catch them.
//
// Thread-safe: start(), nudge() and stop() may be called from any thread,
// nudge() from a round too (stop() never from one: it joins the thread).
// Rounds run one at a time, on the loop's thread only.
class BackgroundLoop {
public:
    using Duration = std::chrono::milliseconds;
    // One round; returns the wait before the next (zero: the next at once).
    using Round = std::function<Duration()>;

    // A round that does `work` and then waits `period`.
    static Round every(Duration period, std::function<void()> work);

    // `name` names the thread (ps -L, gdb; Linux keeps the first 15
    // characters) and the loop's own log lines.
    BackgroundLoop(std::string name, Round round);
    ~BackgroundLoop();  // stop()
    BackgroundLoop(const BackgroundLoop&) = delete;
    BackgroundLoop& operator=(const BackgroundLoop&) = delete;

    // Starts the thread; the first round comes after `firstWait` (or sooner,
    // when nudged). Once only: later calls, and calls after stop(), do nothing.
    void start(Duration firstWait = Duration::zero());
    // Runs a round now: ends the wait under way or, during a round, the wait
    // after it. Nudges before start() make the first round come at once.
    void nudge();
    // Ends the loop and joins its thread: a wait ends at once, a round under
    // way runs to its end (woken by onStop if it blocks). Idempotent.
    void stop();
    // What wakes a round blocked outside the loop's wait; stop() calls it once,
    // after the loop knows it is stopping, before joining. Set before start().
    void onStop(std::function<void()> wake);

private:
    void run(Duration wait);
    Duration runRound();

    const std::string name_;
    Round round_;
    std::function<void()> onStop_;

    std::mutex mutex_;  // guards nudged_, stopping_ and thread_
    std::condition_variable wake_;
    bool nudged_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pixelmill
