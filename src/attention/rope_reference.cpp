// The double-precision definition of RoPE (Su et al., RoFormer, arXiv 2104.09864 §3.4.2;
// kexue.fm/archives/8265), written as xtensor expressions to read like the paper:
//   θ_i = base^(−2i/d),  (a_i, b_i) ← (a_i cos mθ_i − b_i sin mθ_i,  b_i cos mθ_i + a_i sin mθ_i)
// where (a_i, b_i) is pair i: dims (2i, 2i+1) in the interleaved layout, (i, i + d/2) in the half
// layout. The float kernels (rope.cpp, attention.cpp) are tested against it.
#include <array>
#include <cmath>
#include <cstddef>

#include <xtensor/xadapt.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>

#include "attention/rope.hpp"

namespace kexue {

void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout, double base,
                                  double position) {
    const std::size_t pairs = rotary_dim / 2;
    // Pair i is (x[2i], x[2i+1]), the rows of x seen as pairs × 2, or (x[i], x[i + d/2]), the
    // columns of x seen as 2 × pairs; a and b are the first and second members of every pair.
    const bool interleaved = layout == RopeLayout::interleaved;
    using Shape = std::array<std::size_t, 2>;
    auto x = xt::adapt(vector, rotary_dim, xt::no_ownership(), interleaved ? Shape{pairs, 2} : Shape{2, pairs});
    using Slices = xt::xstrided_slice_vector;
    auto a = xt::strided_view(x, interleaved ? Slices{xt::all(), 0} : Slices{0, xt::all()});
    auto b = xt::strided_view(x, interleaved ? Slices{xt::all(), 1} : Slices{1, xt::all()});

    const xt::xtensor<double, 1> i = xt::arange<double>(static_cast<double>(pairs));
    const xt::xtensor<double, 1> angle = position * xt::pow(base, -2.0 * i / static_cast<double>(rotary_dim));
    const xt::xtensor<double, 1> a0 = a, b0 = b;
    a = a0 * xt::cos(angle) - b0 * xt::sin(angle);
    b = b0 * xt::cos(angle) + a0 * xt::sin(angle);
}

}  // namespace kexue
