// Non-owning, row-major views over float buffers.
//
// The library never owns the memory it computes on: JavaScript allocates in the WASM heap, native
// tests allocate std::vectors, and every kernel takes raw pointers plus sizes. These helpers give
// kernels and tests a shaped, bounds-aware view of such a buffer without copying, through
// xtensor's `adapt` (so xtensor's algorithms and printing work on it) and a small 2-D accessor
// for hot loops that must not pay for xtensor's expression machinery.
#pragma once

#include <array>
#include <cstddef>

#include <xtensor/xadapt.hpp>

namespace kexue {

// A rows×cols row-major matrix stored at `data` (element (i, j) at data[i*cols + j]).
template <class T>
struct MatrixView {
    T* data;
    std::size_t rows;
    std::size_t cols;

    T& operator()(std::size_t i, std::size_t j) const { return data[i * cols + j]; }
    T* row(std::size_t i) const { return data + i * cols; }
    std::size_t size() const { return rows * cols; }
};

template <class T>
MatrixView<T> matrix_view(T* data, std::size_t rows, std::size_t cols) {
    return MatrixView<T>{data, rows, cols};
}

// An xtensor view (no copy, no ownership) over a row-major buffer with the given shape.
template <class T, std::size_t N>
auto adapt_row_major(T* data, const std::array<std::size_t, N>& shape) {
    std::size_t count = 1;
    for (std::size_t extent : shape) count *= extent;
    return xt::adapt(data, count, xt::no_ownership(), shape);
}

}  // namespace kexue
