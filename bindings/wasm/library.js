// A JS library (--js-library) that overrides parts of Emscripten's runtime library.
//
// The threaded module runs every kernel from the calling thread and waits (pthread_join, futex
// waits) for its pool threads, which are always started up front (PTHREAD_POOL_SIZE) and never
// need the main thread to make progress. Emscripten warns on the first such wait on a browser's
// main thread ("Blocking on the main thread is very dangerous"), even in release builds; here the
// wait is the design, bounded by the kernel's own run time, so the warning is only noise.
mergeInto(LibraryManager.library, {
  emscripten_check_blocking_allowed: function () {},
});
