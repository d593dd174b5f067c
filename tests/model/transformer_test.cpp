// The whole transformer (src/model/): its gradient against finite differences of the float64 model,
// the float model against the float64 model over a few training steps, the KV cache against full
// recomputation, seeded reproducibility, safetensors round trips and refusals, fine-tuning, and
// the validators.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "../helpers/validation.hpp"
#include "core/random.hpp"
#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "model/transformer.hpp"
#include "optim/adam.hpp"

namespace kexue::model {
namespace {

using kexue::testing::expect_error;

TransformerConfig small_config(NormPlacement norm, AttentionScale scale = AttentionScale::entropy) {
    TransformerConfig c;
    c.vocab = 13;
    c.d_model = 8;
    c.layers = 2;
    c.heads = 2;
    c.kv_heads = 1;
    c.key_size = 6;  // ≠ dModel/heads = 4 (kexue.fm/archives/7325)
    c.ffn = 12;
    c.norm = norm;
    c.attention.scale = scale;
    c.attention.base_len = 4;
    c.max_seq = 32;
    c.init_std = 0.3;  // large enough that attention is far from uniform in the gradient checks
    c.seed = 7;
    return transformer_resolve(c);
}

std::vector<std::int32_t> random_tokens(std::size_t count, std::size_t vocab, std::uint64_t seed) {
    Xoshiro256 rng(seed);
    std::vector<std::int32_t> t(count);
    for (auto& x : t) x = static_cast<std::int32_t>(rng.uniform() * double(vocab));
    return t;
}

// The float64 model's analytic gradient (one forward_backward with `call`) against central
// differences of its loss, in 4 random entries of every tensor.
// With `ladder`, the side network's tensors instead (finetune method 'ladder').
void expect_gradient_matches_central_differences(TransformerModel<double>& model, const std::vector<std::int32_t>& tokens,
                                                 const TrainCall& call, bool ladder = false) {
    model.forward_backward(tokens.data(), call, true, nullptr);
    const std::vector<double> analytic = ladder ? model.ladder_gradients() : model.gradients();
    std::vector<double>& parameters = ladder ? model.ladder_parameters() : model.parameters();
    Xoshiro256 pick(5);
    for (const TensorInfo& t : ladder ? model.ladder_tensors() : model.tensors()) {
        for (int trial = 0; trial < 4; ++trial) {
            const std::size_t i = t.offset + static_cast<std::size_t>(pick.uniform() * double(t.size));
            double& p = parameters[i];
            const double saved = p, h = 1e-5;
            p = saved + h;
            const double up = model.forward_backward(tokens.data(), call, false, nullptr);
            p = saved - h;
            const double down = model.forward_backward(tokens.data(), call, false, nullptr);
            p = saved;
            const double numeric = (up - down) / (2 * h);
            EXPECT_NEAR(analytic[i], numeric, 1e-6 + 1e-5 * std::fabs(numeric)) << t.name << " entry " << i - t.offset;
        }
    }
}

// The float model trained 5 steps side by side with its float64 twin from the same parameters: the
// losses agree step by step (float rounding only) and, with check_parameters, so do the weights.
// `prepare` (may be null) changes the float model's initial parameters before the twin copies them.
// With `ladder`, both train a ladder side network (its shape; lr 1e-2) over the frozen backbone, and
// the side networks' parameters are compared.
void expect_float_tracks_double(const TransformerConfig& c, const TrainCall& call, bool check_parameters,
                                void (*prepare)(TransformerModel<float>&) = nullptr,
                                const LadderShape* ladder = nullptr) {
    TransformerModel<float> f(c);
    if (prepare) prepare(f);
    TransformerModel<double> d(c);
    d.parameters().assign(f.parameters().begin(), f.parameters().end());
    if (ladder) {
        ModelOptimizer o = c.optimizer;
        o.lr = 1e-2;
        f.enable_ladder(*ladder);
        d.enable_ladder(*ladder);
        f.reset_optimizer(o);
        d.reset_optimizer(o);
        ASSERT_EQ(f.ladder_parameters().size(), d.ladder_parameters().size());
        for (std::size_t i = 0; i < f.ladder_parameters().size(); ++i) ASSERT_EQ(double(f.ladder_parameters()[i]), d.ladder_parameters()[i]);
    }
    for (int step = 0; step < 5; ++step) {
        const auto tokens = random_tokens(3 * 8, c.vocab, 100 + step);
        const double lf = f.train_step(tokens.data(), call);
        const double ld = d.train_step(tokens.data(), call);
        EXPECT_NEAR(lf, ld, 1e-4 * ld) << "step " << step;
    }
    if (!check_parameters) return;
    double max_diff = 0;
    for (std::size_t i = 0; i < f.parameters().size(); ++i)
        max_diff = std::max(max_diff, std::fabs(double(f.parameters()[i]) - d.parameters()[i]));
    for (std::size_t i = 0; i < f.ladder_parameters().size(); ++i)
        max_diff = std::max(max_diff, std::fabs(double(f.ladder_parameters()[i]) - d.ladder_parameters()[i]));
    EXPECT_LT(max_diff, 1e-4);
}

// The KV cache — a `prefix`-token prompt, then one token at a time — gives the logits of full
// recomputation over the first `length` tokens (queries after cached keys: the causal offset).
void expect_cache_matches_recomputation(TransformerModel<float>& model, const std::vector<std::int32_t>& tokens,
                                        std::size_t length, std::size_t prefix) {
    model.forward_backward(tokens.data(), TrainCall{1, length, PositionMode::sequential, 0, 0}, false, nullptr);
    // (The logits buffer may be sized for an earlier, larger call: its first rows are these.)
    const std::size_t vocab = model.config().vocab;
    const std::vector<float> full(model.last_logits().begin(), model.last_logits().begin() + length * vocab);
    model.reset_cache();
    std::vector<float> logits, cached;
    model.forward_cached(tokens.data(), prefix, logits);
    cached = logits;
    for (std::size_t i = prefix; i < length; ++i) {
        model.forward_cached(tokens.data() + i, 1, logits);
        cached.insert(cached.end(), logits.begin(), logits.end());
    }
    model.reset_cache();
    ASSERT_EQ(cached.size(), full.size());
    for (std::size_t i = 0; i < full.size(); ++i) EXPECT_NEAR(cached[i], full[i], 1e-4) << i;
}

// Greedy generation of `max_tokens` after `prompt` picks, at every step, the argmax of the logits
// recomputed over the whole sequence so far. Returns the generated tokens.
std::vector<std::int32_t> expect_greedy_generation_matches_argmax(Transformer& t, const std::vector<std::int32_t>& prompt,
                                                                  std::size_t max_tokens) {
    GenerateOptions o;
    o.max_tokens = max_tokens;
    o.temperature = 0;
    const auto out = t.generate(prompt.data(), prompt.size(), o);
    const std::size_t vocab = t.config().vocab;
    std::vector<std::int32_t> seq = prompt;
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::vector<std::int32_t> row = seq;
        row.push_back(0);  // a target the loss needs; its value does not change the logits
        t.model().forward_backward(row.data(), TrainCall{1, seq.size(), PositionMode::sequential, 0, 0}, false, nullptr);
        const float* last = t.model().last_logits().data() + (seq.size() - 1) * vocab;
        EXPECT_EQ(out[i], std::max_element(last, last + vocab) - last) << i;
        seq.push_back(out[i]);
    }
    return out;
}

class ModelPerNorm : public ::testing::TestWithParam<NormPlacement> {};

// The float64 model's analytic gradient equals central differences of its loss, for every tensor.
TEST_P(ModelPerNorm, DoubleModelGradientMatchesFiniteDifferences) {
    TransformerConfig c = small_config(GetParam());
    ASSERT_FALSE(transformer_validate(c));
    TransformerModel<double> model(c);
    const TrainCall call{2, 5, PositionMode::random, 20, 3};
    const auto tokens = random_tokens(2 * 6, c.vocab, 11);
    // Fixed positions so the finite differences see the same ones (evaluation draws from call.seed).
    model.forward_backward(tokens.data(), call, false, nullptr);
    TrainCall fixed = call;
    const std::vector<double> positions = {0, 2, 3, 7, 19, 1, 4, 5, 6, 8};
    fixed.given = positions.data();
    fixed.given_count = positions.size();
    expect_gradient_matches_central_differences(model, tokens, fixed);
}

// The float model trained side by side with its float64 twin from the same parameters: the losses
// agree step by step (float rounding only).
TEST_P(ModelPerNorm, FloatModelTracksTheFloat64ReferenceOverTrainingSteps) {
    TransformerConfig c = small_config(GetParam());
    c.init_std = 0.05;
    c.optimizer.lr = 3e-3;
    c.optimizer.weight_decay = 0.01;
    expect_float_tracks_double(c, TrainCall{3, 7, PositionMode::random, 24, 0}, true);
}

INSTANTIATE_TEST_SUITE_P(Norms, ModelPerNorm,
                         ::testing::Values(NormPlacement::pre_rms, NormPlacement::post_ln, NormPlacement::deepnorm),
                         [](const auto& info) { return std::string(enum_name(info.param)) == "pre-rms" ? std::string("PreRms")
                                                       : std::string(enum_name(info.param)) == "post-ln" ? std::string("PostLn")
                                                                                                          : std::string("DeepNorm"); });

// The masked objective's gradient path is the causal one with bidirectional attention (checked in
// layers_test) and ignored rows (checked there too); here: which tokens it predicts.
TEST(Transformer, MaskedObjectivePredictsOnlyTheMaskedTokens) {
    TransformerConfig c = small_config(NormPlacement::pre_rms, AttentionScale::standard);
    c.objective = Objective::masked;
    c.mask_rate = 0.5;
    TransformerModel<double> model(c);
    const auto tokens = random_tokens(2 * 6, c.vocab - 1, 4);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 9};
    // Evaluation masks from call.seed: the same tokens are masked on every call.
    const double loss = model.forward_backward(tokens.data(), call, false, nullptr);
    EXPECT_GT(loss, 0);
    std::vector<double> per_token(12);
    model.forward_backward(tokens.data(), call, false, per_token.data());
    int predicted = 0;
    for (double x : per_token) predicted += x != 0;
    EXPECT_GT(predicted, 0);
    EXPECT_LT(predicted, 12);
}

TEST(Transformer, KvCacheGenerationEqualsFullRecomputation) {
    for (NormPlacement norm : {NormPlacement::pre_rms, NormPlacement::deepnorm}) {
        TransformerConfig c = small_config(norm);
        TransformerModel<float> model(c);
        const std::size_t length = 12;
        expect_cache_matches_recomputation(model, random_tokens(length + 1, c.vocab, 21), length, 5);
    }
}

TEST(Transformer, GreedyGenerationEqualsArgmaxOfRecomputedLogits) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer t(c);
    EXPECT_EQ(expect_greedy_generation_matches_argmax(t, {1, 2, 3}, 8).size(), 8u);
}

TEST(Transformer, SampledGenerationIsReproducibleFromItsSeedAndRespectsTopK) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer t(c);
    const std::vector<std::int32_t> prompt = {4};
    GenerateOptions o;
    o.max_tokens = 20;
    o.temperature = 1.0;
    o.seed = 3;
    EXPECT_EQ(t.generate(prompt.data(), 1, o), t.generate(prompt.data(), 1, o));
    o.top_k = 1;
    o.temperature = 5.0;
    GenerateOptions greedy = o;
    greedy.temperature = 0;
    greedy.top_k = 0;
    EXPECT_EQ(t.generate(prompt.data(), 1, o), t.generate(prompt.data(), 1, greedy));
}

TEST(Transformer, ASeedReproducesARunExactly) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer a(c), b(c);
    const TrainCall call{2, 6, PositionMode::random, 30, 0};
    for (int step = 0; step < 3; ++step) {
        const auto tokens = random_tokens(2 * 7, c.vocab, 50 + step);
        EXPECT_EQ(a.train_step(tokens.data(), call).loss, b.train_step(tokens.data(), call).loss);
    }
    EXPECT_EQ(0, std::memcmp(a.model().parameters().data(), b.model().parameters().data(),
                             4 * a.model().parameters().size()));
    c.seed = 8;
    Transformer other(c);
    EXPECT_NE(0, std::memcmp(a.model().parameters().data(), other.model().parameters().data(), 64));
}

TEST(Transformer, LearnsARepeatingPattern) {
    TransformerConfig c = small_config(NormPlacement::pre_rms, AttentionScale::standard);
    c.d_model = 16;
    c.heads = 2;
    c.key_size = 8;
    c.ffn = 32;
    c.init_std = 0.02;
    c.optimizer.lr = 1e-2;
    c = transformer_resolve(c);
    Transformer t(c);
    std::vector<std::int32_t> tokens(4 * 17);
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t i = 0; i < 17; ++i) tokens[r * 17 + i] = static_cast<std::int32_t>((i * 3 + r) % 7);
    const TrainCall call{4, 16, PositionMode::sequential, 0, 0};
    const double first = t.train_step(tokens.data(), call).loss;
    double last = first;
    for (int step = 0; step < 60; ++step) last = t.train_step(tokens.data(), call).loss;
    EXPECT_LT(last, first / 5) << first << " → " << last;
}

TEST(Transformer, FloodingTurnsDescentIntoAscentBelowTheLevel) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    c.optimizer.flooding = 100.0;  // far above the loss: every step ascends
    Transformer t(c);
    const auto tokens = random_tokens(2 * 7, c.vocab, 3);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    const double first = t.evaluate(tokens.data(), call, nullptr);
    for (int i = 0; i < 10; ++i) t.train_step(tokens.data(), call);
    EXPECT_GT(t.evaluate(tokens.data(), call, nullptr), first);
}

TEST(Transformer, SaveLoadRoundTripIsBitExact) {
    TransformerConfig c = small_config(NormPlacement::deepnorm);
    c.attention.scale = 0.3;
    c.optimizer.flooding = 0.5;
    c.attention.rope.reset();
    c = transformer_resolve(c);
    Transformer t(c);
    const auto tokens = random_tokens(2 * 7, c.vocab, 3);
    t.train_step(tokens.data(), TrainCall{2, 6, PositionMode::sequential, 0, 0});
    const auto bytes = t.save();
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(bytes.data(), bytes.size(), loaded));
    ASSERT_TRUE(loaded);
    EXPECT_EQ(0, std::memcmp(t.model().parameters().data(), loaded->model().parameters().data(),
                             4 * t.model().parameters().size()));
    EXPECT_EQ(transformer_config_metadata(loaded->config()), transformer_config_metadata(c));
    EXPECT_EQ(loaded->save(), bytes);
    EXPECT_FALSE(loaded->config().attention.rope.has_value());
    EXPECT_EQ(std::get<double>(loaded->config().attention.scale), 0.3);
}

std::vector<std::uint8_t> saved_model() {
    Transformer t(small_config(NormPlacement::pre_rms));
    return t.save();
}

Error load_error(const std::vector<std::uint8_t>& bytes) {
    std::unique_ptr<Transformer> out;
    Error e = Transformer::load(bytes.data(), bytes.size(), out);
    EXPECT_EQ(out != nullptr, !e);
    return e;
}

std::string header_of(const std::vector<std::uint8_t>& bytes) {
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= std::uint64_t(bytes[i]) << (8 * i);
    return std::string(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
}

std::vector<std::uint8_t> with_header(const std::vector<std::uint8_t>& bytes, const std::string& header) {
    const std::string old = header_of(bytes);
    std::vector<std::uint8_t> out(8);
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(std::uint64_t(header.size()) >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), bytes.begin() + 8 + static_cast<std::ptrdiff_t>(old.size()), bytes.end());
    return out;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    const std::size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
}

TEST(Transformer, LoadRefusesTruncatedTamperedAndNonFiniteFiles) {
    const auto bytes = saved_model();
    std::vector<std::uint8_t> truncated(bytes.begin(), bytes.end() - 4);
    EXPECT_NE(load_error(truncated).text.find("past the"), std::string::npos) << load_error(truncated).text;
    std::vector<std::uint8_t> tiny(bytes.begin(), bytes.begin() + 5);
    EXPECT_NE(load_error(tiny).text.find("8-byte header length"), std::string::npos);
    std::vector<std::uint8_t> header_cut(bytes.begin(), bytes.begin() + 100);
    EXPECT_NE(load_error(header_cut).text.find("runs past the end"), std::string::npos);
    const std::string header = header_of(bytes);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "{\"__metadata__\"", "[\"__metadata__\""))).text.find("not valid JSON"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"shape\":[13,8]", "\"shape\":[8,13]"))).text.find(
                  "must have shape [13, 8]"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"shape\":[13,8]", "\"shape\":[13,9]"))).text.find("bytes of data"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"F32\"", "\"F16\""))).text.find("F32 only"), std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"config.vocab\":\"13\"", "\"config.vocab\":\"14\""))).text.find(
                  "must have shape [14, 8]"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"config.vocab\":\"13\"", "\"config.vocab\":\"x\""))).text.find(
                  "config.vocab must be a non-negative integer"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "kexue-transformer", "kexue-whatever"))).text.find("format"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"config.heads\":\"2\"", "\"config.heads\":\"3\""))).text.find(
                  "configuration is invalid"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "layers.1.ffn.w2", "layers.1.ffn.w3"))).text.find(
                  "\"layers.1.ffn.w2\" is missing"),
              std::string::npos);
    auto nan = bytes;
    const float bad = std::nanf("");
    std::memcpy(nan.data() + 8 + header.size() + 4 * 5, &bad, 4);
    const Error e = load_error(nan);
    expect_error(e, ErrorKind::range, "bytes", "bytes: embedding.weight[5] is NaN; the weights must be finite");
}

TEST(Transformer, SafetensorsParserRefusesOverlapsAndGaps) {
    const float data[4] = {1, 2, 3, 4};
    auto bytes = safetensors_write({}, {{"a", {2}, data}, {"b", {2}, data + 2}});
    SafetensorsFile file;
    ASSERT_FALSE(safetensors_parse(bytes.data(), bytes.size(), file));
    EXPECT_EQ(file.tensors.size(), 2u);
    const std::string header = header_of(bytes);
    const auto overlap = with_header(bytes, replace(header, "\"data_offsets\":[8,16]", "\"data_offsets\":[4,12]"));
    EXPECT_NE(safetensors_parse(overlap.data(), overlap.size(), file).text.find("overlaps"), std::string::npos);
    auto extra = bytes;
    extra.insert(extra.end(), {0, 0, 0, 0});
    EXPECT_NE(safetensors_parse(extra.data(), extra.size(), file).text.find("no tensor covers"), std::string::npos);
}

TEST(Transformer, LoraFinetuningThroughTheOptimizerEqualsBackpropagatingIntoAAndB) {
    // W = W0 + s·A·B with only A and B trained by Adam: ∂L/∂A = s·G·Bᵀ, ∂L/∂B = s·Aᵀ·G (the chain
    // rule through the product). Replayed by hand on a copy of the model, the trajectory matches
    // the one the LowRankOptimizers produce.
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer t(c);
    Transformer manual(c);
    FinetuneOptions o;
    o.method = FinetuneMethod::lora;
    o.rank = 2;
    o.targets = {"wv"};
    o.lr = 1e-2;
    o.scale = 2.0;
    t.finetune(o);
    // The starting factors of the optimizer (B = 0, A random): read them from a fresh twin.
    const auto& tensors = t.model().tensors();
    std::vector<std::size_t> targets;
    for (std::size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].kind == TensorKind::wv) targets.push_back(i);
    ASSERT_EQ(targets.size(), 2u);
    struct Factors {
        std::vector<float> w0, a, b, ma, va, mb, vb;
    };
    std::vector<Factors> factors;
    for (std::size_t index : targets) {
        const TensorInfo& info = tensors[index];
        LowRankConfig lc;
        lc.rows = info.shape[0];
        lc.cols = info.shape[1];
        lc.rank = 2;
        lc.mode = LowRankMode::LoRA;
        lc.lr = o.lr;
        lc.scale = o.scale;
        lc.seed = c.seed + 1 + index;
        lc.beta1 = c.optimizer.beta1;
        lc.beta2 = c.optimizer.beta2;
        LowRankOptimizer probe(low_rank_resolve(lc), manual.model().parameters().data() + info.offset);
        Factors f;
        f.w0.assign(manual.model().parameters().begin() + info.offset,
                    manual.model().parameters().begin() + info.offset + info.size);
        f.a = probe.a();
        f.b = probe.b();
        f.ma.assign(f.a.size(), 0);
        f.va = f.ma;
        f.mb.assign(f.b.size(), 0);
        f.vb = f.mb;
        factors.push_back(f);
    }
    std::vector<bool> trainable(tensors.size(), false);
    for (std::size_t index : targets) trainable[index] = true;
    manual.model().set_trainable(trainable);
    manual.model().set_adam_enabled(false);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    for (int step = 1; step <= 4; ++step) {
        const auto tokens = random_tokens(2 * 7, c.vocab, 70 + step);
        const double lt = t.train_step(tokens.data(), call).loss;
        manual.model().forward_backward(tokens.data(), call, true, nullptr);
        manual.model().apply_update();  // clipping only (AdamW is off)
        EXPECT_TRUE(std::isfinite(lt));
        for (std::size_t k = 0; k < targets.size(); ++k) {
            const TensorInfo& info = tensors[targets[k]];
            Factors& f = factors[k];
            const std::size_t rows = info.shape[0], cols = info.shape[1], r = 2;
            const float* g = manual.model().gradients().data() + info.offset;
            std::vector<float> ga(rows * r, 0), gb(r * cols, 0);
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j)
                    for (std::size_t q = 0; q < r; ++q) {
                        ga[i * r + q] += static_cast<float>(o.scale) * g[i * cols + j] * f.b[q * cols + j];
                        gb[q * cols + j] += static_cast<float>(o.scale) * f.a[i * r + q] * g[i * cols + j];
                    }
            AdamOptions ao{o.lr, c.optimizer.beta1, c.optimizer.beta2, 1e-8, 0};
            adam_update(f.a.data(), ga.data(), f.ma.data(), f.va.data(), f.a.size(), adam_step<float>(ao, step));
            adam_update(f.b.data(), gb.data(), f.mb.data(), f.vb.data(), f.b.size(), adam_step<float>(ao, step));
            float* w = manual.model().parameters().data() + info.offset;
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j) {
                    float sum = 0;
                    for (std::size_t q = 0; q < r; ++q) sum += f.a[i * r + q] * f.b[q * cols + j];
                    w[i * cols + j] = f.w0[i * cols + j] + static_cast<float>(o.scale) * sum;
                }
        }
    }
    double max_diff = 0;
    for (std::size_t i = 0; i < t.model().parameters().size(); ++i)
        max_diff = std::max(max_diff, std::fabs(double(t.model().parameters()[i]) - manual.model().parameters()[i]));
    EXPECT_LT(max_diff, 1e-5);
    // Only the targets moved.
    Transformer fresh(c);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].kind == TensorKind::wv) continue;
        EXPECT_EQ(0, std::memcmp(fresh.model().parameters().data() + tensors[i].offset,
                                 t.model().parameters().data() + tensors[i].offset, 4 * tensors[i].size))
            << tensors[i].name;
    }
    // LoRA keeps (rows + cols)·r factors and their two Adam moments per target.
    EXPECT_EQ(t.optimizer_state_floats(), 2u * 3 * (8 + 4) * 2);
}

TEST(Transformer, GaloreAndFullFinetuningReduceTheLossOnANewText) {
    for (FinetuneMethod method : {FinetuneMethod::full, FinetuneMethod::galore}) {
        TransformerConfig c = small_config(NormPlacement::pre_rms, AttentionScale::standard);
        Transformer t(c);
        FinetuneOptions o;
        o.method = method;
        o.rank = 2;
        o.lr = 1e-2;
        t.finetune(o);
        std::vector<std::int32_t> tokens(2 * 13);
        for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>(i % 5);
        const TrainCall call{2, 12, PositionMode::sequential, 0, 0};
        const double first = t.evaluate(tokens.data(), call, nullptr);
        for (int i = 0; i < 30; ++i) t.train_step(tokens.data(), call);
        EXPECT_LT(t.evaluate(tokens.data(), call, nullptr), first / 2) << enum_name(method);
        // GaLore keeps less than AdamW's two moments of every trained matrix.
        if (method == FinetuneMethod::galore) EXPECT_LT(t.optimizer_state_floats(), 2 * t.trained_parameter_count());
    }
}

TEST(TransformerValidate, ConfigurationRules) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    c.vocab = 1;
    expect_error(transformer_validate(c), ErrorKind::range, "vocab", "vocab must be at least 2, received 1");
    c = small_config(NormPlacement::pre_rms);
    c.heads = 3;
    c.kv_heads = 3;
    EXPECT_EQ(transformer_validate(c).parameter, "heads");
    c = small_config(NormPlacement::pre_rms);
    c.kv_heads = 3;
    c.heads = 2;
    c.d_model = 8;
    EXPECT_EQ(transformer_validate(c).text, "heads must be a multiple of kvHeads = 3 (grouped-query attention), received heads = 2");
    c = small_config(NormPlacement::pre_rms);
    c.key_size = 5;
    expect_error(transformer_validate(c), ErrorKind::range, "keySize", "keySize must be even (RoPE rotates pairs of dims), received 5");
    c.attention.rope.reset();
    EXPECT_FALSE(transformer_validate(c));
    c = small_config(NormPlacement::pre_rms);
    c.attention.base_len = 1;
    expect_error(transformer_validate(c), ErrorKind::range, "attention.baseLen",
                 "attention.baseLen must be greater than 1, received 1");
    c = small_config(NormPlacement::pre_rms);
    c.optimizer.beta2 = 1;
    EXPECT_EQ(transformer_validate(c).parameter, "optimizer.beta2");
    c = small_config(NormPlacement::pre_rms);
    c.vocab = 1 << 20;
    c.d_model = 1024;
    c.heads = 1;
    c.key_size = 1024;
    c.ffn = 4096;
    EXPECT_EQ(transformer_validate(c).parameter, "the model");
}

TEST(Transformer, PositionModes) {
    // docs/math.md §7.17's vector: seq 5, n 8 → 0, 2, 4, 6, 8.
    double p[5];
    equal_mean_positions(5, 8.0, p);
    EXPECT_EQ(std::vector<double>(p, p + 5), (std::vector<double>{0, 2, 4, 6, 8}));
    TransformerModel<float> model(small_config(NormPlacement::pre_rms));
    // Random: strictly increasing distinct integers in [0, range), a fresh draw per row.
    const auto random = model.positions_for(TrainCall{3, 8, PositionMode::random, 20, 0});
    for (std::size_t r = 0; r < 3; ++r) {
        for (std::size_t i = 0; i < 8; ++i) {
            const double x = random[r * 8 + i];
            EXPECT_EQ(x, std::floor(x));
            EXPECT_GE(x, 0);
            EXPECT_LT(x, 20);
            if (i) EXPECT_LT(random[r * 8 + i - 1], x);
        }
    }
    EXPECT_NE(std::vector<double>(random.begin(), random.begin() + 8), std::vector<double>(random.begin() + 8, random.begin() + 16));
    // Equal-mean: evenly spaced from 0, the last position exponential with mean seq.
    double sum = 0;
    const std::size_t rows = 4000;
    const auto stretched = model.positions_for(TrainCall{rows, 8, PositionMode::equal_mean, 0, 0});
    for (std::size_t r = 0; r < rows; ++r) {
        const double* row = stretched.data() + r * 8;
        EXPECT_EQ(row[0], 0);
        EXPECT_NEAR(row[2] - row[1], row[1] - row[0], 1e-9);
        sum += row[7];
    }
    EXPECT_NEAR(sum / rows, 8.0, 0.4);
}

TEST(TransformerValidate, CallAndTokenRules) {
    const TransformerConfig c = small_config(NormPlacement::pre_rms);
    expect_error(train_call_validate(c, TrainCall{1, 33, PositionMode::sequential, 0, 0}), ErrorKind::range, "seq",
                 "seq must be at most maxSeq = 32, received 33");
    expect_error(train_call_validate(c, TrainCall{1, 8, PositionMode::random, 4, 0}), ErrorKind::range, "positionRange",
                 "positionRange must be at least seq = 8 (distinct positions), received 4");
    TrainCall given{2, 3, PositionMode::sequential, 0, 0};
    const double positions[] = {0, 1, NAN, 3};
    given.given = positions;
    given.given_count = 4;
    EXPECT_EQ(train_call_validate(c, given).parameter, "positions");
    given.given_count = 3;
    expect_error(train_call_validate(c, given), ErrorKind::range, "positions[2]",
                 "positions[2] must be a finite number, received NaN");
    const std::int32_t tokens[] = {0, 12, 13, -1};
    EXPECT_FALSE(tokens_validate(c, tokens, 2));
    expect_error(tokens_validate(c, tokens, 4), ErrorKind::range, "tokens[2]",
                 "tokens[2] must be an integer in [0, 12], received 13");
    GenerateOptions g;
    g.max_tokens = 30;
    expect_error(generate_validate(c, 3, g), ErrorKind::range, "prompt.length + maxTokens",
                 "prompt.length + maxTokens must be at most maxSeq = 32, received 33");
    FinetuneOptions f;
    f.targets = {"wq", "wz"};
    EXPECT_EQ(finetune_validate(c, f).text,
              "targets[1] must be one of 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', received \"wz\"");
    f.targets = {};
    f.rank = 5;
    EXPECT_EQ(finetune_validate(c, f).parameter, "rank");
}

// ---- attention.normalize (relu2, l2) and separate targets ----------------------------------------

class ModelPerNormalize : public ::testing::TestWithParam<AttentionNormalize> {};

// The whole float64 model with relu2 or l2 attention (kexue.fm/archives/8934, 9105): its analytic
// gradient equals central differences of its loss; and the float model tracks it over steps.
TEST_P(ModelPerNormalize, DoubleModelGradientMatchesFiniteDifferences) {
    TransformerConfig c = small_config(NormPlacement::pre_rms, AttentionScale::standard);
    c.attention.normalize = GetParam();
    ASSERT_FALSE(transformer_validate(c));
    TransformerModel<double> model(c);
    TrainCall call{2, 5, PositionMode::sequential, 0, 0};
    const std::vector<double> positions = {0, 2, 3, 7, 19, 1, 4, 5, 6, 8};
    call.given = positions.data();
    call.given_count = positions.size();
    const auto tokens = random_tokens(2 * 6, c.vocab, 11);
    expect_gradient_matches_central_differences(model, tokens, call);
}

TEST_P(ModelPerNormalize, FloatModelTracksTheFloat64Reference) {
    TransformerConfig c = small_config(NormPlacement::pre_rms, AttentionScale::standard);
    c.attention.normalize = GetParam();
    c.init_std = 0.05;
    c.optimizer.lr = 3e-3;
    expect_float_tracks_double(c, TrainCall{3, 7, PositionMode::sequential, 0, 0}, false);
}

// Saved with its normalisation, loaded back with it (and the same loss).
TEST_P(ModelPerNormalize, SaveLoadKeepsTheNormalisation) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    c.attention.normalize = GetParam();
    Transformer t(c);
    const auto bytes = t.save();
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(bytes.data(), bytes.size(), loaded));
    EXPECT_EQ(loaded->config().attention.normalize, GetParam());
    const auto tokens = random_tokens(2 * 7, c.vocab, 3);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    EXPECT_EQ(t.evaluate(tokens.data(), call, nullptr), loaded->evaluate(tokens.data(), call, nullptr));
}

INSTANTIATE_TEST_SUITE_P(Normalize, ModelPerNormalize,
                         ::testing::Values(AttentionNormalize::softmax, AttentionNormalize::relu2, AttentionNormalize::l2),
                         [](const auto& info) {
                             const std::string name = enum_name(info.param);
                             return name == "softmax" ? std::string("Softmax") : name == "relu2" ? std::string("Relu2") : std::string("L2");
                         });

// The normalisations differ (the option reaches the kernel).
TEST(Transformer, NormalizeChangesTheLoss) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    const auto tokens = random_tokens(2 * 7, c.vocab, 3);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    std::vector<double> losses;
    for (AttentionNormalize n : {AttentionNormalize::softmax, AttentionNormalize::relu2, AttentionNormalize::l2}) {
        c.attention.normalize = n;
        TransformerModel<double> m(c);
        losses.push_back(m.forward_backward(tokens.data(), call, false, nullptr));
    }
    EXPECT_NE(losses[0], losses[1]);
    EXPECT_NE(losses[0], losses[2]);
    EXPECT_NE(losses[1], losses[2]);
}

// A file written before attention.normalize existed (no such key) loads as 'softmax'.
TEST(Transformer, FilesWithoutNormalizeLoadAsSoftmax) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer t(c);
    const auto bytes = t.save();
    const std::string header = header_of(bytes);
    const std::string entry = "\"config.attention.normalize\":\"softmax\",";
    ASSERT_NE(header.find(entry), std::string::npos) << header;
    const auto old = with_header(bytes, replace(header, entry, ""));
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(old.data(), old.size(), loaded));
    EXPECT_EQ(loaded->config().attention.normalize, AttentionNormalize::softmax);
    EXPECT_EQ(loaded->save(), bytes);
    // A value it does not know is refused, naming the key.
    const auto bad = with_header(bytes, replace(header, "\"config.attention.normalize\":\"softmax\"",
                                                "\"config.attention.normalize\":\"relu3\""));
    EXPECT_NE(load_error(bad).text.find("config.attention.normalize"), std::string::npos) << load_error(bad).text;
}

// Separate targets (rows of seq inputs): the next tokens as targets give the causal objective's
// loss and gradient exactly; −1 targets are not predicted.
TEST(Transformer, SeparateTargetsEqualTheShiftedTokensAndSkipMinusOne) {
    const TransformerConfig c = small_config(NormPlacement::pre_rms);
    TransformerModel<double> a(c), b(c);
    const std::size_t batch = 2, seq = 5;
    const auto tokens = random_tokens(batch * (seq + 1), c.vocab, 4);
    std::vector<std::int32_t> inputs, targets;
    for (std::size_t r = 0; r < batch; ++r) {
        for (std::size_t i = 0; i < seq; ++i) {
            inputs.push_back(tokens[r * (seq + 1) + i]);
            targets.push_back(tokens[r * (seq + 1) + i + 1]);
        }
    }
    const TrainCall shifted{batch, seq, PositionMode::sequential, 0, 0};
    TrainCall separate = shifted;
    separate.with_targets = true;
    separate.targets = targets.data();
    separate.targets_count = targets.size();
    ASSERT_FALSE(train_call_validate(c, separate));
    EXPECT_EQ(tokens_per_row(c, separate), seq);
    const double la = a.forward_backward(tokens.data(), shifted, true, nullptr);
    const double lb = b.forward_backward(inputs.data(), separate, true, nullptr);
    EXPECT_EQ(la, lb);
    EXPECT_EQ(a.gradients(), b.gradients());
    // −1: the mean is over the predicted positions only.
    std::vector<double> per_token(batch * seq);
    b.forward_backward(inputs.data(), separate, false, per_token.data());
    targets[3] = -1;
    std::vector<double> skipped(batch * seq);
    const double ls = b.forward_backward(inputs.data(), separate, false, skipped.data());
    EXPECT_EQ(skipped[3], 0.0);
    double sum = 0;
    for (std::size_t i = 0; i < batch * seq; ++i) sum += i == 3 ? 0.0 : per_token[i];
    EXPECT_NEAR(ls, sum / double(batch * seq - 1), 1e-12);
}

TEST(TransformerValidate, TargetRules) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);
    TrainCall call{2, 3, PositionMode::sequential, 0, 0};
    const std::int32_t targets[] = {0, 12, -1, 1, 2, 13};
    call.targets = targets;
    call.targets_count = 5;
    expect_error(train_call_validate(c, call), ErrorKind::range, "targets",
                 "targets must be an array of batch·seq = 6 target ids, received length 5");
    call.targets_count = 6;
    expect_error(train_call_validate(c, call), ErrorKind::range, "targets[5]",
                 "targets[5] must be an integer in [0, 12] or −1 (not predicted), received 13");
    c.objective = Objective::masked;
    call.targets = nullptr;
    call.with_targets = true;
    EXPECT_EQ(train_call_validate(c, call).parameter, "targets");
}

// ---- block 'gau' (the Gated Attention Unit, arXiv 2202.10447; kexue.fm/archives/8934, 9052) -------

TransformerConfig gau_config(NormPlacement norm, AttentionNormalize normalize = AttentionNormalize::softmax) {
    TransformerConfig c;
    c.vocab = 13;
    c.d_model = 8;
    c.layers = 2;
    c.heads = 1;
    c.block = BlockKind::gau;
    c.gau.expansion = 12;
    c.gau.key_size = 6;
    c.norm = norm;
    c.attention.scale = AttentionScale::entropy;  // Su's softmax with the entropy scale (9052)
    c.attention.base_len = 4;
    c.attention.normalize = normalize;
    c.max_seq = 32;
    c.init_std = 0.3;
    c.seed = 7;
    return transformer_resolve(c);
}

using GauCase = std::tuple<NormPlacement, AttentionNormalize>;
class GauModel : public ::testing::TestWithParam<GauCase> {};

// The float64 GAU model's analytic gradient equals central differences of its loss, for every tensor.
TEST_P(GauModel, DoubleModelGradientMatchesFiniteDifferences) {
    TransformerConfig c = gau_config(std::get<0>(GetParam()), std::get<1>(GetParam()));
    ASSERT_FALSE(transformer_validate(c));
    TransformerModel<double> model(c);
    TrainCall call{2, 5, PositionMode::sequential, 0, 0};
    const std::vector<double> positions = {0, 2, 3, 7, 19, 1, 4, 5, 6, 8};
    call.given = positions.data();
    call.given_count = positions.size();
    const auto tokens = random_tokens(2 * 6, c.vocab, 11);
    expect_gradient_matches_central_differences(model, tokens, call);
}

// The float GAU model trained side by side with its float64 twin: the losses agree step by step.
TEST_P(GauModel, FloatModelTracksTheFloat64ReferenceOverTrainingSteps) {
    TransformerConfig c = gau_config(std::get<0>(GetParam()), std::get<1>(GetParam()));
    c.init_std = 0.05;
    c.optimizer.lr = 3e-3;
    c.optimizer.weight_decay = 0.01;
    expect_float_tracks_double(c, TrainCall{3, 7, PositionMode::random, 24, 0}, true);
}

INSTANTIATE_TEST_SUITE_P(
    Gau, GauModel,
    ::testing::Values(GauCase(NormPlacement::pre_rms, AttentionNormalize::softmax),
                      GauCase(NormPlacement::post_ln, AttentionNormalize::softmax),
                      GauCase(NormPlacement::deepnorm, AttentionNormalize::softmax),
                      GauCase(NormPlacement::pre_rms, AttentionNormalize::relu2),
                      GauCase(NormPlacement::pre_rms, AttentionNormalize::l2)),
    [](const auto& info) {
        const std::string norm = enum_name(std::get<0>(info.param));
        const std::string normalize = enum_name(std::get<1>(info.param));
        return std::string(norm == "pre-rms" ? "PreRms" : norm == "post-ln" ? "PostLn" : "DeepNorm") +
               (normalize == "softmax" ? "Softmax" : normalize == "relu2" ? "Relu2" : "L2");
    });

TEST(Gau, KvCacheGenerationEqualsFullRecomputation) {
    for (NormPlacement norm : {NormPlacement::pre_rms, NormPlacement::deepnorm}) {
        TransformerConfig c = gau_config(norm);
        TransformerModel<float> model(c);
        const std::size_t length = 12;
        expect_cache_matches_recomputation(model, random_tokens(length + 1, c.vocab, 21), length, 5);
    }
}

TEST(Gau, ResolvesItsSizesAndCountsItsParameters) {
    TransformerConfig c;
    c.vocab = 256;
    c.d_model = 64;
    c.layers = 3;
    c.heads = 1;
    c.block = BlockKind::gau;
    c = transformer_resolve(c);
    EXPECT_EQ(c.gau.expansion, 128u);  // 2·dModel
    EXPECT_EQ(c.gau.key_size, 64u);    // min(128, dModel)
    EXPECT_EQ(c.kv_heads, 1u);
    c.d_model = 512;
    c.gau = ModelGau{};
    EXPECT_EQ(transformer_resolve(c).gau.key_size, 128u);
    // A 'transformer' model keeps gau at 0 (and its files with it).
    TransformerConfig t = small_config(NormPlacement::pre_rms);
    EXPECT_EQ(t.gau.expansion, 0u);
    EXPECT_EQ(t.gau.key_size, 0u);
    // The parameter count is the tensors' total, for every norm placement: per layer a norm, 3·D·e,
    // D·s and 4·s.
    for (NormPlacement norm : {NormPlacement::pre_rms, NormPlacement::post_ln, NormPlacement::deepnorm}) {
        const TransformerConfig g = gau_config(norm);
        TransformerModel<float> model(g);
        EXPECT_EQ(transformer_parameter_count(g), model.parameters().size());
        const std::uint64_t layer = (norm == NormPlacement::pre_rms ? 8 : 16) + 3 * 8 * 12 + 8 * 6 + 4 * 6;
        EXPECT_EQ(transformer_parameter_count(g), 13 * 8 + 2 * layer + (norm == NormPlacement::pre_rms ? 8 : 0));
    }
    // The activations of a GAU step: less than the transformer's at the same width (one block, no FFN).
    EXPECT_LT(transformer_activation_floats(gau_config(NormPlacement::pre_rms), 2, 16),
              transformer_activation_floats(small_config(NormPlacement::pre_rms), 2, 16) * 2);
    EXPECT_GT(transformer_activation_floats(gau_config(NormPlacement::pre_rms), 2, 16), 2u * 16 * 2 * (6 * 12 + 4 * 6));
}

TEST(Gau, LearnsARepeatingPattern) {
    TransformerConfig c = gau_config(NormPlacement::pre_rms);
    c.attention.scale = AttentionScale::standard;
    c.d_model = 16;
    c.gau.expansion = 32;
    c.gau.key_size = 8;
    c.init_std = 0.02;
    c.optimizer.lr = 1e-2;
    c = transformer_resolve(c);
    Transformer t(c);
    std::vector<std::int32_t> tokens(4 * 17);
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t i = 0; i < 17; ++i) tokens[r * 17 + i] = static_cast<std::int32_t>((i * 3 + r) % 7);
    const TrainCall call{4, 16, PositionMode::sequential, 0, 0};
    const double first = t.train_step(tokens.data(), call).loss;
    double last = first;
    for (int step = 0; step < 60; ++step) last = t.train_step(tokens.data(), call).loss;
    EXPECT_LT(last, first / 5) << first << " → " << last;
}

TEST(Gau, SaveLoadRoundTripIsBitExactAndKeepsTheBlock) {
    TransformerConfig c = gau_config(NormPlacement::post_ln, AttentionNormalize::relu2);
    Transformer t(c);
    const auto tokens = random_tokens(2 * 7, c.vocab, 3);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    t.train_step(tokens.data(), call);
    const auto bytes = t.save();
    const std::string header = header_of(bytes);
    EXPECT_NE(header.find("\"config.block\":\"gau\""), std::string::npos) << header;
    EXPECT_NE(header.find("\"config.gau.expansion\":\"12\""), std::string::npos);
    EXPECT_NE(header.find("\"config.gau.keySize\":\"6\""), std::string::npos);
    EXPECT_NE(header.find("layers.1.gau.q_offset"), std::string::npos);
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(bytes.data(), bytes.size(), loaded));
    EXPECT_EQ(loaded->config().block, BlockKind::gau);
    EXPECT_EQ(transformer_config_metadata(loaded->config()), transformer_config_metadata(c));
    EXPECT_EQ(0, std::memcmp(t.model().parameters().data(), loaded->model().parameters().data(),
                             4 * t.model().parameters().size()));
    EXPECT_EQ(loaded->save(), bytes);
    EXPECT_EQ(t.evaluate(tokens.data(), call, nullptr), loaded->evaluate(tokens.data(), call, nullptr));
    // A GAU size of 0 is refused, and one that does not match the tensors too.
    const auto unresolved = with_header(bytes, replace(header, "\"config.gau.keySize\":\"6\"", "\"config.gau.keySize\":\"0\""));
    EXPECT_EQ(load_error(unresolved).text,
              "bytes: the saved configuration is invalid: gau.keySize must be a positive integer, received 0");
    const auto other = with_header(bytes, replace(header, "\"config.gau.keySize\":\"6\"", "\"config.gau.keySize\":\"4\""));
    EXPECT_NE(load_error(other).text.find("\"layers.0.gau.wz\" must have shape [8, 4]"), std::string::npos)
        << load_error(other).text;
}

// A file written before `block` existed (no block or gau keys) loads as the transformer it was.
TEST(Gau, FilesWithoutBlockLoadAsTransformer) {
    Transformer t(small_config(NormPlacement::pre_rms));
    const auto bytes = t.save();
    std::string header = header_of(bytes);
    for (const char* entry : {"\"config.block\":\"transformer\",", "\"config.gau.expansion\":\"0\",",
                              "\"config.gau.keySize\":\"0\","}) {
        ASSERT_NE(header.find(entry), std::string::npos) << entry << " in " << header;
        header = replace(header, entry, "");
    }
    const auto old = with_header(bytes, header);
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(old.data(), old.size(), loaded));
    EXPECT_EQ(loaded->config().block, BlockKind::transformer);
    EXPECT_EQ(loaded->save(), bytes);
    const auto bad = with_header(bytes, replace(header_of(bytes), "\"config.block\":\"transformer\"",
                                                "\"config.block\":\"flash\""));
    EXPECT_NE(load_error(bad).text.find("config.block"), std::string::npos) << load_error(bad).text;
}

TEST(Gau, ValidationRules) {
    TransformerConfig c = gau_config(NormPlacement::pre_rms);
    c.heads = 2;
    c.kv_heads = 2;
    expect_error(transformer_validate(c), ErrorKind::range, "heads",
                 "heads must be 1 for block 'gau' (a GAU is single-head), received 2");
    c = gau_config(NormPlacement::pre_rms);
    c.gau.key_size = 5;
    expect_error(transformer_validate(c), ErrorKind::range, "gau.keySize",
                 "gau.keySize must be even (RoPE rotates pairs of dims), received 5");
    c.attention.rope.reset();
    EXPECT_FALSE(transformer_validate(c));
    // The transformer's keySize is not a GAU's: an odd dModel is fine with RoPE.
    c = gau_config(NormPlacement::pre_rms);
    c.d_model = 7;
    c.key_size = 0;
    c = transformer_resolve(c);
    EXPECT_FALSE(transformer_validate(c));
    // Fine-tuning targets are the GAU's matrices.
    c = gau_config(NormPlacement::pre_rms);
    FinetuneOptions f;
    f.targets = {"wq"};
    EXPECT_EQ(finetune_validate(c, f).text, "targets[0] must be one of 'wu', 'wv', 'wz', 'wo', received \"wq\"");
    f.targets = {"wu", "wz"};
    f.rank = 2;
    EXPECT_FALSE(finetune_validate(c, f));
    f.method = FinetuneMethod::full;
    f.targets = {"scaleOffset"};
    EXPECT_FALSE(finetune_validate(c, f));
    EXPECT_EQ(finetune_validate(small_config(NormPlacement::pre_rms), f).parameter, "targets[0]");
}

TEST(Gau, LoraOnWuAndFullOnScaleOffsetTrainOnlyTheirTargets) {
    const TransformerConfig c = gau_config(NormPlacement::pre_rms);
    for (FinetuneMethod method : {FinetuneMethod::lora, FinetuneMethod::full}) {
        Transformer t(c);
        FinetuneOptions o;
        o.method = method;
        o.rank = 2;
        o.lr = 1e-2;
        o.targets = {method == FinetuneMethod::lora ? "wu" : "scaleOffset"};
        ASSERT_FALSE(finetune_validate(c, o));
        t.finetune(o);
        const auto tokens = random_tokens(2 * 7, c.vocab, 5);
        for (int i = 0; i < 3; ++i) t.train_step(tokens.data(), TrainCall{2, 6, PositionMode::sequential, 0, 0});
        Transformer fresh(c);
        for (const TensorInfo& info : t.model().tensors()) {
            const bool target = std::string(tensor_kind_target(info.kind)) == o.targets[0];
            const bool same = 0 == std::memcmp(fresh.model().parameters().data() + info.offset,
                                               t.model().parameters().data() + info.offset, 4 * info.size);
            EXPECT_EQ(same, !target) << info.name;
        }
    }
}

// ---- talking-heads attention (attention.talkingHeads) --------------------------------------------

TransformerConfig talking_config(NormPlacement norm, AttentionNormalize normalize = AttentionNormalize::softmax) {
    TransformerConfig c = small_config(norm);
    c.heads = 4;
    c.kv_heads = 2;
    c.attention.normalize = normalize;
    c.attention.talking_heads = true;
    return transformer_resolve(c);
}

// Pl and Pw moved off the identity (a fresh model's), the same in every model built from one config.
template <typename Real>
void mix_heads(TransformerModel<Real>& model) {
    Xoshiro256 rng(17);
    for (const TensorInfo& t : model.tensors()) {
        if (!t.talking()) continue;
        for (std::size_t i = 0; i < t.size; ++i)
            model.parameters()[t.offset + i] += static_cast<Real>(static_cast<float>(0.4 * rng.normal()));
    }
}

class TalkingHeadsModel : public ::testing::TestWithParam<std::tuple<NormPlacement, AttentionNormalize>> {};

// The whole float64 model with talking heads (GQA, keySize ≠ dModel/heads, the entropy scale, RoPE at
// random positions) and non-identity mixing: its analytic gradient, Pl and Pw included, equals
// central differences of its loss; and the float model tracks it over training steps.
TEST_P(TalkingHeadsModel, DoubleModelGradientMatchesFiniteDifferences) {
    const TransformerConfig c = talking_config(std::get<0>(GetParam()), std::get<1>(GetParam()));
    ASSERT_FALSE(transformer_validate(c));
    TransformerModel<double> model(c);
    mix_heads(model);
    TrainCall call{2, 5, PositionMode::sequential, 0, 0};
    const std::vector<double> positions = {0, 2, 3, 7, 19, 1, 4, 5, 6, 8};
    call.given = positions.data();
    call.given_count = positions.size();
    const auto tokens = random_tokens(2 * 6, c.vocab, 11);
    expect_gradient_matches_central_differences(model, tokens, call);
}

TEST_P(TalkingHeadsModel, FloatModelTracksTheFloat64ReferenceOverTrainingSteps) {
    TransformerConfig c = talking_config(std::get<0>(GetParam()), std::get<1>(GetParam()));
    c.init_std = 0.05;
    c.optimizer.lr = 3e-3;
    c.optimizer.weight_decay = 0.01;
    expect_float_tracks_double(c, TrainCall{3, 7, PositionMode::random, 24, 0}, true, &mix_heads<float>);
}

INSTANTIATE_TEST_SUITE_P(
    TalkingHeads, TalkingHeadsModel,
    ::testing::Values(std::make_tuple(NormPlacement::pre_rms, AttentionNormalize::softmax),
                      std::make_tuple(NormPlacement::post_ln, AttentionNormalize::softmax),
                      std::make_tuple(NormPlacement::pre_rms, AttentionNormalize::relu2),
                      std::make_tuple(NormPlacement::deepnorm, AttentionNormalize::l2)),
    [](const auto& info) {
        const std::string norm = enum_name(std::get<0>(info.param));
        const std::string normalize = enum_name(std::get<1>(info.param));
        return std::string(norm == "pre-rms" ? "PreRms" : norm == "post-ln" ? "PostLn" : "DeepNorm") +
               (normalize == "softmax" ? "Softmax" : normalize == "relu2" ? "Relu2" : "L2");
    });

// A fresh talking-heads model (Pl = Pw = I) is the plain model: the same other weights for the same
// seed, the same loss and the same gradients (to float rounding), causal and masked; Pl and Pw get
// gradients of their own.
TEST(TalkingHeads, AFreshModelEqualsThePlainModel) {
    for (Objective objective : {Objective::causal, Objective::masked}) {
        TransformerConfig plain = talking_config(NormPlacement::pre_rms);
        plain.attention.talking_heads = false;
        plain.objective = objective;
        plain.mask_rate = 0.5;
        TransformerConfig talking = plain;
        talking.attention.talking_heads = true;
        TransformerModel<float> a(plain), b(talking);
        const auto tokens = random_tokens(2 * 7, plain.vocab - 1, 3);  // no mask id among the inputs
        const TrainCall call{2, objective == Objective::causal ? std::size_t{6} : std::size_t{7},
                             PositionMode::sequential, 0, 4};
        const double la = a.forward_backward(tokens.data(), call, true, nullptr);
        const double lb = b.forward_backward(tokens.data(), call, true, nullptr);
        EXPECT_NEAR(la, lb, 1e-5 * la);
        std::size_t compared = 0;
        for (const TensorInfo& tb : b.tensors()) {
            if (tb.talking()) {
                double norm = 0;
                for (std::size_t i = 0; i < tb.size; ++i) norm += std::fabs(b.gradients()[tb.offset + i]);
                EXPECT_GT(norm, 0) << tb.name;
                continue;
            }
            for (const TensorInfo& ta : a.tensors()) {
                if (ta.name != tb.name) continue;
                ++compared;
                EXPECT_EQ(0, std::memcmp(a.parameters().data() + ta.offset, b.parameters().data() + tb.offset,
                                         4 * ta.size))
                    << ta.name;
                for (std::size_t i = 0; i < ta.size; ++i) {
                    const float ga = a.gradients()[ta.offset + i], gb = b.gradients()[tb.offset + i];
                    EXPECT_NEAR(ga, gb, 1e-5f + 1e-3f * std::fabs(ga)) << ta.name << " " << i;
                }
            }
        }
        EXPECT_EQ(compared, a.tensors().size());
    }
}

// The KV cache (queries after cached keys: the causal offset) gives the full computation's logits,
// with non-identity mixing; greedy generation equals the argmax of recomputed logits.
TEST(TalkingHeads, KvCacheGenerationEqualsFullRecomputation) {
    const TransformerConfig c = talking_config(NormPlacement::pre_rms);
    TransformerModel<float> model(c);
    mix_heads(model);
    const std::size_t length = 12;
    expect_cache_matches_recomputation(model, random_tokens(length + 1, c.vocab, 21), length, 5);

    Transformer t(c);
    mix_heads(t.model());
    expect_greedy_generation_matches_argmax(t, {1, 2, 3}, 6);
}

// Saved with the option and Pl, Pw; loaded back bit-exact. A file without the key loads as false.
TEST(TalkingHeads, SaveLoadRoundTripIsBitExactAndFilesWithoutTheOptionLoadAsFalse) {
    const TransformerConfig c = talking_config(NormPlacement::pre_rms);
    Transformer t(c);
    const auto tokens = random_tokens(2 * 7, c.vocab, 3);
    for (int i = 0; i < 2; ++i) t.train_step(tokens.data(), TrainCall{2, 6, PositionMode::sequential, 0, 0});
    const auto bytes = t.save();
    const std::string header = header_of(bytes);
    EXPECT_NE(header.find("\"config.attention.talkingHeads\":\"true\""), std::string::npos) << header;
    EXPECT_NE(header.find("\"layers.1.attn.talking_logits\":{\"dtype\":\"F32\",\"shape\":[4,4]"), std::string::npos)
        << header;
    EXPECT_NE(header.find("\"layers.1.attn.talking_weights\""), std::string::npos);
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(bytes.data(), bytes.size(), loaded));
    EXPECT_TRUE(loaded->config().attention.talking_heads);
    EXPECT_EQ(0, std::memcmp(t.model().parameters().data(), loaded->model().parameters().data(),
                             4 * t.model().parameters().size()));
    EXPECT_EQ(loaded->save(), bytes);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    EXPECT_EQ(t.evaluate(tokens.data(), call, nullptr), loaded->evaluate(tokens.data(), call, nullptr));
    // Without the key (a file from before the option): false, and then Pl, Pw are not part of it.
    TransformerConfig plain = c;
    plain.attention.talking_heads = false;
    const auto plain_bytes = Transformer(plain).save();
    const std::string plain_header = header_of(plain_bytes);
    const std::string entry = "\"config.attention.talkingHeads\":\"false\",";
    ASSERT_NE(plain_header.find(entry), std::string::npos) << plain_header;
    const auto old = with_header(plain_bytes, replace(plain_header, entry, ""));
    ASSERT_FALSE(Transformer::load(old.data(), old.size(), loaded));
    EXPECT_FALSE(loaded->config().attention.talking_heads);
    EXPECT_EQ(loaded->save(), plain_bytes);
    const auto missing = with_header(bytes, replace(header, "\"config.attention.talkingHeads\":\"true\"",
                                                    "\"config.attention.talkingHeads\":\"false\""));
    EXPECT_NE(load_error(missing).text.find("is not part of this model"), std::string::npos) << load_error(missing).text;
    const auto bad = with_header(bytes, replace(header, "\"config.attention.talkingHeads\":\"true\"",
                                                "\"config.attention.talkingHeads\":\"yes\""));
    EXPECT_EQ(load_error(bad).text,
              "bytes: the metadata's config.attention.talkingHeads must be true or false, received \"yes\"");
}

// Block 'gau' refuses the option; Pl and Pw count as parameters, their n×n matrices as activations;
// 'full' fine-tuning may target 'talking' (and trains only them), 'lora' and 'galore' refuse it by
// name and leave them out of their default targets; AdamW does not decay them.
TEST(TalkingHeads, ValidationCountsAndFinetuning) {
    TransformerConfig g = transformer_resolve(small_config(NormPlacement::pre_rms));
    g.block = BlockKind::gau;
    g.heads = 1;
    g.kv_heads = 1;
    g.attention.talking_heads = true;
    g = transformer_resolve(g);
    expect_error(transformer_validate(g), ErrorKind::range, "attention.talkingHeads",
                 "attention.talkingHeads must be false with block 'gau' (a GAU is single-head: there are no heads to "
                 "mix), received true");

    const TransformerConfig c = talking_config(NormPlacement::pre_rms);
    TransformerConfig plain = c;
    plain.attention.talking_heads = false;
    EXPECT_EQ(transformer_parameter_count(c), transformer_parameter_count(plain) + 2 * 2 * 4 * 4);
    EXPECT_EQ(TransformerModel<float>(c).parameters().size(), transformer_parameter_count(c));
    // Two [batch, H, seq, seq] per layer, plus the scratch.
    EXPECT_GE(transformer_activation_floats(c, 3, 10) - transformer_activation_floats(plain, 3, 10),
              std::uint64_t{2 * 2 * 3 * 4 * 10 * 10 + 2 * 4 * 10 * 10});

    FinetuneOptions f;
    f.method = FinetuneMethod::lora;
    f.rank = 2;
    f.targets = {"wq", "talking"};
    expect_error(finetune_validate(c, f), ErrorKind::range, "targets[1]",
                 "targets[1] must be a target of method 'lora' ('talking', the H×H talking-heads matrices, trains only "
                 "with method 'full': a low-rank factor of so small a matrix saves nothing), received \"talking\"");
    f.method = FinetuneMethod::galore;
    EXPECT_EQ(finetune_validate(c, f).parameter, "targets[1]");
    f.targets = {};
    f.rank = 4;  // = H: the default targets leave the 4×4 mixing out, so the rank check passes them by
    EXPECT_FALSE(finetune_validate(c, f));
    f.method = FinetuneMethod::full;
    f.targets = {"talking"};
    EXPECT_FALSE(finetune_validate(c, f));
    EXPECT_EQ(finetune_validate(plain, f).parameter, "targets[0]");

    const auto tokens = random_tokens(2 * 7, c.vocab, 5);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    for (FinetuneMethod method : {FinetuneMethod::full, FinetuneMethod::lora}) {
        Transformer t(c);
        FinetuneOptions o;
        o.method = method;
        o.rank = 2;
        o.lr = 1e-2;
        if (method == FinetuneMethod::full) o.targets = {"talking"};
        t.finetune(o);
        for (int i = 0; i < 2; ++i) t.train_step(tokens.data(), call);
        Transformer fresh(c);
        for (const TensorInfo& info : t.model().tensors()) {
            const bool same = 0 == std::memcmp(fresh.model().parameters().data() + info.offset,
                                               t.model().parameters().data() + info.offset, 4 * info.size);
            if (method == FinetuneMethod::full) EXPECT_EQ(same, !info.talking()) << info.name;
            else if (info.talking()) EXPECT_TRUE(same) << info.name;
        }
    }
    // Weight decay only (zero gradients): the matrices shrink, Pl and Pw stay the identity.
    TransformerConfig decayed = c;
    decayed.optimizer.weight_decay = 0.5;
    decayed.optimizer.lr = 0.1;
    TransformerModel<float> m(decayed);
    const std::vector<float> before = m.parameters();
    std::fill(m.gradients().begin(), m.gradients().end(), 0.0f);
    m.apply_update();
    for (const TensorInfo& info : m.tensors()) {
        if (!info.matrix()) continue;
        const bool same = 0 == std::memcmp(before.data() + info.offset, m.parameters().data() + info.offset, 4 * info.size);
        EXPECT_EQ(same, info.talking()) << info.name;
    }
}

// ---- ladder side-tuning (finetune method 'ladder'; model.hpp, LadderShape) -----------------------

FinetuneOptions ladder_options(std::size_t reduction = 2, double lr = 1e-2) {
    FinetuneOptions o;
    o.method = FinetuneMethod::ladder;
    o.reduction = reduction;
    o.lr = lr;
    return o;
}

// The side network's starting Wup = 0 and α = 0 hide most of its paths from the gradient; the
// gradient check moves them (and every other side tensor) to generic values first.
template <typename Real>
void scramble_ladder(TransformerModel<Real>& model, std::uint64_t seed) {
    Xoshiro256 rng(seed);
    for (const TensorInfo& t : model.ladder_tensors()) {
        Real* p = model.ladder_parameters().data() + t.offset;
        for (std::size_t i = 0; i < t.size; ++i) {
            const double x = static_cast<float>(0.3 * rng.normal());
            p[i] = static_cast<Real>(t.kind == TensorKind::norm_gain ? 1 + x : t.kind == TensorKind::ladder_gate ? 0.1 * x : x);
        }
    }
}

class LadderPerNorm : public ::testing::TestWithParam<NormPlacement> {};

// The side network's analytic gradient (the double twin) against central differences of the loss,
// in every side tensor: the ladders, the gates, the side blocks and Wup, through the frozen final
// norm and head.
TEST_P(LadderPerNorm, DoubleSideNetworkGradientMatchesFiniteDifferences) {
    const TransformerConfig c = small_config(GetParam());
    TransformerModel<double> model(c);
    FinetuneOptions o = ladder_options(2);
    o.side_heads = 2;  // side width 4, two heads of 2
    ASSERT_FALSE(finetune_validate(c, o));
    model.enable_ladder(ladder_shape(c, finetune_resolve(c, o)));
    scramble_ladder(model, 3);
    const auto tokens = random_tokens(2 * 6, c.vocab, 11);
    const std::vector<double> positions = {0, 2, 3, 7, 19, 1, 4, 5, 6, 8};
    TrainCall call{2, 5, PositionMode::sequential, 0, 0};
    call.given = positions.data();
    call.given_count = positions.size();
    expect_gradient_matches_central_differences(model, tokens, call, true);
}

// The float model with its side network trained side by side with the float64 twin: losses and
// side parameters agree (float rounding only).
TEST_P(LadderPerNorm, FloatModelTracksTheFloat64ReferenceOverLadderSteps) {
    TransformerConfig c = small_config(GetParam());
    c.init_std = 0.05;
    c.optimizer.weight_decay = 0.01;
    const LadderShape shape = ladder_shape(c, finetune_resolve(c, ladder_options(2)));
    expect_float_tracks_double(c, TrainCall{3, 7, PositionMode::random, 24, 0}, true, nullptr, &shape);
}

INSTANTIATE_TEST_SUITE_P(Norms, LadderPerNorm, ::testing::Values(NormPlacement::pre_rms, NormPlacement::post_ln),
                         [](const auto& info) { return info.param == NormPlacement::pre_rms ? std::string("PreRms") : std::string("PostLn"); });

// A model pretrained a few steps: right after finetune({ method: 'ladder' }) its per-token losses and
// logits are the pretrained model's bit for bit (Wup = 0), and ladder steps move no backbone weight.
TEST(Ladder, StartsAsThePretrainedModelAndNeverMovesTheBackbone) {
    const TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer t(c);
    const TrainCall call{2, 12, PositionMode::sequential, 0, 0};
    std::vector<std::int32_t> pattern(2 * 13);
    for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::int32_t>((i * 7) % 11);
    for (int i = 0; i < 5; ++i) t.train_step(random_tokens(2 * 13, c.vocab, 40 + i).data(), call);
    std::vector<float> before(24), after(24);
    t.evaluate(pattern.data(), call, before.data());
    const std::vector<float> logits_before = t.model().last_logits();
    const std::vector<float> backbone = t.model().parameters();
    t.finetune(ladder_options(2, 3e-2));
    ASSERT_TRUE(t.model().ladder_active());
    t.evaluate(pattern.data(), call, after.data());
    EXPECT_EQ(before, after);
    EXPECT_EQ(logits_before, t.model().last_logits());
    // Only the side network trains, and it learns the new pattern.
    const double first = t.evaluate(pattern.data(), call, nullptr);
    for (int i = 0; i < 40; ++i) EXPECT_FALSE(t.train_step(pattern.data(), call).refused);
    const double last = t.evaluate(pattern.data(), call, nullptr);
    EXPECT_LT(last, first * 0.7) << first << " → " << last;
    EXPECT_EQ(0, std::memcmp(backbone.data(), t.model().parameters().data(), 4 * backbone.size()));
    // The optimizer state and the trained parameters are the side network's.
    const std::size_t side = t.model().ladder_parameters().size();
    EXPECT_EQ(t.trained_parameter_count(), side);
    EXPECT_EQ(t.optimizer_state_floats(), 2 * side);
    EXPECT_LT(side, t.model().parameters().size());
    // Back to another method: the side network is dropped and the model is the backbone again.
    FinetuneOptions full;
    full.method = FinetuneMethod::full;
    t.finetune(full);
    EXPECT_FALSE(t.model().ladder_active());
    t.evaluate(pattern.data(), call, after.data());
    EXPECT_EQ(before, after);
}

// Generation with the side layers' own KV cache equals full recomputation, after ladder steps
// (Wup ≠ 0); greedy generation picks the argmax of the recomputed logits.
TEST(Ladder, KvCacheGenerationEqualsFullRecomputation) {
    for (NormPlacement norm : {NormPlacement::pre_rms, NormPlacement::post_ln}) {
        const TransformerConfig c = small_config(norm);
        Transformer t(c);
        t.finetune(ladder_options(2));
        for (int i = 0; i < 3; ++i) t.train_step(random_tokens(2 * 9, c.vocab, 60 + i).data(), TrainCall{2, 8, PositionMode::sequential, 0, 0});
        const std::size_t length = 12;
        expect_cache_matches_recomputation(t.model(), random_tokens(length + 1, c.vocab, 21), length, 5);
        expect_greedy_generation_matches_argmax(t, {1, 2, 3}, 6);
    }
}

// The ladder over a talking-heads backbone (non-identity Pl, Pw; GQA): it starts as the backbone,
// trains without moving it, its KV cache equals recomputation, and a ladder step's activation count
// includes the backbone layer's n×n matrices.
TEST(Ladder, OverATalkingHeadsBackbone) {
    const TransformerConfig c = talking_config(NormPlacement::pre_rms);
    Transformer t(c);
    mix_heads(t.model());
    const TrainCall call{2, 8, PositionMode::sequential, 0, 0};
    const auto tokens = random_tokens(2 * 9, c.vocab, 5);
    std::vector<float> before(16), after(16);
    t.evaluate(tokens.data(), call, before.data());
    const std::vector<float> backbone = t.model().parameters();
    t.finetune(ladder_options(2));
    t.evaluate(tokens.data(), call, after.data());
    EXPECT_EQ(before, after);
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(t.train_step(random_tokens(2 * 9, c.vocab, 70 + i).data(), call).refused);
    EXPECT_EQ(0, std::memcmp(backbone.data(), t.model().parameters().data(), 4 * backbone.size()));

    expect_cache_matches_recomputation(t.model(), tokens, 8, 3);

    TransformerConfig plain = c;
    plain.attention.talking_heads = false;
    const LadderShape shape = t.model().ladder();
    const std::uint64_t square = std::uint64_t{c.heads} * 64 * 64;
    EXPECT_GE(ladder_activation_floats(c, shape, 2, 64), ladder_activation_floats(plain, shape, 2, 64) + 2 * 2 * square);
}

// save() writes the side network (ladder.*) and its options (finetune.*); load() resumes with the
// ladder active, bit for bit; wrong shapes, bad options and truncated files are refused.
TEST(Ladder, SaveLoadRoundTripResumesTheLadder) {
    const TransformerConfig c = small_config(NormPlacement::pre_rms);
    Transformer t(c);
    FinetuneOptions o = ladder_options(2, 2e-2);
    o.weight_decay = 0.01;
    t.finetune(o);
    const TrainCall call{2, 6, PositionMode::sequential, 0, 0};
    for (int i = 0; i < 3; ++i) t.train_step(random_tokens(2 * 7, c.vocab, 80 + i).data(), call);
    const auto bytes = t.save();
    std::unique_ptr<Transformer> loaded;
    ASSERT_FALSE(Transformer::load(bytes.data(), bytes.size(), loaded));
    ASSERT_TRUE(loaded->model().ladder_active());
    ASSERT_TRUE(loaded->finetuning());
    EXPECT_EQ(loaded->finetuning()->method, FinetuneMethod::ladder);
    EXPECT_EQ(loaded->finetuning()->reduction, 2u);
    EXPECT_EQ(loaded->finetuning()->side_heads, t.finetuning()->side_heads);
    EXPECT_EQ(loaded->finetuning()->lr, 2e-2);
    EXPECT_EQ(loaded->finetuning()->weight_decay, 0.01);
    EXPECT_EQ(loaded->model().ladder_parameters(), t.model().ladder_parameters());
    EXPECT_EQ(loaded->model().parameters(), t.model().parameters());
    EXPECT_EQ(loaded->save(), bytes);
    const auto tokens = random_tokens(2 * 7, c.vocab, 99);
    std::vector<float> a(12), b(12);
    t.evaluate(tokens.data(), call, a.data());
    loaded->evaluate(tokens.data(), call, b.data());
    EXPECT_EQ(a, b);
    // Training resumes on the side network only.
    const std::vector<float> backbone = loaded->model().parameters();
    loaded->train_step(tokens.data(), call);
    EXPECT_EQ(loaded->model().parameters(), backbone);
    EXPECT_NE(loaded->model().ladder_parameters(), t.model().ladder_parameters());

    const std::string header = header_of(bytes);
    EXPECT_NE(header.find("\"ladder.up\""), std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"shape\":[4,8]", "\"shape\":[8,4]"))).text.find(
                  "tensor \"ladder.up\" must have shape [4, 8]"),
              std::string::npos)
        << load_error(with_header(bytes, replace(header, "\"shape\":[4,8]", "\"shape\":[8,4]"))).text;
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"finetune.reduction\":\"2\"", "\"finetune.reduction\":\"3\""))).text.find(
                  "the saved ladder options are invalid: reduction must be a divisor of dModel = 8"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"finetune.method\":\"ladder\"", "\"finetune.method\":\"lora\""))).text.find(
                  "finetune.method must be \"ladder\""),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"finetune.sideHeads\":\"1\"", "\"finetune.sideHeads\":\"x\""))).text.find(
                  "finetune.sideHeads must be a non-negative integer"),
              std::string::npos);
    EXPECT_NE(load_error(with_header(bytes, replace(header, "ladder.layers.1.ffn.w2", "ladder.layers.1.ffn.w3"))).text.find(
                  "\"ladder.layers.1.ffn.w2\" is missing"),
              std::string::npos);
    std::vector<std::uint8_t> truncated(bytes.begin(), bytes.end() - 4);
    EXPECT_NE(load_error(truncated).text.find("past the"), std::string::npos);
    // A file without the ladder's keys but with its tensors: they are not part of that model.
    EXPECT_NE(load_error(with_header(bytes, replace(header, "\"finetune.method\":\"ladder\",", ""))).text.find(
                  "is not part of this model"),
              std::string::npos);
}

TEST(LadderValidate, Rules) {
    TransformerConfig c = small_config(NormPlacement::pre_rms);  // dModel 8, heads 2, RoPE
    EXPECT_FALSE(finetune_validate(c, ladder_options(2)));
    EXPECT_EQ(finetune_resolve(c, ladder_options(2)).side_heads, 1u);  // side width 4: one head (≥ 8 wide is not possible)
    expect_error(finetune_validate(c, ladder_options(3)), ErrorKind::range, "reduction",
                 "reduction must be a divisor of dModel = 8 (the side width is dModel/reduction), received 3");
    expect_error(finetune_validate(c, ladder_options(16)), ErrorKind::range, "reduction",
                 "reduction must be a divisor of dModel = 8 (the side width is dModel/reduction), received 16");
    expect_error(finetune_validate(c, ladder_options(0)), ErrorKind::range, "reduction",
                 "reduction must be a positive integer, received 0");
    // dModel 8 / reduction 8 = 1: an odd side head size with RoPE.
    EXPECT_EQ(finetune_validate(c, ladder_options(8)).parameter, "reduction");
    FinetuneOptions heads = ladder_options(2);
    heads.side_heads = 3;
    expect_error(finetune_validate(c, heads), ErrorKind::range, "sideHeads",
                 "sideHeads must be a divisor of the side width dModel/reduction = 4, received 3");
    heads.side_heads = 4;  // head size 1, odd
    EXPECT_EQ(finetune_validate(c, heads).parameter, "reduction");
    FinetuneOptions targets = ladder_options(2);
    targets.targets = {"wq"};
    EXPECT_EQ(finetune_validate(c, targets).parameter, "targets");
    TransformerConfig gau = c;
    gau.block = BlockKind::gau;
    gau.heads = gau.kv_heads = 1;
    gau = transformer_resolve(gau);
    expect_error(finetune_validate(gau, ladder_options(2)), ErrorKind::range, "method",
                 "method must be 'full', 'lora' or 'galore' for block 'gau' (the ladder's side layers are standard "
                 "transformer blocks reading a standard backbone), received \"ladder\"");
    // The default side heads: the most heads ≤ the backbone's whose size is at least 8.
    TransformerConfig wide = c;
    wide.d_model = 256;
    wide.heads = wide.kv_heads = 8;
    wide.key_size = 32;
    EXPECT_EQ(finetune_resolve(wide, ladder_options(8)).side_heads, 4u);   // width 32: 4 heads of 8
    EXPECT_EQ(finetune_resolve(wide, ladder_options(2)).side_heads, 8u);   // width 128: capped at the backbone's 8
    // The ladder's step keeps fewer activations than a full step once the backbone has a few layers
    // (here about 60%: the logits and their gradient, 2·vocab a row, are the same in both).
    wide.layers = 4;
    wide.vocab = 256;
    wide = transformer_resolve(wide);
    const LadderShape shape = ladder_shape(wide, finetune_resolve(wide, ladder_options(8)));
    EXPECT_LT(ladder_activation_floats(wide, shape, 8, 64), transformer_activation_floats(wide, 8, 64) * 2 / 3);
}

}  // namespace
}  // namespace kexue::model
