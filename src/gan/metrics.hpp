// Mode-coverage metrics of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) for 2-D
// samples (n × 2, row-major) against K modes (K × 2) of common std σ:
//   high_quality     share of samples within 3σ of their nearest mode (0–1)
//   modes            modes that received at least one high-quality sample
//   reverse_kl       KL(p ‖ uniform) = Σ_k p_k log(K p_k), p = histogram of the high-quality
//                    samples over their nearest modes (0 when they cover the modes evenly; NaN
//                    when there is no high-quality sample)
//   median_distance  median distance of a sample to its nearest mode (moves long before samples
//                    are sharp)
// Without modes (swissroll, user samples) only median_distance is defined, to the nearest of the
// reference points; the others are NaN.
#pragma once

#include <cstddef>

namespace kexue {

struct GanMetrics {
    double high_quality;
    double modes;
    double reverse_kl;
    double median_distance;
};

GanMetrics mode_metrics(const float* samples, std::size_t count, const double* modes, std::size_t mode_count,
                        double mode_std);
GanMetrics nearest_point_metrics(const float* samples, std::size_t count, const float* points,
                                 std::size_t point_count);

}  // namespace kexue
