// The one way options cross the Embind boundary: a plain JS object read by name into a core
// options struct through its field list (visit_fields, src/core/options.hpp), and the resolved
// struct written back as a JS object (`.options` of stateful objects, the WebGPU backend's input).
//
// The reader checks what only the JS side can see: the JS type of each value, holes in arrays,
// non-finite numbers, and option names that no field has ("unknown option 'casual' (did you mean
// 'causal'?)"). Everything about values (ranges, rules linking options) is the core validator's.
// Errors come back as values (kexue::Error); to_js_error turns one into { name, message,
// parameter } for the facade to throw (bindings/js/errors.js, throwIfError).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <emscripten/val.h>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue::bindings {

using emscripten::val;

// How the JS facade's describe() writes a received value: 5, "text", boolean true, Array(3),
// Float32Array(4), null, undefined, a function, Foo object.
inline std::string describe(const val& v) {
    const std::string type = v.typeOf().as<std::string>();
    if (v.isNull()) return "null";
    if (v.isUndefined()) return "undefined";
    if (type == "number") return js_number(v.as<double>());
    if (type == "string") {
        std::string s = v.as<std::string>();
        if (s.size() > 40) s = s.substr(0, 40) + "…";
        return val::global("JSON").call<std::string>("stringify", val(s));
    }
    if (type == "boolean") return std::string("boolean ") + (v.as<bool>() ? "true" : "false");
    if (type == "bigint") return "bigint " + v.call<std::string>("toString");
    if (type == "function") return "a function";
    if (val::global("Array").call<bool>("isArray", v)) {
        return "Array(" + js_number(v["length"].as<double>()) + ")";
    }
    if (val::global("ArrayBuffer").call<bool>("isView", v)) {
        return v["constructor"]["name"].as<std::string>() + "(" + js_number(v["length"].isUndefined()
            ? v["byteLength"].as<double>() : v["length"].as<double>()) + ")";
    }
    const val constructor = v["constructor"];
    if (!constructor.isUndefined() && !constructor.isNull() && constructor["name"].as<std::string>() != "") {
        return constructor["name"].as<std::string>() + " object";
    }
    return "object";
}

inline bool is_plain_object(const val& v) {
    return !v.isNull() && v.typeOf().as<std::string>() == "object" &&
           !val::global("Array").call<bool>("isArray", v) && !val::global("ArrayBuffer").call<bool>("isView", v);
}

template <typename T, typename = void>
struct has_fields : std::false_type {};
template <typename T>
struct has_fields<T, std::void_t<decltype(visit_fields(std::declval<T&>(), std::declval<FieldNames&>()))>>
    : std::true_type {};

// Reads a JS object into an options struct. Only fields present (not undefined) are written; the
// rest keep their defaults. The first error stops the reading.
class OptionsReader {
public:
    // `also_known`: names the JS facade handles itself, written in full ("backend",
    // "rope.positionsQ"); a nested reader takes those under its prefix as known.
    OptionsReader(val object, std::string prefix, std::vector<std::string> also_known = {})
        : object_(std::move(object)), prefix_(std::move(prefix)), also_known_(std::move(also_known)) {}

    Error error;

    // `same_as`: the field whose value an absent one takes (seqK defaults to seqQ); it must be
    // visited first.
    template <typename T>
    void operator()(const char* name, T& out, unsigned flags = kOptional, const T* same_as = nullptr) {
        known_.emplace_back(name);
        if (error) return;
        const val v = object_[name];
        flags_ = flags;
        if (v.isUndefined()) {
            if (flags & kRequired) error = type_error(prefix_ + name, expected_for(out), "undefined");
            else if (same_as) out = *same_as;
            return;
        }
        read(prefix_ + name, v, out);
    }

    // After visiting: refuse names no field has, naming the nearest known one.
    void check_unknown() {
        if (error) return;
        const val keys = val::global("Object").call<val>("keys", object_);
        const unsigned count = keys["length"].as<unsigned>();
        std::vector<std::string> known = known_;
        for (const std::string& name : also_known_) {
            if (name.compare(0, prefix_.size(), prefix_) != 0) continue;
            const std::string local = name.substr(prefix_.size());
            if (local.find('.') == std::string::npos) known.push_back(local);
        }
        for (unsigned i = 0; i < count; ++i) {
            const std::string key = keys[i].as<std::string>();
            if (std::find(known.begin(), known.end(), key) != known.end()) continue;
            const std::string nearest = nearest_name(key, known);
            std::string text = "unknown option '" + prefix_ + key + "'";
            if (!nearest.empty()) text += " (did you mean '" + prefix_ + nearest + "'?)";
            else text += " (known options: " + join(known) + ")";
            error = Error{ErrorKind::type, prefix_ + key, text};
            return;
        }
    }

private:
    static std::string join(const std::vector<std::string>& names) {
        std::string out;
        for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
        return out;
    }

    std::string expected_for(const double&) const { return "a finite number"; }
    std::string expected_for(const bool&) const { return "a boolean"; }
    std::string expected_for(const std::string&) const { return "a string"; }
    std::string expected_for(const std::size_t&) const { return integer_kind(); }
    std::string expected_for(const std::uint64_t&) const { return integer_kind(); }
    template <typename E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
    std::string expected_for(const E&) const { return enum_choices<E>(); }
    template <typename T>
    std::string expected_for(const std::vector<T>&) const { return "an array"; }
    template <typename T, std::enable_if_t<has_fields<T>::value, int> = 0>
    std::string expected_for(const T&) const { return "an object"; }
    template <typename E>
    std::string expected_for(const std::variant<E, double>&) const { return enum_or_number_choices<E>(); }
    template <typename T>
    std::string expected_for(const std::optional<T>&) const {
        if constexpr (has_fields<T>::value) return optional_object_choices<T>();
        else return expected_for(T{});
    }
    std::string integer_kind() const { return flags_ & kPositive ? "a positive integer" : "a non-negative integer"; }

    void read(const std::string& name, const val& v, double& out) {
        if (v.typeOf().as<std::string>() != "number") {
            error = type_error(name, "a finite number", describe(v));
            return;
        }
        const double x = v.as<double>();
        if (!std::isfinite(x)) {
            error = range_error(name, "a finite number", js_number(x));
            return;
        }
        out = x;
    }

    void read(const std::string& name, const val& v, bool& out) {
        if (v.typeOf().as<std::string>() != "boolean") {
            error = type_error(name, "a boolean", describe(v));
            return;
        }
        out = v.as<bool>();
    }

    // Counts and sizes: non-negative integers (the validator decides whether 0 is allowed).
    bool read_integer(const std::string& name, const val& v, double max, double& out) {
        if (v.typeOf().as<std::string>() != "number") {
            error = type_error(name, integer_kind(), describe(v));
            return false;
        }
        const double x = v.as<double>();
        const double min = flags_ & kPositive ? 1 : 0;
        if (!(x >= min) || x != std::floor(x) || x > max) {
            const bool too_large = std::isfinite(x) && x > max;
            error = range_error(name, integer_kind() + (too_large ? " at most " + js_number(max) : std::string()),
                                js_number(x));
            return false;
        }
        out = x;
        return true;
    }

    void read(const std::string& name, const val& v, std::size_t& out) {
        double x = 0;
        // 2^53: every integer below it is exact in a double; sizes beyond it are refused by the
        // validators' 64-bit byte counts anyway. In WASM size_t has 32 bits: a larger value would
        // wrap (2^32 + 2 read as 2), so it is refused here.
        const double max = std::min(9007199254740991.0, static_cast<double>(SIZE_MAX));
        if (read_integer(name, v, max, x)) out = static_cast<std::size_t>(x);
    }

    void read(const std::string& name, const val& v, std::uint64_t& out) {
        double x = 0;
        if (read_integer(name, v, 9007199254740991.0, x)) out = static_cast<std::uint64_t>(x);
    }

    void read(const std::string& name, const val& v, std::string& out) {
        if (v.typeOf().as<std::string>() != "string") {
            error = type_error(name, "a string", describe(v));
            return;
        }
        out = v.as<std::string>();
    }

    template <typename E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
    void read(const std::string& name, const val& v, E& out) {
        if (v.typeOf().as<std::string>() != "string") {
            error = type_error(name, enum_choices<E>(), describe(v));
            return;
        }
        if (!parse_enum(v.as<std::string>(), out)) error = range_error(name, enum_choices<E>(), describe(v));
    }

    template <typename T>
    void read(const std::string& name, const val& v, std::vector<T>& out) {
        if (!val::global("Array").call<bool>("isArray", v) && !(val::global("ArrayBuffer").call<bool>("isView", v) &&
                                                               !v["length"].isUndefined())) {
            error = type_error(name, "an array", describe(v));
            return;
        }
        const unsigned count = v["length"].as<unsigned>();
        std::vector<T> values(count);
        for (unsigned i = 0; i < count && !error; ++i) {
            // A hole in a sparse array ([2, , 1]) is refused, not read as undefined or 0.
            if (!v.call<bool>("hasOwnProperty", i)) {
                error = type_error(name + "[" + std::to_string(i) + "]", "a value (the array has a hole)", "a hole");
                return;
            }
            read(name + "[" + std::to_string(i) + "]", v[i], values[i]);  // flags_ apply to elements
        }
        if (!error) out = std::move(values);
    }

    template <typename T, std::enable_if_t<has_fields<T>::value, int> = 0>
    void read(const std::string& name, const val& v, T& out) {
        if (!is_plain_object(v)) {
            error = type_error(name, "an object", describe(v));
            return;
        }
        OptionsReader nested(v, name + ".", also_known_);
        visit_fields(out, nested);
        nested.check_unknown();
        error = nested.error;
    }

    // One of an enum's names or a finite number (attention's scale: 'entropy' | 0.125).
    template <typename E>
    void read(const std::string& name, const val& v, std::variant<E, double>& out) {
        const std::string type = v.typeOf().as<std::string>();
        if (type == "number") {
            const double x = v.as<double>();
            if (std::isfinite(x)) out = x;
            else error = range_error(name, enum_or_number_choices<E>(), js_number(x));
        } else if (type == "string") {
            E value{};
            if (parse_enum(v.as<std::string>(), value)) out = value;
            else error = range_error(name, enum_or_number_choices<E>(), describe(v));
        } else {
            error = type_error(name, enum_or_number_choices<E>(), describe(v));
        }
    }

    // An optional value: null (like undefined) leaves it empty, anything else is read as a T; an
    // optional nested object is also switched by a boolean (rope: true → the defaults,
    // { base: 500 } → those, false or null → off).
    template <typename T>
    void read(const std::string& name, const val& v, std::optional<T>& out) {
        if constexpr (has_fields<T>::value) {
            const std::string type = v.typeOf().as<std::string>();
            if (v.isNull() || (type == "boolean" && !v.as<bool>())) {
                out.reset();
            } else if (type == "boolean") {
                out = T{};
            } else if (is_plain_object(v)) {
                T value{};
                read(name, v, value);
                if (!error) out = std::move(value);
            } else {
                error = type_error(name, optional_object_choices<T>(), describe(v));
            }
        } else if (v.isNull()) {
            out.reset();
        } else {
            T value{};
            read(name, v, value);
            if (!error) out = std::move(value);
        }
    }

    val object_;
    std::string prefix_;
    std::vector<std::string> also_known_;
    std::vector<std::string> known_;
    unsigned flags_ = kOptional;
};

// Reads `object` into `options` (unknown names refused); `also_known` lists names the JS facade
// handles itself (e.g. `backend`; nested ones by their full name, `rope.positionsQ`). Returns the
// first error.
template <typename Options>
Error read_options(const val& object, Options& options, const std::vector<std::string>& also_known = {}) {
    if (object.isUndefined()) return {};
    if (!is_plain_object(object)) return type_error("options", "an object", describe(object));
    OptionsReader reader(object, "", also_known);
    visit_fields(options, reader);
    reader.check_unknown();
    return reader.error;
}

// Reads one positional argument (`sample(n)`, `new WhiteningStats(dim)`) by the rules of an option
// field of the same type and flags, so that its messages read like an option's.
template <typename T>
Error read_argument(const char* name, const val& value, T& out, unsigned flags = kOptional) {
    val object = val::object();
    if (!value.isUndefined()) object.set(name, value);
    OptionsReader reader(object, "");
    reader(name, out, flags);
    return reader.error;
}

// Writes an options struct as a JS object with the same names (enums as their strings).
class OptionsWriter {
public:
    val object = val::object();

    template <typename T>
    void operator()(const char* name, const T& value, unsigned = kOptional, const T* = nullptr) {
        object.set(name, to_js(value));
    }

private:
    static val to_js(double x) { return val(x); }
    static val to_js(bool x) { return val(x); }
    static val to_js(const std::string& x) { return val(x); }
    static val to_js(std::size_t x) { return val(static_cast<double>(x)); }
    static val to_js(std::uint64_t x) { return val(static_cast<double>(x)); }
    template <typename E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
    static val to_js(E x) { return val(std::string(enum_name(x))); }
    template <typename T>
    static val to_js(const std::vector<T>& xs) {
        val array = val::array();
        for (std::size_t i = 0; i < xs.size(); ++i) array.set(i, to_js(xs[i]));
        return array;
    }
    template <typename T, std::enable_if_t<has_fields<T>::value, int> = 0>
    static val to_js(const T& nested) {
        OptionsWriter writer;
        visit_fields(const_cast<T&>(nested), writer);  // the visitor only reads here
        return writer.object;
    }
    template <typename E>
    static val to_js(const std::variant<E, double>& x) {
        if (const double* number = std::get_if<double>(&x)) return val(*number);
        return to_js(std::get<E>(x));
    }
    // Off is written as null.
    template <typename T>
    static val to_js(const std::optional<T>& x) { return x ? to_js(*x) : val::null(); }
};

template <typename Options>
val write_options(const Options& options) {
    OptionsWriter writer;
    visit_fields(const_cast<Options&>(options), writer);
    return writer.object;
}

// undefined when there is no error, otherwise { name: 'TypeError' | 'RangeError', message,
// parameter } for bindings/js/errors.js throwIfError.
inline val to_js_error(const Error& error) {
    if (!error) return val::undefined();
    val out = val::object();
    out.set("name", std::string(error.kind == ErrorKind::type ? "TypeError" : "RangeError"));
    out.set("message", error.text);
    out.set("parameter", error.parameter);
    return out;
}

// A byte address in the WASM heap (what the facade's HeapFrame hands over) as a typed pointer.
template <typename T>
T* at(std::uintptr_t address) {
    return reinterpret_cast<T*>(address);
}

// A stateful object is built from options its `…Plan` binding accepted; anything else is a bug in
// the facade, and stopping is better than an object of the wrong shape.
inline void require_valid(const Error& error) {
    if (error) std::abort();
}

// What a `…Plan` binding returns: { error } or { options } (the resolved options).
template <typename Options>
val plan_result(const Error& error, const Options& options) {
    val out = val::object();
    if (error) out.set("error", to_js_error(error));
    else out.set("options", write_options(options));
    return out;
}

}  // namespace kexue::bindings
