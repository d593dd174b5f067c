// MLP forward, reverse and tangent passes; the formulas and shapes are in mlp.hpp.
#include "nn/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "core/gemm.hpp"
#include "core/random.hpp"
#include "core/validate.hpp"

namespace kexue {
namespace {

// The matrix products: the SIMD GEMM for float, a double-accumulating triple loop for the double
// reference twin.
void matmul(const GemmShape& shape, const float* a, const float* b, float* c, bool accumulate) {
    gemm_f32(shape, a, b, c, accumulate);
}

void matmul(const GemmShape& shape, const double* a, const double* b, double* c, bool accumulate) {
    const std::size_t m = shape.m, k = shape.k, n = shape.n;
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            double sum = 0;
            for (std::size_t p = 0; p < k; ++p) {
                const double av = shape.transpose_a ? a[p * m + i] : a[i * k + p];
                const double bv = shape.transpose_b ? b[j * k + p] : b[p * n + j];
                sum += av * bv;
            }
            c[i * n + j] = accumulate ? c[i * n + j] + sum : sum;
        }
    }
}

// Runs body(i, φ(z_i), φ'(z_i), φ''(z_i)) over n entries with the activation fixed per loop, so
// the switch in activate() folds away.
template <typename T, typename Body>
void for_each_activation(Activation activation, std::size_t n, const T* z, Body body) {
    auto loop = [&](auto tag) {
        constexpr Activation fixed = decltype(tag)::value;
        for (std::size_t i = 0; i < n; ++i) {
            const ActivationDerivatives<T> d = activate<T>(fixed, z[i]);
            body(i, d);
        }
    };
    switch (activation) {
        case Activation::relu: loop(std::integral_constant<Activation, Activation::relu>{}); break;
        case Activation::leaky_relu: loop(std::integral_constant<Activation, Activation::leaky_relu>{}); break;
        case Activation::tanh: loop(std::integral_constant<Activation, Activation::tanh>{}); break;
        case Activation::sigmoid: loop(std::integral_constant<Activation, Activation::sigmoid>{}); break;
        case Activation::softplus: loop(std::integral_constant<Activation, Activation::softplus>{}); break;
        case Activation::gelu: loop(std::integral_constant<Activation, Activation::gelu>{}); break;
        case Activation::linear: loop(std::integral_constant<Activation, Activation::linear>{}); break;
        case Activation::sau_relu: loop(std::integral_constant<Activation, Activation::sau_relu>{}); break;
        case Activation::sau_leaky_relu:
            loop(std::integral_constant<Activation, Activation::sau_leaky_relu>{});
            break;
    }
}

// Piecewise-linear activations have φ'' = 0 a.e.: every ė vanishes and H_x = 0, so the tangent
// pass skips those products (the ReLU critic of the benchmark is such a network).
bool piecewise_linear(Activation activation) {
    return activation == Activation::relu || activation == Activation::leaky_relu ||
           activation == Activation::linear;
}

template <typename T>
void add_column_sums(const T* x, std::size_t rows, std::size_t cols, T* out) {
    for (std::size_t r = 0; r < rows; ++r) {
        const T* row = x + r * cols;
        for (std::size_t c = 0; c < cols; ++c) out[c] += row[c];
    }
}

}  // namespace

std::uint64_t mlp_width(const std::vector<std::size_t>& sizes) {
    std::uint64_t sum = 0;
    for (const std::size_t n : sizes) sum = saturating_sum({sum, n});
    return sum;
}

std::vector<std::size_t> mlp_layer_sizes(std::size_t in, const std::vector<std::size_t>& hidden, std::size_t out) {
    std::vector<std::size_t> sizes{in};
    sizes.insert(sizes.end(), hidden.begin(), hidden.end());
    sizes.push_back(out);
    return sizes;
}

std::uint64_t mlp_parameter_count(const std::vector<std::size_t>& sizes) {
    std::uint64_t count = 0;
    for (std::size_t l = 1; l < sizes.size(); ++l) {
        const std::uint64_t weights = checked_product({sizes[l], sizes[l - 1]});  // W_l, then b_l
        if (weights > UINT64_MAX - sizes[l] || count > UINT64_MAX - weights - sizes[l]) return UINT64_MAX;
        count += weights + sizes[l];
    }
    return count;
}

Error mlp_validate(const MlpOptions& options) {
    const std::vector<std::size_t>& sizes = options.sizes;
    if (sizes.size() < 2) {
        return range_error_text("sizes", "sizes must have at least 2 entries, received " +
                                             js_number(std::uint64_t(sizes.size())));
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        if (Error e = positive("sizes[" + std::to_string(i) + "]", sizes[i])) return e;
    }
    return buffer_fits("parameters", {{"count", mlp_parameter_count(sizes)}});
}

Error mlp_batch_validate(const std::vector<std::size_t>& sizes, std::size_t rows, unsigned passes) {
    if (Error e = positive("rows", rows)) return e;
    std::uint64_t width = 0;  // Σ n_l (sizes are validated, so this cannot overflow)
    for (const std::size_t n : sizes) width += n;
    const std::uint64_t floats[] = {checked_product({rows, sizes.front()}), checked_product({rows, sizes.back()}),
                                    checked_product({rows, width, passes})};
    std::uint64_t total = 0;
    for (const std::uint64_t f : floats) total = f == UINT64_MAX || total > UINT64_MAX - f ? UINT64_MAX : total + f;
    return heap_budget("rows", checked_product({total, 4}), "the inputs, the outputs and the workspaces");
}

Error mlp_single_output_validate(const std::vector<std::size_t>& sizes, const std::string& parameter,
                                 const std::string& text) {
    if (!sizes.empty() && sizes.back() == 1) return {};
    std::string list;
    for (const std::size_t n : sizes) list += (list.empty() ? "" : ", ") + js_number(std::uint64_t(n));
    return range_error_text(parameter, text + ", received sizes [" + list + "]");
}

template <typename T>
Mlp<T>::Mlp(std::vector<std::size_t> sizes, Activation activation)
    : sizes_(std::move(sizes)), activation_(activation) {
    offsets_.push_back(0);
    for (std::size_t l = 1; l < sizes_.size(); ++l) {
        offsets_.push_back(offsets_.back() + sizes_[l] * sizes_[l - 1] + sizes_[l]);
    }
}

double mlp_weight_bound(MlpInit init, std::size_t fan_in, std::size_t fan_out) {
    const double in = static_cast<double>(fan_in), out = static_cast<double>(fan_out);
    switch (init) {
        case MlpInit::he: return std::sqrt(6.0 / in);
        case MlpInit::glorot: return std::sqrt(6.0 / (in + out));
        case MlpInit::torch: break;
    }
    return 1.0 / std::sqrt(in);
}

template <typename T>
std::vector<T> Mlp<T>::initial_parameters(std::uint64_t seed, const MlpInitOptions& init) const {
    Xoshiro256 rng(seed);
    std::vector<T> parameters(parameter_count());
    for (std::size_t l = 1; l <= layers(); ++l) {
        const MlpInit kind = l == layers() ? init.output_init.value_or(init.init) : init.init;
        const double bound = mlp_weight_bound(kind, sizes_[l - 1], sizes_[l]);
        const std::size_t begin = weight_offset(l), biases = bias_offset(l), end = biases + sizes_[l];
        for (std::size_t i = begin; i < biases; ++i) parameters[i] = T((2 * rng.uniform() - 1) * bound);
        // PyTorch's bias bound is 1/√fan_in whatever the weights' rule; the draws follow the
        // weights in the stream, so the 'torch' default reproduces the earlier parameters.
        const double bias_bound = 1.0 / std::sqrt(static_cast<double>(sizes_[l - 1]));
        for (std::size_t i = biases; i < end; ++i) {
            parameters[i] = init.bias == MlpBiasInit::zero ? T(0) : T((2 * rng.uniform() - 1) * bias_bound);
        }
    }
    return parameters;
}

template <typename T>
void Mlp<T>::resize(MlpWorkspace<T>& ws, std::size_t rows) const {
    const std::size_t L = layers();
    ws.rows = rows;
    for (auto* list : {&ws.z, &ws.h, &ws.a, &ws.e, &ws.zd, &ws.hd, &ws.ad, &ws.ed}) list->resize(L + 1);
    for (std::size_t l = 0; l <= L; ++l) ws.z[l].resize(rows * sizes_[l]);
    for (std::size_t l = 0; l < L; ++l) ws.h[l].resize(rows * sizes_[l]);
}

template <typename T>
void Mlp<T>::forward(const T* parameters, const T* x, std::size_t rows, MlpWorkspace<T>& ws) const {
    const std::size_t L = layers();
    resize(ws, rows);
    std::copy(x, x + rows * sizes_[0], ws.h[0].begin());
    for (std::size_t l = 1; l <= L; ++l) {
        const std::size_t in = sizes_[l - 1], out = sizes_[l];
        const T* W = parameters + weight_offset(l);
        const T* b = parameters + bias_offset(l);
        T* z = ws.z[l].data();
        for (std::size_t r = 0; r < rows; ++r) std::copy(b, b + out, z + r * out);
        matmul({rows, in, out, false, true}, ws.h[l - 1].data(), W, z, true);
        if (l < L) {
            T* h = ws.h[l].data();
            for_each_activation<T>(activation_, rows * out, z,
                                   [&](std::size_t i, const ActivationDerivatives<T>& d) { h[i] = d.value; });
        }
    }
}

template <typename T>
void Mlp<T>::reverse(const T* parameters, const T* seed, MlpWorkspace<T>& ws) const {
    const std::size_t L = layers(), rows = ws.rows;
    ws.e[L].resize(rows * sizes_[L]);
    if (seed) {
        std::copy(seed, seed + rows * sizes_[L], ws.e[L].begin());
    } else {
        std::fill(ws.e[L].begin(), ws.e[L].end(), T(1));
    }
    for (std::size_t l = L; l >= 1; --l) {
        const std::size_t in = sizes_[l - 1], out = sizes_[l];
        ws.a[l - 1].resize(rows * in);
        matmul({rows, out, in, false, false}, ws.e[l].data(), parameters + weight_offset(l),
               ws.a[l - 1].data(), false);
        if (l - 1 >= 1) {
            const T* a = ws.a[l - 1].data();
            ws.e[l - 1].resize(rows * in);
            T* e = ws.e[l - 1].data();
            for_each_activation<T>(activation_, rows * in, ws.z[l - 1].data(),
                                   [&](std::size_t i, const ActivationDerivatives<T>& d) { e[i] = d.first * a[i]; });
        }
    }
}

template <typename T>
void Mlp<T>::accumulate_parameter_gradient(const MlpWorkspace<T>& ws, const T* row_weights, T* grad) const {
    const std::size_t L = layers(), rows = ws.rows;
    std::vector<T> scaled;
    for (std::size_t l = 1; l <= L; ++l) {
        const std::size_t in = sizes_[l - 1], out = sizes_[l];
        const T* e = ws.e[l].data();
        if (row_weights) {
            scaled.assign(e, e + rows * out);
            for (std::size_t r = 0; r < rows; ++r) {
                for (std::size_t c = 0; c < out; ++c) scaled[r * out + c] *= row_weights[r];
            }
            e = scaled.data();
        }
        matmul({out, rows, in, true, false}, e, ws.h[l - 1].data(), grad + weight_offset(l), true);
        add_column_sums(e, rows, out, grad + bias_offset(l));
    }
}

template <typename T>
void Mlp<T>::tangent(const T* parameters, const T* v, MlpWorkspace<T>& ws) const {
    const std::size_t L = layers(), rows = ws.rows;
    ws.hd[0].assign(v, v + rows * sizes_[0]);
    // Forward tangent: ż_l = W_l ḣ_{l−1}, ḣ_l = φ'(z_l) ż_l (ż_L is not needed).
    for (std::size_t l = 1; l < L; ++l) {
        const std::size_t in = sizes_[l - 1], out = sizes_[l];
        ws.zd[l].resize(rows * out);
        ws.hd[l].resize(rows * out);
        matmul({rows, in, out, false, true}, ws.hd[l - 1].data(), parameters + weight_offset(l),
               ws.zd[l].data(), false);
        const T* zd = ws.zd[l].data();
        T* hd = ws.hd[l].data();
        for_each_activation<T>(activation_, rows * out, ws.z[l].data(),
                               [&](std::size_t i, const ActivationDerivatives<T>& d) { hd[i] = d.first * zd[i]; });
    }
    // Reverse tangent: ė_L = 0 (the seed is constant), so ȧ_{L−1} = 0.
    for (std::size_t l = 0; l <= L; ++l) {
        ws.ad[l].assign(rows * sizes_[l], T(0));
        ws.ed[l].clear();
    }
    if (piecewise_linear(activation_)) return;  // every ė_l = 0 and H_x v = 0
    for (std::size_t l = L - 1; l >= 1; --l) {
        const std::size_t out = sizes_[l], in = sizes_[l - 1];
        ws.ed[l].resize(rows * out);
        const T* zd = ws.zd[l].data();
        const T* a = ws.a[l].data();
        const T* ad = ws.ad[l].data();
        T* ed = ws.ed[l].data();
        for_each_activation<T>(activation_, rows * out, ws.z[l].data(),
                               [&](std::size_t i, const ActivationDerivatives<T>& d) {
                                   ed[i] = d.second * zd[i] * a[i] + d.first * ad[i];
                               });
        matmul({rows, out, in, false, false}, ed, parameters + weight_offset(l), ws.ad[l - 1].data(), false);
    }
}

template <typename T>
void Mlp<T>::accumulate_mixed_gradient(const MlpWorkspace<T>& ws, T* grad) const {
    const std::size_t L = layers(), rows = ws.rows;
    for (std::size_t l = 1; l <= L; ++l) {
        const std::size_t in = sizes_[l - 1], out = sizes_[l];
        T* gW = grad + weight_offset(l);
        matmul({out, rows, in, true, false}, ws.e[l].data(), ws.hd[l - 1].data(), gW, true);
        if (l < L && !ws.ed[l].empty()) {
            matmul({out, rows, in, true, false}, ws.ed[l].data(), ws.h[l - 1].data(), gW, true);
            add_column_sums(ws.ed[l].data(), rows, out, grad + bias_offset(l));
        }
    }
}

template <typename T>
void Mlp<T>::evaluate(const T* parameters, const T* x, std::size_t rows, T* output, MlpWorkspace<T>& ws) const {
    forward(parameters, x, rows, ws);
    std::copy(ws.z[layers()].begin(), ws.z[layers()].end(), output);
}

template <typename T>
void Mlp<T>::input_gradient(const T* parameters, const T* x, std::size_t rows, T* gradient,
                            MlpWorkspace<T>& ws) const {
    forward(parameters, x, rows, ws);
    reverse(parameters, nullptr, ws);
    std::copy(ws.a[0].begin(), ws.a[0].end(), gradient);
}

template class Mlp<float>;
template class Mlp<double>;

}  // namespace kexue
