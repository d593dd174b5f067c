// Assertions shared by the validator tests (tests/*/…validate…_test.cpp, options_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue::testing {

// The validator returned an error of this kind, naming this parameter, with exactly this text.
inline void expect_error(const Error& e, ErrorKind kind, const std::string& parameter, const std::string& text) {
    ASSERT_TRUE(e) << "expected: " << text;
    EXPECT_EQ(e.kind, kind) << text;
    EXPECT_EQ(e.parameter, parameter);
    EXPECT_EQ(e.text, text);
}

// The JS names of an options struct's fields, in the order of its field list.
template <typename Options>
std::vector<std::string> field_names(Options o) {
    FieldNames names;
    visit_fields(o, names);
    return names.names;
}

}  // namespace kexue::testing
