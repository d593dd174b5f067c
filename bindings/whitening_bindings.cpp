// Embind boundary of BERT-whitening (src/whitening/). The JS facade (bindings/js/whitening.js)
// validates every argument; these wrappers only translate heap addresses.
#include <algorithm>
#include <cstdint>

#include <emscripten/bind.h>

#include "whitening/whitening.hpp"

namespace {

using kexue::WhiteningStats;
using kexue::WhiteningTransform;

int stats_add(WhiteningStats& stats, std::uintptr_t x, std::uint32_t rows) {
    return static_cast<int>(stats.add(reinterpret_cast<const float*>(x), rows));
}

double stats_count(const WhiteningStats& stats) { return static_cast<double>(stats.count()); }

// Fits and writes mean (dim), eigenvalues (dim), center (dim) and kernel (dim×k) as float64 into
// caller-allocated heap buffers.
void whitening_fit(const WhiteningStats& stats, double beta, double gamma, std::uint32_t k,
                   std::uint32_t ddof, std::uintptr_t mean, std::uintptr_t eigenvalues,
                   std::uintptr_t center, std::uintptr_t kernel) {
    const kexue::WhiteningFit fit = kexue::whitening_fit(stats, {beta, gamma, k, ddof});
    std::copy(fit.mean.begin(), fit.mean.end(), reinterpret_cast<double*>(mean));
    std::copy(fit.eigenvalues.begin(), fit.eigenvalues.end(), reinterpret_cast<double*>(eigenvalues));
    std::copy(fit.center.begin(), fit.center.end(), reinterpret_cast<double*>(center));
    std::copy(fit.kernel.begin(), fit.kernel.end(), reinterpret_cast<double*>(kernel));
}

WhiteningTransform* make_transform(std::uint32_t dim, std::uint32_t k, std::uintptr_t kernel,
                                   std::uintptr_t center) {
    return new WhiteningTransform(dim, k, reinterpret_cast<const double*>(kernel),
                                  reinterpret_cast<const double*>(center));
}

void transform_apply(const WhiteningTransform& transform, std::uintptr_t x, std::uint32_t rows,
                     std::uintptr_t y, bool normalize) {
    transform.apply(reinterpret_cast<const float*>(x), rows, reinterpret_cast<float*>(y), normalize);
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_whitening) {
    emscripten::class_<WhiteningStats>("WhiteningStatsNative")
        .constructor<std::size_t>()
        .function("add", &stats_add)
        .function("merge", &WhiteningStats::merge)
        .function("count", &stats_count);
    emscripten::function("whiteningFit", &whitening_fit);
    emscripten::class_<WhiteningTransform>("WhiteningTransformNative")
        .constructor(&make_transform, emscripten::allow_raw_pointers())
        .function("apply", &transform_apply);
}
