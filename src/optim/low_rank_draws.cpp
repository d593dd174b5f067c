// Random factor draws; see low_rank_draws.hpp.
#include "optim/low_rank_draws.hpp"

#include <cmath>

namespace kexue {

void kaiming_uniform(Xoshiro256& rng, std::size_t fan_in, float* out, std::size_t count) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(bound * (2 * rng.uniform() - 1));
}

void normal_draws(Xoshiro256& rng, double sd, float* out, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(sd * rng.normal());
}

}  // namespace kexue
