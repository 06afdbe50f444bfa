// The installed SDK is enough to build a plugin out of tree, and the daemon
// serves that plugin when its .so is dropped into the plugin folder.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

using namespace pixelmill::test;
namespace fs = std::filesystem;

TEST_CASE("an out-of-tree plugin builds against the installed SDK and runs in the daemon") {
    TempDir tmp("pixelmill-sdk");
    fs::path prefix = tmp / "prefix";
    std::string out;

    INFO("install the SDK");
    int rc = runCommand(cmakeCommand() + " --install '" + buildDir().string() + "' --prefix '" + prefix.string() + "'", &out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(fs::exists(prefix / "include/pixelmill/plugin.h"));
    CHECK(fs::exists(prefix / "include/pixelmill/plugin.hpp"));
    CHECK(fs::exists(prefix / "lib/cmake/pixelmill/pixelmillConfig.cmake"));

    INFO("configure and build examples/plugins/grayscale as a separate project");
    fs::path build = tmp / "grayscale-build";
    rc = runCommand(cmakeCommand() + " -S '" + (sourceDir() / "examples/plugins/grayscale").string() + "' -B '" +
                        build.string() + "' -DCMAKE_PREFIX_PATH='" + prefix.string() + "' -DCMAKE_BUILD_TYPE=Release",
                    &out);
    INFO(out);
    REQUIRE(rc == 0);
    rc = runCommand(cmakeCommand() + " --build '" + build.string() + "'", &out);
    INFO(out);
    REQUIRE(rc == 0);
    REQUIRE(fs::exists(build / "grayscale.so"));

    INFO("only the plugin symbol is exported");
    rc = runCommand("nm -D --defined-only '" + (build / "grayscale.so").string() + "' | grep -c ' [TDBR] '", &out);
    CHECK(out.find("1") == 0);

    fs::path plugins = makePluginDir(tmp / "plugins", false);
    fs::copy_file(build / "grayscale.so", plugins / "grayscale.so");
    Daemon d(DaemonOptions{.pluginDir = plugins});

    auto listed = d.http().get("/v1/plugins").json();
    bool found = false;
    for (const auto& p : listed["plugins"])
        if (p["name"] == "grayscale") {
            found = true;
            CHECK(p["version"] == "1.0.0");
            CHECK(p["params"]["properties"].contains("delay_ms"));
        }
    CHECK(found);

    makeJpeg(tmp / "colour.jpg", 300, 200);
    Response r = d.submit((tmp / "colour.jpg").string(), "grayscale");
    REQUIRE(r.status == 202);
    auto job = d.waitForJob(r.json()["id"]);
    REQUIRE(job["state"] == "succeeded");
    CHECK(job["plugin_version"] == "1.0.0");
    ImageInfo info = decodeImage(d.http().get(job["outputs"][0]["url"].get<std::string>()).body);
    CHECK(info.width == 300);
    CHECK(info.height == 200);
    CHECK(info.bands == 1);
}
