// The validators of attention, RoPE and 2D RoPE, rule by rule: each broken rule returns an Error
// naming the JS parameter (`.parameter`) with the text the JS API throws after "<fn>: ", and a
// valid call returns none. Also the field lists (the option names of each call) and the defaults
// resolved from the shape.
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/validation.hpp"

#include "attention/attention.hpp"
#include "attention/rope.hpp"
#include "core/options.hpp"

namespace kexue {
namespace {

using testing::expect_error;
using testing::field_names;

constexpr double kInfinity = std::numeric_limits<double>::infinity();


// ---- attention ----

const AttentionShape kShape{1, 4, 4, 2, 1, 8, 8};

TEST(AttentionValidate, AcceptsAValidCall) {
    EXPECT_FALSE(attention_validate(kShape, AttentionOptions{}));
    AttentionOptions options;
    options.scale = 0.25;
    options.causal = true;
    options.rope = AttentionRope{};
    options.rope->rotary_dim = 4;
    EXPECT_FALSE(attention_validate(kShape, options));
    AttentionShape no_keys = kShape;
    no_keys.seq_k = 0;  // rows that see no key are allowed (zeros)
    EXPECT_FALSE(attention_validate(no_keys, AttentionOptions{}));
}

TEST(AttentionValidate, SizesArePositive) {
    const struct {
        std::size_t AttentionShape::*member;
        const char* name;
    } sizes[] = {{&AttentionShape::batch, "batch"},     {&AttentionShape::heads, "heads"},
                 {&AttentionShape::kv_heads, "kvHeads"}, {&AttentionShape::dim, "dim"},
                 {&AttentionShape::dim_v, "dimV"}};
    for (const auto& size : sizes) {
        AttentionShape shape = kShape;
        shape.*size.member = 0;
        expect_error(attention_validate(shape, AttentionOptions{}), ErrorKind::range, size.name,
                     std::string(size.name) + " must be a positive integer, received 0");
    }
}

TEST(AttentionValidate, HeadsAreAMultipleOfKvHeads) {
    AttentionShape shape = kShape;
    shape.heads = 3;
    shape.kv_heads = 2;
    expect_error(attention_validate(shape, AttentionOptions{}), ErrorKind::range, "heads",
                 "heads must be a multiple of kvHeads = 2 (grouped-query attention), received heads = 3");
}

TEST(AttentionValidate, CausalNeedsNoMoreQueriesThanKeys) {
    AttentionShape shape = kShape;
    shape.seq_q = 2;
    shape.seq_k = 1;
    EXPECT_FALSE(attention_validate(shape, AttentionOptions{}));  // fine without causal
    AttentionOptions options;
    options.causal = true;
    expect_error(attention_validate(shape, options), ErrorKind::range, "causal",
                 "causal attention needs seqQ <= seqK (query i sits at position seqK - seqQ + i), received "
                 "seqQ = 2, seqK = 1");
}

TEST(AttentionValidate, ScaleBaseLenAndNMin) {
    AttentionOptions options;
    options.scale = kInfinity;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "scale",
                 "scale must be one of 'entropy', 'standard' or a finite number, received Infinity");
    options = AttentionOptions{};
    options.base_len = 1.0;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "baseLen",
                 "baseLen must be greater than 1, received 1");
    options.base_len = std::nan("");
    expect_error(attention_validate(kShape, options), ErrorKind::range, "baseLen",
                 "baseLen must be greater than 1, received NaN");
    options = AttentionOptions{};
    options.n_min = 0.5;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "nMin", "nMin must be at least 1, received 0.5");
}

TEST(AttentionValidate, RopeNeedsEvenDimsAndAPositiveBase) {
    AttentionOptions options;
    options.rope = AttentionRope{};
    AttentionShape odd = kShape;
    odd.dim = 7;
    expect_error(attention_validate(odd, options), ErrorKind::range, "dim",
                 "dim must be even (RoPE rotates pairs of dims), received 7");
    EXPECT_FALSE(attention_validate(odd, AttentionOptions{}));  // odd dims are fine without RoPE
    options.rope->base = 0.0;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "rope.base",
                 "rope.base must be greater than 0, received 0");
    options.rope->base = 10000.0;
    options.rope->rotary_dim = 3;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "rope.rotaryDim",
                 "rope.rotaryDim must be even (RoPE rotates pairs of dims), received 3");
    options.rope->rotary_dim = 10;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "rope.rotaryDim",
                 "rope.rotaryDim must be at most dim = 8, received 10");
}

TEST(AttentionValidate, SoftcapSinksAndNormalize) {
    AttentionOptions options;
    options.softcap = 50.0;
    options.sinks = std::vector<double>{0.5, -1.0};
    EXPECT_FALSE(attention_validate(kShape, options));
    options.softcap = 0.0;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "softcap",
                 "softcap must be greater than 0, received 0");
    options.softcap = -1.0;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "softcap",
                 "softcap must be greater than 0, received -1");
    options.softcap = kInfinity;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "softcap",
                 "softcap must be greater than 0, received Infinity");
    options.softcap.reset();
    options.sinks = std::vector<double>{0.5, -1.0, 2.0};
    expect_error(attention_validate(kShape, options), ErrorKind::range, "sinks",
                 "sinks must be one logit per query head, heads = 2, received length 3");
    options.sinks = std::vector<double>{};
    expect_error(attention_validate(kShape, options), ErrorKind::range, "sinks",
                 "sinks must be one logit per query head, heads = 2, received length 0");
    options.sinks = std::vector<double>{0.5, std::nan("")};
    expect_error(attention_validate(kShape, options), ErrorKind::range, "sinks[1]",
                 "sinks[1] must be a finite number, received NaN");
    options.sinks = std::vector<double>{-kInfinity, 0.0};
    expect_error(attention_validate(kShape, options), ErrorKind::range, "sinks[0]",
                 "sinks[0] must be a finite number, received -Infinity");
    options.sinks = std::vector<double>{0.0, 0.0};
    options.smooth_softmax = true;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "smoothSoftmax",
                 "smoothSoftmax and sinks cannot be combined (smoothSoftmax is a sink of 0 in every head)");
    options.sinks.reset();
    EXPECT_FALSE(attention_validate(kShape, options));
    options.normalize = AttentionNormalize::l2;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "smoothSoftmax",
                 "smoothSoftmax needs normalize 'softmax' (a sink is a logit in the softmax denominator), received "
                 "normalize 'l2'");
    options.smooth_softmax = false;
    options.sinks = std::vector<double>{0.0, 0.0};
    options.normalize = AttentionNormalize::relu2;
    expect_error(attention_validate(kShape, options), ErrorKind::range, "sinks",
                 "sinks needs normalize 'softmax' (a sink is a logit in the softmax denominator), received normalize "
                 "'relu2'");
    options.sinks.reset();
    options.softcap = 30.0;
    EXPECT_FALSE(attention_validate(kShape, options));  // a softcap works with every normalisation
    EXPECT_EQ(enum_choices<AttentionNormalize>(), "one of 'softmax', 'relu2', 'l2'");
}

TEST(AttentionValidate, BuffersMustFitTheHeap) {
    AttentionShape shape{1, 1u << 16, 1, 64, 1, 256, 1};
    expect_error(attention_validate(shape, AttentionOptions{}), ErrorKind::range, "q",
                 "q of shape batch=1 × seqQ=65536 × heads=64 × dim=256 needs 1073741824 floats (4294967296 bytes), "
                 "more than the 2 GiB WASM heap can hold");
    shape = {1, 1, 1u << 20, 1, 1, 1024, 1};
    EXPECT_EQ(attention_validate(shape, AttentionOptions{}).parameter, "k");
    shape = {1, 1, 1u << 20, 1, 1, 1, 1024};
    EXPECT_EQ(attention_validate(shape, AttentionOptions{}).parameter, "v");
    shape = {1024, 1024, 1, 1, 1, 1, 1024};
    EXPECT_EQ(attention_validate(shape, AttentionOptions{}).parameter, "the output");
}

// seqLensQ / seqLensK: one length per batch entry, at most seqQ / seqK; under causal each entry
// needs no more queries than keys.
TEST(AttentionValidate, SequenceLengths) {
    const AttentionShape shape{2, 4, 6, 2, 1, 8, 8};
    AttentionOptions options;
    options.seq_lens_k = std::vector<std::size_t>{6, 0};
    options.seq_lens_q = std::vector<std::size_t>{4, 0};
    EXPECT_FALSE(attention_validate(shape, options));
    options.seq_lens_k = std::vector<std::size_t>{6};
    expect_error(attention_validate(shape, options), ErrorKind::range, "seqLensK",
                 "seqLensK must be an array of batch = 2 lengths, received length 1");
    options.seq_lens_k = std::vector<std::size_t>{6, 7};
    expect_error(attention_validate(shape, options), ErrorKind::range, "seqLensK[1]",
                 "seqLensK[1] must be at most seqK = 6, received 7");
    options.seq_lens_k.reset();
    options.seq_lens_q = std::vector<std::size_t>{5, 1};
    expect_error(attention_validate(shape, options), ErrorKind::range, "seqLensQ[0]",
                 "seqLensQ[0] must be at most seqQ = 4, received 5");
    options.seq_lens_q = std::vector<std::size_t>{4, 3};
    options.seq_lens_k = std::vector<std::size_t>{6, 2};
    EXPECT_FALSE(attention_validate(shape, options));  // not causal: row 2 of entry 1 sees key 0, 1
    options.causal = true;
    expect_error(attention_validate(shape, options), ErrorKind::range, "seqLensQ",
                 "causal attention needs seqLensQ[b] <= seqLensK[b] (query i sits at position seqLensK[b] - "
                 "seqLensQ[b] + i), received seqLensQ[1] = 3, seqLensK[1] = 2");
    options.seq_lens_q.reset();
    expect_error(attention_validate({2, 4, 6, 2, 1, 8, 8}, options), ErrorKind::range, "seqLensK",
                 "causal attention needs seqLensQ[b] <= seqLensK[b] (query i sits at position seqLensK[b] - "
                 "seqLensQ[b] + i), received seqQ = 4, seqLensK[1] = 2");
}

// bias.shape / mask.shape: four dims, each the full size or 1, and within the heap.
TEST(AttentionValidate, BiasAndMaskShapesBroadcast) {
    const AttentionShape shape{2, 4, 6, 2, 1, 8, 8};
    AttentionOptions options;
    for (const std::vector<std::size_t>& ok :
         {std::vector<std::size_t>{2, 2, 4, 6}, {1, 1, 4, 6}, {2, 1, 1, 6}, {1, 2, 4, 1}, {1, 1, 1, 1}}) {
        options.bias = AttentionBroadcast{ok};
        options.mask = AttentionBroadcast{ok};
        EXPECT_FALSE(attention_validate(shape, options));
    }
    options.mask.reset();
    options.bias = AttentionBroadcast{{2, 3, 4, 6}};
    expect_error(attention_validate(shape, options), ErrorKind::range, "bias.shape",
                 "bias.shape must be 4 dims broadcasting over [batch, heads, seqQ, seqK] = [2, 2, 4, 6] (each that "
                 "size or 1), received [2, 3, 4, 6]");
    options.bias.reset();
    options.mask = AttentionBroadcast{{4, 6}};
    expect_error(attention_validate(shape, options), ErrorKind::range, "mask.shape",
                 "mask.shape must be 4 dims broadcasting over [batch, heads, seqQ, seqK] = [2, 2, 4, 6] (each that "
                 "size or 1), received [4, 6]");
    options.mask = AttentionBroadcast{{}};  // mask: true
    EXPECT_EQ(attention_validate(shape, options).parameter, "mask.shape");
    // A full bias of 2^20 × 2^10 floats is 4 GiB; the same mask in bytes is 1 GiB and fits.
    const AttentionShape big{1, 1 << 20, 1 << 10, 1, 1, 1, 1};
    options.mask = AttentionBroadcast{{1, 1, 1 << 20, 1 << 10}};
    EXPECT_FALSE(attention_validate(big, options));
    options.bias = AttentionBroadcast{{1, 1, 1 << 20, 1 << 10}};
    expect_error(attention_validate(big, options), ErrorKind::range, "bias",
                 "bias of shape shape[0]=1 × shape[1]=1 × shape[2]=1048576 × shape[3]=1024 needs 1073741824 floats "
                 "(4294967296 bytes), more than the 2 GiB WASM heap can hold");
    options.bias.reset();
    const AttentionShape bigger{1, 1 << 21, 1 << 11, 1, 1, 1, 1};
    options.mask = AttentionBroadcast{{1, 1, 1 << 21, 1 << 11}};
    expect_error(attention_validate(bigger, options), ErrorKind::range, "mask",
                 "mask of shape shape[0]=1 × shape[1]=1 × shape[2]=2097152 × shape[3]=2048 needs 4294967296 bytes, "
                 "more than the 2 GiB WASM heap can hold");
}

TEST(AttentionValidate, WindowAndAlibiNeedNothingMore) {
    AttentionOptions options;
    options.window = AttentionWindow{0, 0};
    options.alibi = true;
    EXPECT_FALSE(attention_validate(kShape, options));
}

TEST(AttentionValidate, FieldListAndResolvedDefaults) {
    AttentionCall call;
    FieldNames names;
    visit_fields(call, names);
    EXPECT_EQ(names.names, (std::vector<std::string>{"batch", "seqQ", "seqK", "heads", "kvHeads", "dim", "dimV",
                                                     "scale", "baseLen", "nMin", "clipBelowOne", "causal", "rope",
                                                     "layout", "outputType", "seqLensQ", "seqLensK", "window", "alibi",
                                                     "bias", "mask", "softcap", "sinks", "smoothSoftmax", "normalize"}));
    EXPECT_EQ(enum_choices<AttentionLayout>(), "one of 'bshd', 'bhsd'");
    EXPECT_EQ(enum_choices<ElementType>(), "one of 'float32', 'float16'");
    EXPECT_EQ(field_names(AttentionWindow{}), (std::vector<std::string>{"left", "right"}));
    EXPECT_EQ(field_names(AttentionBroadcast{}), (std::vector<std::string>{"shape"}));
    AttentionRope rope;
    FieldNames rope_names;
    visit_fields(rope, rope_names);
    EXPECT_EQ(rope_names.names, (std::vector<std::string>{"base", "layout", "rotaryDim", "ropeScaling",
                                                          "inverseFrequencies", "cachedKeys"}));
    EXPECT_EQ(optional_object_choices<AttentionRope>(),
              "null, true or an object { base, layout, rotaryDim, ropeScaling, inverseFrequencies, cachedKeys }");
    EXPECT_EQ(optional_object_choices<RopeScaling>(),
              "null, true or an object { type, factor, originalMaxPositionEmbeddings, lowFreqFactor, highFreqFactor, "
              "betaFast, betaSlow, attentionFactor }");
    EXPECT_EQ(enum_choices<RopeCachedKeys>(), "one of 'unrotated', 'rotated'");
    EXPECT_EQ(enum_or_number_choices<AttentionScale>(), "one of 'entropy', 'standard' or a finite number");

    // The defaults: 'standard' scale (1/√dim, as every peer), base_len 512, n_min 16, no RoPE, no
    // padding, window, ALiBi, bias or mask, no softcap, sinks or smooth softmax, normalize 'softmax';
    // rope.rotaryDim resolves to dim.
    const AttentionOptions defaults;
    EXPECT_EQ(std::get<AttentionScale>(defaults.scale), AttentionScale::standard);
    EXPECT_FALSE(defaults.seq_lens_q || defaults.seq_lens_k || defaults.window || defaults.alibi || defaults.bias ||
                 defaults.mask);
    EXPECT_FALSE(defaults.softcap || defaults.sinks || defaults.smooth_softmax);
    EXPECT_EQ(defaults.normalize, AttentionNormalize::softmax);
    EXPECT_EQ(defaults.base_len, 512.0);
    EXPECT_EQ(defaults.n_min, 16.0);
    EXPECT_FALSE(defaults.rope);
    // 'bshd', float32 in and out; the output type follows the input type unless set.
    EXPECT_EQ(defaults.layout, AttentionLayout::bshd);
    EXPECT_FALSE(defaults.output_type);
    EXPECT_EQ(defaults.resolved_output_type(), ElementType::float32);
    AttentionOptions half_in;
    half_in.input_type = ElementType::float16;
    EXPECT_EQ(half_in.resolved_output_type(), ElementType::float16);
    half_in.output_type = ElementType::float32;
    EXPECT_EQ(half_in.resolved_output_type(), ElementType::float32);
    AttentionOptions with_rope;
    with_rope.rope = AttentionRope{};
    EXPECT_EQ(attention_resolve(kShape, with_rope).rope->rotary_dim, 8u);
    with_rope.rope->rotary_dim = 4;
    EXPECT_EQ(attention_resolve(kShape, with_rope).rope->rotary_dim, 4u);
}

// ---- RoPE ----

TEST(RopeValidate, EveryRule) {
    const RopeShape shape{1, 3, 2, 8};
    RopeOptions options;
    EXPECT_FALSE(rope_validate(shape, options));
    const struct {
        std::size_t RopeShape::*member;
        const char* name;
    } sizes[] = {{&RopeShape::batch, "batch"}, {&RopeShape::seq, "seq"}, {&RopeShape::heads, "heads"},
                 {&RopeShape::dim, "dim"}};
    for (const auto& size : sizes) {
        RopeShape bad = shape;
        bad.*size.member = 0;
        expect_error(rope_validate(bad, options), ErrorKind::range, size.name,
                     std::string(size.name) + " must be a positive integer, received 0");
    }
    expect_error(rope_validate({1, 3, 2, 5}, options), ErrorKind::range, "dim",
                 "dim must be even (RoPE rotates pairs of dims), received 5");
    options.base = -1.0;
    expect_error(rope_validate(shape, options), ErrorKind::range, "base", "base must be greater than 0, received -1");
    options.base = kInfinity;
    expect_error(rope_validate(shape, options), ErrorKind::range, "base",
                 "base must be greater than 0, received Infinity");
    options.base = 10000.0;
    options.rotary_dim = 5;
    expect_error(rope_validate(shape, options), ErrorKind::range, "rotaryDim",
                 "rotaryDim must be even (RoPE rotates pairs of dims), received 5");
    options.rotary_dim = 10;
    expect_error(rope_validate(shape, options), ErrorKind::range, "rotaryDim",
                 "rotaryDim must be at most dim = 8, received 10");
    options.rotary_dim = 0;
    const std::vector<double> positions{0, 1, kInfinity};
    options.positions = positions.data();
    expect_error(rope_validate(shape, options), ErrorKind::range, "positions[2]",
                 "positions[2] must be a finite number, received Infinity");
    options.positions = nullptr;
    expect_error(rope_validate({1, 1u << 20, 1, 1024}, options), ErrorKind::range, "x",
                 "x of shape batch=1 × seq=1048576 × heads=1 × dim=1024 needs 1073741824 floats (4294967296 bytes), "
                 "more than the 2 GiB WASM heap can hold");
}

TEST(RopeValidate, FieldListAndResolvedDefaults) {
    RopeCall call;
    FieldNames names;
    visit_fields(call, names);
    EXPECT_EQ(names.names,
              (std::vector<std::string>{"batch", "seq", "heads", "dim", "base", "layout", "rotaryDim", "inverse",
                                        "ropeScaling", "inverseFrequencies", "offset"}));
    EXPECT_EQ(rope_resolve({1, 1, 1, 8}, RopeOptions{}).rotary_dim, 8u);
    EXPECT_EQ(enum_choices<RopeLayout>(), "one of 'interleaved', 'half'");
}

TEST(RopeValidate, CosSinTableMatchesTheKernelsAngles) {
    RopeOptions options;
    const std::vector<double> positions{3.0, -1.5};
    options.positions = positions.data();
    options.inverse = true;
    const std::vector<float> table = rope_cos_sin_table({1, 2, 1, 4}, options);
    ASSERT_EQ(table.size(), 8u);
    EXPECT_FLOAT_EQ(table[0], static_cast<float>(std::cos(-3.0)));
    EXPECT_FLOAT_EQ(table[1], static_cast<float>(std::sin(-3.0)));
    EXPECT_FLOAT_EQ(table[6], static_cast<float>(std::cos(1.5 * 0.01)));
    EXPECT_FLOAT_EQ(table[7], static_cast<float>(std::sin(1.5 * 0.01)));
}

// ---- 2D RoPE ----

TEST(Rope2dValidate, EveryRule) {
    const Rope2dShape shape{1, 2, 3, 2, 8};
    Rope2dOptions options;
    EXPECT_FALSE(rope2d_validate(shape, options));
    const struct {
        std::size_t Rope2dShape::*member;
        const char* name;
    } sizes[] = {{&Rope2dShape::batch, "batch"}, {&Rope2dShape::height, "height"}, {&Rope2dShape::width, "width"},
                 {&Rope2dShape::heads, "heads"}, {&Rope2dShape::dim, "dim"}};
    for (const auto& size : sizes) {
        Rope2dShape bad = shape;
        bad.*size.member = 0;
        expect_error(rope2d_validate(bad, options), ErrorKind::range, size.name,
                     std::string(size.name) + " must be a positive integer, received 0");
    }
    expect_error(rope2d_validate({1, 2, 3, 2, 6}, options), ErrorKind::range, "dim",
                 "dim must be a multiple of 4 (two rotary halves of even size), received 6");
    options.base = 0.0;
    expect_error(rope2d_validate(shape, options), ErrorKind::range, "base", "base must be greater than 0, received 0");
    options.base = 10000.0;
    std::vector<double> positions(12, 1.0);
    positions[11] = std::nan("");
    options.positions = positions.data();
    expect_error(rope2d_validate(shape, options), ErrorKind::range, "positions[11]",
                 "positions[11] must be a finite number, received NaN");
    options.positions = nullptr;
    EXPECT_EQ(rope2d_validate({1, 1024, 1024, 1, 1024}, options).parameter, "x");
}

TEST(Rope2dValidate, FieldList) {
    Rope2dCall call;
    FieldNames names;
    visit_fields(call, names);
    EXPECT_EQ(names.names, (std::vector<std::string>{"batch", "height", "width", "heads", "dim", "base", "layout",
                                                     "mode", "inverse"}));
    EXPECT_EQ(enum_choices<Rope2dMode>(), "one of 'split', 'tie'");
}

}  // namespace
}  // namespace kexue
