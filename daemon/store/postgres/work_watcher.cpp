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
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)), selfId_(std::move(selfId)), wake_(std::move(wake)) {
    stopFd_ = ::eventfd(0, EFD_CLOEXEC);
    if (stopFd_ < 0) throw std::runtime_error("eventfd failed");
    thread_ = std::thread([this] { loop(); });
}

WorkWatcher::~WorkWatcher() {
    uint64_t one = 1;
    if (::write(stopFd_, &one, sizeof one) < 0) log::warn("watcher_stop_failed");
    thread_.join();
    ::close(stopFd_);
}

void WorkWatcher::wakeSafely() {
    try {
        wake_();
    } catch (const std::exception& e) {
        log::error("work_wake_failed", {{"error", e.what()}});
    }
}

bool WorkWatcher::stopRequested(int ms) {
    pollfd p{stopFd_, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
}

void WorkWatcher::loop() {
    int backoffMs = 100;
    bool missedSome = false;  // a connection was lost: notifications may have gone by
    while (true) {
        std::unique_ptr<Connection> c;
        try {
            c = std::make_unique<Connection>(conninfo_);
            c->exec("LISTEN " + channel_);
        } catch (const Error& e) {
            if (!missedSome) log::warn("work_watch_lost", {{"error", e.what()}});
            missedSome = true;
            if (stopRequested(backoffMs)) return;
            backoffMs = std::min(backoffMs * 2, 2'000);
            continue;
        }
        backoffMs = 100;
        if (missedSome) {
            log::info("work_watch_resumed");
            wakeSafely();
        }
        missedSome = false;

        // Wait on the socket and the stop signal together.
        while (c->usable()) {
            pollfd fds[2] = {{stopFd_, POLLIN, 0}, {c->socket(), POLLIN, 0}};
            if (::poll(fds, 2, 1'000) < 0) continue;  // EINTR
            if (fds[0].revents) return;
            if (!fds[1].revents) continue;
            if (!PQconsumeInput(c->raw())) break;
            bool others = false;
            while (PGnotify* n = PQnotifies(c->raw())) {
                others = others || selfId_ != n->extra;
                PQfreemem(n);
            }
            if (others) wakeSafely();
        }
        missedSome = true;
        log::warn("work_watch_lost", {{"error", "the LISTEN connection was closed"}});
    }
}

}  // namespace pixelmill::pg
