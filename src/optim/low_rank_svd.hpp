// Top-k singular vectors of a gradient, for GaLore's projector (arXiv 2403.03507) and LoRA-GA's
// initial factors (arXiv 2407.05000).
//
// Exact (Eigen BDCSVD in double) when min(rows, cols) ≤ 64 or k + 8 ≥ min(rows, cols); otherwise
// a randomized subspace iteration (Halko, Martinsson & Tropp, "Finding structure with randomness",
// SIAM Review 2011: oversampling 8, 6 power iterations with QR re-orthonormalisation) finished by
// an exact SVD of the small projected matrix. The products with G are float GEMMs; the
// orthonormalisations and the small SVD are in double.
//
// Shapes (row-major): g rows×cols; left rows×k (columns are the vectors); right k×cols (rows are
// the vectors). Each vector's largest-|·| entry (the first, on ties) is positive.
#pragma once

#include <cstddef>

#include "core/random.hpp"

namespace kexue {

// k ≤ min(rows, cols). Either output may be null. `rng` draws the random test matrix.
void top_singular_vectors(const float* g, std::size_t rows, std::size_t cols, std::size_t k, Xoshiro256& rng,
                          float* left, float* right);

}  // namespace kexue
