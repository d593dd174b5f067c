#include "gan/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace kexue {
namespace {

double median(std::vector<double>& values) {
    if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
    const std::size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + mid, values.end());
    const double upper = values[mid];
    if (values.size() % 2) return upper;
    return 0.5 * (upper + *std::max_element(values.begin(), values.begin() + mid));
}

}  // namespace

GanMetrics mode_metrics(const float* samples, std::size_t count, const double* modes, std::size_t mode_count,
                        double mode_std) {
    std::vector<double> distances(count);
    std::vector<std::size_t> histogram(mode_count, 0);
    std::size_t good = 0;
    for (std::size_t i = 0; i < count; ++i) {
        double best = std::numeric_limits<double>::infinity();
        std::size_t nearest = 0;
        for (std::size_t k = 0; k < mode_count; ++k) {
            const double dx = double(samples[2 * i]) - modes[2 * k];
            const double dy = double(samples[2 * i + 1]) - modes[2 * k + 1];
            const double d = std::sqrt(dx * dx + dy * dy);
            if (d < best) {
                best = d;
                nearest = k;
            }
        }
        distances[i] = best;
        if (best <= 3 * mode_std) {
            ++good;
            ++histogram[nearest];
        }
    }
    GanMetrics m{};
    m.high_quality = count ? double(good) / double(count) : 0.0;
    m.modes = double(std::count_if(histogram.begin(), histogram.end(), [](std::size_t c) { return c > 0; }));
    if (good == 0) {
        m.reverse_kl = std::numeric_limits<double>::quiet_NaN();
    } else {
        double kl = 0;
        for (std::size_t c : histogram) {
            if (c == 0) continue;
            const double p = double(c) / double(good);
            kl += p * std::log(double(mode_count) * p);
        }
        m.reverse_kl = kl;
    }
    m.median_distance = median(distances);
    return m;
}

GanMetrics nearest_point_metrics(const float* samples, std::size_t count, const float* points,
                                 std::size_t point_count) {
    std::vector<double> distances(count);
    for (std::size_t i = 0; i < count; ++i) {
        double best = std::numeric_limits<double>::infinity();
        for (std::size_t k = 0; k < point_count; ++k) {
            const double dx = double(samples[2 * i]) - double(points[2 * k]);
            const double dy = double(samples[2 * i + 1]) - double(points[2 * k + 1]);
            best = std::min(best, dx * dx + dy * dy);
        }
        distances[i] = std::sqrt(best);
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan, nan, median(distances)};
}

}  // namespace kexue
