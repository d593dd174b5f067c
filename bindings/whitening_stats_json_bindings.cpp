// Embind boundary of WhiteningStats.toJSON / fromJSON (src/whitening/whitening.hpp): the float64
// state (count, mean, centred second moment M2) out to the heap, and merged back in after
// whitening_moments_validate.
#include <algorithm>
#include <cstdint>

#include <emscripten/bind.h>

#include "options.hpp"
#include "whitening/whitening.hpp"

namespace {

using emscripten::val;
using kexue::bindings::to_js_error;

// mean: dim doubles; m2: dim × dim doubles.
void stats_moments(const kexue::WhiteningStats& stats, std::uintptr_t mean, std::uintptr_t m2) {
    std::copy(stats.mean().begin(), stats.mean().end(), reinterpret_cast<double*>(mean));
    std::copy(stats.centred_second_moment().begin(), stats.centred_second_moment().end(), reinterpret_cast<double*>(m2));
}

val stats_merge_moments(kexue::WhiteningStats& stats, double count, std::uintptr_t mean, std::uintptr_t m2) {
    const std::size_t dim = stats.dim();
    const double* mp = reinterpret_cast<const double*>(mean);
    const double* m2p = reinterpret_cast<const double*>(m2);
    if (!(count >= 1 && count == static_cast<double>(static_cast<std::size_t>(count)))) {
        return to_js_error(kexue::range_error("count", "a positive integer", kexue::js_number(count)));
    }
    const std::size_t n = static_cast<std::size_t>(count);
    if (kexue::Error e = kexue::whitening_moments_validate(dim, n, mp, m2p)) return to_js_error(e);
    stats.merge_moments(n, std::vector<double>(mp, mp + dim), std::vector<double>(m2p, m2p + dim * dim));
    return val::undefined();
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_whitening_stats_json) {
    emscripten::function("whiteningStatsMoments", &stats_moments);
    emscripten::function("whiteningStatsMergeMoments", &stats_merge_moments);
}
