// Shapes: Q [B, Sq, H, D], K [B, Sk, Hkv, D], V [B, Sk, Hkv, Dv], O [B, Sq, H, Dv],
// logsumexp [B, H, Sq] (see attention.hpp); with layout 'bhsd' the S and H axes of Q, K, V, O swap.
// Layouts and element types are handled only where rows cross the boundary: Plan's *_index give an
// element offset in either layout (consecutive rows of a head are Strides::s apart), read_row
// converts float16 to float32 as tiles are loaded, write_row converts back on output.
//
// Forward (FlashAttention-2, Dao 2023, Algorithm 1): one task per (batch, head, tile of kQueryTile
// query rows). The task loads its query rows once — rotated by RoPE and multiplied by c_i: c_i
// depends only on the row (kexue.fm/8823), so scaling q_i scales row i of the logits exactly as
// bert4keras' softmax_plus does — then streams K and V in tiles of kKeyTile
// keys, keeping per row a running max m, a running sum ℓ and an unnormalised output; each new tile
// rescales them by exp(m_old − m_new). Nothing of size seq_q × seq_k is ever stored. At the end
// O = acc/ℓ and logsumexp = m + log ℓ are written.
//
// Backward (FlashAttention-2, Algorithm 2, with the dQ accumulation moved to its own pass): with
// D_i = rowsum(dO_i ∘ O_i) and P_ij = exp(s_ij − logsumexp_i) recomputed tile by tile,
//   dP = dO Vᵀ,  dS = P ∘ (dP − D),  dQ_i = c_i R_iᵀ Σ_j dS_ij (R_j k_j),
//   dK_j = R_jᵀ Σ_i dS_ij c_i (R_i q_i),  dV_j = Σ_i P_ij dO_i
// (the softmax gradient; n_i is a count and not differentiated; R_mᵀ = R_{−m}, kexue.fm/8265).
// Pass 1 runs one task per (batch, head, query tile) and owns its dQ rows; pass 2 one task per
// (batch, kv head, key tile), which owns its dK/dV rows and loops over every query head of its
// group (GQA) and every query tile. No two tasks write the same row, so there are no atomics and
// the result does not depend on the thread count; the price is computing S and dP twice.
//
// Every product runs through the GEMM's register-blocked micro-kernel (core/microkernel_4x2v_f32.hpp),
// C (+)= A·B on tiles held in zero-padded scratch (4 rows × 2 vectors of C in registers). Operands that
// many tasks share are packed once per call into contiguous, zero-padded tiles (pack_key_tiles,
// pack_query_tiles): RoPE-rotated Kᵀ (keys along the vector lanes, for S = Q'Kᵀ) and V for the
// forward pass — about one extra copy of K and V — and, for the backward pass, rotated K, Kᵀ and
// Vᵀ (pass 1) then Q', Q'ᵀ, dO and dOᵀ (pass 2). Re-rotating and transposing a tile inside every
// task cost as much as the products.
//
// Logit shaping and the other normalisations (attention.hpp, "Logit shaping") change only the
// per-element step between a score tile and P, and the running state: the softcap maps the scaled
// logits before the bias, ALiBi and mask are added; a sink starts a row's running max and sum at
// (z_h, 1); l2 keeps Σ e^{2(s−m)} instead of Σ e^{s−m}; relu² keeps no state and divides by n_i at
// the end; the backward passes' dS comes from weight_and_gradient. The normalisation and whether a
// softcap applies are template parameters (Rule), so the default path has no extra work.
//
// The exponentials use simd::vexp_f32 (core/vexp_f32.hpp: Cephes expf on xsimd batches), not
// xsimd::exp, whose float→int conversion compiles to lane-by-lane code under WASM SIMD and took
// half the forward time.

#include "attention/attention.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "attention/rope_kernel.hpp"
#include "core/microkernel_4x2v_f32.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/validate.hpp"
#include "core/vector_math.hpp"
#include "core/vexp_f32.hpp"

namespace kexue {
namespace {

using simd::AlignedFloats;
using simd::kVecWidth;
using simd::Vec;

constexpr std::size_t kBlockRows = simd::kMicroRows;
constexpr std::size_t kQueryTile = 64;
constexpr std::size_t kKeyTile = 64;
static_assert(kQueryTile % kVecWidth == 0 && kKeyTile % (2 * kVecWidth) == 0,
              "tiles must hold whole vectors");
static_assert(kQueryTile % kBlockRows == 0 && kKeyTile % kBlockRows == 0, "tiles must hold whole row blocks");

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();

std::size_t round_up(std::size_t value, std::size_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

// ---- products ----------------------------------------------------------------------------------

// C[rows × cols] (+)= A[rows × depth] · B[depth × cols] on scratch tiles: rows a multiple of 4 and
// cols a multiple of the vector width (the scratch is zero-padded to that). Inlined, so that the
// strides that are tile constants (kKeyTile) reach the micro-kernel as constants: V8 then folds them
// into the loads' immediate offsets instead of computing an address per broadcast (5% of the forward).
KEXUE_ALWAYS_INLINE void tile_matmul(std::size_t rows, std::size_t depth, std::size_t cols, const float* a, std::size_t lda,
                 const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate) {
    for (std::size_t r = 0; r < rows; r += kBlockRows) {
        std::size_t col = 0;
        for (; col + 2 * kVecWidth <= cols; col += 2 * kVecWidth)
            simd::microkernel_4x2v_f32(depth, a + r * lda, lda, 1, b + col, ldb, c + r * ldc + col, ldc, kBlockRows,
                                       2 * kVecWidth, accumulate);
        for (; col < cols; col += kVecWidth)
            simd::microkernel_4x1v_f32(depth, a + r * lda, lda, 1, b + col, ldb, c + r * ldc + col, ldc, kBlockRows,
                                       kVecWidth, accumulate);
    }
}

// ---- shared set-up -----------------------------------------------------------------------------

// The fused RoPE's (a·cos, a·sin) of rows it rotates, [rows, pairs]: for explicit positions, rows =
// seq (shared by the batch entries) or batch·seq (entry b's row i at b·seq + i); for the default
// (integer) positions, one row per position first_position … (by_position, batch entry 0).
struct RotationRows {
    std::size_t seq = 0;
    bool per_batch = false;
    AlignedFloats cos, sin;

    std::size_t offset(std::size_t b, std::size_t i, std::size_t pairs) const {
        return ((per_batch ? b * seq : 0) + i) * pairs;
    }
};

// Everything a task needs besides the tensors: strides, padded sizes, the caller's bias and mask
// with their broadcast strides, ALiBi's slopes, and the RoPE cos/sin rows: of the integer
// positions the default query and key positions take, and of explicit positionsQ / positionsK.
struct Plan {
    AttentionShape shape;
    AttentionOptions options;
    AttentionBuffers buffers;
    AttentionStrides bias_strides, mask_strides;
    std::vector<float> alibi_slopes;  // [heads] when alibi
    bool has_terms = false;           // a bias or ALiBi term is added to the logits
    std::size_t group;        // query heads per kv head
    std::size_t dim_padded;   // dim rounded up to the vector width
    std::size_t dim_v_padded;
    std::size_t query_tiles;
    std::size_t key_tiles;
    // Logit shaping and normalisation (attention.hpp): the softcap (0: none), and the sink logit
    // z_h of every query head (empty without sinks or smoothSoftmax).
    float cap = 0.0f;
    std::vector<float> sinks;
    // RoPE
    std::size_t rotary_pairs = 0;
    bool rotate_keys = false;  // false without RoPE and for a cache of rotated keys
    long first_position = 0;   // row 0 of by_position
    RotationRows by_position;  // the default positions the call needs (none for a rotated cache's keys)
    RotationRows query_rotation, key_rotation;  // explicit positionsQ / positionsK

    ElementType input_type = ElementType::float32;   // of q, k, v
    ElementType output_type = ElementType::float32;  // of o, and the backward's o, d_o, dq, dk, dv

    // Element strides over (batch, seq, head) of Q, K, V and O (also dQ… and dO): [batch, seq,
    // heads, width] for 'bshd', [batch, heads, seq, width] for 'bhsd' (make_plan). Consecutive rows
    // of one head are `.s` apart.
    struct Strides {
        std::size_t b = 0, s = 0, h = 0;
        std::size_t at(std::size_t bb, std::size_t ss, std::size_t hh) const { return bb * b + ss * s + hh * h; }
    };
    Strides q_strides, k_strides, v_strides, o_strides;

    std::size_t q_index(std::size_t b, std::size_t i, std::size_t h) const { return q_strides.at(b, i, h); }
    std::size_t k_index(std::size_t b, std::size_t j, std::size_t g) const { return k_strides.at(b, j, g); }
    std::size_t v_index(std::size_t b, std::size_t j, std::size_t g) const { return v_strides.at(b, j, g); }
    std::size_t o_index(std::size_t b, std::size_t i, std::size_t h) const { return o_strides.at(b, i, h); }
    std::size_t row_index(std::size_t b, std::size_t h, std::size_t i) const {
        return (b * shape.heads + h) * shape.seq_q + i;
    }
    // Rotates query row i of batch entry b (its default position `position`, attention_row) or key
    // j, dim floats, in place by its position's angle; `inverse` applies the transpose (the
    // gradient's rotation).
    void rotate_query(float* row, std::size_t b, std::size_t i, long position, bool inverse) const {
        if (!options.rope) return;
        if (options.rope->positions_q)
            rotate(query_rotation, row, b, i, inverse);
        else
            rotate(by_position, row, 0, static_cast<std::size_t>(position - first_position), inverse);
    }
    void rotate_key(float* row, std::size_t b, std::size_t j, bool inverse) const {
        if (!rotate_keys) return;
        if (options.rope->positions_k)
            rotate(key_rotation, row, b, j, inverse);
        else
            rotate(by_position, row, 0, static_cast<std::size_t>(static_cast<long>(j) - first_position), inverse);
    }
    void rotate(const RotationRows& rows, float* row, std::size_t b, std::size_t i, bool inverse) const {
        const std::size_t offset = rows.offset(b, i, rotary_pairs);
        rope_detail::rotate_segment(row, row, rotary_pairs, options.rope->layout, rows.cos.data() + offset,
                                    rows.sin.data() + offset, inverse);
    }
    // The bias and ALiBi terms of logit (b, h, i, j) for a query at `position`.
    float logit_term(std::size_t b, std::size_t h, std::size_t i, long position, std::size_t j) const {
        float term = 0.0f;
        if (buffers.bias) term += buffers.bias[bias_strides.at(b, h, i, j)];
        if (options.alibi) term -= alibi_slopes[h] * static_cast<float>(std::labs(position - static_cast<long>(j)));
        return term;
    }
    bool admits(std::size_t b, std::size_t h, std::size_t i, std::size_t j) const {
        return !buffers.mask || buffers.mask[mask_strides.at(b, h, i, j)] != 0;
    }
    // Adds the terms of keys j0 + a … j0 + e − 1 to the row's logits s[a:e], and sets the keys the
    // mask removes to −∞.
    void add_terms(std::size_t b, std::size_t h, std::size_t i, long position, std::size_t j0, std::size_t a,
                   std::size_t e, float* s) const {
        if (buffers.bias) {
            const float* row = buffers.bias + bias_strides.at(b, h, i, j0);
            if (bias_strides.j == 1)
                for (std::size_t c = a; c < e; ++c) s[c] += row[c];
            else
                for (std::size_t c = a; c < e; ++c) s[c] += row[0];
        }
        if (options.alibi) {
            const float slope = alibi_slopes[h];
            for (std::size_t c = a; c < e; ++c)
                s[c] -= slope * static_cast<float>(std::labs(position - static_cast<long>(j0 + c)));
        }
        if (buffers.mask) {
            const std::uint8_t* row = buffers.mask + mask_strides.at(b, h, i, j0);
            const std::size_t step = mask_strides.j;
            for (std::size_t c = a; c < e; ++c)
                if (row[c * step] == 0) s[c] = -std::numeric_limits<float>::infinity();
        }
    }
};

// The rows of one query tile: each row's position, its key range [begin, end) (attention_row; a
// row whose mask admits no key gets an empty range) and c_i, and the union of the ranges.
struct TileRows {
    long position[kQueryTile];
    std::size_t begin[kQueryTile], end[kQueryTile];
    float scale[kQueryTile];
    std::size_t visible[kQueryTile];  // n_i (with_scales only; relu²'s divisor)
    std::size_t key_begin, key_end;   // key_begin ≥ key_end when no row sees a key
};

// `with_scales`: also count n_i (a pass over the mask's row) and compute c_i.
void tile_rows(const Plan& plan, std::size_t b, std::size_t h, std::size_t i0, std::size_t rows, bool with_scales,
               TileRows& t) {
    t.key_begin = plan.shape.seq_k;
    t.key_end = 0;
    for (std::size_t r = 0; r < kQueryTile; ++r) {
        t.position[r] = 0;
        t.begin[r] = t.end[r] = 0;
        t.scale[r] = 0.0f;
        t.visible[r] = 0;
        if (r >= rows) continue;
        const AttentionRow row = attention_row(plan.shape, plan.options, b, i0 + r);
        t.position[r] = row.position;
        if (row.empty()) continue;
        if (with_scales) {
            const std::size_t n = attention_visible_keys(plan.shape, plan.options, plan.buffers, b, h, i0 + r);
            if (n == 0) continue;
            t.visible[r] = n;
            t.scale[r] = static_cast<float>(attention_row_scale(plan.options, n, plan.shape.dim));
        }
        t.begin[r] = row.begin;
        t.end[r] = row.end;
        t.key_begin = std::min(t.key_begin, row.begin);
        t.key_end = std::max(t.key_end, row.end);
    }
}

// The rows of explicit positions: `seq` of them shared by the batch entries, or batch·seq.
void fill_rotation(RotationRows& rows, std::size_t batch, std::size_t seq, const double* positions, bool per_batch,
                   const RopeSpectrum& spectrum, bool float32_angles) {
    const std::size_t pairs = spectrum.inverse_frequencies.size();
    rows.seq = seq;
    rows.per_batch = per_batch;
    const std::size_t count = (per_batch ? batch : 1) * seq;
    rows.cos.resize(count * pairs);
    rows.sin.resize(count * pairs);
    // The table costs count·pairs double cos and sin; spread it over the pool in chunks.
    constexpr std::size_t kChunk = 256;
    parallel_for((count + kChunk - 1) / kChunk, [&](std::size_t chunk) {
        const std::size_t end = std::min(count, (chunk + 1) * kChunk);
        for (std::size_t r = chunk * kChunk; r < end; ++r)
            rope_detail::fill_cos_sin(positions[r], spectrum.inverse_frequencies.data(), pairs, false,
                                      rows.cos.data() + r * pairs, rows.sin.data() + r * pairs, float32_angles,
                                      spectrum.attention_factor);
    });
}

// The lowest position a query or key takes: queries sit at Lk_b − Lq_b + i, which is negative for
// the first rows when Lq_b > Lk_b (not causal).
long first_rope_position(const AttentionShape& shape, const AttentionOptions& options) {
    long first = 0;
    for (std::size_t b = 0; b < shape.batch; ++b)
        first = std::min(first, static_cast<long>(attention_seq_len_k(shape, options, b)) -
                                    static_cast<long>(attention_seq_len_q(shape, options, b)));
    return first;
}

// The default positions a call rotates at, [first, last]: the queries' Lk_b − Lq_b + i (padding
// rows included) unless positionsQ gives them, and the keys' 0 … seq_k − 1 unless positionsK
// gives them or they come rotated. Empty (first > last) when nothing uses them: a decoding step
// over a rotated cache needs the new queries' positions only, whatever the cache's length.
std::pair<long, long> default_rope_positions(const AttentionShape& shape, const AttentionOptions& options) {
    const AttentionRope& rope = *options.rope;
    long first = std::numeric_limits<long>::max(), last = std::numeric_limits<long>::min();
    if (!rope.positions_q && shape.seq_q > 0)
        for (std::size_t b = 0; b < shape.batch; ++b) {
            const long shift = static_cast<long>(attention_seq_len_k(shape, options, b)) -
                               static_cast<long>(attention_seq_len_q(shape, options, b));
            first = std::min(first, shift);
            last = std::max(last, shift + static_cast<long>(shape.seq_q) - 1);
        }
    if (rope.cached_keys == RopeCachedKeys::unrotated && !rope.positions_k && shape.seq_k > 0) {
        first = std::min(first, 0L);
        last = std::max(last, static_cast<long>(shape.seq_k) - 1);
    }
    return {first, last};
}

Plan make_plan(const AttentionShape& shape, const AttentionOptions& options, const AttentionBuffers& buffers) {
    assert(!attention_validate(shape, options));
    assert(!options.bias || buffers.bias);
    assert(!options.mask || buffers.mask);
    Plan plan;
    plan.shape = shape;
    plan.options = options;
    plan.buffers.bias = options.bias ? buffers.bias : nullptr;
    plan.buffers.mask = options.mask ? buffers.mask : nullptr;
    if (options.bias) plan.bias_strides = attention_strides(*options.bias);
    if (options.mask) plan.mask_strides = attention_strides(*options.mask);
    plan.alibi_slopes = attention_alibi_slopes(shape, options);
    plan.has_terms = plan.buffers.bias || plan.buffers.mask || options.alibi;
    plan.group = shape.heads / shape.kv_heads;
    plan.input_type = options.input_type;
    plan.output_type = options.resolved_output_type();
    const auto strides = [&](std::size_t seq, std::size_t heads, std::size_t width) {
        return options.layout == AttentionLayout::bhsd ? Plan::Strides{heads * seq * width, width, seq * width}
                                                       : Plan::Strides{seq * heads * width, heads * width, width};
    };
    plan.q_strides = strides(shape.seq_q, shape.heads, shape.dim);
    plan.k_strides = strides(shape.seq_k, shape.kv_heads, shape.dim);
    plan.v_strides = strides(shape.seq_k, shape.kv_heads, shape.dim_v);
    plan.o_strides = strides(shape.seq_q, shape.heads, shape.dim_v);
    plan.dim_padded = round_up(shape.dim, kVecWidth);
    plan.dim_v_padded = round_up(std::max<std::size_t>(shape.dim_v, 1), kVecWidth);
    plan.query_tiles = (shape.seq_q + kQueryTile - 1) / kQueryTile;
    plan.key_tiles = (shape.seq_k + kKeyTile - 1) / kKeyTile;
    plan.cap = static_cast<float>(attention_cap(options));
    if (attention_has_sink(options)) {
        plan.sinks.resize(shape.heads);
        for (std::size_t h = 0; h < shape.heads; ++h) plan.sinks[h] = static_cast<float>(attention_sink(options, h));
    }
    if (options.rope) {
        const AttentionRope& rope = *options.rope;
        const std::size_t rotary_dim = rope.rotary_dim == 0 ? shape.dim : rope.rotary_dim;
        plan.rotary_pairs = rotary_dim / 2;
        plan.rotate_keys = rope.cached_keys == RopeCachedKeys::unrotated;
        const RopeSpectrum spectrum = rope_spectrum(rotary_dim, rope.base, rope.scaling, rope.inverse_frequencies);
        const auto [first, last] = default_rope_positions(shape, options);
        if (first <= last) {
            plan.first_position = first;
            const std::size_t count = static_cast<std::size_t>(last - first + 1);
            std::vector<double> positions(count);
            for (std::size_t p = 0; p < count; ++p) positions[p] = static_cast<double>(first + static_cast<long>(p));
            fill_rotation(plan.by_position, 1, count, positions.data(), false, spectrum, rope.float32_angles);
        }
        if (rope.positions_q)
            fill_rotation(plan.query_rotation, shape.batch, shape.seq_q, rope.positions_q, rope.positions_q_per_batch,
                          spectrum, rope.float32_angles);
        if (plan.rotate_keys && rope.positions_k)
            fill_rotation(plan.key_rotation, shape.batch, shape.seq_k, rope.positions_k, rope.positions_k_per_batch,
                          spectrum, rope.float32_angles);
    }
    return plan;
}

// count elements of `type` at element offset `offset` of `base`, as floats (float16 converted).
void read_row(const void* base, ElementType type, std::size_t offset, std::size_t count, float* dst) {
    if (type == ElementType::float16)
        f16_to_f32_row(static_cast<const std::uint16_t*>(base) + offset, dst, count);
    else
        std::copy_n(static_cast<const float*>(base) + offset, count, dst);
}

// count floats to `base` at element offset `offset`, as elements of `type` (float16: rounded to
// nearest even).
void write_row(void* base, ElementType type, std::size_t offset, const float* src, std::size_t count) {
    if (type == ElementType::float16)
        f32_to_f16_row(src, static_cast<std::uint16_t*>(base) + offset, count);
    else
        std::copy_n(src, count, static_cast<float*>(base) + offset);
}

// dst[c·ld_dst + r] = src[r·ld_src + c] for r < rows, c < cols. With 4-float vectors (WASM SIMD),
// 4×4 blocks go through registers (two rounds of interleaves); a scalar scatter of every element
// cost as much as a tenth of a short forward pass in pack_key_tiles.
void transpose_tile(const float* src, std::size_t ld_src, std::size_t rows, std::size_t cols, float* dst,
                    std::size_t ld_dst) {
    std::size_t r0 = 0;
    if constexpr (kVecWidth == 4) {
        using DoubleVec = xsimd::batch<double>;
        for (; r0 + 4 <= rows; r0 += 4) {
            std::size_t c0 = 0;
            for (; c0 + 4 <= cols; c0 += 4) {
                const float* in = src + r0 * ld_src + c0;
                const Vec a = Vec::load_unaligned(in), b = Vec::load_unaligned(in + ld_src);
                const Vec c = Vec::load_unaligned(in + 2 * ld_src), d = Vec::load_unaligned(in + 3 * ld_src);
                // (a0 b0 a1 b1), (a2 b2 a3 b3), (c0 d0 c1 d1), (c2 d2 c3 d3), then pairs of lanes.
                const auto ab_lo = xsimd::bitwise_cast<DoubleVec>(xsimd::zip_lo(a, b));
                const auto ab_hi = xsimd::bitwise_cast<DoubleVec>(xsimd::zip_hi(a, b));
                const auto cd_lo = xsimd::bitwise_cast<DoubleVec>(xsimd::zip_lo(c, d));
                const auto cd_hi = xsimd::bitwise_cast<DoubleVec>(xsimd::zip_hi(c, d));
                float* out = dst + c0 * ld_dst + r0;
                xsimd::bitwise_cast<Vec>(xsimd::zip_lo(ab_lo, cd_lo)).store_unaligned(out);
                xsimd::bitwise_cast<Vec>(xsimd::zip_hi(ab_lo, cd_lo)).store_unaligned(out + ld_dst);
                xsimd::bitwise_cast<Vec>(xsimd::zip_lo(ab_hi, cd_hi)).store_unaligned(out + 2 * ld_dst);
                xsimd::bitwise_cast<Vec>(xsimd::zip_hi(ab_hi, cd_hi)).store_unaligned(out + 3 * ld_dst);
            }
            for (; c0 < cols; ++c0)
                for (std::size_t r = r0; r < r0 + 4; ++r) dst[c0 * ld_dst + r] = src[r * ld_src + c0];
        }
    }
    for (; r0 < rows; ++r0)
        for (std::size_t c = 0; c < cols; ++c) dst[c * ld_dst + r0] = src[r0 * ld_src + c];
}

// Loads query rows i0 … i0+rows−1 of head h, rotated and multiplied by c_i (rows.scale), into
// `tile` ([kQueryTile × dim_padded], zero-padded), and optionally their transpose into `tile_t`
// ([dim × kQueryTile]).
void load_query_tile(const Plan& plan, const void* q, std::size_t b, std::size_t h, std::size_t i0,
                     std::size_t rows, const TileRows& info, float* tile, float* tile_t) {
    const std::size_t dim = plan.shape.dim, ld = plan.dim_padded;
    std::fill(tile, tile + kQueryTile * ld, 0.0f);
    for (std::size_t r = 0; r < rows; ++r) {
        float* row = tile + r * ld;
        read_row(q, plan.input_type, plan.q_index(b, i0 + r, h), dim, row);
        plan.rotate_query(row, b, i0 + r, info.position[r], false);
        const float scale = info.scale[r];
        for (std::size_t p = 0; p < dim; ++p) row[p] *= scale;
    }
    if (tile_t) transpose_tile(tile, ld, kQueryTile, dim, tile_t, kQueryTile);  // padded rows are zero
}

// Loads rotated keys j0 … j0+cols−1 of kv head g: as rows into `rows_out` ([kKeyTile × dim_padded])
// and/or transposed into `transposed` ([dim × kKeyTile]); both zero-padded. Either may be null;
// `scratch` (a [kKeyTile × dim_padded] tile) holds the rows on their way to `transposed` when
// `rows_out` is null.
void load_key_tile(const Plan& plan, const void* k, std::size_t b, std::size_t g, std::size_t j0,
                   std::size_t cols, float* rows_out, float* transposed, float* scratch) {
    const std::size_t dim = plan.shape.dim, ld = plan.dim_padded;
    float* rows = rows_out ? rows_out : scratch;
    std::fill(rows, rows + kKeyTile * ld, 0.0f);
    for (std::size_t c = 0; c < cols; ++c) {
        read_row(k, plan.input_type, plan.k_index(b, j0 + c, g), dim, rows + c * ld);
        plan.rotate_key(rows + c * ld, b, j0 + c, false);
    }
    if (transposed) transpose_tile(rows, ld, kKeyTile, dim, transposed, kKeyTile);
}

// `count` rows of `width` elements of `type`, the first at element offset `offset` of x and the
// next ones `stride` apart (one head's rows, Plan::Strides::s), as rows ([tile × ld], zero-padded)
// and/or transposed ([width × tile]); `scratch` ([tile × ld]) stands in for a null `rows_out`.
void load_rows(const void* x, ElementType type, std::size_t offset, std::size_t stride, std::size_t width,
               std::size_t count, std::size_t tile, std::size_t ld, float* rows_out, float* transposed,
               float* scratch) {
    float* rows = rows_out ? rows_out : scratch;
    std::fill(rows, rows + tile * ld, 0.0f);
    for (std::size_t c = 0; c < count; ++c) read_row(x, type, offset + c * stride, width, rows + c * ld);
    if (transposed) transpose_tile(rows, ld, tile, width, transposed, tile);
}

// Operands reused by many tasks are laid out once per call rather than once per task: a key tile
// is read by every query tile of its head (and a query tile by every key tile in the backward
// pass), and re-rotating and transposing it each time cost as much as the products themselves.
// Tile t of (batch b, head h) sits at index (b·heads + h)·tiles + t; every tile is zero-padded.
struct KeyTiles {
    AlignedFloats rows;        // rotated K, [kKeyTile × dim_padded] per tile
    AlignedFloats transposed;  // rotated Kᵀ, [dim × kKeyTile] per tile
    AlignedFloats values_t;    // Vᵀ, [dim_v × kKeyTile] per tile
    AlignedFloats values;      // V, [kKeyTile × dim_v_padded] per tile
};

std::size_t key_tile_index(const Plan& plan, std::size_t b, std::size_t g, std::size_t kt) {
    return (b * plan.shape.kv_heads + g) * plan.key_tiles + kt;
}

KeyTiles pack_key_tiles(const Plan& plan, const void* k, const void* v, bool rows, bool transposed,
                        bool values_t, bool values) {
    const AttentionShape& shape = plan.shape;
    const std::size_t tiles = shape.batch * shape.kv_heads * plan.key_tiles;
    KeyTiles pack;
    if (rows) pack.rows.resize(tiles * kKeyTile * plan.dim_padded);
    if (transposed) pack.transposed.resize(tiles * shape.dim * kKeyTile);
    if (values_t) pack.values_t.resize(tiles * shape.dim_v * kKeyTile);
    if (values) pack.values.resize(tiles * kKeyTile * plan.dim_v_padded);
    parallel_for(tiles, [&](std::size_t t) {
        const std::size_t kt = t % plan.key_tiles, g = (t / plan.key_tiles) % shape.kv_heads;
        const std::size_t b = t / plan.key_tiles / shape.kv_heads;
        // Keys past seqLensK[b] are never read: their rows stay zero (padding costs no packing).
        const std::size_t j0 = kt * kKeyTile, valid = attention_seq_len_k(shape, plan.options, b);
        const std::size_t cols = j0 < valid ? std::min(kKeyTile, valid - j0) : 0;
        AlignedFloats scratch(kKeyTile * std::max(plan.dim_padded, plan.dim_v_padded));
        if (rows || transposed)
            load_key_tile(plan, k, b, g, j0, cols, rows ? pack.rows.data() + t * kKeyTile * plan.dim_padded : nullptr,
                          transposed ? pack.transposed.data() + t * shape.dim * kKeyTile : nullptr, scratch.data());
        if (values_t || values)
            load_rows(v, plan.input_type, plan.v_index(b, j0, g), plan.v_strides.s,
                      shape.dim_v, cols, kKeyTile, plan.dim_v_padded,
                      values ? pack.values.data() + t * kKeyTile * plan.dim_v_padded : nullptr,
                      values_t ? pack.values_t.data() + t * shape.dim_v * kKeyTile : nullptr, scratch.data());
    });
    return pack;
}

// The backward pass's query-side tiles: Q' = c_i·R_i q_i as rows and transposed, dO likewise.
struct QueryTiles {
    AlignedFloats rows, transposed, grad_rows, grad_transposed;
};

std::size_t query_tile_index(const Plan& plan, std::size_t b, std::size_t h, std::size_t qt) {
    return (b * plan.shape.heads + h) * plan.query_tiles + qt;
}

QueryTiles pack_query_tiles(const Plan& plan, const void* q, const void* d_o) {
    const AttentionShape& shape = plan.shape;
    const std::size_t tiles = shape.batch * shape.heads * plan.query_tiles;
    QueryTiles pack;
    pack.rows.resize(tiles * kQueryTile * plan.dim_padded);
    pack.transposed.resize(tiles * shape.dim * kQueryTile);
    pack.grad_rows.resize(tiles * kQueryTile * plan.dim_v_padded);
    pack.grad_transposed.resize(tiles * shape.dim_v * kQueryTile);
    parallel_for(tiles, [&](std::size_t t) {
        const std::size_t qt = t % plan.query_tiles, h = (t / plan.query_tiles) % shape.heads;
        const std::size_t b = t / plan.query_tiles / shape.heads;
        // Query rows past seqLensQ[b] see no key: their rows stay zero.
        const std::size_t i0 = qt * kQueryTile, valid = attention_seq_len_q(shape, plan.options, b);
        const std::size_t rows = i0 < valid ? std::min(kQueryTile, valid - i0) : 0;
        TileRows info;
        tile_rows(plan, b, h, i0, rows, true, info);
        load_query_tile(plan, q, b, h, i0, rows, info, pack.rows.data() + t * kQueryTile * plan.dim_padded,
                        pack.transposed.data() + t * shape.dim * kQueryTile);
        load_rows(d_o, plan.output_type, plan.o_index(b, i0, h), plan.o_strides.s, shape.dim_v,
                  rows, kQueryTile, plan.dim_v_padded, pack.grad_rows.data() + t * kQueryTile * plan.dim_v_padded,
                  pack.grad_transposed.data() + t * shape.dim_v * kQueryTile, nullptr);
    });
    return pack;
}

// min and max of x[0:count], count ≥ 1: whole vectors first (two running extremes each, so that
// consecutive vectors do not wait on each other), then the lanes and the tail, without branches:
// WASM's one-instruction min/max (core/simd.hpp), and selects for the lanes — a data-dependent
// branch per lane (std::max_element) mispredicted often enough to cost 5% of the forward pass.
struct Range {
    float min, max;
};
Range row_range(const float* x, std::size_t count) {
    Range out{x[0], x[0]};
    std::size_t j = 0;
    if (count >= 2 * kVecWidth) {
        Vec low0 = Vec::load_unaligned(x), low1 = Vec::load_unaligned(x + kVecWidth);
        Vec high0 = low0, high1 = low1;
        for (j = 2 * kVecWidth; j + 2 * kVecWidth <= count; j += 2 * kVecWidth) {
            const Vec next0 = Vec::load_unaligned(x + j), next1 = Vec::load_unaligned(x + j + kVecWidth);
            low0 = simd::min_not_nan(low0, next0);
            low1 = simd::min_not_nan(low1, next1);
            high0 = simd::max_not_nan(high0, next0);
            high1 = simd::max_not_nan(high1, next1);
        }
        alignas(64) float lows[kVecWidth], highs[kVecWidth];
        simd::min_not_nan(low0, low1).store_aligned(lows);
        simd::max_not_nan(high0, high1).store_aligned(highs);
        for (std::size_t l = 0; l < kVecWidth; ++l) {
            out.min = lows[l] < out.min ? lows[l] : out.min;
            out.max = highs[l] > out.max ? highs[l] : out.max;
        }
    }
    for (; j < count; ++j) {
        out.min = x[j] < out.min ? x[j] : out.min;
        out.max = x[j] > out.max ? x[j] : out.max;
    }
    return out;
}

constexpr float kFloatMax = std::numeric_limits<float>::max();

// exp(x − shift), through simd::vexp_softmax_f32 (exp2 form, one-instruction clamp: 40% cheaper
// than vexp_f32 in the forward pass; its arguments are logits minus a running max, below 88). It
// clamps its argument at −87.3, so a masked (−∞) logit, or one 3e38 below the row's max, would
// weigh 1.2e−38 instead of 0 — enough to move an output whose values are ~1e38 (issue 18). kFlush
// sends results below exp(−87) to 0; the callers skip it when no argument can be below −87.
// kSaturate first cuts a logit that overflowed to +∞ (a finite q·k beyond float32) to the largest
// float, as the forward pass's row max is, so that no ∞ − ∞ appears; only rows whose log-sum-exp
// saturated can hold one.
template <bool kFlush, bool kSaturate>
inline Vec exp_shifted(Vec x, Vec shift) {
    if constexpr (kSaturate) x = simd::min_not_nan(x, Vec(kFloatMax));
    const Vec arg = x - shift;
    if constexpr (kFlush) return xsimd::select(arg < Vec(simd::kVexpMin), Vec(0.0f), simd::vexp_softmax_f32(arg));
    return simd::vexp_softmax_f32(arg);
}

// The same on one float (the lanes of a vector that the row only partly sees).
template <bool kFlush, bool kSaturate>
inline float exp_shifted_scalar(float x, float shift) {
    if constexpr (kSaturate) x = std::min(x, kFloatMax);
    const float arg = x - shift;
    if constexpr (kFlush) return arg < simd::kVexpMin ? 0.0f : std::exp(arg);
    return std::exp(arg);
}

// The backward passes' form: flush and saturate always (their rows' statistics are final, and one
// check per vector costs little next to the two products).
inline Vec exp_or_zero(Vec x, Vec shift) { return exp_shifted<true, true>(x, shift); }

// exp(x[a:e] − shift) in place, zero elsewhere in x[0:n] (n a multiple of the vector width; keys
// the row does not see); returns the sum (of the squares with SumSquares, for l2). One pass over the
// whole vectors inside [a, e), the sum taken as the exponentials are stored (two accumulators, so
// that consecutive vectors do not wait on each other's add); the lanes of a vector the row only
// partly sees go one by one, since what lies outside [a, e) may be any logit (an unseen key's),
// whose exponential could overflow.
template <bool kFlush, bool kSaturate, bool SumSquares = false>
float exp_shifted_range(float* x, std::size_t n, float shift, std::size_t a, std::size_t e) {
    const Vec shift_vec(shift);
    const std::size_t whole_begin = std::min(round_up(a, kVecWidth), e);
    const std::size_t whole_end = std::max(e / kVecWidth * kVecWidth, whole_begin);
    const auto add = [](Vec sum, Vec p) { return SumSquares ? xsimd::fma(p, p, sum) : sum + p; };
    Vec sum0(0.0f), sum1(0.0f);
    std::size_t j = whole_begin;
    for (; j + 2 * kVecWidth <= whole_end; j += 2 * kVecWidth) {
        const Vec e0 = exp_shifted<kFlush, kSaturate>(Vec::load_unaligned(x + j), shift_vec);
        const Vec e1 = exp_shifted<kFlush, kSaturate>(Vec::load_unaligned(x + j + kVecWidth), shift_vec);
        e0.store_unaligned(x + j);
        e1.store_unaligned(x + j + kVecWidth);
        sum0 = add(sum0, e0);
        sum1 = add(sum1, e1);
    }
    for (; j < whole_end; j += kVecWidth) {
        const Vec e0 = exp_shifted<kFlush, kSaturate>(Vec::load_unaligned(x + j), shift_vec);
        e0.store_unaligned(x + j);
        sum0 = add(sum0, e0);
    }
    float sum = xsimd::hadd(sum0 + sum1);
    const auto add_scalar = [&](std::size_t c) {
        const float p = x[c] = exp_shifted_scalar<kFlush, kSaturate>(x[c], shift);
        sum += SumSquares ? p * p : p;
    };
    for (std::size_t c = a; c < whole_begin; ++c) add_scalar(c);
    for (std::size_t c = whole_end; c < e; ++c) add_scalar(c);
    std::fill(x, x + a, 0.0f);
    std::fill(x + e, x + n, 0.0f);
    return sum;
}

// ---- logit shaping and normalisation, vectorised (attention.hpp holds the definitions) ----------

// The normalisation and whether a softcap applies, as template parameters of the tasks: the
// default (softmax, no softcap) compiles to the loops it had before these options existed.
template <AttentionNormalize N, bool Capped>
struct Rule {
    static constexpr AttentionNormalize normalize = N;
    static constexpr bool capped = Capped;
};

// Calls f(Rule<…>{}) for the plan's normalisation and softcap.
template <typename F>
void with_rule(const Plan& plan, F&& f) {
    const bool capped = plan.cap > 0.0f;
    switch (plan.options.normalize) {
        case AttentionNormalize::relu2:
            if (capped) f(Rule<AttentionNormalize::relu2, true>{});
            else f(Rule<AttentionNormalize::relu2, false>{});
            return;
        case AttentionNormalize::l2:
            if (capped) f(Rule<AttentionNormalize::l2, true>{});
            else f(Rule<AttentionNormalize::l2, false>{});
            return;
        case AttentionNormalize::softmax:
        default:
            if (capped) f(Rule<AttentionNormalize::softmax, true>{});
            else f(Rule<AttentionNormalize::softmax, false>{});
            return;
    }
}

// y = cap·tanh(x/cap) (attention_softcap) on x[0:n] in place, n a multiple of the vector width;
// with `copy`, also into copy[0:n] (the backward pass's slope reads it after the terms are added).
void softcap_row(float* x, std::size_t n, float cap, float* copy = nullptr) {
    const Vec cap_vec(cap), inverse(1.0f / cap);
    for (std::size_t j = 0; j < n; j += kVecWidth) {
        const Vec y = cap_vec * simd::vtanh_f32(Vec::load_unaligned(x + j) * inverse);
        y.store_unaligned(x + j);
        if (copy) y.store_unaligned(copy + j);
    }
}

// relu(s)² (attention_weight_numerator of relu2) on x[a:e] in place, zero elsewhere in x[0:n]
// (a masked logit is −∞: relu gives 0).
void relu_squared_range(float* x, std::size_t n, std::size_t a, std::size_t e) {
    for (std::size_t j = 0; j < n; j += kVecWidth) {
        const Vec r = xsimd::max(Vec::load_unaligned(x + j), Vec(0.0f));
        (r * r).store_unaligned(x + j);
    }
    std::fill(x, x + a, 0.0f);
    std::fill(x + e, x + n, 0.0f);
}

// The weight P and ∂loss/∂x for a vector of logits s (after the softcap and the additive terms; −∞
// where masked), given the capped values y = cap·tanh(x/cap) (the softcap's slope 1 − (y/cap)²),
// dP = dO·v, the row statistic L and D = dO·O, each per lane: attention_weight_numerator and
// attention_score_gradient of attention.hpp.
template <class R>
inline void weight_and_gradient(Vec s, Vec y, Vec d_p, Vec statistic, Vec row_dot, float cap, Vec& p, Vec& d_x) {
    if constexpr (R::normalize == AttentionNormalize::relu2) {
        const Vec r = xsimd::max(s, Vec(0.0f));
        const Vec inverse_n = simd::vexp_f32(-statistic);  // L = log n_i
        p = r * r * inverse_n;
        d_x = Vec(2.0f) * d_p * r * inverse_n;
    } else if constexpr (R::normalize == AttentionNormalize::l2) {
        p = exp_or_zero(s, statistic);
        d_x = p * xsimd::fnma(p, row_dot, d_p);
    } else {
        p = exp_or_zero(s, statistic);
        d_x = p * (d_p - row_dot);
    }
    if constexpr (R::capped) {
        const Vec t = y * Vec(1.0f / cap);
        d_x *= xsimd::fnma(t, t, Vec(1.0f));
    }
}

// The part [a, e) of key tile [j0, j0 + cols) that a row with keys [begin, end) sees.
struct Span {
    std::size_t a, e;
    bool empty() const { return e <= a; }
};
Span tile_span(std::size_t begin, std::size_t end, std::size_t j0, std::size_t cols) {
    return {std::clamp(begin, j0, j0 + cols) - j0, std::clamp(end, j0, j0 + cols) - j0};
}

// The first key tile a query tile reads (key_begin rounded down to a tile), or past the end.
std::size_t first_key(const TileRows& info) {
    return info.key_begin < info.key_end ? info.key_begin / kKeyTile * kKeyTile : info.key_end;
}

// ---- forward -------------------------------------------------------------------------------------

// How far the running max may lag behind a row's true max before the accumulators are rescaled
// (natural-log units): exponentials up to e^8 ≈ 3·10³ are then summed, far from float's range.
constexpr float kLazyRescaleThreshold = 8.0f;

// One step of the online softmax (FlashAttention-2, Algorithm 1) for a row of the score tile whose
// visible part span = [a, e) has logits in `range` (max > −∞): s[a:e] becomes exp(s − m) in place
// (the rest of the row is zeroed), ℓ and the row's accumulator are brought to the shift m. The
// shift is the running max, raised only when a tile's max exceeds it by more than
// kLazyRescaleThreshold — the lazy rescaling of FlashAttention-4 (Dao et al., 2025): the softmax is
// invariant to the shift, any m ≥ max − threshold keeps the exponentials bounded, and after the
// first tiles the max rarely moves that far, so the rescale of the accumulator row and its scalar
// exp are skipped. A +∞ logit (q·k beyond float32) saturates to the largest float (exp_shifted).
// With Squares (normalize 'l2') ℓ = Σ e^{2(s−m)}: the sum takes squares and rescales by the square.
// A row with a sink starts at m = z_h, ℓ = 1 (forward_task), so its first tile rescales ℓ too.
template <bool Squares>
void online_softmax_step(float* s, Span span, Range range, float& running_max, float& running_sum, float* acc_row,
                         std::size_t ldv) {
    const bool overflowed = range.max > kFloatMax;
    const float tile_max = std::min(range.max, kFloatMax);
    // Never true on a row's first tile (m = −∞ and tile_max > −∞).
    const bool lazy = tile_max <= running_max + kLazyRescaleThreshold;
    const bool first = running_max == kNegativeInfinity;  // the accumulator and ℓ are still zero
    const float shift = lazy ? running_max : tile_max;
    const float tile_sum =
        overflowed ? exp_shifted_range<true, true, Squares>(s, kKeyTile, shift, span.a, span.e)
        : range.min - shift < simd::kVexpMin
            ? exp_shifted_range<true, false, Squares>(s, kKeyTile, shift, span.a, span.e)
            : exp_shifted_range<false, false, Squares>(s, kKeyTile, shift, span.a, span.e);
    if (lazy) {
        running_sum += tile_sum;
        return;
    }
    const float rescale = first ? 0.0f : std::exp(running_max - tile_max);
    running_sum = running_sum * (Squares ? rescale * rescale : rescale) + tile_sum;
    running_max = tile_max;
    if (!first) {
        const Vec rescale_vec(rescale);
        for (std::size_t p = 0; p < ldv; p += kVecWidth)
            (Vec::load_aligned(acc_row + p) * rescale_vec).store_aligned(acc_row + p);
    }
}

// The work of one forward or dQ task: batch b, query head h (reading kv head g), and the query
// rows [i0, i0 + rows) of one query tile, padded to row_blocks rows for the micro-kernel.
struct QueryTileTask {
    std::size_t b, h, g, i0, rows, row_blocks;
};

// Tasks are numbered (b · heads + h) · query_tiles + query tile.
QueryTileTask query_tile_task(const Plan& plan, std::size_t task) {
    const std::size_t qt = task % plan.query_tiles;
    const std::size_t h = (task / plan.query_tiles) % plan.shape.heads;
    const std::size_t b = task / plan.query_tiles / plan.shape.heads;
    const std::size_t i0 = qt * kQueryTile;
    const std::size_t rows = std::min(kQueryTile, plan.shape.seq_q - i0);
    return {b, h, h / plan.group, i0, rows, round_up(rows, kBlockRows)};
}

// Per row, the forward pass keeps a running max m and a running sum ℓ: for softmax ℓ = Σ e^{s−m}
// (a sink z_h counts as one more term: m starts at z_h and ℓ at 1), for l2 ℓ = Σ e^{2(s−m)}; relu2
// needs neither (P = relu(s)²/n_i has no data-dependent normaliser).
template <class R>
void forward_task(const Plan& plan, const KeyTiles& keys, const void* q, void* o, float* logsumexp,
                  std::size_t task) {
    constexpr AttentionNormalize kNormalize = R::normalize;
    const AttentionShape& shape = plan.shape;
    const auto [b, h, g, i0, rows, row_blocks] = query_tile_task(plan, task);
    const std::size_t ldv = plan.dim_v_padded;
    TileRows info;
    tile_rows(plan, b, h, i0, rows, true, info);

    AlignedFloats q_tile(kQueryTile * plan.dim_padded), scores(kQueryTile * kKeyTile), acc(kQueryTile * ldv, 0.0f);
    float running_max[kQueryTile], running_sum[kQueryTile];
    std::fill(running_max, running_max + kQueryTile, kNegativeInfinity);
    std::fill(running_sum, running_sum + kQueryTile, 0.0f);
    if (kNormalize == AttentionNormalize::softmax && !plan.sinks.empty()) {
        std::fill(running_max, running_max + kQueryTile, plan.sinks[h]);
        std::fill(running_sum, running_sum + kQueryTile, 1.0f);
    }

    load_query_tile(plan, q, b, h, i0, rows, info, q_tile.data(), nullptr);
    // Only the key tiles some row of the tile sees are read: causal masking, padding and windows
    // skip the rest, so a window of w keys costs O(n·w), not O(n²).
    for (std::size_t j0 = first_key(info); j0 < info.key_end; j0 += kKeyTile) {
        const std::size_t cols = std::min(kKeyTile, info.key_end - j0);
        // Packed, contiguous tiles: V read in place would stride by kv_heads·dim_v floats per key
        // (2 KiB for 8 heads of 64), which maps a tile onto a few L1 sets and thrashes them.
        const std::size_t tile = key_tile_index(plan, b, g, j0 / kKeyTile);
        const float* k_tile_t = keys.transposed.data() + tile * shape.dim * kKeyTile;
        const float* v_rows = keys.values.data() + tile * kKeyTile * ldv;
        tile_matmul(row_blocks, shape.dim, kKeyTile, q_tile.data(), plan.dim_padded, k_tile_t, kKeyTile,
                    scores.data(), kKeyTile, false);
        for (std::size_t r = 0; r < kQueryTile; ++r) {
            float* s = scores.data() + r * kKeyTile;
            const Span span = tile_span(info.begin[r], info.end[r], j0, cols);
            // The softcap acts on the scaled logit, before the bias, ALiBi and mask (attention.hpp).
            if constexpr (R::capped)
                if (!span.empty()) softcap_row(s, kKeyTile, plan.cap);
            if (!span.empty() && plan.has_terms) plan.add_terms(b, h, i0 + r, info.position[r], j0, span.a, span.e, s);
            if constexpr (kNormalize == AttentionNormalize::relu2) {  // no running state
                if (span.empty()) std::fill(s, s + kKeyTile, 0.0f);
                else relu_squared_range(s, kKeyTile, span.a, span.e);
                continue;
            }
            // Nothing visible in this tile (or only −∞ logits): the row's state is unchanged.
            const Range range = span.empty() ? Range{kNegativeInfinity, kNegativeInfinity}
                                             : row_range(s + span.a, span.e - span.a);
            if (range.max == kNegativeInfinity) {
                std::fill(s, s + kKeyTile, 0.0f);
                continue;
            }
            online_softmax_step<kNormalize == AttentionNormalize::l2>(s, span, range, running_max[r], running_sum[r],
                                                                      acc.data() + r * ldv, ldv);
        }
        // Only the first `cols` keys can be seen (the rest of P is zero), so the depth is cols.
        tile_matmul(row_blocks, cols, ldv, scores.data(), kKeyTile, v_rows, ldv, acc.data(), ldv, true);
    }

    // O_i = acc_i · e^{−L_i} (attention.hpp): L = m + log ℓ (softmax), m + ½ log ℓ (l2), log n_i
    // (relu2); a row that sees nothing (ℓ = 0 or n_i = 0) gets zeros and L = −∞.
    for (std::size_t r = 0; r < rows; ++r) {
        float* out = acc.data() + r * ldv;
        float inverse_norm = 0.0f, statistic = kNegativeInfinity;
        if constexpr (kNormalize == AttentionNormalize::relu2) {
            if (info.visible[r] > 0) {
                inverse_norm = 1.0f / static_cast<float>(info.visible[r]);
                statistic = static_cast<float>(std::log(static_cast<double>(info.visible[r])));
            }
        } else if (running_sum[r] > 0.0f) {
            const bool l2 = kNormalize == AttentionNormalize::l2;
            inverse_norm = l2 ? 1.0f / std::sqrt(running_sum[r]) : 1.0f / running_sum[r];
            statistic = running_max[r] + (l2 ? 0.5f : 1.0f) * std::log(running_sum[r]);
        }
        for (std::size_t p = 0; p < shape.dim_v; ++p) out[p] *= inverse_norm;
        write_row(o, plan.output_type, plan.o_index(b, i0 + r, h), out, shape.dim_v);
        if (logsumexp) logsumexp[plan.row_index(b, h, i0 + r)] = statistic;
    }
}

// ---- backward ------------------------------------------------------------------------------------

// Pass 1: dQ for (batch, head, query tile).
template <class R>
void backward_dq_task(const Plan& plan, const KeyTiles& keys, const void* q, const float* logsumexp,
                      const float* row_dot, const void* d_o, void* dq, std::size_t task) {
    const AttentionShape& shape = plan.shape;
    const auto [b, h, g, i0, rows, row_blocks] = query_tile_task(plan, task);
    const std::size_t ld = plan.dim_padded, ldv = plan.dim_v_padded;
    TileRows info;
    tile_rows(plan, b, h, i0, rows, true, info);

    AlignedFloats q_tile(kQueryTile * ld), do_tile(kQueryTile * ldv);
    AlignedFloats scores(kQueryTile * kKeyTile), d_probs(kQueryTile * kKeyTile), acc(kQueryTile * ld, 0.0f);
    alignas(64) float capped[kKeyTile];  // a row's softcapped logits, before the additive terms

    load_query_tile(plan, q, b, h, i0, rows, info, q_tile.data(), nullptr);
    load_rows(d_o, plan.output_type, plan.o_index(b, i0, h), plan.o_strides.s, shape.dim_v, rows,
              kQueryTile, ldv, do_tile.data(), nullptr, nullptr);
    for (std::size_t j0 = first_key(info); j0 < info.key_end; j0 += kKeyTile) {
        const std::size_t cols = std::min(kKeyTile, info.key_end - j0);
        const std::size_t tile = key_tile_index(plan, b, g, j0 / kKeyTile);
        const float* k_rows = keys.rows.data() + tile * kKeyTile * ld;
        const float* k_tile_t = keys.transposed.data() + tile * shape.dim * kKeyTile;
        const float* v_tile_t = keys.values_t.data() + tile * shape.dim_v * kKeyTile;
        tile_matmul(row_blocks, shape.dim, kKeyTile, q_tile.data(), ld, k_tile_t, kKeyTile, scores.data(),
                    kKeyTile, false);
        tile_matmul(row_blocks, shape.dim_v, kKeyTile, do_tile.data(), ldv, v_tile_t, kKeyTile,
                    d_probs.data(), kKeyTile, false);
        // scores becomes dX = ∂loss/∂x (softmax: dS = P ∘ (dP − D); attention_score_gradient).
        for (std::size_t r = 0; r < kQueryTile; ++r) {
            float* s = scores.data() + r * kKeyTile;
            const Span span = tile_span(info.begin[r], info.end[r], j0, cols);
            const std::size_t row = r < rows ? plan.row_index(b, h, i0 + r) : 0;
            // A row without keys (logsumexp −∞) passes no gradient.
            if (span.empty() || logsumexp[row] == kNegativeInfinity) {
                std::fill(s, s + kKeyTile, 0.0f);
                continue;
            }
            if constexpr (R::capped) softcap_row(s, kKeyTile, plan.cap, capped);
            if (plan.has_terms) plan.add_terms(b, h, i0 + r, info.position[r], j0, span.a, span.e, s);
            const Vec statistic(logsumexp[row]), d_vec(row_dot[row]);
            const float* dp = d_probs.data() + r * kKeyTile;
            for (std::size_t j = 0; j < kKeyTile; j += kVecWidth) {
                const Vec x = Vec::load_unaligned(s + j);
                Vec p, d_x;
                weight_and_gradient<R>(x, R::capped ? Vec::load_aligned(capped + j) : x, Vec::load_unaligned(dp + j),
                                       statistic, d_vec, plan.cap, p, d_x);
                d_x.store_unaligned(s + j);
            }
            std::fill(s, s + span.a, 0.0f);  // keys the row does not see
            std::fill(s + span.e, s + kKeyTile, 0.0f);
        }
        tile_matmul(row_blocks, cols, ld, scores.data(), kKeyTile, k_rows, ld, acc.data(), ld, true);
    }

    for (std::size_t r = 0; r < rows; ++r) {
        float* row = acc.data() + r * ld;
        for (std::size_t p = 0; p < shape.dim; ++p) row[p] *= info.scale[r];
        plan.rotate_query(row, b, i0 + r, info.position[r], true);
        write_row(dq, plan.output_type, plan.q_index(b, i0 + r, h), row, shape.dim);
    }
}

// A conservative bound on the keys query tile [i0, i0 + rows) of batch b sees: begin and end grow
// with the row (attention.hpp), so the first row's begin and the last valid row's end enclose them.
Span query_tile_keys(const Plan& plan, std::size_t b, std::size_t i0, std::size_t rows) {
    const std::size_t valid_end = std::min(i0 + rows, attention_seq_len_q(plan.shape, plan.options, b));
    if (valid_end <= i0) return {0, 0};
    return {attention_row(plan.shape, plan.options, b, i0).begin,
            attention_row(plan.shape, plan.options, b, valid_end - 1).end};
}

// Pass 2: dK and dV for (batch, kv head, key tile), summed over the query heads of the group.
template <class R>
void backward_dkv_task(const Plan& plan, const QueryTiles& queries, const void* k, const void* v,
                       const float* logsumexp, const float* row_dot, void* dk, void* dv, std::size_t task) {
    const AttentionShape& shape = plan.shape;
    const std::size_t kt = task % plan.key_tiles;
    const std::size_t g = (task / plan.key_tiles) % shape.kv_heads;
    const std::size_t b = task / plan.key_tiles / shape.kv_heads;
    const std::size_t j0 = kt * kKeyTile;
    const std::size_t cols = std::min(kKeyTile, shape.seq_k - j0);
    const std::size_t col_blocks = round_up(cols, kBlockRows);
    const std::size_t ld = plan.dim_padded, ldv = plan.dim_v_padded;

    AlignedFloats k_rows(kKeyTile * ld), v_rows(kKeyTile * ldv);
    AlignedFloats scores_t(kKeyTile * kQueryTile), d_probs_t(kKeyTile * kQueryTile);
    AlignedFloats dk_acc(kKeyTile * ld, 0.0f), dv_acc(kKeyTile * ldv, 0.0f);
    float row_lse[kQueryTile], row_d[kQueryTile];
    alignas(64) float capped[kQueryTile];  // a key's softcapped logits, before the additive terms
    bool row_live[kQueryTile];
    TileRows info;

    load_key_tile(plan, k, b, g, j0, cols, k_rows.data(), nullptr, nullptr);
    load_rows(v, plan.input_type, plan.v_index(b, j0, g), plan.v_strides.s, shape.dim_v, cols,
              kKeyTile, ldv, v_rows.data(), nullptr, nullptr);
    for (std::size_t qt = 0; qt < plan.query_tiles; ++qt) {
        const std::size_t i0 = qt * kQueryTile;
        const std::size_t rows = std::min(kQueryTile, shape.seq_q - i0);
        const Span bound = query_tile_keys(plan, b, i0, rows);
        if (bound.e <= j0 || bound.a >= j0 + cols) continue;  // no row of the tile sees these keys
        tile_rows(plan, b, 0, i0, rows, false, info);  // ranges and positions do not depend on the head
        for (std::size_t h = g * plan.group; h < (g + 1) * plan.group; ++h) {
            const std::size_t tile = query_tile_index(plan, b, h, qt);
            const float* q_tile = queries.rows.data() + tile * kQueryTile * ld;
            const float* q_tile_t = queries.transposed.data() + tile * shape.dim * kQueryTile;
            const float* do_tile = queries.grad_rows.data() + tile * kQueryTile * ldv;
            const float* do_tile_t = queries.grad_transposed.data() + tile * shape.dim_v * kQueryTile;
            // Whether every row sees every key of the tile as it is (no term, no mask, no dead row).
            bool plain = !plan.has_terms;
            for (std::size_t r = 0; r < kQueryTile; ++r) {
                const float lse = r < rows ? logsumexp[plan.row_index(b, h, i0 + r)] : kNegativeInfinity;
                row_live[r] = lse != kNegativeInfinity && !tile_span(info.begin[r], info.end[r], j0, cols).empty();
                // A dead row's logits are all set to −∞ below, so its shift only has to be finite.
                row_lse[r] = row_live[r] ? lse : 0.0f;
                row_d[r] = row_live[r] ? row_dot[plan.row_index(b, h, i0 + r)] : 0.0f;
                if (r < rows && !(row_live[r] && info.begin[r] <= j0 && info.end[r] >= j0 + cols)) plain = false;
            }
            // Sᵀ = K Q'ᵀ and dPᵀ = V dOᵀ, [kKeyTile × kQueryTile]: queries run along the lanes.
            tile_matmul(col_blocks, shape.dim, kQueryTile, k_rows.data(), ld, q_tile_t, kQueryTile,
                        scores_t.data(), kQueryTile, false);
            tile_matmul(col_blocks, shape.dim_v, kQueryTile, v_rows.data(), ldv, do_tile_t, kQueryTile,
                        d_probs_t.data(), kQueryTile, false);
            for (std::size_t c = 0; c < kKeyTile; ++c) {
                float* p_row = scores_t.data() + c * kQueryTile;
                float* ds_row = d_probs_t.data() + c * kQueryTile;
                if (c >= cols) {
                    std::fill(p_row, p_row + kQueryTile, 0.0f);
                    std::fill(ds_row, ds_row + kQueryTile, 0.0f);
                    continue;
                }
                const std::size_t j = j0 + c;
                if constexpr (R::capped) softcap_row(p_row, kQueryTile, plan.cap, capped);
                if (!plain) {
                    // Query r sees key j iff it is live, j is in its range and the mask admits it;
                    // the others get logit −∞ (P = 0).
                    for (std::size_t r = 0; r < kQueryTile; ++r) {
                        if (r >= rows || !row_live[r] || j < info.begin[r] || j >= info.end[r])
                            p_row[r] = kNegativeInfinity;
                        else if (plan.has_terms) {
                            if (!plan.admits(b, h, i0 + r, j)) p_row[r] = kNegativeInfinity;
                            else p_row[r] += plan.logit_term(b, h, i0 + r, info.position[r], j);
                        }
                    }
                }
                for (std::size_t r = 0; r < kQueryTile; r += kVecWidth) {
                    const Vec x = Vec::load_unaligned(p_row + r);
                    Vec p, d_x;
                    weight_and_gradient<R>(x, R::capped ? Vec::load_aligned(capped + r) : x,
                                           Vec::load_unaligned(ds_row + r), Vec::load_unaligned(row_lse + r),
                                           Vec::load_unaligned(row_d + r), plan.cap, p, d_x);
                    p.store_unaligned(p_row + r);
                    d_x.store_unaligned(ds_row + r);
                }
                if (plain) {  // the padding lanes of a partial query tile
                    std::fill(p_row + rows, p_row + kQueryTile, 0.0f);
                    std::fill(ds_row + rows, ds_row + kQueryTile, 0.0f);
                }
            }
            tile_matmul(col_blocks, kQueryTile, ldv, scores_t.data(), kQueryTile, do_tile, ldv, dv_acc.data(),
                        ldv, true);
            tile_matmul(col_blocks, kQueryTile, ld, d_probs_t.data(), kQueryTile, q_tile, ld, dk_acc.data(),
                        ld, true);
        }
    }

    for (std::size_t c = 0; c < cols; ++c) {
        float* row = dk_acc.data() + c * ld;
        plan.rotate_key(row, b, j0 + c, true);
        write_row(dk, plan.output_type, plan.k_index(b, j0 + c, g), row, shape.dim);
        write_row(dv, plan.output_type, plan.v_index(b, j0 + c, g), dv_acc.data() + c * ldv, shape.dim_v);
    }
}

}  // namespace

std::size_t attention_query_tile() { return kQueryTile; }
std::size_t attention_key_tile() { return kKeyTile; }

namespace {

// "[2, 8, 128, 128]" for messages.
std::string dims_text(const std::vector<std::size_t>& dims) {
    std::string out = "[";
    for (std::size_t d = 0; d < dims.size(); ++d) out += (d ? ", " : "") + js_number(std::uint64_t{dims[d]});
    return out + "]";
}

// seqLensQ / seqLensK: `batch` entries, each at most `limit` (seqQ / seqK).
Error lengths_rule(const char* name, const std::optional<std::vector<std::size_t>>& lengths, std::size_t batch,
                   const char* limit_name, std::size_t limit) {
    if (!lengths) return {};
    if (lengths->size() != batch)
        return range_error(name, "an array of batch = " + js_number(std::uint64_t{batch}) + " lengths",
                           "length " + js_number(std::uint64_t{lengths->size()}));
    for (std::size_t b = 0; b < batch; ++b)
        if (Error e = at_most(std::string(name) + "[" + std::to_string(b) + "]", (*lengths)[b], limit, limit_name))
            return e;
    return {};
}

// bias.shape / mask.shape: four dims broadcasting over [batch, heads, seqQ, seqK], and the buffer
// fits the heap.
Error broadcast_rule(const char* name, const std::optional<AttentionBroadcast>& tensor, const AttentionShape& shape,
                     std::size_t element_bytes) {
    if (!tensor) return {};
    const std::vector<std::size_t> full{shape.batch, shape.heads, shape.seq_q, shape.seq_k};
    const std::string parameter = std::string(name) + ".shape";
    bool broadcasts = tensor->shape.size() == 4;
    for (std::size_t d = 0; broadcasts && d < 4; ++d)
        broadcasts = tensor->shape[d] == full[d] || tensor->shape[d] == 1;
    if (!broadcasts)
        return range_error(parameter,
                           "4 dims broadcasting over [batch, heads, seqQ, seqK] = " + dims_text(full) +
                               " (each that size or 1)",
                           dims_text(tensor->shape));
    const std::vector<std::size_t>& d = tensor->shape;
    return buffer_fits(name, {{"shape[0]", d[0]}, {"shape[1]", d[1]}, {"shape[2]", d[2]}, {"shape[3]", d[3]}},
                       element_bytes);
}

}  // namespace

Error attention_validate(const AttentionShape& shape, const AttentionOptions& options) {
    if (Error e = positive("batch", shape.batch)) return e;
    if (Error e = positive("heads", shape.heads)) return e;
    if (Error e = positive("kvHeads", shape.kv_heads)) return e;
    if (shape.heads % shape.kv_heads != 0)
        return range_error("heads",
                           "a multiple of kvHeads = " + js_number(std::uint64_t{shape.kv_heads}) +
                               " (grouped-query attention)",
                           "heads = " + js_number(std::uint64_t{shape.heads}));
    if (Error e = positive("dim", shape.dim)) return e;
    if (Error e = positive("dimV", shape.dim_v)) return e;
    if (options.causal && shape.seq_q > shape.seq_k)
        return range_error_text("causal", "causal attention needs seqQ <= seqK (query i sits at position "
                                          "seqK - seqQ + i), received seqQ = " +
                                              js_number(std::uint64_t{shape.seq_q}) +
                                              ", seqK = " + js_number(std::uint64_t{shape.seq_k}));
    if (const double* fixed = std::get_if<double>(&options.scale); fixed && !std::isfinite(*fixed))
        return range_error("scale", enum_or_number_choices<AttentionScale>(), js_number(*fixed));
    if (Error e = greater_than("baseLen", options.base_len, 1.0)) return e;
    if (Error e = at_least("nMin", options.n_min, 1.0)) return e;
    if (options.rope) {
        const AttentionRope& rope = *options.rope;
        if (Error e = rope_rules("dim", shape.dim, "rope.base", rope.base, "rope.rotaryDim", rope.rotary_dim))
            return e;
        const std::size_t rotary_dim = rope.rotary_dim == 0 ? shape.dim : rope.rotary_dim;
        if (Error e = rope_frequency_rules("rope.", rotary_dim, rope.scaling, rope.inverse_frequencies)) return e;
        if (rope.positions_k && rope.cached_keys == RopeCachedKeys::rotated)
            return range_error_text("rope.positionsK", "rope.positionsK cannot be given with rope.cachedKeys "
                                                       "'rotated' (the keys were rotated at their positions "
                                                       "before they were cached)");
        if (rope.positions_q)
            if (Error e = finite_entries("rope.positionsQ", rope.positions_q,
                                         rope.positions_q_per_batch ? shape.batch * shape.seq_q : shape.seq_q))
                return e;
        if (rope.positions_k)
            if (Error e = finite_entries("rope.positionsK", rope.positions_k,
                                         rope.positions_k_per_batch ? shape.batch * shape.seq_k : shape.seq_k))
                return e;
    }
    if (options.softcap)
        if (Error e = greater_than("softcap", *options.softcap, 0.0)) return e;
    if (options.sinks) {
        const std::vector<double>& sinks = *options.sinks;
        if (sinks.size() != shape.heads)
            return range_error("sinks", "one logit per query head, heads = " + js_number(std::uint64_t{shape.heads}),
                               "length " + js_number(std::uint64_t{sinks.size()}));
        for (std::size_t h = 0; h < sinks.size(); ++h)
            if (Error e = finite("sinks[" + std::to_string(h) + "]", sinks[h])) return e;
        if (options.smooth_softmax)
            return range_error_text("smoothSoftmax", "smoothSoftmax and sinks cannot be combined (smoothSoftmax "
                                                     "is a sink of 0 in every head)");
    }
    if (attention_has_sink(options) && options.normalize != AttentionNormalize::softmax) {
        const char* name = options.sinks ? "sinks" : "smoothSoftmax";
        return range_error_text(name, std::string(name) + " needs normalize 'softmax' (a sink is a logit in the "
                                                          "softmax denominator), received normalize '" +
                                          enum_name(options.normalize) + "'");
    }
    if (Error e = lengths_rule("seqLensQ", options.seq_lens_q, shape.batch, "seqQ", shape.seq_q)) return e;
    if (Error e = lengths_rule("seqLensK", options.seq_lens_k, shape.batch, "seqK", shape.seq_k)) return e;
    if (options.causal && (options.seq_lens_q || options.seq_lens_k))
        for (std::size_t b = 0; b < shape.batch; ++b) {
            const std::size_t lq = attention_seq_len_q(shape, options, b), lk = attention_seq_len_k(shape, options, b);
            if (lq > lk)
                return range_error_text(options.seq_lens_q ? "seqLensQ" : "seqLensK",
                                        "causal attention needs seqLensQ[b] <= seqLensK[b] (query i sits at "
                                        "position seqLensK[b] - seqLensQ[b] + i), received " +
                                            std::string(options.seq_lens_q ? "seqLensQ" : "seqQ") +
                                            (options.seq_lens_q ? "[" + std::to_string(b) + "]" : "") + " = " +
                                            js_number(std::uint64_t{lq}) + ", " +
                                            std::string(options.seq_lens_k ? "seqLensK" : "seqK") +
                                            (options.seq_lens_k ? "[" + std::to_string(b) + "]" : "") + " = " +
                                            js_number(std::uint64_t{lk}));
        }
    const Extent batch{"batch", shape.batch}, seq_q{"seqQ", shape.seq_q}, seq_k{"seqK", shape.seq_k},
        heads{"heads", shape.heads}, kv_heads{"kvHeads", shape.kv_heads}, dim{"dim", shape.dim},
        dim_v{"dimV", shape.dim_v};
    if (Error e = buffer_fits("q", {batch, seq_q, heads, dim})) return e;
    if (Error e = buffer_fits("k", {batch, seq_k, kv_heads, dim})) return e;
    if (Error e = buffer_fits("v", {batch, seq_k, kv_heads, dim_v})) return e;
    if (Error e = buffer_fits("the output", {batch, seq_q, heads, dim_v})) return e;
    if (Error e = broadcast_rule("bias", options.bias, shape, 4)) return e;
    return broadcast_rule("mask", options.mask, shape, 1);
}

AttentionOptions attention_resolve(const AttentionShape& shape, AttentionOptions options) {
    if (options.rope && options.rope->rotary_dim == 0) options.rope->rotary_dim = shape.dim;
    return options;
}

std::size_t attention_seq_len_q(const AttentionShape& shape, const AttentionOptions& options, std::size_t b) {
    return options.seq_lens_q ? (*options.seq_lens_q)[b] : shape.seq_q;
}

std::size_t attention_seq_len_k(const AttentionShape& shape, const AttentionOptions& options, std::size_t b) {
    return options.seq_lens_k ? (*options.seq_lens_k)[b] : shape.seq_k;
}

AttentionRow attention_row(const AttentionShape& shape, const AttentionOptions& options, std::size_t b,
                           std::size_t i) {
    const std::size_t lq = attention_seq_len_q(shape, options, b), lk = attention_seq_len_k(shape, options, b);
    AttentionRow row;
    row.position = static_cast<long>(lk) - static_cast<long>(lq) + static_cast<long>(i);
    if (i >= lq) return row;  // padding
    // [begin, end) in signed arithmetic, then clipped to the batch entry's keys [0, lk).
    long begin = 0, end = static_cast<long>(lk);
    if (options.window && options.window->left) begin = std::max(begin, row.position - static_cast<long>(*options.window->left));
    if (options.window && options.window->right)
        end = std::min(end, row.position + static_cast<long>(*options.window->right) + 1);
    if (options.causal) end = std::min(end, row.position + 1);
    if (end > begin) {
        row.begin = static_cast<std::size_t>(begin);
        row.end = static_cast<std::size_t>(end);
    }
    return row;
}

AttentionStrides attention_strides(const AttentionBroadcast& tensor) {
    const std::vector<std::size_t>& d = tensor.shape;
    AttentionStrides s;
    s.j = d[3] == 1 ? 0 : 1;
    s.i = d[2] == 1 ? 0 : d[3];
    s.h = d[1] == 1 ? 0 : d[2] * d[3];
    s.b = d[0] == 1 ? 0 : d[1] * d[2] * d[3];
    return s;
}

std::size_t attention_visible_keys(const AttentionShape& shape, const AttentionOptions& options,
                                   const AttentionBuffers& buffers, std::size_t b, std::size_t h, std::size_t i) {
    const AttentionRow row = attention_row(shape, options, b, i);
    if (row.empty()) return 0;
    if (!options.mask || !buffers.mask) return row.end - row.begin;
    const AttentionStrides strides = attention_strides(*options.mask);
    const std::uint8_t* mask = buffers.mask + strides.at(b, h, i, 0);
    std::size_t count = 0;
    for (std::size_t j = row.begin; j < row.end; ++j) count += mask[j * strides.j] != 0;
    return count;
}

double attention_alibi_slope(std::size_t heads, std::size_t h) {
    // get_slopes(n) of github.com/ofirpress/attention_with_linear_biases: for n = 2^k the geometric
    // sequence start·start^i with start = 2^(−8/n); otherwise the n' = 2^⌊log2 n⌋ slopes of that
    // sequence, then get_slopes(2n')[0::2][: n − n'].
    std::size_t power = 1;
    while (power * 2 <= heads) power *= 2;
    if (h < power) return std::exp2(-8.0 * static_cast<double>(h + 1) / static_cast<double>(power));
    const std::size_t k = 2 * (h - power);  // every other slope of the 2·power sequence
    return std::exp2(-8.0 * static_cast<double>(k + 1) / static_cast<double>(2 * power));
}

double attention_row_scale(const AttentionOptions& options, std::size_t visible_keys, std::size_t dim) {
    const double inverse_sqrt_dim = 1.0 / std::sqrt(static_cast<double>(dim));
    if (const double* fixed = std::get_if<double>(&options.scale)) return *fixed;
    switch (std::get<AttentionScale>(options.scale)) {
        case AttentionScale::standard:
            return inverse_sqrt_dim;
        case AttentionScale::entropy:
        default: {
            // log_{base_len} max(n_i, n_min): equals 1 at n = base_len (kexue.fm/9588, eq. core).
            const double n = std::max(static_cast<double>(visible_keys), options.n_min);
            double factor = std::log(n) / std::log(options.base_len);
            if (options.clip_below_one) factor = std::max(1.0, factor);  // kexue.fm/9708, 9948
            return factor * inverse_sqrt_dim;
        }
    }
}

std::vector<float> attention_row_scales(const AttentionShape& shape, const AttentionOptions& options) {
    std::vector<float> scales(shape.seq_q);
    for (std::size_t i = 0; i < shape.seq_q; ++i)
        scales[i] = static_cast<float>(
            attention_row_scale(options, std::max<std::size_t>(1, attention_visible_keys(shape, options, {}, 0, 0, i)), shape.dim));
    return scales;
}

std::vector<std::int32_t> attention_row_keys(const AttentionShape& shape, const AttentionOptions& options) {
    std::vector<std::int32_t> out;
    out.reserve(shape.batch * shape.seq_q * 3);
    for (std::size_t b = 0; b < shape.batch; ++b)
        for (std::size_t i = 0; i < shape.seq_q; ++i) {
            const AttentionRow row = attention_row(shape, options, b, i);
            out.push_back(static_cast<std::int32_t>(row.position));
            out.push_back(static_cast<std::int32_t>(row.begin));
            out.push_back(static_cast<std::int32_t>(row.end));
        }
    return out;
}

std::vector<float> attention_alibi_slopes(const AttentionShape& shape, const AttentionOptions& options) {
    std::vector<float> out;
    if (options.alibi)
        for (std::size_t h = 0; h < shape.heads; ++h) out.push_back(static_cast<float>(attention_alibi_slope(shape.heads, h)));
    return out;
}

std::vector<float> attention_rope_table(const AttentionShape& shape, const AttentionOptions& options) {
    if (!options.rope) return {};
    const long first = first_rope_position(shape, options);
    RopeOptions rope;
    rope.base = options.rope->base;
    rope.layout = options.rope->layout;
    rope.rotary_dim = options.rope->rotary_dim;
    rope.scaling = options.rope->scaling;
    rope.inverse_frequencies = options.rope->inverse_frequencies;
    rope.position_offset = static_cast<double>(first);
    rope.float32_angles = options.rope->float32_angles;
    const RopeShape positions{1, static_cast<std::size_t>(static_cast<long>(shape.seq_k) - first), 1, shape.dim};
    return rope_cos_sin_table(positions, rope);
}

void attention_forward(const AttentionShape& shape, const AttentionOptions& options, const void* q,
                       const void* k, const void* v, void* o, float* logsumexp, const AttentionBuffers& buffers) {
    const Plan plan = make_plan(shape, options, buffers);
    if (shape.seq_q == 0) return;
    const KeyTiles keys = pack_key_tiles(plan, k, v, false, true, false, true);
    with_rule(plan, [&](auto rule) {
        using R = decltype(rule);
        parallel_for(shape.batch * shape.heads * plan.query_tiles, [&](std::size_t task) {
            forward_task<R>(plan, keys, q, o, logsumexp, task);
        });
    });
}

void attention_backward(const AttentionShape& shape, const AttentionOptions& options, const void* q,
                        const void* k, const void* v, const void* o, const float* logsumexp,
                        const void* d_o, void* dq, void* dk, void* dv, const AttentionBuffers& buffers,
                        float* d_sinks) {
    const Plan plan = make_plan(shape, options, buffers);
    const std::size_t out_bytes = element_bytes(plan.output_type);  // all-zero bits are +0 in both types
    const bool sink_gradient = d_sinks && options.sinks;
    if (sink_gradient) std::fill(d_sinks, d_sinks + shape.heads, 0.0f);
    if (shape.seq_k == 0) {  // no key is seen: O is the constant 0, every gradient is 0
        std::memset(dq, 0, shape.batch * shape.seq_q * shape.heads * shape.dim * out_bytes);
        return;
    }
    if (shape.seq_q == 0) {
        std::memset(dk, 0, shape.batch * shape.seq_k * shape.kv_heads * shape.dim * out_bytes);
        std::memset(dv, 0, shape.batch * shape.seq_k * shape.kv_heads * shape.dim_v * out_bytes);
        return;
    }
    // D_i = rowsum(dO_i ∘ O_i) = Σ_j P_ij dP_ij (FlashAttention-2, eq. for dS), [batch, heads, seq_q].
    std::vector<float> row_dot(shape.batch * shape.heads * shape.seq_q);
    std::vector<float> o_row(shape.dim_v), do_row(shape.dim_v);
    for (std::size_t b = 0; b < shape.batch; ++b)
        for (std::size_t i = 0; i < shape.seq_q; ++i)
            for (std::size_t h = 0; h < shape.heads; ++h) {
                read_row(o, plan.output_type, plan.o_index(b, i, h), shape.dim_v, o_row.data());
                read_row(d_o, plan.output_type, plan.o_index(b, i, h), shape.dim_v, do_row.data());
                double sum = 0.0;
                for (std::size_t p = 0; p < shape.dim_v; ++p) sum += static_cast<double>(o_row[p]) * do_row[p];
                row_dot[plan.row_index(b, h, i)] = static_cast<float>(sum);
            }
    // ∂loss/∂z_h = −Σ_{b,i} e^{z_h − L_i} D_i (attention.hpp): the sink's weight times its dS.
    if (sink_gradient) {
        for (std::size_t h = 0; h < shape.heads; ++h) {
            double sum = 0.0;
            for (std::size_t b = 0; b < shape.batch; ++b)
                for (std::size_t i = 0; i < shape.seq_q; ++i) {
                    const std::size_t row = plan.row_index(b, h, i);
                    sum += attention_sink_gradient(plan.sinks[h], logsumexp[row], row_dot[row]);
                }
            d_sinks[h] = static_cast<float>(sum);
        }
    }
    with_rule(plan, [&](auto rule) {
        using R = decltype(rule);
        {
            const KeyTiles keys = pack_key_tiles(plan, k, v, true, true, true, false);
            parallel_for(shape.batch * shape.heads * plan.query_tiles, [&](std::size_t task) {
                backward_dq_task<R>(plan, keys, q, logsumexp, row_dot.data(), d_o, dq, task);
            });
        }  // the key tiles are freed before the query tiles are built, to bound the peak memory
        const QueryTiles queries = pack_query_tiles(plan, q, d_o);
        parallel_for(shape.batch * shape.kv_heads * plan.key_tiles, [&](std::size_t task) {
            backward_dkv_task<R>(plan, queries, k, v, logsumexp, row_dot.data(), dk, dv, task);
        });
    });
}

}  // namespace kexue
