// The fork-join pool, and the GEMM's threaded split (row strips and column strips, every
// transpose) against the scalar reference.
#include <array>
#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"

#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace kexue {
namespace {

// Restores the process-wide thread count when a test ends.
class ThreadCountGuard {
public:
    ThreadCountGuard() : saved_(thread_count()) {}
    ~ThreadCountGuard() { set_thread_count(saved_); }

private:
    std::size_t saved_;
};

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

using testing::uniform_floats;

TEST(GemmThreaded, StripsMatchReferenceForAllTransposes) {
    ThreadCountGuard guard;
    // Tall (row strips) and wide (column strips) products above the parallel threshold, with sizes
    // that leave ragged last strips.
    const std::vector<std::array<std::size_t, 3>> shapes{{211, 97, 131}, {37, 129, 523}, {256, 64, 256}};
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{3}, max_thread_count()}) {
        set_thread_count(threads);
        for (const auto& [m, k, n] : shapes) {
            for (bool transpose_a : {false, true}) {
                for (bool transpose_b : {false, true}) {
                    const GemmShape shape{m, k, n, transpose_a, transpose_b};
                    const auto a = uniform_floats(m * k, 11);
                    const auto b = uniform_floats(k * n, 12);
                    std::vector<float> got(m * n, 7.0f), want(m * n, 7.0f);
                    gemm_f32(shape, a.data(), b.data(), got.data(), true);
                    gemm_f32_reference(shape, a.data(), b.data(), want.data(), true);
                    double max_diff = 0.0, max_ref = 1.0;
                    for (std::size_t i = 0; i < got.size(); ++i) {
                        max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
                        max_ref = std::max(max_ref, std::fabs(double(want[i])));
                    }
                    EXPECT_LE(max_diff / max_ref, 1e-5) << "threads=" << threads << " m=" << m
                                                        << " k=" << k << " n=" << n;
                }
            }
        }
    }
}

}  // namespace
}  // namespace kexue
