// Shapes: op(A) m×k, op(B) k×n, C m×n, all row-major (see gemm.hpp).
//
// The GotoBLAS/BLIS loop nest: C is computed in blocks of kBlockM rows × kBlockN columns over
// depth slices of kBlockK. For each slice, op(B) is packed into column panels kTileCols wide and
// op(A) into row panels kTileRows tall, both laid out so the micro-kernel reads them strictly
// sequentially. The micro-kernel (core/microkernel_4x2v_f32.hpp, shared with the fused attention)
// keeps a kTileRows × kTileCols tile of C in registers (4 rows × 2 vectors; why that tile, there).
//
// Block sizes: a B micro-panel (kBlockK × kTileCols floats = 8 KiB with 128-bit vectors) stays in
// L1 while the A block (kBlockM × kBlockK = 64 KiB) is reused from L2.
//
// Threads (gemm_f32_parallel): many small tasks over one shared packed op(B) rather than one strip
// of C per thread, because on the machines this runs on a thread often starts late or loses its
// core for a while, and a strip per thread makes the whole product wait for the slowest one.
#include "core/gemm.hpp"
#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/microkernel_4x2v_f32.hpp"
#include "core/simd.hpp"
#include "core/validate.hpp"

namespace kexue {
namespace {

using simd::AlignedFloats;
using simd::kVecWidth;
using simd::Vec;

constexpr std::size_t kTileRows = simd::kMicroRows;
constexpr std::size_t kTileVecs = 2;
constexpr std::size_t kTileCols = kTileVecs * kVecWidth;
constexpr std::size_t kBlockK = 256;
constexpr std::size_t kBlockM = 16 * kTileRows;
constexpr std::size_t kBlockN = 1024 / kTileCols * kTileCols;
static_assert(kBlockN % kTileCols == 0, "column block must hold whole tiles");

// One GEMM with its leading dimensions (row strides): op(A)(i, p) = transpose_a ? a[p·lda + i] :
// a[i·lda + p], op(B)(p, j) = transpose_b ? b[j·ldb + p] : b[p·ldb + j], C(i, j) = c[i·ldc + j].
struct GemmProblem {
    std::size_t m, k, n;
    bool transpose_a, transpose_b;
    const float* a;
    std::size_t lda;
    const float* b;
    std::size_t ldb;
    float* c;
    std::size_t ldc;
    bool accumulate;
};

// Below this many multiply-adds (160³) a product runs on one thread: waking the pool and the
// shared packing cost more than the second thread brings (at 128³ two threads measured 0.7–0.9×
// one thread's speed with `npm run bench -- matmul`).
constexpr std::size_t kParallelMinMacs = std::size_t{1} << 22;
// The threaded product's shared packed op(B): at most this many floats (4 MiB) at a time, wider
// products going in chunks of columns, and depths past 2¹⁷ in chunks of depth too. All of op(B)
// for 1024³; bounded because a failed allocation inside a kernel ends the WASM instance.
constexpr std::size_t kSharedPackFloats = std::size_t{1} << 20;
// Tasks per thread the threaded product aims at (see gemm_f32_parallel).
constexpr std::size_t kTasksPerThread = 4;

std::size_t ceil_div(std::size_t value, std::size_t divisor) { return (value + divisor - 1) / divisor; }

std::size_t round_up(std::size_t value, std::size_t multiple) { return ceil_div(value, multiple) * multiple; }

// Packs op(A)[row0 : row0+rows, depth0 : depth0+depth] into panels of kTileRows rows:
// packed[(panel·depth + p)·kTileRows + r] = op(A)(row0 + panel·kTileRows + r, depth0 + p),
// zero-padded past `rows` so the micro-kernel never branches on the edge.
void pack_a_panels(const GemmProblem& problem, std::size_t row0, std::size_t rows,
                   std::size_t depth0, std::size_t depth, float* packed) {
    const float* a = problem.a;
    const std::size_t lda = problem.lda;
    for (std::size_t panel_row = 0; panel_row < rows; panel_row += kTileRows) {
        const std::size_t live_rows = std::min(kTileRows, rows - panel_row);
        float* out = packed + panel_row * depth;
        for (std::size_t p = 0; p < depth; ++p) {
            for (std::size_t r = 0; r < kTileRows; ++r) {
                float value = 0.0f;
                if (r < live_rows) {
                    const std::size_t i = row0 + panel_row + r;
                    const std::size_t kk = depth0 + p;
                    value = problem.transpose_a ? a[kk * lda + i] : a[i * lda + kk];
                }
                out[p * kTileRows + r] = value;
            }
        }
    }
}

// Packs op(B)[depth0 : depth0+depth, col0 : col0+cols] into panels of kTileCols columns:
// packed[(panel·depth + p)·kTileCols + c] = op(B)(depth0 + p, col0 + panel·kTileCols + c),
// zero-padded past `cols`.
void pack_b_panels(const GemmProblem& problem, std::size_t depth0, std::size_t depth,
                   std::size_t col0, std::size_t cols, float* packed) {
    const float* b = problem.b;
    const std::size_t ldb = problem.ldb;
    for (std::size_t panel_col = 0; panel_col < cols; panel_col += kTileCols) {
        const std::size_t live_cols = std::min(kTileCols, cols - panel_col);
        float* out = packed + panel_col * depth;
        if (!problem.transpose_b) {
            for (std::size_t p = 0; p < depth; ++p) {
                const float* src = b + (depth0 + p) * ldb + col0 + panel_col;
                float* dst = out + p * kTileCols;
                std::memcpy(dst, src, live_cols * sizeof(float));
                std::fill(dst + live_cols, dst + kTileCols, 0.0f);
            }
        } else {
            // B is stored n×k: column j of op(B) is row j of B, contiguous in depth.
            for (std::size_t c = 0; c < kTileCols; ++c) {
                if (c < live_cols) {
                    const float* src = b + (col0 + panel_col + c) * ldb + depth0;
                    for (std::size_t p = 0; p < depth; ++p) out[p * kTileCols + c] = src[p];
                } else {
                    for (std::size_t p = 0; p < depth; ++p) out[p * kTileCols + c] = 0.0f;
                }
            }
        }
    }
}

}  // namespace

std::size_t gemm_tile_rows() { return kTileRows; }
std::size_t gemm_tile_cols() { return kTileCols; }

namespace {

// The macro-kernel: C[row0 : row0+rows, col0+tile_col0 : col0+tile_col1] (+)= the packed A block
// (rows × depth, panels of kTileRows rows) · the packed B panels from tile_col0 on (depth ×
// kTileCols each, `b_panels` pointing at panel 0 of the chunk starting at col0). `cols` is the
// chunk's width, so that the last panel's tiles are cut at the edge of C.
void multiply_block(const GemmProblem& problem, const float* packed_a, std::size_t rows, const float* b_panels,
                    std::size_t depth, std::size_t row0, std::size_t col0, std::size_t tile_col0,
                    std::size_t tile_col1, std::size_t cols, bool add_to_c) {
    for (std::size_t tile_col = tile_col0; tile_col < tile_col1; tile_col += kTileCols) {
        const float* b_panel = b_panels + tile_col * depth;
        for (std::size_t tile_row = 0; tile_row < rows; tile_row += kTileRows) {
            // A panel: depth × kTileRows (strides 1 and kTileRows); B panel: depth × kTileCols.
            simd::microkernel_4x2v_f32(depth, packed_a + tile_row * depth, 1, kTileRows, b_panel, kTileCols,
                                       problem.c + (row0 + tile_row) * problem.ldc + col0 + tile_col, problem.ldc,
                                       std::min(kTileRows, rows - tile_row), std::min(kTileCols, cols - tile_col),
                                       add_to_c);
        }
    }
}

void gemm_f32_serial(const GemmProblem& problem) {
    const std::size_t m = problem.m, k = problem.k, n = problem.n;
    const std::size_t block_k = std::min(k, kBlockK);
    const std::size_t block_m = std::min(round_up(m, kTileRows), kBlockM);
    const std::size_t block_n = std::min(round_up(n, kTileCols), kBlockN);
    AlignedFloats packed_a(block_m * block_k);
    AlignedFloats packed_b(block_k * block_n);

    for (std::size_t col0 = 0; col0 < n; col0 += kBlockN) {
        const std::size_t cols = std::min(kBlockN, n - col0);
        for (std::size_t depth0 = 0; depth0 < k; depth0 += kBlockK) {
            const std::size_t depth = std::min(kBlockK, k - depth0);
            pack_b_panels(problem, depth0, depth, col0, cols, packed_b.data());
            for (std::size_t row0 = 0; row0 < m; row0 += kBlockM) {
                const std::size_t rows = std::min(kBlockM, m - row0);
                pack_a_panels(problem, row0, rows, depth0, depth, packed_a.data());
                multiply_block(problem, packed_a.data(), rows, packed_b.data(), depth, row0, col0, 0, cols, cols,
                               problem.accumulate || depth0 > 0);
            }
        }
    }
}

// The threaded product. C is cut into many more tasks than threads (row blocks × column groups)
// that the threads claim one at a time, so that a thread which starts late (a worker still waking
// up, or a core the host gives to something else for a moment: two-core machines and browsers do
// both) delays the product by its lateness and not by a whole strip of C. The tasks share one
// packed copy of op(B) per chunk of columns: the first `pack_tasks` tasks write it (a depth slice ×
// a group of panels each), and the compute tasks wait until the last of those has finished.
// parallel_for hands task indices out in increasing order, so every pack task has been claimed by
// a running thread before any compute task starts waiting, and the wait is short. Each compute task
// packs its own A block for each depth slice.
//
//   packed_b, for the chunk of depths [depth_begin, depth_end) × columns [col0, col0 + cols) split
//   into `panels` panels: the depth slice at depth0 (a multiple of kBlockK) at offset
//   (depth0 − depth_begin)·panels·kTileCols, laid out as pack_b_panels writes it.
void gemm_f32_parallel(const GemmProblem& whole, std::size_t threads) {
    const std::size_t m = whole.m, k = whole.k, n = whole.n;
    // The shared buffer holds a chunk of chunk_depth × chunk_cols: all of k where one panel of it
    // fits, and as many columns as fit beside it.
    const std::size_t chunk_depth = std::min(k, kSharedPackFloats / kTileCols / kBlockK * kBlockK);
    const std::size_t chunk_cols =
        std::min(round_up(n, kTileCols), kSharedPackFloats / chunk_depth / kTileCols * kTileCols);
    const std::size_t row_blocks = ceil_div(m, kBlockM);
    AlignedFloats packed_b(chunk_depth * chunk_cols);

    for (std::size_t depth_begin = 0; depth_begin < k; depth_begin += chunk_depth) {
        const std::size_t depth_end = std::min(k, depth_begin + chunk_depth);
        const std::size_t slices = ceil_div(depth_end - depth_begin, kBlockK);
        for (std::size_t col0 = 0; col0 < n; col0 += chunk_cols) {
            const std::size_t cols = std::min(chunk_cols, n - col0);
            const std::size_t panels = ceil_div(cols, kTileCols);
            // kTasksPerThread tasks per thread at least where C allows: whole row blocks, and the
            // columns cut into groups of whole panels when the rows alone give too few.
            const std::size_t wanted_groups = std::min(panels, ceil_div(kTasksPerThread * threads, row_blocks));
            const std::size_t group_panels = ceil_div(panels, wanted_groups);
            const std::size_t groups = ceil_div(panels, group_panels);
            const std::size_t pack_panels = ceil_div(panels, threads);
            const std::size_t pack_groups = ceil_div(panels, pack_panels);
            const std::size_t pack_tasks = slices * pack_groups;
            // The panels of the depth slice starting at depth0.
            const auto slice_panels = [&](std::size_t depth0) {
                return packed_b.data() + (depth0 - depth_begin) * panels * kTileCols;
            };
            std::atomic<std::size_t> packed{0};

            parallel_for(pack_tasks + row_blocks * groups, [&](std::size_t task) {
                if (task < pack_tasks) {
                    const std::size_t depth0 = depth_begin + task / pack_groups * kBlockK;
                    const std::size_t depth = std::min(kBlockK, depth_end - depth0);
                    const std::size_t panel_col = task % pack_groups * pack_panels * kTileCols;
                    pack_b_panels(whole, depth0, depth, col0 + panel_col,
                                  std::min(pack_panels * kTileCols, cols - panel_col),
                                  slice_panels(depth0) + panel_col * depth);
                    packed.fetch_add(1, std::memory_order_release);
                    return;
                }
                const std::size_t index = task - pack_tasks;
                const std::size_t row0 = index / groups * kBlockM, rows = std::min(kBlockM, m - row0);
                const std::size_t tile_col0 = index % groups * group_panels * kTileCols;
                const std::size_t tile_col1 = std::min(cols, tile_col0 + group_panels * kTileCols);
                while (packed.load(std::memory_order_acquire) < pack_tasks) {
                }
                AlignedFloats packed_a(std::min(round_up(rows, kTileRows), kBlockM) * std::min(k, kBlockK));
                for (std::size_t depth0 = depth_begin; depth0 < depth_end; depth0 += kBlockK) {
                    const std::size_t depth = std::min(kBlockK, depth_end - depth0);
                    pack_a_panels(whole, row0, rows, depth0, depth, packed_a.data());
                    multiply_block(whole, packed_a.data(), rows, slice_panels(depth0), depth, row0, col0, tile_col0,
                                   tile_col1, cols, whole.accumulate || depth0 > 0);
                }
            });
        }
    }
}

}  // namespace

Error gemm_validate(const GemmShape& shape) {
    if (Error e = positive("m", shape.m)) return e;
    if (Error e = positive("k", shape.k)) return e;
    if (Error e = positive("n", shape.n)) return e;
    const Extent m{"m", shape.m}, k{"k", shape.k}, n{"n", shape.n};
    if (Error e = shape.transpose_a ? buffer_fits("a", {k, m}) : buffer_fits("a", {m, k})) return e;
    if (Error e = shape.transpose_b ? buffer_fits("b", {n, k}) : buffer_fits("b", {k, n})) return e;
    return buffer_fits("the result", {m, n});
}

void gemm_f32(const GemmShape& shape, const float* a, const float* b, float* c, bool accumulate) {
    const std::size_t m = shape.m, k = shape.k, n = shape.n;
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate) std::fill(c, c + m * n, 0.0f);
        return;
    }
    const GemmProblem whole{m, k, n, shape.transpose_a, shape.transpose_b,
                            a, shape.transpose_a ? m : k,
                            b, shape.transpose_b ? k : n,
                            c, n, accumulate};
    const std::size_t threads = parallel_threads();
    if (threads <= 1 || m * n * k < kParallelMinMacs) {
        gemm_f32_serial(whole);
        return;
    }
    gemm_f32_parallel(whole, threads);
}

void gemm_f32_reference(const GemmShape& shape, const float* a, const float* b, float* c,
                        bool accumulate) {
    for (std::size_t i = 0; i < shape.m; ++i) {
        for (std::size_t j = 0; j < shape.n; ++j) {
            double sum = accumulate ? c[i * shape.n + j] : 0.0;
            for (std::size_t p = 0; p < shape.k; ++p) {
                const float a_ip = shape.transpose_a ? a[p * shape.m + i] : a[i * shape.k + p];
                const float b_pj = shape.transpose_b ? b[j * shape.k + p] : b[p * shape.n + j];
                sum += static_cast<double>(a_ip) * b_pj;
            }
            c[i * shape.n + j] = static_cast<float>(sum);
        }
    }
}

}  // namespace kexue
