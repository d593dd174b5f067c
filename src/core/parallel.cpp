#include "core/parallel.hpp"

#include <algorithm>

#ifndef KEXUE_ENABLE_THREADS
#define KEXUE_ENABLE_THREADS 1
#endif

#if KEXUE_ENABLE_THREADS
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace kexue {

#if KEXUE_ENABLE_THREADS

namespace {

// Workers sleep on a condition variable between jobs. A job is published by bumping
// `generation_`; every participant (workers and the caller) claims task indices from an atomic
// counter until none are left, so uneven tasks balance themselves.
class ThreadPool {
public:
    explicit ThreadPool(std::size_t workers) {
        for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
    }

    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (std::thread& thread : threads_) thread.join();
    }

    std::size_t workers() const { return threads_.size(); }

    // Runs the job on `helpers` workers plus the calling thread.
    void run(std::size_t tasks, const std::function<void(std::size_t)>& body, std::size_t helpers) {
        std::unique_lock<std::mutex> lock(mutex_);
        body_ = &body;
        tasks_ = tasks;
        next_task_.store(0);
        helpers_wanted_ = helpers;
        helpers_busy_ = 0;
        ++generation_;
        lock.unlock();
        // Wake only as many workers as are wanted: on a two-core machine every needless wake-up
        // is a context switch that can take the core from the caller.
        for (std::size_t i = 0; i < helpers; ++i) wake_.notify_one();

        drain();

        // Every task has been claimed. Withdraw the slots no worker has woken up for yet (so we
        // never wait on a sleepy thread) and wait only for the helpers still running a task.
        lock.lock();
        helpers_wanted_ = 0;
        done_.wait(lock, [this] { return helpers_busy_ == 0; });
        body_ = nullptr;
    }

private:
    void drain() {
        for (;;) {
            const std::size_t task = next_task_.fetch_add(1);
            if (task >= tasks_) return;
            (*body_)(task);
        }
    }

    void worker_loop() {
        std::size_t seen_generation = 0;
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] {
                return stopping_ || (generation_ != seen_generation && helpers_wanted_ > 0);
            });
            if (stopping_) return;
            seen_generation = generation_;
            --helpers_wanted_;
            ++helpers_busy_;
            lock.unlock();
            drain();
            lock.lock();
            --helpers_busy_;
            if (helpers_busy_ == 0) done_.notify_all();
        }
    }

    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const std::function<void(std::size_t)>* body_ = nullptr;
    std::size_t tasks_ = 0;
    std::atomic<std::size_t> next_task_{0};
    std::size_t helpers_wanted_ = 0;
    std::size_t helpers_busy_ = 0;
    std::size_t generation_ = 0;
    bool stopping_ = false;
};

std::size_t default_thread_count() {
    const std::size_t cores = std::thread::hardware_concurrency();
    return std::clamp<std::size_t>(cores == 0 ? 1 : cores, 1, kMaxThreads);
}

std::atomic<std::size_t> g_thread_count{0};  // 0 = not chosen yet
std::mutex g_pool_mutex;                      // one parallel job at a time
thread_local bool t_inside_parallel_for = false;

ThreadPool& pool() {
    // Created with every worker it may ever need: a WASM worker cannot start while we wait.
    static ThreadPool instance(kMaxThreads - 1);
    return instance;
}

}  // namespace

std::size_t max_thread_count() { return kMaxThreads; }

std::size_t thread_count() {
    std::size_t count = g_thread_count.load();
    if (count == 0) {
        count = default_thread_count();
        g_thread_count.store(count);
    }
    return count;
}

void set_thread_count(std::size_t count) {
    g_thread_count.store(std::clamp<std::size_t>(count, 1, kMaxThreads));
}

std::size_t parallel_threads() { return t_inside_parallel_for ? 1 : thread_count(); }

void parallel_for(std::size_t tasks, const std::function<void(std::size_t)>& body) {
    const std::size_t threads = std::min(parallel_threads(), tasks);
    if (threads <= 1) {
        for (std::size_t task = 0; task < tasks; ++task) body(task);
        return;
    }
    std::lock_guard<std::mutex> lock(g_pool_mutex);
    t_inside_parallel_for = true;
    // Workers run tasks on their own threads, where the flag is unset; mark them too so a task
    // that calls parallel_for runs its inner loop serially.
    const std::function<void(std::size_t)> marked = [&body](std::size_t task) {
        const bool was_inside = t_inside_parallel_for;
        t_inside_parallel_for = true;
        body(task);
        t_inside_parallel_for = was_inside;
    };
    pool().run(tasks, marked, threads - 1);
    t_inside_parallel_for = false;
}

#else  // !KEXUE_ENABLE_THREADS

std::size_t max_thread_count() { return 1; }
std::size_t thread_count() { return 1; }
std::size_t parallel_threads() { return 1; }
void set_thread_count(std::size_t) {}
void parallel_for(std::size_t tasks, const std::function<void(std::size_t)>& body) {
    for (std::size_t task = 0; task < tasks; ++task) body(task);
}

#endif

}  // namespace kexue
