// The random factor draws of the low-rank optimizers, from the library's one generator
// (core/random.hpp), so a seed gives the same factors natively and in WASM:
//   kaiming_uniform  U(−1/√fan_in, 1/√fan_in), LoRA's init as peft writes it (fan_in = rows for A,
//                    r for B; arXiv 2106.09685 and huggingface/peft)
//   normal_draws     N(0, sd²), Su's re-initialised random projection (kexue.fm/archives/9590):
//                    U (rows×r), V (r×cols) with sd = 1/√r, so E[U·Uᵀ] = I and E[ΔW] = −2·lr·G
#pragma once

#include <cstddef>

#include "core/random.hpp"

namespace kexue {

void kaiming_uniform(Xoshiro256& rng, std::size_t fan_in, float* out, std::size_t count);

void normal_draws(Xoshiro256& rng, double sd, float* out, std::size_t count);

}  // namespace kexue
