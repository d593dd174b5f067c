// Flooding; see flooding.hpp (docs/math.md §7.4).
#include "losses/flooding.hpp"

#include <cmath>

#include "core/validate.hpp"

namespace kexue {

Error flooding_validate(double loss, double level) {
    if (Error e = finite("loss", loss)) return e;
    return finite("level", level);
}

Flooded flooding(double loss, double level) {
    const double excess = loss - level;
    return {std::fabs(excess) + level, excess > 0 ? 1.0 : excess < 0 ? -1.0 : 0.0};
}

}  // namespace kexue
