// A dense MLP with exact first- and second-order derivatives, for critics whose loss contains
// their own input gradient (WGAN-GP, gradient normalization).
//
// Shapes (row-major):
//   sizes         n_0 (input), n_1, …, n_L (output); L = sizes.size() − 1 ≥ 1 layers
//   parameters    for l = 1..L: W_l (n_l × n_{l−1}) then b_l (n_l)        — also the JS layout
//   x, v          rows × n_0
//   output        rows × n_L
//   seed          rows × n_L   (the cotangent of the output, ∂loss/∂output)
//
// Network: h_0 = x; z_l = W_l h_{l−1} + b_l; h_l = φ(z_l) for l < L; output = z_L (linear).
// The three passes, side by side (Gulrajani et al. 2017 need the gradient of an input gradient):
//   forward   z_l, h_l
//   reverse   e_L = seed; a_{l−1} = W_lᵀ e_l; e_l = φ'(z_l) ⊙ a_l (l < L); a_0 = ∇_x ⟨seed, D⟩;
//             ∂/∂W_l = e_l h_{l−1}ᵀ, ∂/∂b_l = e_l
//   tangent   forward-mode along v, through the reverse pass (the seed is held constant):
//             ḣ_0 = v; ż_l = W_l ḣ_{l−1}; ḣ_l = φ'(z_l) ⊙ ż_l;
//             ė_L = 0; ȧ_{l−1} = W_lᵀ ė_l; ė_l = φ''(z_l) ⊙ ż_l ⊙ a_l + φ'(z_l) ⊙ ȧ_l;
//             ȧ_0 = H_x v (input Hessian-vector product), and the mixed derivative
//             ∇_w ⟨∇_x D, v⟩:  W_l ← ė_l h_{l−1}ᵀ + e_l ḣ_{l−1}ᵀ,  b_l ← ė_l.
// Rows are independent samples; the parameter gradients sum over rows.
//
// Mlp<float> runs its matrix products on the SIMD GEMM (core/gemm.hpp); Mlp<double> runs the same
// code on a plain triple loop and is the reference twin the float path is tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "nn/activation.hpp"

namespace kexue {

// The initial weights of a layer with fan_in = n_{l−1}, fan_out = n_l, all uniform in ±bound:
//   torch   bound = 1/√fan_in            (PyTorch nn.Linear's default, kaiming_uniform with a = √5)
//   he      bound = √(6/fan_in)          (He et al. 2015: Var = 2/fan_in, for ReLU layers)
//   glorot  bound = √(6/(fan_in+fan_out)) (Glorot & Bengio 2010: Var = 2/(fan_in+fan_out))
// A uniform draw in ±bound has variance bound²/3.
enum class MlpInit { torch, he, glorot };

template <>
struct EnumNames<MlpInit> {
    static constexpr EnumEntry<MlpInit> entries[] = {
        {"torch", MlpInit::torch}, {"he", MlpInit::he}, {"glorot", MlpInit::glorot}};
};

// The initial biases: uniform in ±1/√fan_in (PyTorch nn.Linear) or zero (tflib, the WGAN-GP code).
enum class MlpBiasInit { uniform, zero };

template <>
struct EnumNames<MlpBiasInit> {
    static constexpr EnumEntry<MlpBiasInit> entries[] = {{"uniform", MlpBiasInit::uniform},
                                                         {"zero", MlpBiasInit::zero}};
};

// How initial_parameters draws: `init` for the hidden layers' weights, `outputInit` for the last
// layer's (empty: as `init`), `bias` for every bias. The defaults are PyTorch's nn.Linear; the
// WGAN-GP authors' gan_toy.py (tflib Linear) is { he, glorot, zero }.
struct MlpInitOptions {
    MlpInit init = MlpInit::torch;
    std::optional<MlpInit> output_init;
    MlpBiasInit bias = MlpBiasInit::uniform;
};

// Flattened into the options that hold it ({ init, outputInit, bias } beside sizes).
template <typename Visitor>
void visit_fields(MlpInitOptions& o, Visitor&& field) {
    field("init", o.init);
    field("outputInit", o.output_init);
    field("bias", o.bias);
}

// The bound of layer l's weights (uniform in ±bound) under `init` (table above).
double mlp_weight_bound(MlpInit init, std::size_t fan_in, std::size_t fan_out);

// The options of `new kx.Mlp({ sizes, activation, init, outputInit, bias, seed })`.
struct MlpOptions {
    std::vector<std::size_t> sizes;          // n_0 … n_L, at least 2 entries, each ≥ 1
    Activation activation = Activation::relu;  // of the hidden layers; the output is linear
    std::uint64_t seed = 0;                  // of initial_parameters
    MlpInitOptions initialization;           // of initial_parameters (after seed: {sizes, activation, seed} still reads)
};

template <typename Visitor>
void visit_fields(MlpOptions& o, Visitor&& field) {
    field("sizes", o.sizes, kRequired | kPositive);
    field("activation", o.activation);
    visit_fields(o.initialization, field);  // init, outputInit, bias
    field("seed", o.seed);
}

// Σ_l n_l·n_{l−1} + n_l in 64 bits (UINT64_MAX when it overflows), the count of W and b.
std::uint64_t mlp_parameter_count(const std::vector<std::size_t>& sizes);
// Σ sizes, 64-bit and saturating: the floats per row of the forward and reverse workspaces.
std::uint64_t mlp_width(const std::vector<std::size_t>& sizes);
// [in, hidden…, out]: the sizes of a network with the given hidden layers.
std::vector<std::size_t> mlp_layer_sizes(std::size_t in, const std::vector<std::size_t>& hidden, std::size_t out);

// sizes has ≥ 2 entries, each ≥ 1, and the parameters fit in the heap.
Error mlp_validate(const MlpOptions& options);

// The options of a batched call on a network (Mlp.forward, Mlp.inputGradient, gan.generatorLoss).
struct MlpBatchOptions {
    std::size_t rows = 0;
};

template <typename Visitor>
void visit_fields(MlpBatchOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
}

// rows ≥ 1 and x (rows × n_0), the output (rows × n_L) and `passes` workspace arrays per layer
// (2 for a forward pass, 4 with the reverse pass, 8 with the tangent pass; rows × Σ n_l floats
// each) fit in the heap.
Error mlp_batch_validate(const std::vector<std::size_t>& sizes, std::size_t rows, unsigned passes);

// Mlp.inputGradient and the critics need a scalar output: sizes ending in 1. `parameter` and the
// message name the network as the call does ("critic must have one output …").
Error mlp_single_output_validate(const std::vector<std::size_t>& sizes, const std::string& parameter,
                                 const std::string& text);

template <typename T>
struct MlpWorkspace {
    std::size_t rows = 0;
    // Indexed by layer 0..L (entries that do not exist for a layer stay empty).
    std::vector<std::vector<T>> z, h, a, e;      // forward and reverse
    std::vector<std::vector<T>> zd, hd, ad, ed;  // tangent
    std::vector<T> scratch;
};

template <typename T>
class Mlp {
public:
    // sizes: at least 2 entries, all positive (mlp_validate).
    Mlp(std::vector<std::size_t> sizes, Activation activation);

    const std::vector<std::size_t>& sizes() const { return sizes_; }
    Activation activation() const { return activation_; }
    std::size_t layers() const { return sizes_.size() - 1; }
    std::size_t input_size() const { return sizes_.front(); }
    std::size_t output_size() const { return sizes_.back(); }
    std::size_t parameter_count() const { return offsets_.back(); }
    std::size_t weight_offset(std::size_t layer) const { return offsets_[layer - 1]; }
    std::size_t bias_offset(std::size_t layer) const {
        return offsets_[layer - 1] + sizes_[layer] * sizes_[layer - 1];
    }

    // W and b drawn as `init` says (default PyTorch's nn.Linear: both uniform in ±1/sqrt(fan_in)),
    // layer by layer from one seeded stream.
    std::vector<T> initial_parameters(std::uint64_t seed, const MlpInitOptions& init = {}) const;

    // Shapes above. forward leaves the output in ws.z[L].
    void forward(const T* parameters, const T* x, std::size_t rows, MlpWorkspace<T>& ws) const;
    // After forward. seed = nullptr means a seed of ones. Leaves ∇_x ⟨seed, D⟩ in ws.a[0].
    void reverse(const T* parameters, const T* seed, MlpWorkspace<T>& ws) const;
    // After reverse: grad += Σ_rows row_weight · ∂⟨seed, D⟩/∂w (row_weights = nullptr: all 1).
    void accumulate_parameter_gradient(const MlpWorkspace<T>& ws, const T* row_weights, T* grad) const;
    // After reverse. Leaves H_x v (the Hessian of ⟨seed, D⟩) in ws.ad[0].
    void tangent(const T* parameters, const T* v, MlpWorkspace<T>& ws) const;
    // After tangent: grad += Σ_rows ∇_w ⟨∇_x ⟨seed, D⟩, v⟩.
    void accumulate_mixed_gradient(const MlpWorkspace<T>& ws, T* grad) const;

    // Convenience: output (rows × n_L) and input gradient of the output sum (rows × n_0, needs n_L = 1
    // to be the gradient of each row's scalar output).
    void evaluate(const T* parameters, const T* x, std::size_t rows, T* output, MlpWorkspace<T>& ws) const;
    void input_gradient(const T* parameters, const T* x, std::size_t rows, T* gradient,
                        MlpWorkspace<T>& ws) const;

private:
    void resize(MlpWorkspace<T>& ws, std::size_t rows) const;

    std::vector<std::size_t> sizes_;
    Activation activation_;
    std::vector<std::size_t> offsets_;  // offsets_[l − 1] = start of W_l; back() = total count
};

extern template class Mlp<float>;
extern template class Mlp<double>;

}  // namespace kexue
