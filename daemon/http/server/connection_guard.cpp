#include "http/server/connection_guard.h"

#include "common/clock.h"
#include "common/log.h"

#include <sys/socket.h>

#include <chrono>

namespace pixelmill::http {

namespace {
constexpr auto kSweepPeriod = std::chrono::seconds(1);
}  // namespace

ConnectionGuard::ConnectionGuard(GuardLimits limits)
    : limits_(limits), sweeper_("conn-sweeper", BackgroundLoop::every(kSweepPeriod, [this] { sweep(); })) {
    sweeper_.start(kSweepPeriod);
}

ConnectionGuard::~ConnectionGuard() { sweeper_.stop(); }

std::shared_ptr<ConnectionGuard::Entry> ConnectionGuard::admit(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
    auto entry = std::make_shared<Entry>();
    entry->fd = peer->fd();
    entry->client = peer->address().host();
    entry->set(Phase::Idle, monotonicSeconds());
    std::lock_guard lock(mutex_);
    if (entries_.size() >= limits_.maxConnections) {
        ::shutdown(entry->fd, SHUT_RDWR);
        ++refusedTotal_;
        log::warn("connection_refused", {{"reason", "max_connections"}, {"open", static_cast<uint64_t>(entries_.size())}});
        return nullptr;
    }
    size_t& mine = perClient_[entry->client];
    if (mine >= limits_.maxPerClient) {
        ::shutdown(entry->fd, SHUT_RDWR);
        ++refusedClient_;
        log::warn("connection_refused", {{"reason", "max_connections_per_client"}, {"client", entry->client},
                                         {"open", static_cast<uint64_t>(mine)}});
        return nullptr;
    }
    ++mine;
    entries_.emplace(entry.get(), entry);
    return entry;
}

void ConnectionGuard::drop(const Entry* entry) {
    if (auto it = perClient_.find(entry->client); it != perClient_.end() && --it->second == 0) perClient_.erase(it);
}

void ConnectionGuard::leave(const Entry* entry) {
    std::lock_guard lock(mutex_);
    if (entries_.count(entry)) {
        drop(entry);
        entries_.erase(entry);
    }
}

size_t ConnectionGuard::open() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

const char* ConnectionGuard::closeReason(Entry& e, double now, double age) {
    switch (static_cast<Phase>(e.phase.load())) {
        case Phase::Idle:
            return age > limits_.keepaliveTimeout ? "idle" : nullptr;
        case Phase::Head:
            return age > limits_.headerTimeout ? "slow_head" : nullptr;
        case Phase::Body: {
            // Bytes over the last bodyGrace seconds, from the sweeps' samples.
            double since = e.since.load();
            if (e.sampledSince != since) {
                e.sampledSince = since;
                e.samples.clear();
                e.samples.emplace_back(since, 0);
            }
            e.samples.emplace_back(now, e.bodyBytes.load());
            while (e.samples.size() > 2 && e.samples[1].first <= now - limits_.bodyGrace) e.samples.pop_front();
            auto [from, bytesThen] = e.samples.front();
            double window = now - from;
            if (age > limits_.bodyGrace && window > 0 &&
                static_cast<double>(e.samples.back().second - bytesThen) / window < limits_.minBodyRate)
                return "slow_body";
            return nullptr;
        }
        case Phase::Busy: return nullptr;  // the server owes the answer (a long-poll, a download)
    }
    return nullptr;
}

void ConnectionGuard::sweep() {
    std::lock_guard lock(mutex_);
    double now = monotonicSeconds();
    for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& e = *it->second;
        double age = now - e.since.load();
        const char* why = closeReason(e, now, age);
        if (!why) {
            ++it;
            continue;
        }
        // Still ours (leave() has not run): shutting the socket down makes the
        // reactor drop the connection, which calls leave().
        ::shutdown(e.fd, SHUT_RDWR);
        if (std::string_view(why) != "idle") {
            ++closed_;
            log::info("connection_closed", {{"reason", why}, {"seconds", age}});
        }
        drop(it->first);
        it = entries_.erase(it);
    }
}

}  // namespace pixelmill::http
