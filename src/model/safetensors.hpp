// The safetensors file format (huggingface/safetensors, docs "format"): an unsigned 64-bit
// little-endian header length N, N bytes of JSON
//   { "__metadata__": { "key": "string", … },
//     "name": { "dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end] }, … }
// (offsets relative to the byte after the header), then the raw little-endian tensor data. Python
// reads it with `safetensors.numpy.load(bytes)` or twenty lines of `json` + `numpy.frombuffer`.
//
// The reader checks everything about the container before anything uses it: the header length
// against the file size, the JSON (a minimal parser of the subset the format uses: objects, arrays,
// strings, integers), each entry's dtype, shape and offsets (within the data, sized exactly
// product(shape)·4 bytes, not overlapping, covering the data), and the metadata values being
// strings. What the tensors must be (names, shapes, finite values) is the caller's rule
// (transformer.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace kexue::model {

struct SafetensorsTensor {
    std::string name;
    std::vector<std::uint64_t> shape;
    const float* data = nullptr;  // product(shape) floats
};

using SafetensorsMetadata = std::vector<std::pair<std::string, std::string>>;

// The file: header padded with spaces to a multiple of 8 bytes (as the reference writer does), the
// tensors in the order given.
std::vector<std::uint8_t> safetensors_write(const SafetensorsMetadata& metadata,
                                            const std::vector<SafetensorsTensor>& tensors);

struct SafetensorsEntry {
    std::string name;
    std::string dtype;
    std::vector<std::uint64_t> shape;
    std::uint64_t begin = 0, end = 0;  // byte offsets into the data
};

struct SafetensorsFile {
    SafetensorsMetadata metadata;
    std::vector<SafetensorsEntry> tensors;  // in header order
    const std::uint8_t* data = nullptr;     // points into the parsed bytes
    std::uint64_t data_size = 0;
};

// The first problem with the container, as an Error on parameter `bytes`.
Error safetensors_parse(const std::uint8_t* bytes, std::size_t size, SafetensorsFile& out);

// A JSON string literal of `s` (quotes and escapes).
std::string json_quote(const std::string& s);

}  // namespace kexue::model
