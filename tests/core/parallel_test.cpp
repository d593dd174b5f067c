// The fork-join pool, and the GEMM's threaded tasks (every transpose, ragged edges, column chunks)
// against the scalar reference and the serial product.
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

// relative error of the whole result: max |got − want| / max(1, max |want|)
double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
    double max_diff = 0.0, max_ref = 1.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
        max_ref = std::max(max_ref, std::fabs(double(want[i])));
    }
    return max_diff / max_ref;
}

// The threaded product's tasks (row blocks × column groups over a shared packed op(B)) against the
// reference, and bit for bit against the serial product: every tile of C is summed by the same
// micro-kernel calls over the same depth slices in the same order, whoever computes it.
TEST(GemmThreaded, TasksMatchReferenceAndTheSerialProductForAllTransposes) {
    ThreadCountGuard guard;
    // Tall, wide, one row block (column groups only), deeper than a depth slice (k > 256), ragged
    // edges; every one at or above the threaded product's threshold of 2²² multiply-adds.
    const std::vector<std::array<std::size_t, 3>> shapes{
        {211, 197, 131}, {37, 259, 523}, {256, 64, 256}, {4, 1031, 1029}, {70, 300, 200}};
    for (const auto& [m, k, n] : shapes) ASSERT_GE(m * k * n, std::size_t{1} << 22);
    for (const auto& [m, k, n] : shapes) {
        for (bool transpose_a : {false, true}) {
            for (bool transpose_b : {false, true}) {
                const GemmShape shape{m, k, n, transpose_a, transpose_b};
                const auto a = uniform_floats(m * k, 11);
                const auto b = uniform_floats(k * n, 12);
                std::vector<float> want(m * n, 7.0f), serial(m * n, 7.0f);
                gemm_f32_reference(shape, a.data(), b.data(), want.data(), true);
                set_thread_count(1);
                gemm_f32(shape, a.data(), b.data(), serial.data(), true);
                for (std::size_t threads : {std::size_t{2}, std::size_t{3}, max_thread_count()}) {
                    set_thread_count(threads);
                    std::vector<float> got(m * n, 7.0f);
                    gemm_f32(shape, a.data(), b.data(), got.data(), true);
                    EXPECT_LE(relative_error(got, want), 1e-5) << "threads=" << threads << " m=" << m << " k=" << k
                                                               << " n=" << n;
                    EXPECT_EQ(got, serial) << "threads=" << threads << " m=" << m << " k=" << k << " n=" << n;
                }
            }
        }
    }
}

// A product whose packed op(B) exceeds the shared buffer (1 Mi floats) is done in column chunks.
TEST(GemmThreaded, ColumnChunksOfTheSharedPackedOperand) {
    ThreadCountGuard guard;
    const std::size_t m = 5, k = 2049, n = 2050;  // four chunks of 504 columns and one of 34
    const auto a = uniform_floats(m * k, 21);
    const auto b = uniform_floats(k * n, 22);
    std::vector<float> want(m * n), serial(m * n), got(m * n);
    gemm_f32_reference({m, k, n}, a.data(), b.data(), want.data());
    set_thread_count(1);
    gemm_f32({m, k, n}, a.data(), b.data(), serial.data());
    set_thread_count(2);
    gemm_f32({m, k, n}, a.data(), b.data(), got.data());
    EXPECT_LE(relative_error(got, want), 1e-5);
    EXPECT_EQ(got, serial);
}

}  // namespace
}  // namespace kexue
