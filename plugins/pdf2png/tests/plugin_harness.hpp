// pdf2png.so through its C ABI with the SDK's recording fake host
// (pixelmill/testing.hpp): no daemon, no HTTP, so the plugin's own behaviour
// (order, progress, parallel tasks, stop checks, limits) is asserted directly.
#pragma once

#include "support/daemon.h"
#include "support/images.h"

#include <pixelmill/testing.hpp>

namespace pixelmill::pdf2png::test {

using pixelmill::testing::RecordedOutput;
using pixelmill::testing::Result;

// The plugin table, loaded once per test process and never unloaded.
inline const pm_plugin& plugin() {
    static const pm_plugin& table = [&]() -> const pm_plugin& {
        pixelmill::test::initVips();  // libvips belongs to the host: started before any plugin call
        return pixelmill::testing::loadPlugin((pixelmill::test::pluginBuildDir() / "pdf2png.so").string());
    }();
    return table;
}

// One job's host side, for PDF sources.
class FakeHost : public pixelmill::testing::FakeHost {
public:
    FakeHost() : pixelmill::testing::FakeHost(plugin(), "application/pdf") {}
};

}  // namespace pixelmill::pdf2png::test
