// The process-wide thread count for tests that set it.
#pragma once

#include <cstddef>

#include "core/parallel.hpp"

namespace kexue::testing {

// Restores the thread count when a test ends.
class ThreadCountGuard {
public:
    ThreadCountGuard() : saved_(thread_count()) {}
    ~ThreadCountGuard() { set_thread_count(saved_); }
    ThreadCountGuard(const ThreadCountGuard&) = delete;
    ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

private:
    std::size_t saved_;
};

}  // namespace kexue::testing
