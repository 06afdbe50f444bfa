#pragma once

#include "store/postgres/pg.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace pixelmill::pg {

// The 503 every store call throws while the database cannot be reached.
[[noreturn]] void throwUnavailable(const Error& cause);

// Connections shared by threads: each call borrows one for its statements or
// its transaction and gives it back. Up to `idleMax` are kept open between
// calls; a thread that finds none idle opens one more rather than wait (a
// caller may hold one, a blob pin, while it needs another).
// A connection found dead is dropped with every idle one (after a restart
// they are all dead); the next call connects again. While the server is
// unreachable, calls fail at once with ApiError 503 rather than each waiting
// for a connect: a new attempt is made after a backoff (100 ms doubling to 2 s).
// Thread-safe: `mutex_` guards `idle_` and the backoff.
class Pool {
public:
    Pool(std::string conninfo, size_t idleMax);

    // A borrowed connection, given back (or closed, if dead or left inside a
    // transaction) when the lease ends.
    class Lease {
    public:
        Lease(Pool& pool, std::unique_ptr<Connection> c) : pool_(&pool), c_(std::move(c)) { ++pool_->inUse_; }
        ~Lease();
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Connection& operator*() { return *c_; }
        Connection* operator->() { return c_.get(); }
        // Closes the connection instead of giving it back.
        void discard() {
            if (c_) --pool_->inUse_;
            c_.reset();
        }

    private:
        Pool* pool_;
        std::unique_ptr<Connection> c_;
    };

    // An open connection; throws ApiError 503 if the server cannot be reached.
    Lease acquire();

    // Connections borrowed now, and open ones waiting in the pool.
    size_t inUse() const { return inUse_.load(); }
    size_t idle() const;

    // fn(Lease&) on a borrowed connection, which fn may keep (move out).
    // A lost connection becomes ApiError 503. After a deadlock or a
    // serialization failure fn runs again (a few times), on the grounds that
    // what failed had no effect: so fn must be one statement, reads, or a
    // transaction, and build its result afresh on every run. Other errors
    // pass as they are.
    template <class Fn>
    auto runLeased(Fn&& fn) -> std::invoke_result_t<Fn&, Lease&> {
        for (int attempt = 1;; ++attempt) {
            Lease c = acquire();
            try {
                return fn(c);
            } catch (const Error& e) {
                if (e.retryable() && attempt < kAttempts) continue;
                if (!e.connectionLost()) throw;
                c.discard();
                connectionLost();
                throwUnavailable(e);
            }
        }
    }

    // fn(Connection&) on a borrowed connection, outside a transaction; as runLeased.
    template <class Fn>
    auto run(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
        return runLeased([&](Lease& c) -> std::invoke_result_t<Fn&, Connection&> { return fn(*c); });
    }

    // fn(Connection&) between BEGIN and COMMIT, rolled back if it throws; as runLeased.
    template <class Fn>
    auto transaction(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
        using R = std::invoke_result_t<Fn&, Connection&>;
        return run([&](Connection& c) -> R {
            Transaction tx(c);
            if constexpr (std::is_void_v<R>) {
                fn(c);
                tx.commit();
            } else {
                R result = fn(c);
                tx.commit();
                return result;
            }
        });
    }

private:
    static constexpr int kAttempts = 5;

    // BEGIN now; ROLLBACK when the scope ends without commit().
    class Transaction {
    public:
        explicit Transaction(Connection& c);
        ~Transaction();
        void commit();

    private:
        Connection& c_;
        bool done_ = false;
    };

    void giveBack(std::unique_ptr<Connection> c);
    void connectionLost();

    std::string conninfo_;
    size_t idleMax_;

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::atomic<size_t> inUse_{0};  // live Leases holding a connection
    int64_t backoffMs_ = 0;      // 0 while connecting works
    int64_t nextConnectAt_ = 0;  // steady ms: no connect attempt before
    bool reported_ = false;      // the outage has been logged
};

}  // namespace pixelmill::pg
