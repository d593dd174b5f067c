// docs/math.md §7.18: unargmaxable classes. Su's vector (kexue.fm/archives/9046), ties and biases,
// exact convex hulls in 2-D, a sampling check, the screen against the full programme of the
// reference on random heads with and without bias, a planted interior class in 64-D, and the
// validators.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "core/parallel.hpp"
#include "core/random.hpp"
#include "../helpers/validation.hpp"
#include "whitening/unargmaxable.hpp"

namespace kexue {
namespace {

struct Answer {
    std::vector<std::uint8_t> status;
    UnargmaxableSummary summary;
};

Answer run(const std::vector<float>& w, const std::vector<float>* bias, std::size_t n, std::size_t d,
        bool reference = false) {
    UnargmaxableOptions o;
    o.classes = n;
    o.dim = d;
    Answer r;
    r.status.resize(n);
    const float* b = bias ? bias->data() : nullptr;
    r.summary = reference ? unargmaxable_reference(w.data(), b, o, r.status.data())
                          : unargmaxable(w.data(), b, o, r.status.data());
    return r;
}

std::vector<std::size_t> unargmaxable_set(const Answer& r) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < r.status.size(); ++i) {
        if (r.status[i] & kUnargmaxable) out.push_back(i);
    }
    return out;
}

TEST(Unargmaxable, Su9046Vector) {
    // w5 = (1, 1) is the centre of the square of the four others: it never wins (t* = 0, a tie at z = 0).
    const std::vector<float> w{1, 2, 2, 1, 1, 0, 0, 1, 1, 1};
    for (bool reference : {false, true}) {
        const Answer r = run(w, nullptr, 5, 2, reference);
        EXPECT_EQ(unargmaxable_set(r), (std::vector<std::size_t>{4}));
        EXPECT_EQ(r.summary.unargmaxable, 1u);
        EXPECT_EQ(r.summary.within_rounding, 0u);
    }
    // The screen works on w − mean = (0, 1), (1, 0), (0, −1), (−1, 0), (0, 0): it proves the four
    // corners; the centre, a zero row there, goes to the programme. (Without the shift (1, 0) would
    // tie with (1, 2) along its own direction and need a programme too.)
    const Answer r = run(w, nullptr, 5, 2);
    EXPECT_EQ(r.summary.programmes, 1u);
    EXPECT_EQ(r.summary.screened, 4u);
    // A bias lifts the centre: at z = 0 it wins by 0.5.
    const std::vector<float> bias{0, 0, 0, 0, 0.5f};
    EXPECT_TRUE(unargmaxable_set(run(w, &bias, 5, 2)).empty());
    // A smaller lift still wins (z = 0), a negative one cannot.
    const std::vector<float> low{0, 0, 0, 0, -0.5f};
    EXPECT_EQ(unargmaxable_set(run(w, &low, 5, 2)), (std::vector<std::size_t>{4}));
}

TEST(Unargmaxable, TiesAndDuplicates) {
    // Two equal rows with equal biases tie everywhere: neither is ever the strict argmax.
    const std::vector<float> w{1, 0, 1, 0, -1, 0};
    EXPECT_EQ(unargmaxable_set(run(w, nullptr, 3, 2)), (std::vector<std::size_t>{0, 1}));
    // With different biases the higher one wins where they lead.
    const std::vector<float> bias{0.25f, 0, 0};
    EXPECT_EQ(unargmaxable_set(run(w, &bias, 3, 2)), (std::vector<std::size_t>{1}));
    // One class only: always the argmax. All-zero rows: the largest bias alone wins.
    EXPECT_TRUE(unargmaxable_set(run({3, 4}, nullptr, 1, 2)).empty());
    const std::vector<float> zeros(8, 0.0f), flat{1, 2, 0.5f, 0}, tie{1, 2, 2, 0};
    EXPECT_EQ(unargmaxable_set(run(zeros, &flat, 4, 2)), (std::vector<std::size_t>{0, 2, 3}));
    EXPECT_EQ(unargmaxable_set(run(zeros, &tie, 4, 2)), (std::vector<std::size_t>{0, 1, 2, 3}));
    EXPECT_EQ(unargmaxable_set(run(zeros, nullptr, 4, 2)), (std::vector<std::size_t>{0, 1, 2, 3}));
    // A point on an edge of the hull, between two others: a tie along the edge's normal only.
    const std::vector<float> edge{0, 0, 2, 0, 1, 0, 1, 1};
    EXPECT_EQ(unargmaxable_set(run(edge, nullptr, 4, 2)), (std::vector<std::size_t>{2}));
}

// Strict vertices of the convex hull of 2-D points (Andrew's monotone chain, collinear points
// dropped), exactly: float coordinates, cross products in double are exact for |x| < 2^12 here.
std::set<std::size_t> hull_vertices(const std::vector<float>& w, std::size_t n) {
    std::vector<std::size_t> idx(n);
    for (std::size_t i = 0; i < n; ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        return w[2 * a] < w[2 * b] || (w[2 * a] == w[2 * b] && w[2 * a + 1] < w[2 * b + 1]);
    });
    auto cross = [&](std::size_t o, std::size_t a, std::size_t b) {
        return (double(w[2 * a]) - w[2 * o]) * (double(w[2 * b + 1]) - w[2 * o + 1]) -
               (double(w[2 * a + 1]) - w[2 * o + 1]) * (double(w[2 * b]) - w[2 * o]);
    };
    std::vector<std::size_t> h(2 * n);
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], idx[i]) <= 0) --k;
        h[k++] = idx[i];
    }
    for (std::size_t i = n - 1, t = k + 1; i-- > 0;) {
        while (k >= t && cross(h[k - 2], h[k - 1], idx[i]) <= 0) --k;
        h[k++] = idx[i];
    }
    return std::set<std::size_t>(h.begin(), h.begin() + k - 1);
}

TEST(Unargmaxable, TwoDimensionsEqualsTheConvexHull) {
    // Without bias, class k is argmaxable iff w_k is a strict vertex of the convex hull.
    Xoshiro256 rng(11);
    for (std::size_t n : {3u, 10u, 60u, 400u}) {
        std::vector<float> w(2 * n);
        // Integer grid points (exact cross products), some duplicates and collinear triples.
        for (auto& v : w) v = float(std::floor(rng.uniform() * 41) - 20);
        const std::set<std::size_t> vertices = hull_vertices(w, n);
        // Duplicated vertices tie: a vertex point that appears twice is no strict argmax.
        std::set<std::size_t> expected_argmaxable;
        for (std::size_t v : vertices) {
            bool duplicated = false;
            for (std::size_t i = 0; i < n; ++i) {
                duplicated |= i != v && w[2 * i] == w[2 * v] && w[2 * i + 1] == w[2 * v + 1];
            }
            if (!duplicated) expected_argmaxable.insert(v);
        }
        for (bool reference : {false, true}) {
            const Answer r = run(w, nullptr, n, 2, reference);
            EXPECT_EQ(r.summary.within_rounding, 0u);
            for (std::size_t i = 0; i < n; ++i) {
                EXPECT_EQ(!(r.status[i] & kUnargmaxable), expected_argmaxable.count(i) == 1)
                    << "n " << n << " class " << i << " reference " << reference;
            }
        }
    }
}

std::vector<float> gaussian(Xoshiro256& rng, std::size_t count, double scale = 1.0) {
    std::vector<float> v(count);
    for (auto& x : v) x = float(scale * rng.normal());
    return v;
}

TEST(Unargmaxable, ScreenAndProgrammesAgreeWithTheReferenceAndWithSampling) {
    Xoshiro256 rng(5);
    for (std::size_t d : {2u, 3u, 5u}) {
        for (bool with_bias : {false, true}) {
            const std::size_t n = 120;
            std::vector<float> w = gaussian(rng, n * d);
            // Norms spread over two orders of magnitude: short rows tend to be inside the hull.
            for (std::size_t i = 0; i < n; ++i) {
                const double s = std::exp(3 * rng.uniform() - 2);
                for (std::size_t j = 0; j < d; ++j) w[i * d + j] = float(w[i * d + j] * s);
            }
            const std::vector<float> bias = gaussian(rng, n, 0.5);
            const std::vector<float>* b = with_bias ? &bias : nullptr;
            const Answer fast = run(w, b, n, d);
            const Answer reference = run(w, b, n, d, true);
            EXPECT_EQ(unargmaxable_set(fast), unargmaxable_set(reference)) << "d " << d << " bias " << with_bias;
            EXPECT_EQ(fast.summary.within_rounding, 0u);
            EXPECT_GT(fast.summary.unargmaxable, 0u) << "the test wants some unargmaxable classes";
            // Any class that wins at a sampled z is argmaxable.
            for (int s = 0; s < 20000; ++s) {
                std::vector<double> z(d);
                const double r = std::exp(6 * rng.uniform() - 3);
                for (auto& v : z) v = r * rng.normal();
                std::size_t best = 0;
                double best_logit = -INFINITY;
                for (std::size_t i = 0; i < n; ++i) {
                    double l = b ? (*b)[i] : 0.0;
                    for (std::size_t j = 0; j < d; ++j) l += double(w[i * d + j]) * z[j];
                    if (l > best_logit) best_logit = l, best = i;
                }
                EXPECT_FALSE(fast.status[best] & kUnargmaxable) << "class " << best << " won at a sampled z";
            }
        }
    }
}

TEST(Unargmaxable, HighDimensionalHeadsPlantedInteriorClassesAndThreads) {
    // 600 Gaussian rows in 24-D: all argmaxable, nearly all proven by the screen. Planted: the
    // mean of 40 rows and a fifth of one row, deep inside the hull (unargmaxable); and the float32
    // midpoint of two rows. Random polytopes in high dimension are neighbourly (almost every pair
    // of vertices spans an edge), so that midpoint lies on an edge and its rounding (~1e-7) may put
    // it just outside, argmaxable only for |z| ~ 1e7 or more: either answer is right for it.
    Xoshiro256 rng(9);
    const std::size_t n = 600, d = 24;
    std::vector<float> w = gaussian(rng, n * d);
    {
        const Answer r = run(w, nullptr, n, d);
        EXPECT_EQ(r.summary.unargmaxable, 0u);
        EXPECT_GT(r.summary.screened, n * 9 / 10);
    }
    for (std::size_t j = 0; j < d; ++j) {
        double mean = 0;
        for (std::size_t i = 100; i < 140; ++i) mean += w[i * d + j];
        w[10 * d + j] = float(mean / 40);
        w[11 * d + j] = 0.2f * w[20 * d + j];
        w[12 * d + j] = 0.5f * w[30 * d + j] + 0.5f * w[40 * d + j];
    }
    for (std::size_t threads : {1u, 4u}) {
        const std::size_t before = thread_count();
        set_thread_count(threads);
        const Answer r = run(w, nullptr, n, d);
        set_thread_count(before);
        std::vector<std::size_t> found = unargmaxable_set(r);
        found.erase(std::remove(found.begin(), found.end(), std::size_t(12)), found.end());
        EXPECT_EQ(found, (std::vector<std::size_t>{10, 11})) << threads << " threads";
        for (std::size_t i = 0; i < n; ++i) {
            if (i != 12) EXPECT_FALSE(r.status[i] & kWithinRounding) << i;
        }
    }
}

TEST(Unargmaxable, ASharedComponentDoesNotDefeatTheScreen) {
    // w_i = μ + ε_i with ‖μ‖ ≫ ‖ε‖ (real heads share such a direction): translation leaves the
    // answer unchanged, and the screen, working on w_i − mean, still proves nearly every class.
    Xoshiro256 rng(31);
    const std::size_t n = 1500, d = 32;
    std::vector<float> w = gaussian(rng, n * d);
    const std::vector<float> mu = gaussian(rng, d, 20.0);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) w[i * d + j] += mu[j];
    }
    for (std::size_t j = 0; j < d; ++j) w[3 * d + j] = mu[j] + 0.05f * (w[4 * d + j] - mu[j]);  // inside
    const Answer r = run(w, nullptr, n, d);
    EXPECT_EQ(unargmaxable_set(r), (std::vector<std::size_t>{3}));
    EXPECT_GT(r.summary.screened, n * 9 / 10);
    EXPECT_EQ(r.summary.within_rounding, 0u);
}

TEST(Unargmaxable, ScaleInvariance) {
    // W and cW (c a power of two or not, huge or tiny) have the same unargmaxable classes.
    Xoshiro256 rng(21);
    const std::size_t n = 80, d = 3;
    std::vector<float> w = gaussian(rng, n * d);
    for (std::size_t i = 0; i < n; i += 3) {
        for (std::size_t j = 0; j < d; ++j) w[i * d + j] *= 0.1f;
    }
    const auto base = unargmaxable_set(run(w, nullptr, n, d));
    EXPECT_FALSE(base.empty());
    for (float c : {1e-30f, 3.7f, 1e30f}) {
        std::vector<float> scaled(w);
        for (auto& v : scaled) v *= c;
        EXPECT_EQ(unargmaxable_set(run(scaled, nullptr, n, d)), base) << c;
    }
}

TEST(Unargmaxable, Validators) {
    using kexue::testing::expect_error;
    UnargmaxableOptions o;
    expect_error(unargmaxable_validate(o), ErrorKind::range, "classes",
                 "classes must be a positive integer, received 0");
    o.classes = 4;
    expect_error(unargmaxable_validate(o), ErrorKind::range, "dim", "dim must be a positive integer, received 0");
    o.dim = 2;
    EXPECT_FALSE(unargmaxable_validate(o));
    o.classes = 32768;
    o.dim = 512;
    EXPECT_FALSE(unargmaxable_validate(o));  // the head the issue names fits
    o.dim = 1u << 16;
    EXPECT_EQ(unargmaxable_validate(o).parameter, "weight");
    o.classes = 2;
    o.dim = 20000;  // a small weight, but the programme's B⁻¹ alone is 20001² doubles
    const Error e = unargmaxable_validate(o);
    EXPECT_EQ(e.parameter, "dim");
    EXPECT_NE(e.text.find("2 GiB"), std::string::npos) << e.text;
    o.classes = 2;
    o.dim = 2;
    const std::vector<float> w{1, 0, NAN, 0}, bias{0, INFINITY};
    expect_error(unargmaxable_input_validate(w.data(), nullptr, o), ErrorKind::range, "weight",
                 "row 1 of weight holds NaN or Infinity");
    const std::vector<float> ok{1, 0, 0, 1};
    expect_error(unargmaxable_input_validate(ok.data(), bias.data(), o), ErrorKind::range, "bias",
                 "bias[1] is NaN or Infinity");
    EXPECT_FALSE(unargmaxable_input_validate(ok.data(), nullptr, o));
    EXPECT_EQ(kexue::testing::field_names(UnargmaxableOptions{}), (std::vector<std::string>{"classes", "dim"}));
}

}  // namespace
}  // namespace kexue
