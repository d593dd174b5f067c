// Options by name: the one list of every option of a call, shared by the JS boundary, the
// validators, the docs and the tests.
//
// Each options struct of the core has, next to it, a field list
//
//   template <typename Visitor> void visit_fields(AttentionOptions& o, Visitor&& field) {
//       field("scale", o.scale);          // the name the JS API uses, and the member it fills
//       field("baseLen", o.base_len);
//       ...
//   }
//
// A field's type says how it crosses: numbers, booleans, sizes, enums (by name), vectors (arrays),
// nested structs with their own field list (objects), std::optional<Nested> (an object that can be
// switched off: true | { … } | false | null), and std::variant<Enum, double> (a name or a number).
// A fourth argument names the field whose value an absent one takes:
//   field("seqK", s.seq_k, kOptional, &s.seq_q);   // seqK defaults to seqQ (visited before it)
//
// The Embind side (bindings/options.hpp) walks it to read a plain JS object into the struct (type
// checks, unknown names with a "did you mean"), and to write the resolved options back as
// `.options`; the defaults are the struct's member initialisers. Enums cross as strings through
// EnumNames<E>, the only place where an enum's names are written. A std::optional<T> field is an
// option without a default (undefined or null leaves it empty; it is written back as null), and
// std::string fields hold free text (a file format's name).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace kexue {

// What the boundary checks about a field before the validator sees it (a third, optional argument
// of the field visitor). Integers are non-negative by default.
enum FieldFlags : unsigned {
    kOptional = 0,
    kRequired = 1,  // absent (undefined) is a TypeError "… received undefined"
    kPositive = 2,  // an integer ≥ 1 ("a positive integer")
};

template <typename E>
struct EnumEntry {
    const char* name;
    E value;
};

// Specialise with `static constexpr EnumEntry<E> entries[] = {{"name", E::value}, ...};`
// next to the enum.
template <typename E>
struct EnumNames;

template <typename E>
const char* enum_name(E value) {
    for (const auto& entry : EnumNames<E>::entries) {
        if (entry.value == value) return entry.name;
    }
    return "?";
}

// false when `name` is not one of the enum's names.
template <typename E>
bool parse_enum(const std::string& name, E& out) {
    for (const auto& entry : EnumNames<E>::entries) {
        if (name == entry.name) {
            out = entry.value;
            return true;
        }
    }
    return false;
}

// "one of 'a', 'b', 'c'" for messages.
template <typename E>
std::string enum_choices() {
    std::string out = "one of ";
    bool first = true;
    for (const auto& entry : EnumNames<E>::entries) {
        if (!first) out += ", ";
        out += "'";
        out += entry.name;
        out += "'";
        first = false;
    }
    return out;
}

// "one of 'entropy', 'standard' or a finite number": a std::variant<E, double> field.
template <typename E>
std::string enum_or_number_choices() {
    return enum_choices<E>() + " or a finite number";
}

// "null, true or an object { base, layout, rotaryDim }": a std::optional<T> field, T with fields.
template <typename T>
std::string optional_object_choices();

// Levenshtein distance, for "unknown option 'casual' (did you mean 'causal'?)".
inline std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The known name closest to `name`, or "" when none is plausibly meant (distance > 1/2 length).
inline std::string nearest_name(const std::string& name, const std::vector<std::string>& known) {
    std::string best;
    std::size_t best_distance = name.size() / 2 + 1;
    for (const std::string& candidate : known) {
        const std::size_t d = edit_distance(name, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    return best;
}

// A field visitor that only collects the names (tests and "did you mean" use it).
struct FieldNames {
    std::vector<std::string> names;
    template <typename T>
    void operator()(const char* name, T&, unsigned = kOptional, const T* = nullptr) {
        names.emplace_back(name);
    }
};

template <typename T>
std::string optional_object_choices() {
    FieldNames fields;
    T example{};
    visit_fields(example, fields);
    std::string list;
    for (const std::string& name : fields.names) list += (list.empty() ? "" : ", ") + name;
    return "null, true or an object { " + list + " }";
}

}  // namespace kexue
