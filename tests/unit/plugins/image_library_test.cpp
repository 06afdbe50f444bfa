// libvips set up for a process that runs several plugin calls at once
// (--isolation none): two threads resizing together must not corrupt the
// heap. With libvips' vector code on, Debian 12's liborc frees each resize's
// compiled code without its lock, and this loop aborts within a second
// ("malloc_consolidate(): unaligned fastbin chunk detected").
#include "plugins/image_library.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <vips/vips8>
// After vips8, which it needs.
#include <vips/vector.h>

#include <thread>
#include <vector>

TEST_CASE("with jobs at once, two threads building and dropping resizes keep the heap whole") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    pixelmill::test::initVips();
    pixelmill::allowConcurrentImageJobs();
    CHECK_FALSE(vips_vector_isenabled());
    std::vector<std::thread> threads;
    std::vector<int> heights(2, 0);
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([t, &heights] {
            for (int i = 0; i < 3000; ++i) {
                vips::VImage image =
                    vips::VImage::black(64, 64, vips::VImage::option()->set("bands", 3)).cast(VIPS_FORMAT_UCHAR);
                // A new factor each time: each resize compiles (and then frees) its own kernel.
                heights[static_cast<size_t>(t)] += image.reducev(2.0 + (i % 5) * 0.3).height();
            }
        });
    for (auto& t : threads) t.join();
    vips_vector_set_enabled(TRUE);  // as the rest of this process expects it
    // Both threads made the same 3,000 resizes.
    CHECK(heights[0] == heights[1]);
    CHECK(heights[0] > 0);
}
