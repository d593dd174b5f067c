// The Embind boundary: one binding per core entry point, taking WASM heap addresses and sizes.
// Validation and friendly errors live in the JS facade (bindings/js/); this side only computes.
#include <cstdint>

#include <emscripten/bind.h>

#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace {

// C (m×n) = op(A) · op(B); a, b, c are byte addresses of float32 buffers in the WASM heap.
void matmul_f32(std::uintptr_t a, std::uintptr_t b, std::uintptr_t c, std::uint32_t m,
                std::uint32_t k, std::uint32_t n, bool transpose_a, bool transpose_b) {
    kexue::gemm_f32({m, k, n, transpose_a, transpose_b}, reinterpret_cast<const float*>(a),
                    reinterpret_cast<const float*>(b), reinterpret_cast<float*>(c));
}

std::uint32_t thread_count() { return static_cast<std::uint32_t>(kexue::thread_count()); }
std::uint32_t max_thread_count() { return static_cast<std::uint32_t>(kexue::max_thread_count()); }
void set_thread_count(std::uint32_t count) { kexue::set_thread_count(count); }

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_core) {
    emscripten::function("matmulF32", &matmul_f32);
    emscripten::function("threadCount", &thread_count);
    emscripten::function("maxThreadCount", &max_thread_count);
    emscripten::function("setThreadCount", &set_thread_count);
}
