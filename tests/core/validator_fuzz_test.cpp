// A seeded random driver over the C++ validators (issue 18): random sizes, mostly small, often at
// and past the 2³¹, 2³² and 2⁶⁴ boundaries. Under the native ASan/UBSan tree a crash or undefined
// behaviour fails the run; everywhere, a configuration a validator accepts must fit the heap by
// the arithmetic recomputed here in long double (no wrap: unsigned products wrap silently, which
// UBSan does not flag, so these comparisons are what catches a 32- or 64-bit overflow).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/gemm.hpp"
#include "core/random.hpp"
#include "core/validate.hpp"
#include "gan/trainer.hpp"
#include "nn/mlp.hpp"
#include "optim/multitask.hpp"
#include "whitening/whitening.hpp"

namespace kexue {
namespace {

constexpr int kCases = 20000;

// Sizes drawn to hit the edges: small, powers of two around the 32-bit limits, and near SIZE_MAX.
std::size_t draw_size(Xoshiro256& rng) {
    const std::uint64_t pick = rng.next() % 16;
    const std::uint64_t bits = rng.next();
    switch (pick) {
        case 0: return 0;
        case 1: return std::size_t(1) << (bits % (sizeof(std::size_t) * 8));
        case 2: return (std::size_t(1) << (bits % (sizeof(std::size_t) * 8))) - 1;
        case 3: return SIZE_MAX - bits % 4;
        case 4: return std::size_t(65536) + bits % 3 - 1;
        case 5: return std::size_t(46341) + bits % 3 - 1;  // √2³¹
        default: return 1 + bits % 64;
    }
}

long double bytes_of(std::initializer_list<std::size_t> extents, long double per_element = 4) {
    long double product = per_element;
    for (const std::size_t e : extents) product *= static_cast<long double>(e);
    return product;
}

const long double kHeap = static_cast<long double>(kMaxHeapBytes);

TEST(ValidatorFuzz, GemmAcceptsOnlyShapesThatFit) {
    Xoshiro256 rng(18);
    for (int i = 0; i < kCases; ++i) {
        GemmShape s;
        s.m = draw_size(rng);
        s.k = draw_size(rng);
        s.n = draw_size(rng);
        s.transpose_a = rng.next() & 1;
        if (gemm_validate(s)) continue;
        ASSERT_LE(bytes_of({s.m, s.k}), kHeap) << s.m << "×" << s.k;
        ASSERT_LE(bytes_of({s.k, s.n}), kHeap) << s.k << "×" << s.n;
    }
}

TEST(ValidatorFuzz, MlpBatchAcceptsOnlyCallsThatFit) {
    Xoshiro256 rng(19);
    for (int i = 0; i < kCases; ++i) {
        std::vector<std::size_t> sizes(2 + rng.next() % 3);
        for (std::size_t& s : sizes) s = draw_size(rng);
        MlpOptions o;
        o.sizes = sizes;
        if (mlp_validate(o)) continue;
        const std::size_t rows = draw_size(rng);
        if (mlp_batch_validate(sizes, rows, 4)) continue;
        long double width = 0;
        for (const std::size_t s : sizes) width += static_cast<long double>(s);
        ASSERT_LE(4 * static_cast<long double>(rows) * width, kHeap * 4) << rows;
        ASSERT_LE(bytes_of({rows, sizes.front()}), kHeap);
    }
}

TEST(ValidatorFuzz, GanTrainerAndSamplesAcceptOnlyWhatFits) {
    Xoshiro256 rng(20);
    for (int i = 0; i < kCases / 4; ++i) {
        GanTrainerOptions o;
        o.batch = draw_size(rng);
        o.critic.hidden = {draw_size(rng), draw_size(rng)};
        o.generator.hidden = {draw_size(rng)};
        o.generator.latent = draw_size(rng);
        if (gan_trainer_validate(o)) continue;
        const long double critic = bytes_of({o.critic.hidden[0], o.critic.hidden[1]});
        ASSERT_LE(critic, kHeap);
        const std::size_t n = draw_size(rng);
        if (gan_sample_validate(o, "n", n)) continue;
        ASSERT_LE(bytes_of({n, 2}), kHeap);
        ASSERT_LE(bytes_of({n, o.generator.latent}), kHeap);
    }
}

TEST(ValidatorFuzz, WhiteningAndMultitaskAcceptOnlyWhatFits) {
    Xoshiro256 rng(21);
    for (int i = 0; i < kCases; ++i) {
        const std::size_t dim = draw_size(rng);
        if (!whitening_stats_validate({dim})) {
            ASSERT_LE(bytes_of({dim, dim, 5}, 8), kHeap) << dim;
        }
        const MultitaskShape shape{draw_size(rng), draw_size(rng)};
        if (!normalized_sum_validate(shape)) {
            ASSERT_LE(bytes_of({shape.tasks + 2, shape.size}), kHeap) << shape.tasks << "×" << shape.size;
        }
    }
}

TEST(ValidatorFuzz, SaturatingArithmeticNeverWraps) {
    Xoshiro256 rng(22);
    for (int i = 0; i < kCases; ++i) {
        const std::uint64_t a = draw_size(rng), b = draw_size(rng), c = draw_size(rng);
        const long double exact = static_cast<long double>(a) * b * c;
        const std::uint64_t product = checked_product({a, b, c});
        if (product == UINT64_MAX) {
            ASSERT_GE(exact, static_cast<long double>(UINT64_MAX) / 2);
        } else {
            ASSERT_EQ(static_cast<long double>(product), exact);
        }
        const std::uint64_t sum = saturating_sum({a, b, product});
        if (sum != UINT64_MAX) {
            ASSERT_EQ(static_cast<long double>(sum), static_cast<long double>(a) + b + product);
        }
    }
}

}  // namespace
}  // namespace kexue
