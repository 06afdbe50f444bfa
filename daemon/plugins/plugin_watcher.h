#pragma once

#include "common/background_loop.h"

#include <filesystem>
#include <functional>

namespace pixelmill {

// Watches the plugin folder with inotify and calls `rescan` once the folder
// has been quiet for a moment after a change (a file closed after writing,
// moved in, created or removed), and again while `rescan` says a file is
// still settling. Without inotify it falls back to a rescan every second.
class PluginWatcher {
public:
    // rescan() returns true when it wants to be called again soon.
    PluginWatcher(std::filesystem::path folder, std::function<bool()> rescan);
    ~PluginWatcher();
    PluginWatcher(const PluginWatcher&) = delete;
    PluginWatcher& operator=(const PluginWatcher&) = delete;

private:
    // One poll(2): events read, or a rescan once quiet.
    BackgroundLoop::Duration watchOnce();

    std::filesystem::path folder_;
    std::function<bool()> rescan_;
    int inotify_ = -1;
    int stop_[2] = {-1, -1};  // written by stop(), to end the poll
    bool dirty_ = false;      // the loop's thread only: a change seen, rescan once quiet
    BackgroundLoop loop_;     // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill
