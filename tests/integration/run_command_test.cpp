// `pixelmill run` with `-` for standard input: the copy it reads from is a
// private temp file in $TMPDIR, made afresh, never a link someone planted, and
// gone after the run.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace pixelmill::test;
namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::vector<fs::path> entries(const fs::path& dir) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir)) found.push_back(e.path());
    return found;
}

}  // namespace

TEST_CASE("pixelmill run - reads standard input through a private temp file in TMPDIR and removes it") {
    TempDir dir;
    fs::path tmp = dir / "tmp";
    fs::create_directories(tmp);
    fs::path plugins = makePluginDir(dir / "plugins", false);
    makePng(dir / "in.png", 320, 200);
    // `sh -c '… exec pixelmill run …'`: the shell's $$ is the run's pid.
    auto run = [&](const fs::path& tmpdir, const std::string& before, std::string* out) {
        return runCommand("cd " + quoted(dir.path()) + " && TMPDIR=" + quoted(tmpdir) + " sh -c '" + before +
                              "exec \"$0\" run thumbnail - -p size=64 -o out --plugin-dir \"$1\"' " +
                              quoted(binaryPath()) + " " + quoted(plugins) + " < in.png",
                          out);
    };

    SECTION("the thumbnail is made and TMPDIR is left empty") {
        std::string out;
        REQUIRE(run(tmp, "", &out) == 0);
        INFO(out);
        auto outputs = entries(dir / "out");
        REQUIRE(outputs.size() == 1);
        CHECK(out.find("out/" + outputs[0].filename().string()) != std::string::npos);  // the path it printed
        ImageInfo info = decodeImage(readFile(outputs[0]));
        CHECK(info.width == 64);
        CHECK(info.height == 40);
        CHECK(entries(tmp).empty());
    }

    SECTION("a link planted at the predictable name pixelmill-stdin-<pid> is neither followed nor removed") {
        fs::path victim = dir / "victim";
        std::ofstream(victim) << "not yours\n";
        std::string out;
        REQUIRE(run(tmp, "ln -s " + (dir / "victim").string() + " \"$TMPDIR/pixelmill-stdin-$$\" && ", &out) == 0);
        INFO(out);
        CHECK(readFile(victim) == "not yours\n");
        auto left = entries(tmp);
        REQUIRE(left.size() == 1);
        CHECK(fs::is_symlink(left[0]));
        CHECK(entries(dir / "out").size() == 1);
    }

    SECTION("a TMPDIR that does not exist: exit 1, naming it") {
        std::string out;
        CHECK(run(dir / "missing", "", &out) == 1);
        CHECK(out.find((dir / "missing").string()) != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "out"));
    }
}
