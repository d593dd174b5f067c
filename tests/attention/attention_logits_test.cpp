// Logit shaping (softcap, sinks, smooth softmax) and the softmax / relu² / l2 normalisations of the
// fused attention (attention.hpp, "Logit shaping"; docs/math.md §2.8, §2.9):
//   - mpmath vectors (tests/vectors/t_attn_logits.py) on the §2.5 example for every option, forward
//     (P, O and the saved statistic L) and backward (dQ, dK, dV, dSink), against the double
//     reference and the float32 kernel;
//   - the kernel against the reference on a grid of shapes on the tile edges, with causal, GQA,
//     RoPE and dim_v ≠ dim, for each option and some combinations;
//   - the kernel against the reference with each option combined with the masks, bias, windows,
//     ALiBi and padded lengths of attention_mask_test.cpp, and the softcap-then-bias order;
//   - the reference backward against central differences of the reference forward, for each
//     option alone and combined with causal, GQA, RoPE, and a bias, mask, window and ALiBi (the
//     sinks included);
//   - identities (smoothSoftmax is sinks of 0, a very negative sink is no sink, a huge softcap is
//     none), rows that see no key, large scores, and thread-count independence.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/attention_reference.hpp"
#include "../helpers/tensors.hpp"

#include "attention/attention.hpp"
#include "core/parallel.hpp"

namespace kexue {
namespace {

using testing::expect_attention_matches_reference;
using testing::random_floats;
using testing::relative_error;
using testing::to_double;

// The option sets under test, by name.
enum class Variant { softcap, sinks, smooth, relu2, l2, l2_softcap, relu2_softcap, sinks_softcap };

const Variant kVariants[] = {Variant::softcap,    Variant::sinks,         Variant::smooth,
                             Variant::relu2,      Variant::l2,            Variant::l2_softcap,
                             Variant::relu2_softcap, Variant::sinks_softcap};

const char* variant_name(Variant v) {
    switch (v) {
        case Variant::softcap: return "softcap";
        case Variant::sinks: return "sinks";
        case Variant::smooth: return "smoothSoftmax";
        case Variant::relu2: return "relu2";
        case Variant::l2: return "l2";
        case Variant::l2_softcap: return "l2+softcap";
        case Variant::relu2_softcap: return "relu2+softcap";
        case Variant::sinks_softcap: return "sinks+softcap";
    }
    return "?";
}

// `options` with the variant's options added; sinks are drawn per head (seeded).
AttentionOptions with_variant(AttentionOptions options, Variant v, std::size_t heads, double cap = 1.5) {
    auto sinks = [&] {
        std::vector<double> z(heads);
        for (std::size_t h = 0; h < heads; ++h) z[h] = 0.8 * std::sin(1.7 * static_cast<double>(h) + 0.3) + 0.2;
        return z;
    };
    switch (v) {
        case Variant::softcap: options.softcap = cap; break;
        case Variant::sinks: options.sinks = sinks(); break;
        case Variant::smooth: options.smooth_softmax = true; break;
        case Variant::relu2: options.normalize = AttentionNormalize::relu2; break;
        case Variant::l2: options.normalize = AttentionNormalize::l2; break;
        case Variant::l2_softcap:
            options.normalize = AttentionNormalize::l2;
            options.softcap = cap;
            break;
        case Variant::relu2_softcap:
            options.normalize = AttentionNormalize::relu2;
            options.softcap = cap;
            break;
        case Variant::sinks_softcap:
            options.sinks = sinks();
            options.softcap = cap;
            break;
    }
    return options;
}

// ---- the per-element functions of attention.hpp ---------------------------------------------------

TEST(AttentionLogitRules, ElementFunctions) {
    EXPECT_DOUBLE_EQ(attention_softcap(3.0, 0.0), 3.0);  // no cap
    EXPECT_DOUBLE_EQ(attention_softcap(3.0, 2.0), 2.0 * std::tanh(1.5));
    EXPECT_NEAR(attention_softcap(1e6, 50.0), 50.0, 1e-12);
    EXPECT_DOUBLE_EQ(attention_softcap_slope(1.0, 2.0), 0.75);
    EXPECT_DOUBLE_EQ(attention_softcap_slope(1.0, 0.0), 1.0);
    EXPECT_DOUBLE_EQ(attention_weight_numerator(AttentionNormalize::relu2, -1.0), 0.0);
    EXPECT_DOUBLE_EQ(attention_weight_numerator(AttentionNormalize::relu2, 3.0), 9.0);
    EXPECT_DOUBLE_EQ(attention_weight_numerator(AttentionNormalize::l2, 1.0), std::exp(1.0));
    // ∂/∂s of P = relu(s)²/n with n = 4 (L = log 4) at s = 0.5, dP = 2: 2 · 2 · 0.5 / 4.
    EXPECT_DOUBLE_EQ(attention_score_gradient(AttentionNormalize::relu2, 0.5, 0.0625, 2.0, 0.0, std::log(4.0)), 0.5);
    EXPECT_DOUBLE_EQ(attention_score_gradient(AttentionNormalize::softmax, 0.0, 0.5, 2.0, 1.0, 0.0), 0.5);
    EXPECT_DOUBLE_EQ(attention_score_gradient(AttentionNormalize::l2, 0.0, 0.5, 2.0, 1.0, 0.0), 0.75);
    // The GAU article's example (docs/math.md §7.7): scores [[1, 0], [0, 0.5]], n = 2 → relu²/n.
    EXPECT_DOUBLE_EQ(attention_weight_numerator(AttentionNormalize::relu2, 1.0) / 2, 0.5);
    EXPECT_DOUBLE_EQ(attention_weight_numerator(AttentionNormalize::relu2, 0.5) / 2, 0.125);
    // §7.15: a row of logits [0, ln 2] under l2: e^{s}/√Σe^{2s} = [1, 2]/√5.
    const double norm = std::sqrt(1.0 + 4.0);
    EXPECT_NEAR(attention_weight_numerator(AttentionNormalize::l2, std::log(2.0)) / norm, 0.8944271910, 1e-10);
}

// ---- mpmath vectors (tests/vectors/t_attn_logits.py) ------------------------------------------------

const std::vector<double> kSpecQ{1, 0, 0, 1, 1, 1, 0.5, -1};
const std::vector<double> kSpecK{1, 0, 0, 1, -1, 0, 1, 1};
const std::vector<double> kSpecV{1, 0, 0, 1, 1, 1, 2, -1};
const std::vector<double> kSpecG{0.3, -0.2, 1, 0.5, -0.7, 0.4, 0.2, 0.9};  // ∂loss/∂O

struct SpecRow {
    std::vector<double> p, o;
    double statistic;
};

struct SpecCase {
    const char* name;  // the script's heading
    std::vector<SpecRow> rows;
    std::vector<double> dq, dk, dv;
    double d_sink;
};

const SpecCase kSpecCases[] = {
    {"softcap 0.5",
     {{{0.3275830457, 0.2100926905, 0.1347412181, 0.3275830457}, {1.117490355, 0.01725086294}, 1.560206462},
      {{0.1953711841, 0.3046288159, 0.1953711841, 0.3046288159}, {1.0, 0.1953711841}, 1.632854021},
      {{0.2885970943, 0.2885970943, 0.1187055452, 0.3041002662}, {1.015503172, 0.1032023733}, 1.686916482},
      {{0.3904786195, 0.1847032998, 0.2124090403, 0.2124090403}, {1.02770574, 0.1847032998}, 1.244811745}},
     {0.0259611476, -0.05614396072, -0.0508086002, -0.008870080124, -0.01122024895, 0.04263107966, -0.1810732179, -0.06785643189},
     {-0.01778435974, 0.01504244191, -0.02572800933, 0.004327732506, 0.03629826291, -0.006712227971, -0.02171308767, 0.09728969891},
     {0.1697238557, 0.4990385782, 0.202579317, 0.3919676774, 0.195181476, 0.3093877028, 0.2325153513, 0.3996060416},
     0},
    {"softcap 0.5 causal",
     {{{1.0}, {1.0, 0}, 0.4441927808},
      {{0.3907423683, 0.6092576317}, {0.3907423683, 0.6092576317}, 0.9397068409},
      {{0.4147107411, 0.4147107411, 0.1705785179}, {0.5852892589, 0.5852892589}, 1.324366792},
      {{0.3904786195, 0.1847032998, 0.2124090403, 0.2124090403}, {1.02770574, 0.1847032998}, 1.244811745}},
     {0, 0, 0.08416789947, -0.01774016025, -0.02924977136, 0.03557559271, -0.1810732179, -0.06785643189},
     {-0.04733584949, 0.08160155234, 0.04284602757, 0.003294562746, 0.03125188004, -0.0719924921, -0.0411986508, 0.0823973016},
     {0.4785405734, 0.5126862381, 0.355900773, 0.6367460821, -0.07692315445, 0.2593995434, 0.04248180807, 0.1911681363},
     0},
    {"sink 0.7",
     {{{0.2681609425, 0.132221765, 0.06519441265, 0.2681609425}, {0.8696772402, -0.07074476486}, 2.023274728},
      {{0.1239160034, 0.2513159029, 0.1239160034, 0.2513159029}, {0.7504638127, 0.1239160034}, 2.088151335},
      {{0.1899641871, 0.1899641871, 0.04618347283, 0.3852692139}, {1.006686088, -0.1491215539}, 2.368026495},
      {{0.2669230164, 0.09241599937, 0.1316113824, 0.1316113824}, {0.6617571636, 0.09241599937}, 1.674348381}},
     {0.1123401637, 0.05512483302, 0.07837665669, 0.06666798049, -0.2886666797, -0.125745794, -0.1518316749, -0.02186019175},
     {0.01190635495, 0.0280073152, 0.1343479843, 0.05614983286, 0.04824966727, -0.006901791253, -0.2158990412, -0.09336745462},
     {0.1247739584, 0.3245422028, 0.1764907013, 0.2583736727, 0.1374681727, 0.1858427525, 0.08839801247, 0.3445836927},
     -0.213145337059},
    {"sink 0.7 causal",
     {{{0.5017766878}, {0.5017766878, 0}, 1.396706884},
      {{0.1983391992, 0.4022547014}, {0.1983391992, 0.4022547014}, 1.617776587},
      {{0.3090201295, 0.3090201295, 0.07512796475}, {0.3841480942, 0.3841480942}, 1.881455641},
      {{0.2669230164, 0.09241599937, 0.1316113824, 0.1316113824}, {0.6617571636, 0.09241599937}, 1.674348381}},
     {0.05303233897, 0, 0.08422301042, 0.02859543567, -0.1179602125, 0.112586178, -0.1518316749, -0.02186019175},
     {-0.07620793161, -0.04062167021, 0.1349506801, 0.0964526096, 0.03134118146, -0.09212694707, -0.03329459794, 0.06658919587},
     {0.1859427182, 0.3626530286, 0.2044238106, 0.4079098019, -0.02626729885, 0.1485014301, 0.02632227648, 0.1184502442},
     -0.280535463249},
    {"smooth softmax",
     {{{0.3096690331, 0.1526881049, 0.07528572407, 0.3096690331}, {1.004292823, -0.08169520409}, 1.879357968},
      {{0.1417187372, 0.2874218942, 0.1417187372, 0.2874218942}, {0.8582812628, 0.1417187372}, 1.953910909},
      {{0.2098944052, 0.2098944052, 0.05102884236, 0.4256899877}, {1.112303223, -0.1647667401}, 2.268257489},
      {{0.3295378211, 0.1140949457, 0.1624847822, 0.1624847822}, {0.8169921678, 0.1140949457}, 1.463617539}},
     {0.1133504274, 0.04973827756, 0.06591515941, 0.02880262852, -0.2858063157, -0.1028989922, -0.1992293091, -0.036875865},
     {0.009890053989, 0.04394877884, 0.1543935193, 0.0463483939, 0.05596843025, -0.01895826661, -0.2259921665, -0.08356889261},
     {0.1536009278, 0.3894673631, 0.2091212312, 0.2998165393, 0.1610812212, 0.2224500647, 0.1148365692, 0.3982894395},
     -0.154344416018},
    {"smooth softmax causal",
     {{{0.6697615493}, {0.6697615493, 0}, 1.107940308},
      {{0.2482550783, 0.5034898435}, {0.2482550783, 0.5034898435}, 1.39329852},
      {{0.365472307, 0.365472307, 0.08885243381}, {0.4543247408, 0.4543247408}, 1.713671551},
      {{0.3295378211, 0.1140949457, 0.1624847822, 0.1624847822}, {0.8169921678, 0.1140949457}, 1.463617539}},
     {0.04691957896, 0, 0.08777142465, 0, -0.1353913682, 0.1385942416, -0.1992293091, -0.036875865},
     {-0.1064563022, -0.0425063121, 0.164165565, 0.08745159478, 0.03762088567, -0.1060971658, -0.04400925591, 0.08801851183},
     {0.2592604924, 0.4329481911, 0.2704782177, 0.5006192957, -0.02969974722, 0.1817772775, 0.03249695644, 0.146236304},
     -0.227491836786},
    {"relu2",
     {{{0.125, 0, 0, 0.125}, {0.375, -0.125}, 1.386294361},
      {{0, 0.125, 0, 0.125}, {0.25, 0}, 1.386294361},
      {{0.125, 0.125, 0, 0.5}, {1.125, -0.375}, 1.386294361},
      {{0.03125, 0, 0, 0}, {0.03125, 0}, 1.386294361}},
     {0.275, 0.2, 0.375, 0.5, -1.075, -0.8, 0.025, 0},
     {-0.0875, -0.2, 0.1, 0.225, 0, 0, -0.7, -0.525},
     {-0.04375, 0.053125, 0.0375, 0.1125, 0, 0, -0.1875, 0.2375},
     0},
    {"relu2 causal",
     {{{0.5}, {0.5, 0}, 0.0},
      {{0, 0.25}, {0, 0.25}, 0.6931471806},
      {{0.1666666667, 0.1666666667, 0}, {0.1666666667, 0.1666666667}, 1.098612289},
      {{0.03125, 0, 0, 0}, {0.03125, 0}, 1.386294361}},
     {0.3, 0, 0, 0.25, -0.2333333333, 0.1333333333, 0.025, 0},
     {0.07916666667, -0.2583333333, 0.1333333333, 0.3833333333, 0, 0, 0, 0},
     {0.03958333333, -0.005208333333, 0.1333333333, 0.1916666667, 0, 0, 0, 0},
     0},
    {"l2",
     {{{0.6590621257, 0.3249628999, 0.1602290318, 0.6590621257}, {2.137415409, -0.173870194}, 1.124044257},
      {{0.312706186, 0.6342041006, 0.312706186, 0.6342041006}, {1.893820573, 0.312706186}, 1.162491232},
      {{0.402507996, 0.402507996, 0.09785642957, 0.8163324969}, {2.133029419, -0.3159680713}, 1.617147098},
      {{0.7890650371, 0.2731957512, 0.3890632653, 0.3890632653}, {1.956254833, 0.2731957512}, 0.5904599223}},
     {0.09831833438, 0.0687607135, -0.02097081977, -0.2692749951, -0.2797926654, 0.02349256114, -0.6090866726, -0.06551351723},
     {-0.1659746347, 0.2345701261, 0.2730614299, -0.1997207688, 0.1064781187, -0.05430120934, -0.2135649139, 0.01945185206},
     {0.3864822339, 0.8957023996, 0.5045765236, 0.6589888448, 0.3700880479, 0.5136067972, 0.3383026436, 0.8619795627},
     0},
    {"l2 causal",
     {{{1.0}, {1.0, 0}, 0.7071067812},
      {{0.4422333292, 0.8969000404}, {0.4422333292, 0.8969000404}, 0.815917642},
      {{0.6968842907, 0.6968842907, 0.169424233}, {0.8663085237, 0.8663085237}, 1.068242674},
      {{0.7890650371, 0.2731957512, 0.3890632653, 0.3890632653}, {1.956254833, 0.2731957512}, 0.5904599223}},
     {0, 0, 0.1895343892, -0.1895343892, -0.2250265589, 0.2863569927, -0.6090866726, -0.06551351723},
     {-0.3401476935, 0.102754449, 0.3564749762, -0.04341336367, 0.0865474595, -0.2650905697, -0.1028747422, 0.2057494843},
     {0.4122273332, 1.010028914, 0.4637201872, 0.9730799125, -0.04078431007, 0.417926632, 0.07781265305, 0.3501569387},
     0},
    {"l2 softcap 0.5",
     {{{0.6225121499, 0.3992430444, 0.256051241, 0.6225121499}, {2.123587691, 0.03278213546}, 0.9181849137},
      {{0.3817349232, 0.5952129438, 0.3817349232, 0.5952129438}, {1.953895734, 0.3817349232}, 0.9630288296},
      {{0.5521990932, 0.5521990932, 0.2271301261, 0.5818627233}, {1.943054666, 0.197466496}, 1.038039402},
      {{0.7421562355, 0.3510530381, 0.4037114604, 0.4037114604}, {1.953290617, 0.3510530381}, 0.6026251805}},
     {0.03156866311, -0.08972058761, -0.1151452375, -0.04907227234, -0.005102648386, 0.08512060437, -0.3945608987, -0.1069565143},
     {-0.06153644561, 0.1566768623, -0.01933054755, -0.01185899577, 0.07053029619, 0.03722769159, -0.03874769285, 0.1548638421},
     {0.33038045, 0.9551852808, 0.3986570994, 0.7545852346, 0.3803014993, 0.5938495782, 0.4554049745, 0.7691894456},
     0},
    {"l2 softcap 0.5 causal",
     {{{1.0}, {1.0, 0}, 0.4441927808},
      {{0.5398547056, 0.8417582176}, {0.5398547056, 0.8417582176}, 0.6164552393},
      {{0.6789719767, 0.6789719767, 0.2792742555}, {0.9582462322, 0.9582462322}, 0.8313682045},
      {{0.7421562355, 0.3510530381, 0.4037114604, 0.4037114604}, {1.953290617, 0.3510530381}, 0.6026251805}},
     {0, 0, 0.1837455589, -0.03872825246, -0.0419381682, 0.06022837154, -0.3945608987, -0.1069565143},
     {-0.104650378, 0.2397965052, 0.07728326442, -0.0126096667, 0.06403508956, -0.1555054841, -0.07053315005, 0.1410663001},
     {0.513005569, 1.009456755, 0.4366884415, 1.008415634, -0.1147496868, 0.4750500166, 0.08074229209, 0.3633403144},
     0},
    {"relu2 softcap 0.5",
     {{{0.04932680663, 0, 0, 0.04932680663}, {0.1479804199, -0.04932680663}, 1.386294361},
      {{0, 0.04932680663, 0, 0.04932680663}, {0.09865361325, 0}, 1.386294361},
      {{0.04932680663, 0.04932680663, 0, 0.06163269809}, {0.1725922028, -0.01230589146}, 1.386294361},
      {{0.0231693579, 0, 0, 0}, {0.0231693579, 0}, 1.386294361}},
     {0.03641080135, 0.0264805828, 0.04965109275, 0.066201457, -0.02755534626, 0.008855455094, 0.01354637258, 0},
     {-0.006467105111, -0.03671688253, 0.0132402914, 0.02979065565, 0, 0, 0.02209574649, 0.04526625644},
     {-0.01509685107, 0.03071778343, 0.01479804199, 0.04439412596, 0, 0, 0.02098195996, 0.03945112122},
     0},
    {"relu2 softcap 0.5 causal",
     {{{0.1973072265}, {0.1973072265, 0}, 0.0},
      {{0, 0.09865361325}, {0, 0.09865361325}, 0.6931471806},
      {{0.0657690755, 0.0657690755, 0}, {0.0657690755, 0.0657690755}, 1.098612289},
      {{0.0231693579, 0, 0, 0}, {0.0231693579, 0}, 1.386294361}},
     {0.0397208742, 0, 0, 0.0331007285, -0.03089401327, 0.01765372187, 0.01354637258, 0},
     {0.01560004722, -0.04444038585, 0.01765372187, 0.05075445037, 0, 0, 0, 0},
     {0.01778768668, 0.007698607007, 0.0526152604, 0.07563443683, 0, 0, 0, 0},
     0},
};

// The options of a heading: "softcap 0.5", "sink 0.7", "smooth softmax", "relu2", "l2",
// "l2 softcap 0.5", "relu2 softcap 0.5", each optionally followed by " causal".
AttentionOptions spec_options(const std::string& name) {
    AttentionOptions options;
    options.scale = AttentionScale::standard;
    options.causal = name.find("causal") != std::string::npos;
    if (name.find("softcap 0.5") != std::string::npos) options.softcap = 0.5;
    if (name.rfind("sink", 0) == 0) options.sinks = std::vector<double>{0.7};
    if (name.rfind("smooth", 0) == 0) options.smooth_softmax = true;
    if (name.rfind("relu2", 0) == 0) options.normalize = AttentionNormalize::relu2;
    if (name.rfind("l2", 0) == 0) options.normalize = AttentionNormalize::l2;
    return options;
}

TEST(AttentionLogitSpec, ReferenceAndKernelMatchMpmath) {
    const AttentionShape shape{1, 4, 4, 1, 1, 2, 2}, identity_shape{1, 4, 4, 1, 1, 2, 4};
    std::vector<double> identity(16, 0.0);
    for (int j = 0; j < 4; ++j) identity[j * 4 + j] = 1.0;
    auto f32 = [](const std::vector<double>& x) { return std::vector<float>(x.begin(), x.end()); };
    for (const SpecCase& c : kSpecCases) {
        SCOPED_TRACE(c.name);
        const AttentionOptions options = spec_options(c.name);
        ASSERT_FALSE(attention_validate(shape, options));
        // The reference: O, L, and P read off a run with V = I₄.
        std::vector<double> o(8), p(16), statistic(4), unused(4);
        attention_forward_reference(shape, options, kSpecQ.data(), kSpecK.data(), kSpecV.data(), o.data(),
                                    statistic.data());
        attention_forward_reference(identity_shape, options, kSpecQ.data(), kSpecK.data(), identity.data(), p.data(),
                                    unused.data());
        // The kernel, likewise.
        std::vector<float> o32(8), p32(16), statistic32(4), unused32(4);
        attention_forward(shape, options, f32(kSpecQ).data(), f32(kSpecK).data(), f32(kSpecV).data(), o32.data(),
                          statistic32.data());
        attention_forward(identity_shape, options, f32(kSpecQ).data(), f32(kSpecK).data(), f32(identity).data(),
                          p32.data(), unused32.data());
        for (std::size_t i = 0; i < 4; ++i) {
            const SpecRow& row = c.rows[i];
            for (std::size_t j = 0; j < 4; ++j) {
                const double want = j < row.p.size() ? row.p[j] : 0.0;
                EXPECT_NEAR(p[i * 4 + j], want, 1e-9) << "P row " << i << " key " << j;
                EXPECT_NEAR(p32[i * 4 + j], want, 2e-6) << "kernel P row " << i << " key " << j;
            }
            for (std::size_t d = 0; d < 2; ++d) {
                EXPECT_NEAR(o[i * 2 + d], row.o[d], 1e-9) << "O row " << i;
                EXPECT_NEAR(o32[i * 2 + d], row.o[d], 4e-6) << "kernel O row " << i;
            }
            EXPECT_NEAR(statistic[i], row.statistic, 1e-9) << "L row " << i;
            EXPECT_NEAR(statistic32[i], row.statistic, 2e-6) << "kernel L row " << i;
        }
        // Backward, loss = Σ O ∘ G.
        std::vector<double> dq(8), dk(8), dv(8), d_sink(1, 0.0);
        attention_backward_reference(shape, options, kSpecQ.data(), kSpecK.data(), kSpecV.data(), kSpecG.data(),
                                     dq.data(), dk.data(), dv.data(), {}, d_sink.data());
        std::vector<float> dq32(8), dk32(8), dv32(8), d_sink32(1, 0.0f);
        attention_backward(shape, options, f32(kSpecQ).data(), f32(kSpecK).data(), f32(kSpecV).data(), o32.data(),
                           statistic32.data(), f32(kSpecG).data(), dq32.data(), dk32.data(), dv32.data(), {},
                           d_sink32.data());
        for (std::size_t e = 0; e < 8; ++e) {
            EXPECT_NEAR(dq[e], c.dq[e], 1e-9) << "dq " << e;
            EXPECT_NEAR(dk[e], c.dk[e], 1e-9) << "dk " << e;
            EXPECT_NEAR(dv[e], c.dv[e], 1e-9) << "dv " << e;
            EXPECT_NEAR(dq32[e], c.dq[e], 1e-5) << "kernel dq " << e;
            EXPECT_NEAR(dk32[e], c.dk[e], 1e-5) << "kernel dk " << e;
            EXPECT_NEAR(dv32[e], c.dv[e], 1e-5) << "kernel dv " << e;
        }
        // dSink is returned for sinks only (smoothSoftmax's sink is the constant 0).
        EXPECT_NEAR(d_sink[0], options.sinks ? c.d_sink : 0.0, 1e-9);
        EXPECT_NEAR(d_sink32[0], options.sinks ? c.d_sink : 0.0, 1e-5);
    }
}

// ---- the kernel against the reference on a grid ---------------------------------------------------

struct GridCase {
    AttentionShape shape;
    AttentionOptions options;
    Variant variant;
};

std::string describe(const GridCase& c) {
    std::ostringstream out;
    const auto& s = c.shape;
    out << variant_name(c.variant) << " batch=" << s.batch << " seq_q=" << s.seq_q << " seq_k=" << s.seq_k
        << " heads=" << s.heads << " kv_heads=" << s.kv_heads << " dim=" << s.dim << " dim_v=" << s.dim_v
        << " causal=" << c.options.causal << " rope=" << c.options.rope.has_value();
    return out.str();
}

std::vector<GridCase> grid_cases() {
    const std::size_t query_tile = attention_query_tile(), key_tile = attention_key_tile();
    std::vector<GridCase> cases;
    std::size_t counter = 0;
    for (Variant v : kVariants) {
        auto add = [&](AttentionShape shape, bool causal, bool rope) {
            AttentionOptions options;
            options.scale = counter % 2 ? std::variant<AttentionScale, double>(AttentionScale::entropy)
                                        : std::variant<AttentionScale, double>(AttentionScale::standard);
            options.causal = causal;
            if (rope) options.rope = AttentionRope{};
            ++counter;
            cases.push_back({shape, with_variant(options, v, shape.heads), v});
        };
        for (std::size_t seq : {std::size_t{1}, query_tile - 1, key_tile + 1, 2 * key_tile + 3}) {
            add({1, seq, seq, 2, 2, 16, 16}, false, false);
            add({2, seq, seq, 4, 2, 8, 5}, true, true);  // GQA, odd dim_v, RoPE
        }
        add({1, 5, 70, 4, 1, 12, 17}, true, false);      // decoding after a cache, MQA
        add({1, 70, 33, 2, 1, 8, 8}, false, true);       // seq_q > seq_k, negative RoPE positions
        add({1, query_tile, key_tile, 3, 3, 6, 6}, true, false);
    }
    return cases;
}

TEST(AttentionLogitGrid, ForwardAndBackwardMatchReference) {
    for (const GridCase& c : grid_cases()) {
        SCOPED_TRACE(describe(c));
        ASSERT_FALSE(attention_validate(c.shape, c.options));
        expect_attention_matches_reference(c.shape, c.options);
    }
}

// Scores spanning hundreds of nats: the l2 running sum of squares and the sink's starting state
// must rescale like the softmax's; a softcap of 30 keeps them within ±30.
TEST(AttentionLogitGrid, LargeScoresStayStable) {
    for (Variant v : {Variant::sinks, Variant::l2, Variant::relu2, Variant::sinks_softcap, Variant::l2_softcap}) {
        for (bool causal : {false, true}) {
            AttentionOptions options;
            options.scale = 1.0;
            options.causal = causal;
            GridCase c{{1, 100, 300, 2, 2, 16, 8}, with_variant(options, v, 2, 30.0), v};
            SCOPED_TRACE(describe(c));
            const auto q = random_floats(100 * 2 * 16, 51, 4.0f), k = random_floats(300 * 2 * 16, 52, 4.0f);
            std::vector<float> o(100 * 2 * 8), lse(2 * 100);
            const auto values = random_floats(300 * 2 * 8, 53);
            attention_forward(c.shape, c.options, q.data(), k.data(), values.data(), o.data(), lse.data());
            for (float x : o) ASSERT_TRUE(std::isfinite(x));
            for (float x : lse) ASSERT_TRUE(std::isfinite(x));
            std::vector<double> o_ref(o.size()), lse_ref(lse.size());
            attention_forward_reference(c.shape, c.options, to_double(q).data(), to_double(k).data(),
                                        to_double(values).data(), o_ref.data(), lse_ref.data());
            // relu² of scores in the hundreds grows to 1e4·n; the tolerance is relative anyway.
            EXPECT_LE(relative_error(o, o_ref), 2e-4);
            EXPECT_LE(relative_error(lse, lse_ref), 2e-5);
        }
    }
}

// ---- with the masks, bias, windows and lengths of attention_mask_test.cpp ------------------------

struct MaskedCase {
    std::string name;
    AttentionShape shape;
    AttentionOptions options;
    std::vector<float> bias;
    std::vector<std::uint8_t> mask;
    AttentionBuffers buffers() const {
        return {bias.empty() ? nullptr : bias.data(), mask.empty() ? nullptr : mask.data()};
    }
};

std::vector<std::uint8_t> random_mask(std::size_t count, std::uint32_t seed, double keep) {
    std::mt19937 rng(seed);
    std::bernoulli_distribution admit(keep);
    std::vector<std::uint8_t> out(count);
    for (auto& x : out) x = admit(rng) ? 1 : 0;
    return out;
}

// Each variant with: right-padded lengths, a causal window, ALiBi with RoPE, a bias with −∞
// entries, a key-padding mask with a per-head bias, and a full mask (a row with no key) with a
// window and lengths at once; on shapes across the tile edges.
std::vector<MaskedCase> masked_cases(const AttentionShape& shape, Variant v) {
    const std::size_t seq = shape.seq_q, short_len = std::max<std::size_t>(seq / 2, 1);
    std::vector<MaskedCase> cases;
    for (int setting = 0; setting < 6; ++setting) {
        MaskedCase c{variant_name(v), shape, AttentionOptions{}, {}, {}};
        AttentionOptions& o = c.options;
        o.causal = setting % 2 == 1;
        o.n_min = 1.0;
        o.scale = setting % 3 == 0 ? std::variant<AttentionScale, double>(AttentionScale::standard)
                                   : std::variant<AttentionScale, double>(AttentionScale::entropy);
        switch (setting) {
            case 0:
                o.seq_lens_q = std::vector<std::size_t>{seq, short_len};
                o.seq_lens_k = std::vector<std::size_t>{seq, short_len};
                c.name += " seqLens";
                break;
            case 1:
                o.window = AttentionWindow{std::size_t{5}, std::nullopt};
                c.name += " causal window";
                break;
            case 2:
                o.alibi = true;
                o.rope = AttentionRope{};
                c.name += " alibi+rope";
                break;
            case 3:
                o.bias = AttentionBroadcast{{2, 4, seq, seq}};
                c.bias = random_floats(2 * 4 * seq * seq, 71);
                for (std::size_t i = 0; i < c.bias.size(); i += 7) c.bias[i] = -std::numeric_limits<float>::infinity();
                c.name += " bias with -inf";
                break;
            case 4:
                o.mask = AttentionBroadcast{{2, 1, 1, seq}};
                c.mask = random_mask(2 * seq, 72, 0.7);
                o.bias = AttentionBroadcast{{1, 4, seq, seq}};
                c.bias = random_floats(4 * seq * seq, 73, 2.0f);
                c.name += " keyPaddingMask+bias";
                break;
            default:
                o.mask = AttentionBroadcast{{2, 4, seq, seq}};
                c.mask = random_mask(2 * 4 * seq * seq, 74, 0.5);
                if (seq > 2)
                    for (std::size_t j = 0; j < seq; ++j) c.mask[seq + j] = 0;  // row 1 of head 0 sees nothing
                o.window = AttentionWindow{std::size_t{seq / 2}, std::size_t{2}};
                o.seq_lens_k = std::vector<std::size_t>{seq, short_len};
                o.seq_lens_q = std::vector<std::size_t>{short_len, short_len};
                c.name += " mask+window+seqLens";
        }
        o = with_variant(o, v, shape.heads);
        cases.push_back(c);
    }
    return cases;
}

TEST(AttentionLogitGrid, WithMasksBiasWindowsAndLengths) {
    const std::size_t t = attention_query_tile();
    for (Variant v : kVariants)
        for (std::size_t seq : {std::size_t{1}, t + 1}) {
            for (const MaskedCase& c : masked_cases({2, seq, seq, 4, 2, 8, 5}, v)) {
                SCOPED_TRACE(c.name + " seq=" + std::to_string(seq));
                ASSERT_FALSE(attention_validate(c.shape, c.options));
                const auto& s = c.shape;
                const auto q = random_floats(s.batch * s.seq_q * s.heads * s.dim, 81, 1.5f);
                const auto k = random_floats(s.batch * s.seq_k * s.kv_heads * s.dim, 82, 1.5f);
                const auto values = random_floats(s.batch * s.seq_k * s.kv_heads * s.dim_v, 83);
                const auto d_o = random_floats(s.batch * s.seq_q * s.heads * s.dim_v, 84);
                std::vector<float> o(d_o.size()), lse(s.batch * s.heads * s.seq_q), dq(q.size()), dk(k.size()),
                    dv(values.size()), d_sinks(s.heads);
                attention_forward(s, c.options, q.data(), k.data(), values.data(), o.data(), lse.data(), c.buffers());
                attention_backward(s, c.options, q.data(), k.data(), values.data(), o.data(), lse.data(), d_o.data(),
                                   dq.data(), dk.data(), dv.data(), c.buffers(), d_sinks.data());
                std::vector<double> o_ref(o.size()), lse_ref(lse.size()), dq_ref(q.size()), dk_ref(k.size()),
                    dv_ref(values.size()), d_sinks_ref(s.heads);
                attention_forward_reference(s, c.options, to_double(q).data(), to_double(k).data(),
                                            to_double(values).data(), o_ref.data(), lse_ref.data(), c.buffers());
                attention_backward_reference(s, c.options, to_double(q).data(), to_double(k).data(),
                                             to_double(values).data(), to_double(d_o).data(), dq_ref.data(),
                                             dk_ref.data(), dv_ref.data(), c.buffers(), d_sinks_ref.data());
                for (std::size_t i = 0; i < o.size(); ++i) ASSERT_TRUE(std::isfinite(o[i])) << i;
                for (std::size_t i = 0; i < lse.size(); ++i)  // −∞ where a row sees nothing, and only there
                    EXPECT_TRUE(lse[i] == static_cast<float>(lse_ref[i]) || std::fabs(lse[i] - lse_ref[i]) < 1e-4)
                        << i << ": " << lse[i] << " vs " << lse_ref[i];
                EXPECT_LE(relative_error(o, o_ref), 1e-4);
                EXPECT_LE(relative_error(dq, dq_ref), 1e-4);
                EXPECT_LE(relative_error(dk, dk_ref), 1e-4);
                EXPECT_LE(relative_error(dv, dv_ref), 1e-4);
                if (c.options.sinks) {
                    EXPECT_LE(relative_error(d_sinks, d_sinks_ref), 1e-4);
                }
            }
        }
}

// The softcap acts on the scaled logit and the bias is added after it (onnxruntime GQA's order):
// one row, two keys, x = [3, −1]·c, cap 2, bias [0.5, 4].
TEST(AttentionLogitGrid, SoftcapBeforeBias) {
    const AttentionShape s{1, 1, 2, 1, 1, 1, 1};
    AttentionOptions options;
    options.scale = 1.0;
    options.softcap = 2.0;
    options.bias = AttentionBroadcast{{1, 1, 1, 2}};
    const std::vector<float> q{1.0f}, k{3.0f, -1.0f}, v{1.0f, 0.0f}, bias{0.5f, 4.0f};
    const AttentionBuffers buffers{bias.data(), nullptr};
    const double s0 = 2 * std::tanh(1.5) + 0.5, s1 = 2 * std::tanh(-0.5) + 4.0;
    const double p0 = std::exp(s0) / (std::exp(s0) + std::exp(s1));
    std::vector<float> o(1), lse(1);
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), buffers);
    EXPECT_NEAR(o[0], p0, 1e-6);
    EXPECT_NEAR(lse[0], std::log(std::exp(s0) + std::exp(s1)), 1e-6);
    std::vector<double> o_ref(1);
    attention_forward_reference(s, options, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                o_ref.data(), nullptr, buffers);
    EXPECT_NEAR(o_ref[0], p0, 1e-15);
}

// ---- the reference backward against finite differences -------------------------------------------

// L = Σ dO ∘ O(q, k, v, sinks) in double; central differences of every input against the
// reference backward, for each variant alone and with causal, GQA and RoPE.
TEST(AttentionLogitBackward, ReferenceMatchesFiniteDifferences) {
    struct Setting {
        bool causal, gqa, rope;
    };
    const Setting settings[] = {{false, false, false}, {true, false, false}, {false, true, true}, {true, true, true}};
    // And one with a bias, a key-padding mask, a window and ALiBi: the additive terms after the softcap.
    const std::vector<float> bias = random_floats(2 * 3 * 5, 15);
    const std::vector<std::uint8_t> mask{1, 1, 0, 1, 1};
    const AttentionBuffers buffers{bias.data(), mask.data()};
    for (Variant variant : kVariants) {
        for (int which = 0; which < 5; ++which) {
            const Setting setting = which < 4 ? settings[which] : Setting{true, true, false};
            const bool terms = which == 4;
            const AttentionShape s{1, 3, 5, 2, setting.gqa ? 1u : 2u, 4, 3};
            AttentionOptions options;
            options.n_min = 1;  // c_i differs per row under causal
            options.causal = setting.causal;
            if (setting.rope) {
                options.rope = AttentionRope{};
                options.rope->layout = setting.causal ? RopeLayout::half : RopeLayout::interleaved;
            }
            if (terms) {
                options.bias = AttentionBroadcast{{1, 2, 3, 5}};
                options.mask = AttentionBroadcast{{1, 1, 1, 5}};
                options.window = AttentionWindow{std::size_t{3}, std::nullopt};
                options.alibi = true;
            }
            options = with_variant(options, variant, s.heads, 0.7);  // a cap that bends the logits
            const AttentionBuffers used = terms ? buffers : AttentionBuffers{};
            SCOPED_TRACE(std::string(variant_name(variant)) + " causal=" + std::to_string(setting.causal) +
                         " gqa=" + std::to_string(setting.gqa) + " rope=" + std::to_string(setting.rope) +
                         " bias+mask+window+alibi=" + std::to_string(terms));
            auto q = to_double(random_floats(s.seq_q * s.heads * s.dim, 11, 1.5f));
            auto k = to_double(random_floats(s.seq_k * s.kv_heads * s.dim, 12, 1.5f));
            auto v = to_double(random_floats(s.seq_k * s.kv_heads * s.dim_v, 13));
            const auto d_o = to_double(random_floats(s.seq_q * s.heads * s.dim_v, 14));
            std::vector<double> dq(q.size()), dk(k.size()), dv(v.size()), d_sinks(s.heads);
            attention_backward_reference(s, options, q.data(), k.data(), v.data(), d_o.data(), dq.data(), dk.data(),
                                         dv.data(), used, d_sinks.data());
            auto loss = [&]() {
                std::vector<double> o(d_o.size());
                attention_forward_reference(s, options, q.data(), k.data(), v.data(), o.data(), nullptr, used);
                double sum = 0.0;
                for (std::size_t i = 0; i < o.size(); ++i) sum += o[i] * d_o[i];
                return sum;
            };
            auto check = [&](std::vector<double>& x, const std::vector<double>& grad, const char* name) {
                testing::expect_central_differences(loss, x, grad, 2e-7, name);
            };
            check(q, dq, "dq");
            check(k, dk, "dk");
            check(v, dv, "dv");
            if (options.sinks) check(*options.sinks, d_sinks, "dSinks");
        }
    }
}

// ---- identities and edges --------------------------------------------------------------------------

struct KernelRun {
    std::vector<float> o, lse, dq, dk, dv, d_sinks;
};

KernelRun run_kernel(const AttentionShape& s, const AttentionOptions& options, std::uint32_t seed) {
    const auto q = random_floats(s.batch * s.seq_q * s.heads * s.dim, seed, 1.5f);
    const auto k = random_floats(s.batch * s.seq_k * s.kv_heads * s.dim, seed + 1, 1.5f);
    const auto v = random_floats(s.batch * s.seq_k * s.kv_heads * s.dim_v, seed + 2);
    const auto d_o = random_floats(s.batch * s.seq_q * s.heads * s.dim_v, seed + 3);
    KernelRun r{std::vector<float>(d_o.size()), std::vector<float>(s.batch * s.heads * s.seq_q),
          std::vector<float>(q.size()), std::vector<float>(k.size()), std::vector<float>(v.size()),
          std::vector<float>(s.heads)};
    attention_forward(s, options, q.data(), k.data(), v.data(), r.o.data(), r.lse.data());
    attention_backward(s, options, q.data(), k.data(), v.data(), r.o.data(), r.lse.data(), d_o.data(), r.dq.data(),
                       r.dk.data(), r.dv.data(), {}, r.d_sinks.data());
    return r;
}

TEST(AttentionLogitEdges, SmoothSoftmaxIsSinksOfZero) {
    const AttentionShape s{2, 70, 90, 4, 2, 16, 8};
    AttentionOptions smooth, zeros;
    smooth.causal = zeros.causal = true;
    smooth.smooth_softmax = true;
    zeros.sinks = std::vector<double>(4, 0.0);
    const KernelRun a = run_kernel(s, smooth, 61), b = run_kernel(s, zeros, 61);
    EXPECT_EQ(a.o, b.o);
    EXPECT_EQ(a.lse, b.lse);
    EXPECT_EQ(a.dq, b.dq);
    EXPECT_EQ(a.dk, b.dk);
    EXPECT_EQ(a.dv, b.dv);
}

// A sink far below every score weighs e^{−1000} = 0 in float: exactly the plain softmax. The sink
// still gets its (zero) gradient.
TEST(AttentionLogitEdges, AVeryNegativeSinkIsNoSink) {
    const AttentionShape s{1, 70, 70, 2, 1, 8, 8};
    AttentionOptions plain, sunk;
    sunk.sinks = std::vector<double>{-1000.0, -1000.0};
    const KernelRun a = run_kernel(s, plain, 62), b = run_kernel(s, sunk, 62);
    EXPECT_EQ(a.o, b.o);
    EXPECT_EQ(a.lse, b.lse);
    EXPECT_EQ(a.dq, b.dq);
    EXPECT_EQ(a.dk, b.dk);
    EXPECT_EQ(a.dv, b.dv);
    EXPECT_EQ(b.d_sinks, std::vector<float>(2, 0.0f));
}

// c·tanh(x/c) → x as c → ∞.
TEST(AttentionLogitEdges, AHugeSoftcapIsNoSoftcap) {
    const AttentionShape s{1, 70, 70, 2, 1, 8, 8};
    AttentionOptions plain, capped;
    capped.softcap = 1e5;
    const KernelRun a = run_kernel(s, plain, 63), b = run_kernel(s, capped, 63);
    std::vector<double> want(a.o.begin(), a.o.end());
    EXPECT_LE(relative_error(b.o, want), 1e-5);
    want.assign(a.dq.begin(), a.dq.end());
    EXPECT_LE(relative_error(b.dq, want), 1e-4);
}

// No keys: zeros; L = z_h with a sink (its weight is 1, its gradient −D = 0), −∞ otherwise.
TEST(AttentionLogitEdges, NoKeysGiveZeros) {
    const AttentionShape s{1, 3, 0, 2, 1, 4, 4};
    const auto q = random_floats(3 * 2 * 4, 21);
    for (Variant v : kVariants) {
        SCOPED_TRACE(variant_name(v));
        const AttentionOptions options = with_variant(AttentionOptions{}, v, 2);
        std::vector<float> o(3 * 2 * 4, 7.0f), lse(6), dq(q.size(), 7.0f), d_sinks(2, 7.0f);
        attention_forward(s, options, q.data(), nullptr, nullptr, o.data(), lse.data());
        for (float x : o) EXPECT_EQ(x, 0.0f);
        for (std::size_t h = 0; h < 2; ++h)
            for (std::size_t i = 0; i < 3; ++i) {
                const float want = attention_has_sink(options) ? static_cast<float>(attention_sink(options, h))
                                                               : -std::numeric_limits<float>::infinity();
                EXPECT_EQ(lse[h * 3 + i], want);
            }
        std::vector<double> o_ref(o.size()), lse_ref(lse.size());
        attention_forward_reference(s, options, to_double(q).data(), nullptr, nullptr, o_ref.data(), lse_ref.data());
        for (std::size_t i = 0; i < lse.size(); ++i) EXPECT_EQ(lse[i], static_cast<float>(lse_ref[i]));
        attention_backward(s, options, q.data(), nullptr, nullptr, o.data(), lse.data(), o.data(), dq.data(), nullptr,
                           nullptr, {}, d_sinks.data());
        for (float x : dq) EXPECT_EQ(x, 0.0f);
        if (options.sinks) {
            EXPECT_EQ(d_sinks, std::vector<float>(2, 0.0f));
        }
    }
}

// No queries: the sinks' gradient is an empty sum.
TEST(AttentionLogitEdges, NoQueriesGiveZeroSinkGradients) {
    const AttentionShape s{1, 0, 5, 2, 1, 4, 3};
    AttentionOptions options;
    options.sinks = std::vector<double>{0.5, -0.5};
    const auto k = random_floats(5 * 4, 28), v = random_floats(5 * 3, 29);
    std::vector<float> dk(k.size(), 7.0f), dv(v.size(), 7.0f), d_sinks(2, 7.0f);
    attention_backward(s, options, nullptr, k.data(), v.data(), nullptr, nullptr, nullptr, nullptr, dk.data(),
                       dv.data(), {}, d_sinks.data());
    EXPECT_EQ(d_sinks, std::vector<float>(2, 0.0f));
}

TEST(AttentionLogitEdges, ThreadCountDoesNotChangeResults) {
    const AttentionShape s{1, 100, 130, 4, 2, 16, 8};
    for (Variant v : {Variant::sinks_softcap, Variant::l2, Variant::relu2}) {
        SCOPED_TRACE(variant_name(v));
        AttentionOptions options;
        options.causal = true;
        options.rope = AttentionRope{};
        options = with_variant(options, v, 4);
        const std::size_t saved = thread_count();
        set_thread_count(1);
        const KernelRun serial = run_kernel(s, options, 41);
        set_thread_count(max_thread_count());
        const KernelRun threaded = run_kernel(s, options, 41);
        set_thread_count(saved);
        EXPECT_EQ(serial.o, threaded.o);
        EXPECT_EQ(serial.lse, threaded.lse);
        EXPECT_EQ(serial.dq, threaded.dq);
        EXPECT_EQ(serial.dk, threaded.dk);
        EXPECT_EQ(serial.dv, threaded.dv);
        EXPECT_EQ(serial.d_sinks, threaded.d_sinks);
    }
}

}  // namespace
}  // namespace kexue
