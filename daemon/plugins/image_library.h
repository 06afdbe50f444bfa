#pragma once

namespace pixelmill {

// libvips, once per process, on the main thread, before any worker starts:
// operation cache off (a server sees each input once), `threads` threads per
// image pipeline. Exits the process if libvips cannot start.
void initImageLibrary(const char* argv0, int threads);

}  // namespace pixelmill
