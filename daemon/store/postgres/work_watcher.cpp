#include "store/postgres/work_watcher.h"

#include "store/postgres/pg.h"

#include "common/log.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace pixelmill::pg {

WorkWatcher::WorkWatcher(std::string conninfo, std::string channel, std::string selfId, std::function<void()> wake)
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)), selfId_(std::move(selfId)), wake_(std::move(wake)),
      loop_("pg-listen", [this] { return listenOnce(); }) {
    stopFd_ = ::eventfd(0, EFD_CLOEXEC);
    if (stopFd_ < 0) throw std::runtime_error("eventfd failed");
    loop_.onStop([this] {
        uint64_t one = 1;
        if (::write(stopFd_, &one, sizeof one) < 0) log::warn("watcher_stop_failed");
    });
    loop_.start();
}

WorkWatcher::~WorkWatcher() {
    loop_.stop();
    ::close(stopFd_);
}

void WorkWatcher::wakeSafely() {
    try {
        wake_();
    } catch (const std::exception& e) {
        log::error("work_wake_failed", {{"error", e.what()}});
    }
}

BackgroundLoop::Duration WorkWatcher::listenOnce() {
    std::unique_ptr<Connection> c;
    try {
        c = std::make_unique<Connection>(conninfo_);
        c->exec("LISTEN " + channel_);
    } catch (const Error& e) {
        if (!missedSome_) log::warn("work_watch_lost", {{"error", e.what()}});
        missedSome_ = true;
        BackgroundLoop::Duration backoff(backoffMs_);
        backoffMs_ = std::min(backoffMs_ * 2, 2'000);
        return backoff;
    }
    backoffMs_ = 100;
    if (missedSome_) {
        log::info("work_watch_resumed");
        wakeSafely();
    }
    missedSome_ = false;

    // Wait on the socket and the stop signal together.
    while (c->usable()) {
        pollfd fds[2] = {{stopFd_, POLLIN, 0}, {c->socket(), POLLIN, 0}};
        if (::poll(fds, 2, 1'000) < 0) continue;  // EINTR
        if (fds[0].revents) return BackgroundLoop::Duration::zero();  // stop(): the loop ends there
        if (!fds[1].revents) continue;
        if (!PQconsumeInput(c->raw())) break;
        bool others = false;
        while (PGnotify* n = PQnotifies(c->raw())) {
            others = others || selfId_ != n->extra;
            PQfreemem(n);
        }
        if (others) wakeSafely();
    }
    missedSome_ = true;
    log::warn("work_watch_lost", {{"error", "the LISTEN connection was closed"}});
    return BackgroundLoop::Duration::zero();
}

}  // namespace pixelmill::pg
