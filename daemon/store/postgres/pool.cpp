#include "store/postgres/pool.h"

#include "common/error.h"
#include "common/log.h"

#include <algorithm>
#include <chrono>

namespace pixelmill::pg {

namespace {

constexpr int64_t kFirstBackoffMs = 100;
constexpr int64_t kMaxBackoffMs = 2'000;
constexpr int kRetryAfterSeconds = 5;

int64_t steadyMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void throwUnavailable(const Error& cause) {
    log::debug("store_unavailable", {{"error", cause.what()}});
    throw ApiError::unavailable("store_unavailable", "the job database is unreachable; try again shortly",
                                kRetryAfterSeconds);
}

Pool::Pool(std::string conninfo, size_t idleMax)
    : conninfo_(std::move(conninfo)), idleMax_(std::max<size_t>(idleMax, 1)) {}

Pool::Lease::~Lease() {
    if (!c_) return;
    --pool_->inUse_;
    pool_->giveBack(std::move(c_));
}

size_t Pool::idle() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

Pool::Lease Pool::acquire() {
    {
        std::lock_guard lock(mutex_);
        while (!idle_.empty()) {
            std::unique_ptr<Connection> c = std::move(idle_.back());
            idle_.pop_back();
            if (c->stillOpen()) return Lease(*this, std::move(c));
            // Closed while idle: so, most likely, are the others.
            idle_.clear();
        }
        if (backoffMs_ > 0 && steadyMs() < nextConnectAt_)
            throwUnavailable(Error("08006", "PostgreSQL was unreachable moments ago", true));
    }
    try {
        auto c = std::make_unique<Connection>(conninfo_);
        std::lock_guard lock(mutex_);
        if (reported_) log::info("store_reachable", {{"store", "postgres"}});
        backoffMs_ = 0;
        reported_ = false;
        return Lease(*this, std::move(c));
    } catch (const Error& e) {
        {
            std::lock_guard lock(mutex_);
            backoffMs_ = std::min(backoffMs_ > 0 ? backoffMs_ * 2 : kFirstBackoffMs, kMaxBackoffMs);
            nextConnectAt_ = steadyMs() + backoffMs_;
            if (!reported_) log::warn("store_unreachable", {{"store", "postgres"}, {"error", e.what()}});
            reported_ = true;
        }
        throwUnavailable(e);
    }
}

void Pool::giveBack(std::unique_ptr<Connection> c) {
    // Dead, or left inside a transaction by an error we could not roll back: close it.
    if (!c->usable() || c->inTransaction()) return;
    std::lock_guard lock(mutex_);
    if (idle_.size() < idleMax_) idle_.push_back(std::move(c));
}

void Pool::connectionLost() {
    std::vector<std::unique_ptr<Connection>> suspects;
    std::lock_guard lock(mutex_);
    suspects.swap(idle_);
}

Pool::Transaction::Transaction(Connection& c) : c_(c) { c_.exec("BEGIN"); }

Pool::Transaction::~Transaction() {
    if (done_ || !c_.usable()) return;
    try {
        c_.exec("ROLLBACK");
    } catch (const Error&) {
        // The connection stays inside the transaction; the pool closes it.
    }
}

void Pool::Transaction::commit() {
    c_.exec("COMMIT");
    done_ = true;
}

}  // namespace pixelmill::pg
