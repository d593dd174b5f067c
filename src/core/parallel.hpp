// A small fork-join thread pool for the kernels.
//
// parallel_for(tasks, body) calls body(0) … body(tasks − 1), spread over the pool's threads plus
// the calling thread, and returns when all are done. Tasks start in increasing index order (each
// thread claims the lowest index not yet claimed), so a task may wait for a lower-numbered one to
// finish: that one is already running on another thread (the GEMM's shared packing relies on it).
// The pool is process-wide, created on first use, and sized by set_thread_count (default: the
// machine's cores, at most kMaxThreads).
//
// Builds without threads (KEXUE_ENABLE_THREADS=0, the single-threaded WASM module) run every
// task on the calling thread. Nested calls (a task that calls parallel_for) run serially rather
// than deadlock.
#pragma once

#include <cstddef>
#include <functional>

namespace kexue {

// The most threads the pool will use. The multithreaded WASM module preallocates this many − 1
// Web Workers (PTHREAD_POOL_SIZE), since a worker cannot be started while the main thread waits.
constexpr std::size_t kMaxThreads = 4;

// Threads parallel_for uses, the caller included (1 = serial).
std::size_t thread_count();

// Threads a parallel_for called here would use: thread_count(), or 1 inside a parallel_for task
// (nested calls run serially), so that a kernel can choose its serial form.
std::size_t parallel_threads();

// Sets the thread count, clamped to [1, max_thread_count()].
void set_thread_count(std::size_t count);

// kMaxThreads when threads are compiled in, otherwise 1.
std::size_t max_thread_count();

void parallel_for(std::size_t tasks, const std::function<void(std::size_t)>& body);

}  // namespace kexue
