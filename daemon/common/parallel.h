#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace pixelmill {

// fn(user, i) for every i < count on up to `threads` threads (this one
// included); returns when all have run. For places without a scheduler to
// lend idle workers: `pixelmill run` and plugin worker processes.
inline void runParallel(uint32_t count, unsigned threads, void (*fn)(void*, uint32_t), void* user) {
    threads = std::max(1u, std::min<unsigned>(threads, count));
    std::atomic<uint32_t> next{0};
    auto work = [&] {
        for (uint32_t i; (i = next.fetch_add(1)) < count;) fn(user, i);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
}

}  // namespace pixelmill
