#include "plugins/plugin_watcher.h"

#include "common/log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace pixelmill {

namespace {
constexpr int kQuietMs = 250;      // after the last event, before a rescan
constexpr int kFallbackMs = 1000;  // rescan period without inotify
}  // namespace

PluginWatcher::PluginWatcher(std::filesystem::path folder, std::function<bool()> rescan)
    : folder_(std::move(folder)), rescan_(std::move(rescan)), loop_("plugin-watch", [this] { return watchOnce(); }) {
    if (::pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_ >= 0 &&
        ::inotify_add_watch(inotify_, folder_.c_str(),
                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
        log::warn("plugin_watch_unavailable", {{"folder", folder_.string()}, {"error", std::strerror(errno)}});
        ::close(inotify_);
        inotify_ = -1;
    }
    if (inotify_ < 0) log::warn("plugin_watch_polling", {{"folder", folder_.string()}, {"every_ms", kFallbackMs}});
    loop_.onStop([this] {
        char b = 1;
        [[maybe_unused]] auto n = ::write(stop_[1], &b, 1);
    });
    loop_.start();
}

PluginWatcher::~PluginWatcher() {
    loop_.stop();
    if (inotify_ >= 0) ::close(inotify_);
    ::close(stop_[0]);
    ::close(stop_[1]);
}

BackgroundLoop::Duration PluginWatcher::watchOnce() {
    constexpr BackgroundLoop::Duration again = BackgroundLoop::Duration::zero();  // the next poll at once
    pollfd fds[2] = {{stop_[0], POLLIN, 0}, {inotify_, POLLIN, 0}};
    int timeout = inotify_ < 0 ? kFallbackMs : (dirty_ ? kQuietMs : -1);
    int n = ::poll(fds, inotify_ < 0 ? 1 : 2, timeout);
    if (n < 0 || fds[0].revents) return again;  // EINTR, or stop(): the loop ends there
    if (n > 0 && (fds[1].revents & POLLIN)) {
        alignas(inotify_event) char buffer[8192];
        while (::read(inotify_, buffer, sizeof buffer) > 0) {
        }
        dirty_ = true;
        return again;  // wait for quiet
    }
    if (n == 0 && (dirty_ || inotify_ < 0)) {
        try {
            dirty_ = rescan_();
        } catch (const std::exception& e) {
            log::error("plugin_rescan_failed", {{"error", e.what()}});
            dirty_ = false;
        }
    }
    return again;
}

}  // namespace pixelmill
