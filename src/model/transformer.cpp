// kx.Transformer around TransformerModel<float>: generation, fine-tuning with the low-rank
// optimizers, and safetensors files. See transformer.hpp.
#include "model/transformer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <type_traits>

#include "core/validate.hpp"
#include "model/model_impl.hpp"
#include "model/safetensors.hpp"

namespace kexue::model {

template class TransformerModel<float>;

Transformer::Transformer(const TransformerConfig& config) : model_(config) {}

namespace {

// Times one call into `times` (total, and the kernels' shares from LayerTimes).
class StepTimer {
public:
    explicit StepTimer(StepTimes& times) : times_(times), start_(std::chrono::steady_clock::now()) {
        layer_times() = LayerTimes{};
    }
    ~StepTimer() {
        times_.total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
        times_.gemm = layer_times().gemm;
        times_.attention = layer_times().attention;
        times_.rope = layer_times().rope;
    }

private:
    StepTimes& times_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace

TrainStepResult Transformer::train_step(const std::int32_t* tokens, const TrainCall& call) {
    StepTimer timer(times_);
    TrainStepResult result;
    model_.set_adam_enabled(low_rank_.empty());
    // A non-finite gradient is caught before any weight moves: AdamW runs inside train_step, so
    // the model's own check (its norm) decides first.
    result.loss = model_.forward_backward(tokens, call, true, nullptr);
    double sum = 0;
    const auto& grads = model_.gradients();
    for (std::size_t i = 0; i < model_.tensors().size(); ++i) {
        if (!model_.trainable()[i]) continue;
        const TensorInfo& t = model_.tensors()[i];
        for (std::size_t j = 0; j < t.size; ++j) sum += static_cast<double>(grads[t.offset + j]) * grads[t.offset + j];
    }
    for (float g : model_.ladder_gradients()) sum += static_cast<double>(g) * g;  // empty unless the ladder trains
    result.gradient_norm = std::sqrt(sum);
    if (!std::isfinite(result.gradient_norm) || !std::isfinite(result.loss)) {
        result.refused = true;
        return result;
    }
    // The gradients are there: clip and update (train_step recomputes nothing; it is split so that
    // the refusal above happens before any state changes).
    model_.apply_update();
    for (auto& [index, optimizer] : low_rank_) {
        const TensorInfo& t = model_.tensors()[index];
        optimizer.step(model_.gradients().data() + t.offset);
        const std::vector<float>& w = optimizer.weight();
        std::copy(w.begin(), w.end(), model_.parameters().begin() + static_cast<std::ptrdiff_t>(t.offset));
    }
    return result;
}

std::vector<std::int32_t> Transformer::sample_windows(const std::int32_t* corpus, std::size_t length,
                                                     std::size_t batch, std::size_t row) {
    std::vector<std::int32_t> out(batch * row);
    const double starts = static_cast<double>(length - row + 1);
    for (std::size_t b = 0; b < batch; ++b) {
        const auto start = static_cast<std::size_t>(model_.random_stream().uniform() * starts);
        std::copy(corpus + start, corpus + start + row, out.begin() + static_cast<std::ptrdiff_t>(b * row));
    }
    return out;
}

double Transformer::evaluate(const std::int32_t* tokens, const TrainCall& call, float* per_token) {
    StepTimer timer(times_);
    return model_.forward_backward(tokens, call, false, per_token);
}

std::int32_t sample_token(const float* logits, std::size_t vocab, double temperature, std::size_t top_k,
                          Xoshiro256& rng) {
    if (temperature == 0) return static_cast<std::int32_t>(std::max_element(logits, logits + vocab) - logits);
    std::vector<std::size_t> order(vocab);
    std::iota(order.begin(), order.end(), std::size_t{0});
    const std::size_t k = top_k == 0 ? vocab : std::min(top_k, vocab);
    // The k largest, ties broken by the smaller id, so that the draw does not depend on the sort.
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](std::size_t a, std::size_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    const double top = logits[order[0]];
    std::vector<double> weights(k);
    double total = 0;
    for (std::size_t i = 0; i < k; ++i) total += weights[i] = std::exp((logits[order[i]] - top) / temperature);
    double u = rng.uniform() * total;
    for (std::size_t i = 0; i < k; ++i) {
        if (u < weights[i]) return static_cast<std::int32_t>(order[i]);
        u -= weights[i];
    }
    return static_cast<std::int32_t>(order[k - 1]);
}

std::vector<std::int32_t> Transformer::generate(const std::int32_t* prompt, std::size_t prompt_length,
                                                const GenerateOptions& options) {
    const std::size_t vocab = config().vocab;
    Xoshiro256 rng(options.seed);
    std::vector<std::int32_t> out;
    std::vector<float> logits;
    StepTimer timer(times_);
    model_.reset_cache();
    model_.forward_cached(prompt, prompt_length, logits);
    for (std::size_t i = 0; i < options.max_tokens; ++i) {
        const float* last = logits.data() + logits.size() - vocab;
        const std::int32_t next = sample_token(last, vocab, options.temperature, options.top_k, rng);
        out.push_back(next);
        if (i + 1 < options.max_tokens) model_.forward_cached(&next, 1, logits);
    }
    model_.reset_cache();
    return out;
}

void Transformer::finetune(const FinetuneOptions& given) {
    const FinetuneOptions options = finetune_resolve(config(), given);
    finetune_ = options;
    low_rank_.clear();
    if (options.method == FinetuneMethod::ladder) {
        // A fresh side network (model.hpp, LadderShape); the backbone is frozen whole.
        model_.enable_ladder(ladder_shape(config(), options));
        ModelOptimizer optimizer = model_.optimizer();
        optimizer.lr = options.lr;
        optimizer.weight_decay = options.weight_decay;
        model_.reset_optimizer(optimizer);
        return;
    }
    model_.disable_ladder();
    const auto& tensors = model_.tensors();
    std::vector<bool> trainable(tensors.size(), false);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const TensorInfo& t = tensors[i];
        const std::string target = tensor_kind_target(t.kind);
        const bool listed = std::find(options.targets.begin(), options.targets.end(), target) != options.targets.end();
        if (options.method == FinetuneMethod::full) {
            trainable[i] = options.targets.empty() || listed;
        } else {
            trainable[i] = t.low_rank_target() && (options.targets.empty() || listed);
        }
    }
    model_.set_trainable(trainable);
    ModelOptimizer optimizer = model_.optimizer();
    optimizer.lr = options.lr;
    optimizer.weight_decay = options.weight_decay;
    model_.reset_optimizer(optimizer);
    if (options.method == FinetuneMethod::full) return;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        if (!trainable[i]) continue;
        const TensorInfo& t = tensors[i];
        LowRankConfig c;
        c.rows = t.shape[0];
        c.cols = t.shape[1];
        c.rank = options.rank;
        c.mode = options.method == FinetuneMethod::lora ? LowRankMode::LoRA : LowRankMode::GaLore;
        c.base = LowRankBase::Adam;
        c.lr = options.lr;
        c.beta1 = optimizer.beta1;
        c.beta2 = optimizer.beta2;
        c.weight_decay = options.weight_decay;
        c.scale = options.scale;
        c.update_proj_gap = options.update_proj_gap;
        c.init = LowRankInit::ZeroB;
        c.seed = config().seed + 1 + i;
        low_rank_.emplace_back(i, LowRankOptimizer(low_rank_resolve(c), model_.parameters().data() + t.offset));
    }
}

std::size_t Transformer::optimizer_state_floats() const {
    if (low_rank_.empty()) return model_.adam_state_floats();
    std::size_t n = 0;
    for (const auto& entry : low_rank_) n += entry.second.state_floats();
    return n;
}

std::uint64_t Transformer::activation_floats(std::uint64_t batch, std::uint64_t seq) const {
    if (model_.ladder_active()) return ladder_activation_floats(config(), model_.ladder(), batch, seq);
    return transformer_activation_floats(config(), batch, seq);
}

std::size_t Transformer::trained_parameter_count() const {
    if (model_.ladder_active()) return model_.ladder_parameters().size();
    const auto& tensors = model_.tensors();
    std::size_t n = 0;
    if (finetune_ && finetune_->method == FinetuneMethod::lora) {
        for (const auto& [index, optimizer] : low_rank_) {
            n += (tensors[index].shape[0] + tensors[index].shape[1]) * optimizer.config().rank;
        }
        return n;
    }
    for (std::size_t i = 0; i < tensors.size(); ++i)
        if (model_.trainable()[i]) n += tensors[i].size;
    return n;
}

// ---- the configuration as safetensors metadata ----------------------------------------------

namespace {

std::string number_text(double x) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.17g", x);
    return buffer;
}

template <typename T, typename = void>
struct has_fields : std::false_type {};
template <typename T>
struct has_fields<T, std::void_t<decltype(visit_fields(std::declval<T&>(), std::declval<FieldNames&>()))>>
    : std::true_type {};

struct MetadataWriter {
    std::string prefix;
    std::vector<std::pair<std::string, std::string>>* out;

    template <typename T>
    void operator()(const char* name, T& value, unsigned = kOptional, const T* = nullptr) {
        write(prefix + name, value);
    }

    void put(const std::string& key, std::string text) { out->emplace_back(key, std::move(text)); }
    void write(const std::string& key, double x) { put(key, number_text(x)); }
    void write(const std::string& key, bool x) { put(key, x ? "true" : "false"); }
    void write(const std::string& key, std::size_t x) { put(key, std::to_string(x)); }
    template <typename U = std::uint64_t, std::enable_if_t<!std::is_same_v<U, std::size_t>, int> = 0>
    void write(const std::string& key, std::uint64_t x) { put(key, std::to_string(x)); }
    template <typename E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
    void write(const std::string& key, E x) { put(key, enum_name(x)); }
    template <typename E>
    void write(const std::string& key, std::variant<E, double>& x) {
        if (const double* d = std::get_if<double>(&x)) write(key, *d);
        else write(key, std::get<E>(x));
    }
    template <typename T, std::enable_if_t<has_fields<T>::value, int> = 0>
    void write(const std::string& key, T& nested) {
        MetadataWriter inner{key + ".", out};
        visit_fields(nested, inner);
    }
    template <typename T>
    void write(const std::string& key, std::optional<T>& x) {
        if (!x) put(key, "null");
        else write(key, *x);
    }
};

struct MetadataReader {
    std::string prefix;
    const std::map<std::string, std::string>* values;
    std::vector<std::string>* used;
    Error error;

    template <typename T>
    void operator()(const char* name, T& value, unsigned = kOptional, const T* = nullptr) {
        if (!error) read(prefix + name, value);
    }

    bool get(const std::string& key, std::string& text) {
        const auto it = values->find(key);
        if (it == values->end()) {
            error = range_error_text("bytes", "bytes: the metadata has no " + key + " (not a kx.Transformer file?)");
            return false;
        }
        used->push_back(key);
        text = it->second;
        return true;
    }
    void bad(const std::string& key, const std::string& text, const std::string& expected) {
        error = range_error_text("bytes", "bytes: the metadata's " + key + " must be " + expected + ", received " +
                                              json_quote(text));
    }
    void read(const std::string& key, double& x) {
        std::string text;
        if (!get(key, text)) return;
        char* end = nullptr;
        x = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(x)) bad(key, text, "a finite number");
    }
    void read(const std::string& key, bool& x) {
        std::string text;
        if (!get(key, text)) return;
        if (text == "true") x = true;
        else if (text == "false") x = false;
        else bad(key, text, "true or false");
    }
    template <typename U, std::enable_if_t<std::is_integral_v<U> && !std::is_same_v<U, bool>, int> = 0>
    void read(const std::string& key, U& x) {
        std::string text;
        if (!get(key, text)) return;
        if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
            bad(key, text, "a non-negative integer");
            return;
        }
        const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
        if (v > std::numeric_limits<U>::max()) {
            bad(key, text, "a smaller integer");
            return;
        }
        x = static_cast<U>(v);
    }
    template <typename E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
    void read(const std::string& key, E& x) {
        std::string text;
        if (!get(key, text)) return;
        if (!parse_enum(text, x)) bad(key, text, enum_choices<E>());
    }
    template <typename E>
    void read(const std::string& key, std::variant<E, double>& x) {
        std::string text;
        if (!get(key, text)) return;
        E value{};
        if (parse_enum(text, value)) {
            x = value;
            return;
        }
        used->pop_back();
        double number = 0;
        read(key, number);
        if (!error) x = number;
    }
    template <typename T, std::enable_if_t<has_fields<T>::value, int> = 0>
    void read(const std::string& key, T& nested) {
        MetadataReader inner{key + ".", values, used, {}};
        visit_fields(nested, inner);
        error = inner.error;
    }
    template <typename T>
    void read(const std::string& key, std::optional<T>& x) {
        const auto it = values->find(key);
        if (it != values->end() && it->second == "null") {
            used->push_back(key);
            x.reset();
            return;
        }
        T value{};
        read(key, value);
        if (!error) x = value;
    }
};

constexpr const char* kFormat = "kexue-transformer";
constexpr const char* kVersion = "1";

// The ladder options of a file's finetune.* keys, checked as finetune() checks them.
Error ladder_from_metadata(std::map<std::string, std::string>& meta, const TransformerConfig& config,
                           std::optional<FinetuneOptions>& out) {
    if (meta["finetune.method"] != "ladder") {
        return range_error_text("bytes", "bytes: the metadata's finetune.method must be \"ladder\" (the only "
                                         "fine-tuning a file resumes), received " + json_quote(meta["finetune.method"]));
    }
    FinetuneOptions o;
    o.method = FinetuneMethod::ladder;
    auto integer = [&](const char* key, std::size_t& x) -> Error {
        const std::string& text = meta[key];
        if (text.empty() || text.size() > 15 || text.find_first_not_of("0123456789") != std::string::npos) {
            return range_error_text("bytes", std::string("bytes: the metadata's ") + key +
                                                 " must be a non-negative integer, received " + json_quote(text));
        }
        x = static_cast<std::size_t>(std::stoull(text));
        return {};
    };
    auto number = [&](const char* key, double& x) -> Error {
        const std::string& text = meta[key];
        char* end = nullptr;
        x = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(x)) {
            return range_error_text("bytes", std::string("bytes: the metadata's ") + key + " must be a finite number, received " +
                                                 json_quote(text));
        }
        return {};
    };
    if (Error e = integer("finetune.reduction", o.reduction)) return e;
    if (Error e = integer("finetune.sideHeads", o.side_heads)) return e;
    if (Error e = number("finetune.lr", o.lr)) return e;
    if (Error e = number("finetune.weightDecay", o.weight_decay)) return e;
    if (o.side_heads == 0) {
        return range_error_text("bytes", "bytes: the metadata's finetune.sideHeads must be a positive integer, received \"0\"");
    }
    if (Error e = finetune_validate(config, o)) {
        return range_error_text("bytes", "bytes: the saved ladder options are invalid: " + e.text);
    }
    out = o;
    return {};
}

}  // namespace

std::vector<std::pair<std::string, std::string>> transformer_config_metadata(const TransformerConfig& config) {
    std::vector<std::pair<std::string, std::string>> out;
    TransformerConfig copy = config;
    MetadataWriter writer{"config.", &out};
    visit_fields(copy, writer);
    return out;
}

Error transformer_config_from_metadata(const std::vector<std::pair<std::string, std::string>>& metadata,
                                       TransformerConfig& config) {
    std::map<std::string, std::string> values;
    for (const auto& [key, value] : metadata) {
        if (key.rfind("config.", 0) == 0) values[key] = value;
    }
    // Fields added after the first files were written, with the behaviour those files had: a file
    // without the key loads as the model it was saved from (the format's version stays "1").
    static const std::pair<const char*, const char*> kAddedLater[] = {{"config.attention.normalize", "softmax"},
                                                                       {"config.attention.talkingHeads", "false"},
                                                                       {"config.block", "transformer"},
                                                                       {"config.gau.expansion", "0"},
                                                                       {"config.gau.keySize", "0"}};
    for (const auto& [key, value] : kAddedLater) values.emplace(key, value);
    std::vector<std::string> used;
    MetadataReader reader{"config.", &values, &used, {}};
    visit_fields(config, reader);
    if (reader.error) return reader.error;
    for (const auto& [key, value] : values) {
        if (std::find(used.begin(), used.end(), key) == used.end()) {
            return range_error_text("bytes", "bytes: the metadata has an unknown key " + json_quote(key));
        }
    }
    return {};
}

std::vector<std::uint8_t> Transformer::save() const {
    SafetensorsMetadata metadata{{"format", kFormat}, {"version", kVersion}};
    metadata.emplace_back("steps", std::to_string(model_.steps()));
    for (auto& entry : transformer_config_metadata(config())) metadata.push_back(std::move(entry));
    if (model_.ladder_active()) {
        // The ladder in force, so that a loaded file resumes with it (its tensors follow as ladder.*).
        metadata.emplace_back("finetune.method", "ladder");
        metadata.emplace_back("finetune.reduction", std::to_string(finetune_->reduction));
        metadata.emplace_back("finetune.sideHeads", std::to_string(finetune_->side_heads));
        metadata.emplace_back("finetune.lr", number_text(finetune_->lr));
        metadata.emplace_back("finetune.weightDecay", number_text(finetune_->weight_decay));
    }
    std::vector<SafetensorsTensor> tensors;
    for (const TensorInfo& t : model_.tensors()) {
        tensors.push_back({t.name, std::vector<std::uint64_t>(t.shape.begin(), t.shape.end()),
                           model_.parameters().data() + t.offset});
    }
    for (const TensorInfo& t : model_.ladder_tensors()) {
        tensors.push_back({t.name, std::vector<std::uint64_t>(t.shape.begin(), t.shape.end()),
                           model_.ladder_parameters().data() + t.offset});
    }
    return safetensors_write(metadata, tensors);
}

Error Transformer::load(const std::uint8_t* bytes, std::size_t size, std::unique_ptr<Transformer>& out) {
    SafetensorsFile file;
    if (Error e = safetensors_parse(bytes, size, file)) return e;
    std::map<std::string, std::string> meta(file.metadata.begin(), file.metadata.end());
    if (meta["format"] != kFormat) {
        return range_error_text("bytes", "bytes: the metadata's format must be \"kexue-transformer\", received " +
                                             json_quote(meta["format"]));
    }
    if (meta["version"] != kVersion) {
        return range_error_text("bytes", "bytes: the metadata's version must be \"1\", received " + json_quote(meta["version"]));
    }
    const std::string& steps_text = meta["steps"];
    if (steps_text.empty() || steps_text.size() > 15 || steps_text.find_first_not_of("0123456789") != std::string::npos) {
        return range_error_text("bytes", "bytes: the metadata's steps must be a non-negative integer, received " +
                                             json_quote(steps_text));
    }
    TransformerConfig config;
    if (Error e = transformer_config_from_metadata(file.metadata, config)) return e;
    if (Error e = transformer_validate(config)) {
        return range_error_text("bytes", "bytes: the saved configuration is invalid: " + e.text);
    }
    const TransformerConfig resolved = transformer_resolve(config);
    if (resolved.kv_heads != config.kv_heads || resolved.key_size != config.key_size || resolved.ffn != config.ffn ||
        resolved.gau.expansion != config.gau.expansion || resolved.gau.key_size != config.gau.key_size) {
        return range_error_text("bytes", "bytes: the saved configuration is not resolved (kvHeads, keySize, ffn and, "
                                         "for block 'gau', gau.expansion and gau.keySize must be set)");
    }
    // A file saved while ladder side-tuning carries finetune.* keys and the side network's tensors.
    std::optional<FinetuneOptions> ladder;
    if (meta.count("finetune.method")) {
        if (Error e = ladder_from_metadata(meta, config, ladder)) return e;
    }
    std::vector<TensorInfo> expected = transformer_tensors(config);
    const std::size_t backbone_count = expected.size();
    if (ladder) {
        // Their offsets are into the side network's own buffer (below).
        for (TensorInfo t : ladder_tensors(config, ladder_shape(config, *ladder))) expected.push_back(std::move(t));
    }
    std::map<std::string, const SafetensorsEntry*> entries;
    for (const SafetensorsEntry& e : file.tensors) entries[e.name] = &e;
    for (const TensorInfo& t : expected) {
        const auto it = entries.find(t.name);
        if (it == entries.end()) return range_error_text("bytes", "bytes: tensor " + json_quote(t.name) + " is missing");
        const std::vector<std::uint64_t> shape(t.shape.begin(), t.shape.end());
        if (it->second->shape != shape) {
            auto text = [](const std::vector<std::uint64_t>& s) {
                std::string out = "[";
                for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
                return out + "]";
            };
            return range_error_text("bytes", "bytes: tensor " + json_quote(t.name) + " must have shape " + text(shape) +
                                                 " for the saved configuration, received " + text(it->second->shape));
        }
        const std::uint8_t* data = file.data + it->second->begin;
        for (std::size_t i = 0; i < t.size; ++i) {
            float x;
            std::memcpy(&x, data + 4 * i, 4);
            if (!std::isfinite(x)) {
                return range_error_text("bytes", "bytes: " + t.name + "[" + std::to_string(i) + "] is " + js_number(x) +
                                                     "; the weights must be finite");
            }
        }
    }
    if (file.tensors.size() != expected.size()) {
        for (const SafetensorsEntry& e : file.tensors) {
            if (std::none_of(expected.begin(), expected.end(), [&](const TensorInfo& t) { return t.name == e.name; })) {
                return range_error_text("bytes", "bytes: tensor " + json_quote(e.name) + " is not part of this model");
            }
        }
    }
    auto model = std::make_unique<Transformer>(config);
    if (ladder) model->finetune(*ladder);
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const TensorInfo& t = expected[i];
        float* base = i < backbone_count ? model->model_.parameters().data() : model->model_.ladder_parameters().data();
        std::memcpy(base + t.offset, file.data + entries[t.name]->begin, 4 * t.size);
    }
    model->model_.set_steps(static_cast<std::size_t>(std::stoull(steps_text)));
    out = std::move(model);
    return {};
}

}  // namespace kexue::model
