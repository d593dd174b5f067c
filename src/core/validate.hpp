// The rules every validator shares, each written once. A rule returns an empty Error when the
// value passes. Validators chain them: `if (Error e = positive("rows", rows)) return e;`.
//
// Sizes are multiplied in 64 bits with an overflow check: the WASM heap is 32-bit (at most 2 GiB,
// -sMAXIMUM_MEMORY), so a product of legal sizes can wrap a size_t there and index out of bounds.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.hpp"

namespace kexue {

// The most bytes one call may need in total: the WASM heap's cap. Native builds use the same
// limit so that both trees refuse the same calls.
constexpr std::uint64_t kMaxHeapBytes = std::uint64_t(1) << 31;

inline Error positive(const std::string& name, std::uint64_t value) {
    if (value >= 1) return {};
    return range_error(name, "a positive integer", js_number(value));
}

inline Error at_most(const std::string& name, std::uint64_t value, std::uint64_t limit, const std::string& what) {
    if (value <= limit) return {};
    return range_error(name, "at most " + what + " = " + js_number(limit), js_number(value));
}

// value even; `why` says why it must be: "dim must be even (RoPE rotates pairs of dims), received 5".
inline Error even(const std::string& name, std::uint64_t value, const std::string& why) {
    if (value % 2 == 0) return {};
    return range_error(name, "even (" + why + ")", js_number(value));
}

inline Error finite(const std::string& name, double value) {
    if (std::isfinite(value)) return {};
    return range_error(name, "a finite number", js_number(value));
}

// value > bound (strict) and finite.
inline Error greater_than(const std::string& name, double value, double bound) {
    if (std::isfinite(value) && value > bound) return {};
    return range_error(name, "greater than " + js_number(bound), js_number(value));
}

// value ≥ bound and finite.
inline Error at_least(const std::string& name, double value, double bound) {
    if (std::isfinite(value) && value >= bound) return {};
    return range_error(name, "at least " + js_number(bound), js_number(value));
}

// The wording of the numeric hyperparameters (λ, lr, β1, ε …): "a finite number ≥ 0",
// "a finite number > 0", "a finite number in [0, 1)".
inline Error number_at_least(const std::string& name, double value, double bound) {
    if (std::isfinite(value) && value >= bound) return {};
    return range_error(name, "a finite number ≥ " + js_number(bound), js_number(value));
}

inline Error number_greater_than(const std::string& name, double value, double bound) {
    if (std::isfinite(value) && value > bound) return {};
    return range_error(name, "a finite number > " + js_number(bound), js_number(value));
}

// An option that only some settings need, missing: "eps is required (a number > 0), received
// undefined" (a TypeError, as for any absent required value).
inline Error required(std::string name, const std::string& what) {
    std::string text = name + " is required (" + what + "), received undefined";
    return Error{ErrorKind::type, std::move(name), std::move(text)};
}

// The first row of a rows×cols float32 matrix holding NaN or ±Infinity: "row 1 of x holds NaN or
// Infinity". Inputs that would poison a whole result (a covariance, a transform) are refused.
inline Error finite_rows(const std::string& name, const float* x, std::size_t rows, std::size_t cols) {
    const std::size_t count = rows * cols;
    for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(x[i])) {
            return range_error_text(name, "row " + js_number(std::uint64_t(i / cols)) + " of " + name +
                                              " holds NaN or Infinity");
        }
    }
    return {};
}

// A finite number in an interval whose ends are each open or closed, written as the interval is
// read: finite_in("beta1", b, '[', 0, 1, ')') → "beta1 must be a finite number in [0, 1), received 1";
// an unbounded end is ±INFINITY ("lr must be a finite number in [0, Infinity], received -1").
inline Error finite_in(const std::string& name, double value, char open, double lo, double hi, char close) {
    const bool above = open == '(' ? value > lo : value >= lo;
    const bool below = close == ')' ? value < hi : value <= hi;
    if (std::isfinite(value) && above && below) return {};
    return range_error(name, std::string("a finite number in ") + open + js_number(lo) + ", " + js_number(hi) + close,
                       js_number(value));
}

// The largest finite float32 (FLT_MAX): a double past it becomes Infinity in a float32 kernel.
constexpr double kFloat32Max = 3.4028234663852886e38;

// The largest learning rate an optimizer accepts. Not a mathematical bound: a step lr·g with lr
// past 1e6 overflows float32 weights (max ≈ 3.4e38) for any gradient entry above ~1e32 and, with
// Adam's normalised step of ~1, moves every weight by ~lr: beyond it the weights become ±Infinity
// and then NaN silently (issue 18). A deliberate choice, stated in the README's "Limits".
constexpr double kMaxLearningRate = 1e6;

inline Error learning_rate_at_most(const std::string& name, double value) {
    if (!(value > kMaxLearningRate)) return {};
    return range_error(name, "at most " + js_number(kMaxLearningRate) + " (larger steps overflow float32 weights)",
                       js_number(value));
}

// The product of sizes in 64 bits; UINT64_MAX when it overflows. A zero factor makes it 0 wherever
// it stands (found by tests/core/validator_fuzz_test.cpp: {2⁶⁴−1, 2⁶⁴−1, 0} used to saturate).
inline std::uint64_t checked_product(std::initializer_list<std::uint64_t> factors) {
    bool overflow = false;
    std::uint64_t product = 1;
    for (const std::uint64_t f : factors) {
        if (f == 0) return 0;
        if (overflow || product > UINT64_MAX / f) {
            overflow = true;
            continue;
        }
        product *= f;
    }
    return overflow ? UINT64_MAX : product;
}

// The sum of byte or element counts in 64 bits; UINT64_MAX when a term is UINT64_MAX (an
// overflowed product) or the sum overflows.
inline std::uint64_t saturating_sum(std::initializer_list<std::uint64_t> terms) {
    std::uint64_t sum = 0;
    for (const std::uint64_t t : terms) sum = t == UINT64_MAX || sum > UINT64_MAX - t ? UINT64_MAX : sum + t;
    return sum;
}

struct Extent {
    const char* name;
    std::uint64_t size;
};

// One buffer of the given shape must fit in the heap (elements of bytes_per_element bytes: 4 for
// floats, 8 doubles, 1 bytes):
//   "a of shape m=65536 × k=65536 needs 4294967296 floats (17179869184 bytes), more than the 2 GiB
//    WASM heap can hold"
inline Error buffer_fits(const std::string& buffer, std::initializer_list<Extent> extents,
                         std::uint64_t bytes_per_element = 4) {
    std::uint64_t count = 1;
    std::string shape;
    for (const Extent& e : extents) {
        count = checked_product({count, e.size});
        shape += (shape.empty() ? "" : " × ") + std::string(e.name) + "=" + js_number(e.size);
    }
    const std::uint64_t bytes = checked_product({count, bytes_per_element});
    if (bytes <= kMaxHeapBytes) return {};
    const std::string size = bytes_per_element == 1 ? js_number(bytes) + " bytes"
                             : js_number(count) + (bytes_per_element == 8 ? " doubles (" : " floats (") +
                                   js_number(bytes) + " bytes)";
    return range_error_text(buffer, buffer + " of shape " + shape + " needs " + size +
                                        ", more than the 2 GiB WASM heap can hold");
}

// Refuses a call whose buffers and workspaces need more than the heap can hold. `bytes` is the
// validator's 64-bit total; `what` says what it counts ("q, k, v, the output and the workspaces").
inline Error heap_budget(const std::string& name, std::uint64_t bytes, const std::string& what) {
    if (bytes <= kMaxHeapBytes) return {};
    return range_error_text(name, name + " needs " + (bytes == UINT64_MAX ? std::string("more than 2^64")
                                                                          : js_number(bytes)) +
                                      " bytes for " + what + ", more than the 2 GiB WASM heap can hold");
}

}  // namespace kexue
