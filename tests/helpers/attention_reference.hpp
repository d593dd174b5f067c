// The fused attention kernel against its float64 reference twin (attention.hpp): forward (output,
// logsumexp) and backward (dq, dk, dv, and ∂L/∂sinks when the options have sinks) on seeded random
// inputs, each within `tolerance` whole-tensor relative error. The attention tests of every feature
// (the shape grid, positions, logit shaping, masks) run their cases through this one check.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "attention/attention.hpp"
#include "tensors.hpp"

namespace kexue::testing {

// Inputs drawn from seed = seq_q·131 + seq_k·7 + dim + seed_offset (q and k with σ 1.5).
inline void expect_attention_matches_reference(const AttentionShape& s, const AttentionOptions& options,
                                               double tolerance = 1e-4, const AttentionBuffers& buffers = {},
                                               std::uint32_t seed_offset = 0) {
    const std::uint32_t seed = static_cast<std::uint32_t>(s.seq_q * 131 + s.seq_k * 7 + s.dim) + seed_offset;
    const auto q = random_floats(s.batch * s.seq_q * s.heads * s.dim, seed, 1.5f);
    const auto k = random_floats(s.batch * s.seq_k * s.kv_heads * s.dim, seed + 1, 1.5f);
    const auto v = random_floats(s.batch * s.seq_k * s.kv_heads * s.dim_v, seed + 2);
    const auto d_o = random_floats(s.batch * s.seq_q * s.heads * s.dim_v, seed + 3);
    const auto qd = to_double(q), kd = to_double(k), vd = to_double(v);

    // Outputs start at 7 so that an entry the kernel forgets to write shows.
    std::vector<float> o(d_o.size(), 7.0f), lse(s.batch * s.heads * s.seq_q, 7.0f);
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), buffers);
    std::vector<double> o_ref(o.size()), lse_ref(lse.size());
    attention_forward_reference(s, options, qd.data(), kd.data(), vd.data(), o_ref.data(), lse_ref.data(), buffers);
    EXPECT_LE(relative_error(o, o_ref), tolerance);
    EXPECT_LE(relative_error(lse, lse_ref), tolerance);

    std::vector<float> dq(q.size(), 7.0f), dk(k.size(), 7.0f), dv(v.size(), 7.0f), d_sinks(s.heads, 7.0f);
    attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(),
                       dk.data(), dv.data(), buffers, d_sinks.data());
    std::vector<double> dq_ref(q.size()), dk_ref(k.size()), dv_ref(v.size()), d_sinks_ref(s.heads, 7.0);
    attention_backward_reference(s, options, qd.data(), kd.data(), vd.data(), to_double(d_o).data(), dq_ref.data(),
                                 dk_ref.data(), dv_ref.data(), buffers, d_sinks_ref.data());
    EXPECT_LE(relative_error(dq, dq_ref), tolerance);
    EXPECT_LE(relative_error(dk, dk_ref), tolerance);
    EXPECT_LE(relative_error(dv, dv_ref), tolerance);
    if (options.sinks) {
        EXPECT_LE(relative_error(d_sinks, d_sinks_ref), tolerance);
    } else {
        for (float x : d_sinks) EXPECT_EQ(x, 7.0f);  // untouched without sinks
    }
}

}  // namespace kexue::testing
