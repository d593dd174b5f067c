// The double overloads of the layers (layers.hpp): naive products and the kernels' double
// reference twins. Linked into the tests only, like the other *_reference files.
#include <cmath>
#include <vector>

#include "attention/rope.hpp"
#include "model/layers.hpp"

namespace kexue::model {

void matmul(std::size_t m, std::size_t k, std::size_t n, bool ta, bool tb, const double* a, const double* b,
            double* c, bool accumulate) {
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            double sum = 0;
            for (std::size_t p = 0; p < k; ++p) sum += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = accumulate ? c[i * n + j] + sum : sum;
        }
    }
}

// The double twins of the GAU layers (layers.cpp has the float ones): plain loops, the same
// formulas.

void silu_forward(const double* x, std::size_t count, double* y) {
    for (std::size_t i = 0; i < count; ++i) y[i] = x[i] / (1.0 + std::exp(-x[i]));
}

void silu_backward(const double* dy, const double* x, std::size_t count, double* dx) {
    for (std::size_t i = 0; i < count; ++i) {
        const double sg = 1.0 / (1.0 + std::exp(-x[i]));
        dx[i] = dy[i] * sg * (1.0 + x[i] * (1.0 - sg));
    }
}

void scale_offset_forward(const double* z, const double* gamma, const double* beta, std::size_t n, std::size_t s,
                          double* y) {
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < s; ++j) y[i * s + j] = z[i * s + j] * gamma[j] + beta[j];
}

void scale_offset_backward(const double* dy, const double* z, const double* gamma, std::size_t n, std::size_t s,
                           double* dz, double* dgamma, double* dbeta, bool accumulate) {
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < s; ++j) {
            const double g = dy[i * s + j];
            if (dgamma) dgamma[j] += g * z[i * s + j];
            if (dbeta) dbeta[j] += g;
            dz[i * s + j] = accumulate ? dz[i * s + j] + g * gamma[j] : g * gamma[j];
        }
    }
}

void gate_forward(const double* u, const double* a, std::size_t count, double* y) {
    for (std::size_t i = 0; i < count; ++i) y[i] = u[i] * a[i];
}

void gate_backward(const double* dy, const double* u, const double* a, std::size_t count, double* du, double* da) {
    for (std::size_t i = 0; i < count; ++i) {
        const double g = dy[i];
        du[i] = g * a[i];
        da[i] = g * u[i];
    }
}

void rope_rows(double* x, std::size_t rows, std::size_t heads, std::size_t dim, const double* positions, double base,
               bool inverse) {
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t h = 0; h < heads; ++h) {
            rope_rotate_vector_reference(x + (r * heads + h) * dim, dim, RopeLayout::interleaved, base,
                                         inverse ? -positions[r] : positions[r]);
        }
    }
}

void fused_attention_forward(const AttentionShape& shape, const AttentionOptions& options, const double* q,
                       const double* k, const double* v, double* o, double* logsumexp) {
    attention_forward_reference(shape, options, q, k, v, o, logsumexp);
}

void fused_attention_backward(const AttentionShape& shape, const AttentionOptions& options, const double* q,
                        const double* k, const double* v, const double*, const double*, const double* d_o,
                        double* dq, double* dk, double* dv) {
    attention_backward_reference(shape, options, q, k, v, d_o, dq, dk, dv);
}

}  // namespace kexue::model
