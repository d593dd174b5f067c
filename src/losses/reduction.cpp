// Row reductions and the row-block scheduler of the losses; see reduction.hpp.
#include "losses/reduction.hpp"

#include <algorithm>
#include <cstdint>

#include "core/parallel.hpp"

namespace kexue {

double reduce_rows(Reduction reduction, const double* row_losses, std::size_t rows) {
    double sum = 0;
    for (std::size_t r = 0; r < rows; ++r) sum += row_losses[r];
    return reduction == Reduction::sum ? sum : sum / static_cast<double>(rows);
}

void for_row_blocks(std::size_t rows, std::size_t cols, const std::function<void(std::size_t, std::size_t)>& body) {
    // Below ~32k elements a fork-join costs more than the rows.
    constexpr std::uint64_t kMinParallelElements = std::uint64_t(1) << 15;
    const std::size_t threads = thread_count();
    if (threads <= 1 || rows < 2 || std::uint64_t(rows) * cols < kMinParallelElements) {
        body(0, rows);
        return;
    }
    const std::size_t tasks = std::min(rows, threads * 4);
    parallel_for(tasks, [&](std::size_t t) { body(rows * t / tasks, rows * (t + 1) / tasks); });
}

}  // namespace kexue
