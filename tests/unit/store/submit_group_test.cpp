#include "store/postgres/submit_group.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using pixelmill::pg::SubmitGroup;

TEST_CASE("submit group: concurrent calls share transactions, each gets its own result", "[store][group]") {
    std::atomic<int> transactions{0};
    SubmitGroup<int, int> group([&](const std::vector<const int*>& items) {
        ++transactions;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a commit takes a while
        std::vector<int> out;
        for (const int* i : items) out.push_back(*i * 10);
        return out;
    });
    constexpr int kThreads = 16, kEach = 20;
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                int item = t * 1000 + i;
                if (group.run(item) != item * 10) ++wrong;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    INFO(transactions << " transactions for " << kThreads * kEach << " calls");
    CHECK(transactions < kThreads * kEach / 2);
}

TEST_CASE("submit group: when a group's transaction fails, only the bad item fails", "[store][group]") {
    std::atomic<int> transactions{0};
    SubmitGroup<int, int> group([&](const std::vector<const int*>& items) {
        ++transactions;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::vector<int> out;
        for (const int* i : items) {
            if (*i < 0) throw std::runtime_error("refused");  // the whole transaction rolls back
            out.push_back(*i);
        }
        return out;
    });
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, refused{0}, wrong{0};
    for (int t = 0; t < 12; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                int item = (t == 0 && i % 2 == 0) ? -1 : t * 100 + i;
                try {
                    if (group.run(item) == item) ++ok;
                    else ++wrong;
                } catch (const std::runtime_error&) {
                    (item < 0 ? refused : wrong)++;
                }
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    CHECK(refused == 5);
    CHECK(ok == 115);
}
