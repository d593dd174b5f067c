// The double overloads of the layers (layers.hpp): naive products and the kernels' double
// reference twins. Linked into the tests only, like the other *_reference files.
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
