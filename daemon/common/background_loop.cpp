#include "common/background_loop.h"

#include "common/log.h"

#include <pthread.h>

namespace pixelmill {

namespace {
constexpr BackgroundLoop::Duration kAfterFailure = std::chrono::seconds(1);
constexpr size_t kThreadNameMax = 15;  // pthread_setname_np refuses longer names
}  // namespace

BackgroundLoop::Round BackgroundLoop::every(Duration period, std::function<void()> work) {
    return [period, work = std::move(work)] {
        work();
        return period;
    };
}

BackgroundLoop::BackgroundLoop(std::string name, Round round) : name_(std::move(name)), round_(std::move(round)) {}

BackgroundLoop::~BackgroundLoop() { stop(); }

void BackgroundLoop::start(Duration firstWait) {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([this, firstWait] { run(firstWait); });
}

void BackgroundLoop::nudge() {
    {
        std::lock_guard lock(mutex_);
        nudged_ = true;
    }
    wake_.notify_all();
}

void BackgroundLoop::stop() {
    std::thread thread;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        thread.swap(thread_);
    }
    wake_.notify_all();
    // Only the call that took the thread wakes and joins it: onStop may
    // write to a descriptor its owner closes right after the first stop().
    if (!thread.joinable()) return;
    if (onStop_) onStop_();
    thread.join();
}

void BackgroundLoop::onStop(std::function<void()> wake) { onStop_ = std::move(wake); }

void BackgroundLoop::run(Duration wait) {
    ::pthread_setname_np(::pthread_self(), name_.substr(0, kThreadNameMax).c_str());
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait_for(lock, wait, [&] { return stopping_ || nudged_; });
        if (stopping_) return;
        nudged_ = false;  // this round is the one asked for
        lock.unlock();
        wait = runRound();
        lock.lock();
    }
}

BackgroundLoop::Duration BackgroundLoop::runRound() {
    try {
        return round_();
    } catch (const std::exception& e) {
        log::error("background_round_failed", {{"loop", name_}, {"error", e.what()}});
        return kAfterFailure;
    }
}

}  // namespace pixelmill
