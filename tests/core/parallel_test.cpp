// The fork-join pool (the GEMM's threaded product is tested in gemm_test.cpp).
#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/threads.hpp"

#include "core/parallel.hpp"

namespace kexue {
namespace {

using testing::ThreadCountGuard;

TEST(ParallelFor, RunsEveryTaskExactlyOnceForEveryThreadCount) {
    ThreadCountGuard guard;
    for (std::size_t threads = 1; threads <= max_thread_count(); ++threads) {
        set_thread_count(threads);
        for (std::size_t tasks : {0, 1, 2, 3, 7, 64, 1000}) {
            std::vector<std::atomic<int>> hits(tasks);
            parallel_for(tasks, [&](std::size_t task) { hits[task].fetch_add(1); });
            for (std::size_t task = 0; task < tasks; ++task)
                ASSERT_EQ(hits[task].load(), 1) << "threads=" << threads << " tasks=" << tasks;
        }
    }
}

TEST(ParallelFor, NestedCallsRunAndDoNotDeadlock) {
    ThreadCountGuard guard;
    set_thread_count(max_thread_count());
    std::atomic<int> total{0};
    parallel_for(8, [&](std::size_t) { parallel_for(8, [&](std::size_t) { total.fetch_add(1); }); });
    EXPECT_EQ(total.load(), 64);
}

TEST(ParallelFor, ThreadCountIsClamped) {
    ThreadCountGuard guard;
    set_thread_count(0);
    EXPECT_EQ(thread_count(), 1u);
    set_thread_count(1000);
    EXPECT_EQ(thread_count(), max_thread_count());
}

}  // namespace
}  // namespace kexue
