// The shared validation rules (src/core/validate.hpp, error.hpp, options.hpp) and gemm_validate.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/options.hpp"
#include "core/validate.hpp"

namespace kexue {
namespace {

TEST(JsNumber, WritesNumbersAsJavaScriptsStringDoes) {
    EXPECT_EQ(js_number(0.0), "0");
    EXPECT_EQ(js_number(-3.0), "-3");
    EXPECT_EQ(js_number(2.5), "2.5");
    EXPECT_EQ(js_number(0.1), "0.1");
    EXPECT_EQ(js_number(1e-6), "0.000001");
    EXPECT_EQ(js_number(1e-7), "1e-7");
    EXPECT_EQ(js_number(1.5e-10), "1.5e-10");
    EXPECT_EQ(js_number(4294967296.0), "4294967296");
    EXPECT_EQ(js_number(1e21), "1e+21");
    EXPECT_EQ(js_number(1.0 / 3.0), "0.3333333333333333");
    EXPECT_EQ(js_number(std::numeric_limits<double>::infinity()), "Infinity");
    EXPECT_EQ(js_number(-std::numeric_limits<double>::infinity()), "-Infinity");
    EXPECT_EQ(js_number(std::nan("")), "NaN");
    EXPECT_EQ(js_number(std::uint64_t{17179869184}), "17179869184");
}

TEST(NearestName, SuggestsTheClosestKnownName) {
    const std::vector<std::string> known = {"causal", "scale", "baseLen", "nMin"};
    EXPECT_EQ(nearest_name("casual", known), "causal");
    EXPECT_EQ(nearest_name("baselen", known), "baseLen");
    EXPECT_EQ(nearest_name("threads", known), "");
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Rules, EachReturnsAnErrorNamingTheParameterOrNothing) {
    EXPECT_FALSE(positive("rows", 1));
    const Error e = positive("rows", 0);
    ASSERT_TRUE(e);
    EXPECT_EQ(e.kind, ErrorKind::range);
    EXPECT_EQ(e.parameter, "rows");
    EXPECT_EQ(e.text, "rows must be a positive integer, received 0");
    EXPECT_EQ(greater_than("baseLen", 1, 1).text, "baseLen must be greater than 1, received 1");
    EXPECT_FALSE(greater_than("baseLen", 1.5, 1));
    EXPECT_EQ(at_least("nMin", 0.5, 1).text, "nMin must be at least 1, received 0.5");
    EXPECT_TRUE(at_least("nMin", std::nan(""), 1));
    EXPECT_EQ(finite_in("beta1", 1, '[', 0, 1, ')').text, "beta1 must be a finite number in [0, 1), received 1");
    EXPECT_EQ(finite_in("lr", -1, '[', 0, INFINITY, ']').text, "lr must be a finite number in [0, Infinity], received -1");
    EXPECT_EQ(finite("lr", std::numeric_limits<double>::infinity()).text, "lr must be a finite number, received Infinity");
    EXPECT_EQ(at_most("rank", 5, 4, "min(rows, cols)").text, "rank must be at most min(rows, cols) = 4, received 5");
}

TEST(Rules, SizesAreMultipliedIn64BitsWithOverflowDetection) {
    EXPECT_EQ(checked_product({65536, 65536}), std::uint64_t{1} << 32);
    EXPECT_EQ(checked_product({std::uint64_t{1} << 40, std::uint64_t{1} << 30}), UINT64_MAX);
    EXPECT_EQ(checked_product({UINT64_MAX, UINT64_MAX, 0}), 0u);  // a zero factor anywhere gives 0
    EXPECT_FALSE(buffer_fits("x", {{"rows", 1024}, {"dim", 1024}}));
    const Error big = buffer_fits("a", {{"m", 65536}, {"k", 65536}});
    ASSERT_TRUE(big);
    EXPECT_EQ(big.text, "a of shape m=65536 × k=65536 needs 4294967296 floats (17179869184 bytes), more than the 2 GiB "
                        "WASM heap can hold");
    EXPECT_TRUE(buffer_fits("w", {{"n", std::uint64_t{1} << 40}, {"m", std::uint64_t{1} << 40}}));
}

TEST(GemmValidate, RefusesEmptyAndOversizedShapes) {
    EXPECT_FALSE(gemm_validate({2, 3, 4}));
    EXPECT_EQ(gemm_validate({0, 3, 4}).parameter, "m");
    EXPECT_EQ(gemm_validate({2, 0, 4}).parameter, "k");
    EXPECT_EQ(gemm_validate({2, 3, 0}).parameter, "n");
    EXPECT_EQ(gemm_validate({65536, 65536, 2}).parameter, "a");
    EXPECT_EQ(gemm_validate({2, 65536, 65536, false, true}).parameter, "b");
    EXPECT_EQ(gemm_validate({40000, 1, 40000}).parameter, "the result");
}

enum class Color { red, green };
}  // namespace

template <>
struct EnumNames<Color> {
    static constexpr EnumEntry<Color> entries[] = {{"red", Color::red}, {"green", Color::green}};
};

namespace {
TEST(EnumNames, MapNamesBothWaysOnce) {
    Color c = Color::red;
    EXPECT_TRUE(parse_enum("green", c));
    EXPECT_EQ(c, Color::green);
    EXPECT_FALSE(parse_enum("blue", c));
    EXPECT_STREQ(enum_name(Color::red), "red");
    EXPECT_EQ(enum_choices<Color>(), "one of 'red', 'green'");
}

TEST(FieldNames, ListsEveryOptionOfACall) {
    GemmShape shape;
    FieldNames names;
    visit_fields(shape, names);
    EXPECT_EQ(names.names, (std::vector<std::string>{"m", "k", "n", "transposeA", "transposeB"}));
}

}  // namespace
}  // namespace kexue
