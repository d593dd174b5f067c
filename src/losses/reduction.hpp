// What the batched losses return: the mean over rows (the default, as a training loop wants), the
// sum (to accumulate a large batch chunk by chunk and divide once), or every row's loss. The
// gradient is always the gradient of what is returned: scaled by 1/rows for 'mean', per row for
// 'none'.
#pragma once

#include <cstddef>
#include <functional>

#include "core/options.hpp"

namespace kexue {

enum class Reduction { mean, sum, none };

template <>
struct EnumNames<Reduction> {
    static constexpr EnumEntry<Reduction> entries[] = {
        {"mean", Reduction::mean}, {"sum", Reduction::sum}, {"none", Reduction::none}};
};

// The factor the gradient of one row's loss is multiplied by.
inline double reduction_scale(Reduction reduction, std::size_t rows) {
    return reduction == Reduction::mean ? 1.0 / static_cast<double>(rows) : 1.0;
}

// The reduced loss of per-row losses (summed in row order, so threads do not change the result);
// for 'none' the mean, which callers may ignore.
double reduce_rows(Reduction reduction, const double* row_losses, std::size_t rows);

// Runs body(begin, end) over [0, rows) in blocks of whole rows: on the thread pool when the call
// is large enough to pay for it, on the calling thread otherwise.
void for_row_blocks(std::size_t rows, std::size_t cols, const std::function<void(std::size_t, std::size_t)>& body);

}  // namespace kexue
