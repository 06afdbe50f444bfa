#pragma once

namespace pixelmill {

class Metrics;

// libvips, once per process, on the main thread, before any worker starts:
// operation cache off (a server sees each input once), `threads` threads per
// image pipeline. Exits the process if libvips cannot start.
//
// `jobsAtOnce`: this process runs several plugin calls at the same time
// (--isolation none). libvips' run-time compiled vector code is then turned
// off: Debian 12's liborc (0.4.33) frees compiled code without taking the
// lock its allocation takes (later releases take it), and two resizes ending
// at once corrupt its code allocator and then the heap (bench/process_hop,
// 2 threads of 1,000 tiny thumbnails, crashed one run in three). A worker
// process runs one job at a time and keeps the faster vector code.
void initImageLibrary(const char* argv0, int threads, bool jobsAtOnce = false);

// What `jobsAtOnce` does, for a process whose libvips someone else started.
void allowConcurrentImageJobs();

// libvips' memory, allocations and open files in this process, as gauges.
void reportImageLibrary(Metrics& metrics);

}  // namespace pixelmill
