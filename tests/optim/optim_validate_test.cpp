// Every validator of the optimizers (low_rank_validate, low_rank_factors_validate, the multitask
// and clipping validators) called directly: the parameter each error names and its text, which
// the JS facade throws as "<function>: <text>".
#include <cmath>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "../helpers/validation.hpp"

#include "optim/clipping.hpp"
#include "optim/low_rank_optimizer.hpp"
#include "optim/multitask.hpp"

namespace kexue {
namespace {

using testing::expect_error;
using testing::field_names;


LowRankConfig valid() {  // 3×4, r = 2, LoRA
    LowRankConfig c;
    c.rows = 3;
    c.cols = 4;
    c.rank = 2;
    c.lr = 0.01;
    return c;
}

TEST(LowRankValidate, AcceptsTheDefaultsAndEveryMode) {
    EXPECT_FALSE(low_rank_validate(valid()));
    for (const auto& entry : EnumNames<LowRankMode>::entries) {
        LowRankConfig c = valid();
        c.mode = entry.value;
        c.rank = 1;
        EXPECT_FALSE(low_rank_validate(c)) << entry.name;
    }
}

TEST(LowRankValidate, ShapeAndRank) {
    LowRankConfig c = valid();
    c.rows = 0;
    expect_error(low_rank_validate(c), ErrorKind::range, "rows", "rows must be a positive integer, received 0");
    c = valid();
    c.cols = 0;
    expect_error(low_rank_validate(c), ErrorKind::range, "cols", "cols must be a positive integer, received 0");
    c = valid();
    c.rank = 0;
    expect_error(low_rank_validate(c), ErrorKind::range, "rank", "rank must be a positive integer, received 0");
    c.rank = 4;
    expect_error(low_rank_validate(c), ErrorKind::range, "rank",
                 "rank must be between 1 and min(rows, cols) = 3, received 4");
    // 'full' ignores the rank (resolved to 1), but one given must still fit.
    c.mode = LowRankMode::Full;
    expect_error(low_rank_validate(c), ErrorKind::range, "rank",
                 "rank must be between 1 and min(rows, cols) = 3, received 4");
    c.rank = 0;
    EXPECT_FALSE(low_rank_validate(c));
    c = valid();
    c.mode = LowRankMode::Additive;
    expect_error(low_rank_validate(c), ErrorKind::range, "rank",
                 "mode 'additive' needs rank to divide rows = 3 and cols = 4, received rank 2");
}

TEST(LowRankValidate, BaseAndNumbers) {
    LowRankConfig c = valid();
    c.mode = LowRankMode::RandomProj;
    c.base = LowRankBase::Adam;
    expect_error(low_rank_validate(c), ErrorKind::range, "base",
                 "mode 'random' (W ← W − lr·(G·VᵀV + U·UᵀG)) supports base 'sgd' only, received \"adam\"");
    c.base = LowRankBase::Auto;  // resolves to 'sgd'
    EXPECT_FALSE(low_rank_validate(c));
    struct Case {
        double LowRankConfig::*member;
        double value;
        const char* parameter;
        const char* text;
    };
    const Case cases[] = {
        {&LowRankConfig::lr, -1, "lr", "lr must be a finite number in [0, Infinity], received -1"},
        {&LowRankConfig::lr, NAN, "lr", "lr must be a finite number in [0, Infinity], received NaN"},
        {&LowRankConfig::beta1, 1, "beta1", "beta1 must be a finite number in [0, 1), received 1"},
        {&LowRankConfig::beta2, -0.5, "beta2", "beta2 must be a finite number in [0, 1), received -0.5"},
        {&LowRankConfig::eps, -1e-9, "eps", "eps must be a finite number in (0, Infinity], received -1e-9"},
        {&LowRankConfig::eps, 0, "eps", "eps must be a finite number in (0, Infinity], received 0"},
        {&LowRankConfig::lr, 1e30, "lr", "lr must be at most 1000000 (larger steps overflow float32 weights), received 1e+30"},
        {&LowRankConfig::weight_decay, INFINITY, "weightDecay",
         "weightDecay must be a finite number in [0, Infinity], received Infinity"},
        {&LowRankConfig::scale, -INFINITY, "scale", "scale must be a finite number, received -Infinity"},
    };
    for (const Case& k : cases) {
        LowRankConfig bad = valid();
        bad.*k.member = k.value;
        expect_error(low_rank_validate(bad), ErrorKind::range, k.parameter, k.text);
    }
    c = valid();
    c.update_proj_gap = 0;
    expect_error(low_rank_validate(c), ErrorKind::range, "updateProjGap",
                 "updateProjGap must be a positive integer, received 0");
}

TEST(LowRankValidate, LoraGaInit) {
    LowRankConfig c = valid();
    c.init = LowRankInit::LoRAGA;
    expect_error(low_rank_validate(c), ErrorKind::range, "rank",
                 "init 'lora-ga' needs 2*rank <= min(rows, cols) = 3, received rank 2");
    c.rank = 1;
    EXPECT_FALSE(low_rank_validate(c));
    c.mode = LowRankMode::GaLore;
    expect_error(low_rank_validate(c), ErrorKind::range, "init",
                 "init 'lora-ga' applies to modes 'lora', 'fixed-a' and 'fixed-b', received mode \"galore\"");
}

TEST(LowRankValidate, HeapLimit) {
    LowRankConfig c = valid();
    c.rows = 1 << 15;
    c.cols = 1 << 15;
    expect_error(low_rank_validate(c), ErrorKind::range, "the weight",
                 "the weight of shape rows=32768 × cols=32768 × copies=3 needs 3221225472 floats (12884901888 "
                 "bytes), more than the 2 GiB WASM heap can hold");
    // Past the three copies: the facade's buffers and the state together (issue 18, 12000² LoRA).
    c.rows = c.cols = 12000;
    c.mode = LowRankMode::LoRA;
    const Error e = low_rank_validate(c);
    EXPECT_EQ(e.parameter, "rows");
    EXPECT_EQ(e.text.rfind("rows needs ", 0), 0u) << e.text;
    c.rows = c.cols = 6000;
    EXPECT_FALSE(low_rank_validate(c));
}

TEST(LowRankValidate, Factors) {
    LowRankConfig c = valid();
    EXPECT_FALSE(low_rank_factors_validate(c));
    c.mode = LowRankMode::GaLore;
    expect_error(low_rank_factors_validate(c), ErrorKind::range, "factors",
                 "factors apply to modes 'lora', 'fixed-a', 'fixed-b', 'additive', received mode \"galore\"");
    c.mode = LowRankMode::FixedA;
    c.init = LowRankInit::LoRAGA;
    expect_error(low_rank_factors_validate(c), ErrorKind::range, "factors",
                 "factors cannot be given with init 'lora-ga' (it computes them from the first gradient)");
}

TEST(LowRankValidate, ResolveFillsTheModeDefaults) {
    LowRankConfig c = valid();
    LowRankConfig r = low_rank_resolve(c);
    EXPECT_EQ(r.base, LowRankBase::Adam);
    EXPECT_EQ(r.eps, 1e-8);
    c.mode = LowRankMode::GaLore;
    EXPECT_EQ(low_rank_resolve(c).eps, 1e-6);
    c.eps = 1e-3;  // given: kept
    EXPECT_EQ(low_rank_resolve(c).eps, 1e-3);
    c.mode = LowRankMode::RandomProj;
    EXPECT_EQ(low_rank_resolve(c).base, LowRankBase::SGD);
    c.mode = LowRankMode::Full;
    EXPECT_EQ(low_rank_resolve(c).rank, 1u);
    EXPECT_EQ(low_rank_resolve(low_rank_resolve(c)).rank, 1u);  // idempotent
    // The optimizer keeps the resolved configuration.
    const float w[12] = {};
    EXPECT_EQ(LowRankOptimizer(valid(), w).config().eps, 1e-8);
}

TEST(LowRankValidate, FieldListNamesEveryOption) {
    FieldNames names;
    LowRankConfig c;
    visit_fields(c, names);
    const std::vector<std::string> want{"rows", "cols", "rank",  "mode",        "base",          "lr",   "beta1",
                                        "beta2", "eps", "weightDecay", "scale", "updateProjGap", "init", "seed"};
    EXPECT_EQ(names.names, want);
    EXPECT_EQ(enum_choices<LowRankMode>(),
              "one of 'full', 'lora', 'fixed-a', 'fixed-b', 'random', 'additive', 'galore'");
    EXPECT_EQ(enum_choices<LowRankBase>(), "one of 'sgd', 'adam'");
    EXPECT_EQ(enum_choices<LowRankInit>(), "one of 'zero-b', 'symmetric', 'lora-ga'");
    EXPECT_EQ(enum_choices<ClipForm>(), "one of 'min', 'smooth'");
}

TEST(MultitaskValidate, ShapesAndOptions) {
    EXPECT_FALSE(normalized_sum_validate({2, 3}));
    expect_error(normalized_sum_validate({0, 3}), ErrorKind::range, "grads", "grads must not be empty");
    expect_error(normalized_sum_validate({2, 0}), ErrorKind::range, "grads[0]", "grads[0] must not be empty");
    expect_error(normalized_sum_validate({std::size_t(1) << 16, std::size_t(1) << 16}), ErrorKind::range, "grads",
                 "grads of shape tasks=65536 × size=65536 needs 4294967296 floats (17179869184 bytes), more than the "
                 "2 GiB WASM heap can hold");
    // Two 2²⁷-float gradients fit one by one, not with the direction and the workspaces (issue 18):
    // (2 + 2)·2²⁷ floats + (4 + 2·2²⁷) doubles = 2147483648 + 2147483680 bytes.
    expect_error(normalized_sum_validate({2, std::size_t(1) << 27}), ErrorKind::range, "grads",
                 "grads needs 4294967328 bytes for the gradients, the direction and the workspaces, more than the "
                 "2 GiB WASM heap can hold");
    EXPECT_FALSE(normalized_sum_validate({2, std::size_t(1) << 24}));
    MgdaOptions mgda;
    EXPECT_FALSE(mgda_validate({3, 2}, mgda));
    expect_error(mgda_validate({0, 2}, mgda), ErrorKind::range, "grads", "grads must not be empty");
    mgda.max_iterations = 0;
    expect_error(mgda_validate({3, 2}, mgda), ErrorKind::range, "maxIterations",
                 "maxIterations must be a positive integer, received 0");
    mgda.max_iterations = 5;
    mgda.tolerance = -1;
    expect_error(mgda_validate({3, 2}, mgda), ErrorKind::range, "tolerance",
                 "tolerance must be a finite number in [0, Infinity], received -1");
    PrimaryAuxOptions aux;
    EXPECT_FALSE(primary_aux_validate({1, 2}, aux));
    expect_error(primary_aux_validate({0, 2}, aux), ErrorKind::range, "auxGrads", "auxGrads must not be empty");
    expect_error(primary_aux_validate({1, 0}, aux), ErrorKind::range, "g0", "g0 must not be empty");
    aux.max_sweeps = 0;
    expect_error(primary_aux_validate({1, 2}, aux), ErrorKind::range, "maxSweeps",
                 "maxSweeps must be a positive integer, received 0");
    aux.max_sweeps = 1;
    aux.tolerance = NAN;
    expect_error(primary_aux_validate({1, 2}, aux), ErrorKind::range, "tolerance",
                 "tolerance must be a finite number in [0, Infinity], received NaN");
}

TEST(ClipValidate, ShapeAndMaxNorm) {
    ClipOptions o;
    o.max_norm = 1;
    EXPECT_FALSE(clip_validate({2, 10}, o));
    EXPECT_FALSE(clip_validate({1, 0}, o));  // an empty tensor has norm 0
    expect_error(clip_validate({0, 0}, o), ErrorKind::range, "grads", "grads must not be empty");
    expect_error(clip_validate({1, std::size_t(1) << 30}, o), ErrorKind::range, "grads",
                 "grads of shape total=1073741824 needs 1073741824 floats (4294967296 bytes), more than the 2 GiB "
                 "WASM heap can hold");
    for (const double bad : {0.0, -1.0, double(INFINITY)}) {
        o.max_norm = bad;
        expect_error(clip_validate({1, 1}, o), ErrorKind::range, "maxNorm",
                     "maxNorm must be a finite number in (0, Infinity], received " + js_number(bad));
    }
}

}  // namespace
}  // namespace kexue
