// Flooding (kexue.fm/archives/7643; Ishida et al., ICML 2020; docs/math.md §7.4): train on
//   L̃ = |L − b| + b,   ∂L̃/∂θ = sign(L − b) ∇L
// with flood level b: gradient descent while the loss is above b, ascent below it, and a
// subgradient of 0 at L = b. Su reads a descent/ascent pair with rate ε as descending an implicit
// gradient penalty (ε²/2)‖∇L‖². It wraps any loss: the gradient of L is multiplied by the sign.
#pragma once

#include "core/error.hpp"

namespace kexue {

struct Flooded {
    double loss;  // |L − b| + b
    double sign;  // dL̃/dL: −1, 0 or +1
};

// The loss and the level b must be finite numbers.
Error flooding_validate(double loss, double level);

Flooded flooding(double loss, double level);

}  // namespace kexue
