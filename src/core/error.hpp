// Validation errors as values. The WASM modules are built without C++ exceptions, so a rule that
// throws would abort the whole instance; instead every entry point has a validator that returns an
// Error, the binding returns it to the JS facade, and the facade throws the matching TypeError or
// RangeError as "<function>: <text>". Native code and tests call the same validators directly.
//
// Message format (the one the JS API has always used):
//   "<parameter> must be <expected>, received <received>"
// e.g. "heads must be a multiple of kvHeads = 2 (grouped-query attention), received heads = 3".
// `parameter` is the name the caller wrote (camelCase, dotted for nested options: "rope.base").
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace kexue {

enum class ErrorKind { none, type, range };

struct Error {
    ErrorKind kind = ErrorKind::none;
    std::string parameter;  // which argument or option is at fault
    std::string text;       // the whole message, starting with the parameter

    explicit operator bool() const { return kind != ErrorKind::none; }
};

// "<parameter> must be <expected>, received <received>" as a RangeError (right type, wrong value).
inline Error range_error(std::string parameter, const std::string& expected, const std::string& received) {
    std::string text = parameter + " must be " + expected + ", received " + received;
    return Error{ErrorKind::range, std::move(parameter), std::move(text)};
}

// The same as a TypeError (a value of the wrong kind).
inline Error type_error(std::string parameter, const std::string& expected, const std::string& received) {
    std::string text = parameter + " must be " + expected + ", received " + received;
    return Error{ErrorKind::type, std::move(parameter), std::move(text)};
}

// A RangeError whose text does not follow the "must be" form (a rule linking two parameters).
inline Error range_error_text(std::string parameter, std::string text) {
    return Error{ErrorKind::range, std::move(parameter), std::move(text)};
}

// A number as JavaScript's String(x) writes it (1, 0.5, 1e-7, 1e+21, Infinity, NaN), so that
// messages built here read exactly like the ones the JS facade builds.
inline std::string js_number(double x) {
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
    if (x == 0) return "0";
    char buffer[40];
    if (std::fabs(x) < 1e21 && x == std::floor(x)) {
        std::snprintf(buffer, sizeof buffer, "%.0f", x);
        return buffer;
    }
    // The shortest %g form that reads back as x, then JS's exponent style (e-7, e+21).
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buffer, sizeof buffer, "%.*g", precision, x);
        if (std::strtod(buffer, nullptr) == x) break;
    }
    std::string s = buffer;
    const std::size_t e = s.find('e');
    if (e == std::string::npos) return s;
    std::string mantissa = s.substr(0, e);
    const char sign = s[e + 1];
    std::size_t digits = e + 2;
    while (digits + 1 < s.size() && s[digits] == '0') ++digits;
    const double exponent = std::strtod(s.c_str() + digits, nullptr);
    // JS switches to exponent form only below 1e-6 and at 1e21 and above; %g does so sooner.
    if (sign == '-' && exponent <= 6) {
        std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(exponent) + 16, x);
        std::string fixed = buffer;
        while (!fixed.empty() && fixed.back() == '0') fixed.pop_back();
        if (std::strtod(fixed.c_str(), nullptr) == x) return fixed;
    }
    if (sign == '+' && exponent < 21) {
        std::snprintf(buffer, sizeof buffer, "%.0f", x);
        return buffer;
    }
    return mantissa + "e" + (sign == '-' ? "-" : "+") + s.substr(digits);
}

inline std::string js_number(std::uint64_t x) { return std::to_string(x); }

}  // namespace kexue
