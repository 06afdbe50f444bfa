#pragma once

#include "common/background_loop.h"

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

namespace pixelmill {

// Tells systemd how the daemon is doing (a Type=notify unit): READY=1 once it
// serves, STOPPING=1 when it drains, WATCHDOG=1 while it is alive, STATUS=
// lines for `systemctl status`. These are the datagrams sd_notify(3) sends to
// the socket named by $NOTIFY_SOCKET (a path, or an abstract name starting
// with '@'); written here, so the daemon needs no libsystemd. Without
// NOTIFY_SOCKET nothing is ever sent.
//
// The watchdog pings only when `alive` says so: the caller proves the daemon
// answers (see serve.cpp), so a stuck daemon stops pinging and systemd
// restarts it after WatchdogSec.
//
// Construct it before any other thread starts: it takes NOTIFY_SOCKET and the
// WATCHDOG_* variables out of the environment, so that plugin worker processes
// and other children do not inherit them. Thread-safe after construction.
class SystemdNotifier {
public:
    SystemdNotifier();
    ~SystemdNotifier();  // stopWatchdog()
    SystemdNotifier(const SystemdNotifier&) = delete;
    SystemdNotifier& operator=(const SystemdNotifier&) = delete;

    bool enabled() const { return !socket_.empty(); }
    // Sends one message ("READY=1\nSTATUS=…"); false if not enabled or not sent.
    bool send(const std::string& message) const;

    // WATCHDOG_USEC as given to this process (0: no watchdog asked for).
    std::chrono::microseconds watchdogTimeout() const { return watchdog_; }
    // Every watchdogTimeout()/2, sends WATCHDOG=1 if alive(budget) returns true
    // within that budget (a quarter of the timeout). Does nothing without a
    // watchdog; once only.
    void startWatchdog(std::function<bool(std::chrono::milliseconds budget)> alive);
    void stopWatchdog();

private:
    BackgroundLoop::Duration ping();

    std::string socket_;
    std::chrono::microseconds watchdog_{0};
    std::mutex mutex_;  // guards alive_ until the watchdog starts; it never changes after
    std::function<bool(std::chrono::milliseconds)> alive_;
    bool withheld_ = false;  // the watchdog's thread only: the last ping was withheld
    BackgroundLoop watchdogLoop_;  // last: its thread ends before what it uses goes away
};

// Whether the HTTP front on host:port responds to GET `path` within
// `timeout`: a status line of any code, or a connection it closed at once
// (the connection caps refusing it) — its reactor at work, the watchdog's
// proof of life. Silence until the timeout, or nobody listening: false. So a
// flood of connections that fills the caps cannot make systemd restart a
// daemon that is refusing them.
bool frontResponds(const std::string& host, uint16_t port, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace pixelmill
