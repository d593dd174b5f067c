// Eigenvalues and the top-k eigenvectors of a symmetric matrix, in float64, for the whitening fit.
//
// Shapes: sigma d×d (symmetric, Eigen column-major); values: d, descending; vectors: d×k, column j
// the eigenvector of values[j].
//
// Two implementations with one contract:
//   symmetric_eigen_top            Eigen's Householder tridiagonalisation, the eigenvalues of the
//                                  tridiagonal by Eigen's implicit QR (values only: O(d²)), the k
//                                  eigenvectors wanted by inverse iteration on the tridiagonal
//                                  (O(d) each, clusters re-orthogonalised, as LAPACK's dstein), and
//                                  the back-transformation by Eigen's blocked Householder sequence.
//                                  Each vector is checked (residual, orthogonality); any failure, or
//                                  a cluster of nearly equal eigenvalues too large for inverse
//                                  iteration, falls back to the reference.
//   symmetric_eigen_top_reference  Eigen's SelfAdjointEigenSolver (tridiagonalisation + implicit QR
//                                  accumulating every rotation into all d eigenvectors, ~6d³ flops
//                                  on Eigen's scalar path in WASM), the twin it is tested against.
// Both scale the matrix by its largest |entry| first (as SelfAdjointEigenSolver does), so the
// tridiagonal, and hence the eigenvalues, are the same to the last bit.
#pragma once

#include <cstddef>

#include <Eigen/Dense>

namespace kexue {

struct SymmetricEigenTop {
    Eigen::VectorXd values;   // d, descending
    Eigen::MatrixXd vectors;  // d×k
    bool fell_back = false;   // the fast path handed the problem to the reference
};

SymmetricEigenTop symmetric_eigen_top(const Eigen::MatrixXd& sigma, std::size_t k);
SymmetricEigenTop symmetric_eigen_top_reference(const Eigen::MatrixXd& sigma, std::size_t k);

}  // namespace kexue
