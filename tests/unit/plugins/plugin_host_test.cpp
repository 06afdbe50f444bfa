// PluginHost over real fixture libraries: the good ones load, each broken
// one is refused with a reason that says what is wrong, and refusals do not
// stop the others.
#include "plugins/plugin_host.h"

#include "common/log.h"
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace pixelmill {
namespace {

using test::TempDir;

const std::vector<std::string> kGood{"fixture_flaky.so", "fixture_noop.so", "fixture_slow.so"};
const std::vector<std::string> kBad{"fixture_bad_abi.so", "fixture_no_symbol.so", "fixture_bad_schema.so",
                                    "fixture_dup_slow.so"};

void linkFixtures(const fs::path& folder, const fs::path& from, const std::vector<std::string>& names) {
    log::init(log::Level::Error);  // the refusals are asserted here, not read in the test log
    for (const std::string& name : names) {
        REQUIRE(fs::exists(from / name));
        fs::create_symlink(from / name, folder / name);
    }
}

std::vector<std::string> names(const std::vector<std::shared_ptr<const PluginDescriptor>>& list) {
    std::vector<std::string> out;
    for (const auto& p : list) out.push_back(p->name);
    return out;
}

// The reason `file` (a file name in the folder) was refused; fails if it was not.
std::string reasonFor(const PluginHost& host, const std::string& file) {
    for (const RefusedPlugin& r : host.refused())
        if (fs::path(r.file).filename() == file) return r.reason;
    FAIL("no refusal recorded for " << file);
    return {};
}

}  // namespace

TEST_CASE("plugin host: good fixtures load and can be found", "[plugins]") {
    TempDir dir("pixelmill-plugins");
    linkFixtures(dir.path(), test::fixturePluginDir(), kGood);
    PluginHost host(dir.path(), PluginLimits{});
    const PluginCatalog& catalog = host;  // find(name) with the newest version is the catalog's

    CHECK(host.scan() == 3);
    CHECK(host.refused().empty());
    CHECK(names(host.list()) == std::vector<std::string>{"flaky", "noop", "slow"});

    auto slow = catalog.find("slow");
    REQUIRE(slow);
    CHECK(slow->name == "slow");
    CHECK(slow->version == "1.0.0");
    CHECK_FALSE(slow->description.empty());
    CHECK(fs::path(slow->file).filename() == "fixture_slow.so");
    CHECK(slow->acceptsType("text/plain"));
    CHECK_FALSE(slow->acceptsType("application/pdf"));
    bool hasMs = std::any_of(slow->params.properties().begin(), slow->params.properties().end(),
                             [](const auto& p) { return p.name == "ms"; });
    CHECK(hasMs);

    CHECK(host.find("slow", "1.0.0") == slow);
    CHECK_FALSE(host.find("slow", "2.0.0"));
    CHECK_FALSE(catalog.find("nonexistent"));
    CHECK(host.abi("slow", "1.0.0"));
    CHECK_FALSE(host.abi("slow", "9.9.9"));

    // Scanning again loads nothing twice and refuses nothing.
    CHECK(host.scan() == 0);
    CHECK(host.list().size() == 3);
    CHECK(host.refused().empty());
}

TEST_CASE("plugin host: broken libraries are refused, each with its reason", "[plugins]") {
    TempDir dir("pixelmill-plugins");
    linkFixtures(dir.path(), test::fixturePluginDir(), kGood);
    PluginHost host(dir.path(), PluginLimits{});
    REQUIRE(host.scan() == 3);

    // Then the broken ones arrive in the folder.
    linkFixtures(dir.path(), test::badFixturePluginDir(), kBad);
    CHECK(host.scan() == 0);
    CHECK(host.refused().size() == 4);

    std::string abi = reasonFor(host, "fixture_bad_abi.so");
    CHECK_THAT(abi, Catch::Contains("ABI version") && Catch::Contains("999"));

    std::string noSymbol = reasonFor(host, "fixture_no_symbol.so");
    CHECK_THAT(noSymbol, Catch::Contains("pixelmill_plugin_v1"));

    std::string schema = reasonFor(host, "fixture_bad_schema.so");
    CHECK_THAT(schema, Catch::Contains("schema"));

    std::string dup = reasonFor(host, "fixture_dup_slow.so");
    CHECK_THAT(dup, Catch::Contains("duplicate"));
    CHECK_THAT(dup, Catch::Contains("slow") && Catch::Contains("1.0.0"));
    CHECK_THAT(dup, Catch::Contains((dir.path() / "fixture_slow.so").string()));

    // The refusals do not disturb what was loaded.
    CHECK(names(host.list()) == std::vector<std::string>{"flaky", "noop", "slow"});
    CHECK(fs::path(host.find("slow", {})->file).filename() == "fixture_slow.so");
    CHECK_FALSE(host.find("bad_abi", {}));
    CHECK_FALSE(host.find("bad_schema", {}));

    // A refused file is not tried again on the next scan.
    CHECK(host.scan() == 0);
    CHECK(host.refused().size() == 4);
}

TEST_CASE("plugin host: one scan of a mixed folder loads the good and refuses the rest", "[plugins]") {
    TempDir dir("pixelmill-plugins");
    linkFixtures(dir.path(), test::fixturePluginDir(), kGood);
    linkFixtures(dir.path(), test::badFixturePluginDir(), kBad);
    test::writeFile(dir / "README.txt", "not a library");
    test::writeFile(dir / "garbage.so", "this is not an ELF file");
    PluginHost host(dir.path(), PluginLimits{});

    CHECK(host.scan() == 3);
    CHECK(names(host.list()) == std::vector<std::string>{"flaky", "noop", "slow"});

    auto refused = host.refused();
    CHECK(refused.size() == 5);
    CHECK_THAT(reasonFor(host, "fixture_bad_abi.so"), Catch::Contains("999"));
    CHECK_THAT(reasonFor(host, "fixture_no_symbol.so"), Catch::Contains("pixelmill_plugin_v1"));
    CHECK_FALSE(reasonFor(host, "fixture_bad_schema.so").empty());
    CHECK_FALSE(reasonFor(host, "garbage.so").empty());

    // slow and dup_slow are the same plugin: whichever came first is loaded,
    // the other is refused naming it.
    std::string loadedFrom = fs::path(host.find("slow", {})->file).filename().string();
    REQUIRE((loadedFrom == "fixture_slow.so" || loadedFrom == "fixture_dup_slow.so"));
    std::string other = loadedFrom == "fixture_slow.so" ? "fixture_dup_slow.so" : "fixture_slow.so";
    std::string dup = reasonFor(host, other);
    CHECK_THAT(dup, Catch::Contains("duplicate"));
    CHECK_THAT(dup, Catch::Contains(loadedFrom));
}

TEST_CASE("plugin host: a file loaded with load() is not loaded again by scan()", "[plugins]") {
    TempDir dir("pixelmill-plugins");
    linkFixtures(dir.path(), test::fixturePluginDir(), kGood);
    PluginHost host(dir.path(), PluginLimits{});

    CHECK(host.load(dir / "fixture_slow.so"));
    CHECK(host.list().size() == 1);
    CHECK(host.scan() == 2);  // flaky and noop; slow is already there
    CHECK(names(host.list()) == std::vector<std::string>{"flaky", "noop", "slow"});
    std::string refusals;
    for (const auto& r : host.refused()) refusals += r.file + ": " + r.reason + "\n";
    INFO(refusals);
    CHECK(host.refused().empty());  // not "a duplicate of itself"
}

TEST_CASE("plugin host: a missing folder loads nothing and throws nothing", "[plugins]") {
    log::init(log::Level::Error);
    TempDir dir("pixelmill-plugins");
    PluginHost host(dir / "does-not-exist", PluginLimits{});
    CHECK(host.scan() == 0);
    CHECK(host.list().empty());
    CHECK_FALSE(host.find("slow", {}));
}

TEST_CASE("plugin host: compareVersions orders dotted versions numerically", "[plugins]") {
    CHECK(compareVersions("1.10.0", "1.9.3") > 0);
    CHECK(compareVersions("1.9.3", "1.10.0") < 0);
    CHECK(compareVersions("1.0.0", "1.0.0") == 0);
    CHECK(compareVersions("1.0", "1.0.0") == 0);
    CHECK(compareVersions("1.2", "1.2.1") < 0);
    CHECK(compareVersions("2.0.0", "10.0.0") < 0);
    CHECK(compareVersions("0.0.10", "0.0.9") > 0);
    CHECK(compareVersions("1.2.3-beta", "1.2.3") == 0);  // pre-release tails are ignored
    CHECK(compareVersions("", "0") == 0);
    CHECK(compareVersions("", "0.0.1") < 0);
}

TEST_CASE("plugin host: a refused library leaves no staged copy, the accepted list names only accepted ones",
          "[plugins]") {
    TempDir dir("pixelmill-plugins");
    fs::path folder = dir / "plugins";
    fs::create_directories(folder);
    linkFixtures(folder, test::fixturePluginDir(), kGood);
    linkFixtures(folder, test::badFixturePluginDir(), {"fixture_bad_abi.so", "fixture_no_symbol.so"});
    test::writeFile(folder / "garbage.so", "this is not an ELF file");
    std::string noop = test::readFile(test::fixturePluginDir() / "fixture_noop.so");
    test::writeFile(folder / "truncated.so", noop.substr(0, 2000));  // cut inside its first page
    test::writeFile(folder / "checked-out.so", noop + "x");  // refused by the load check below
    // The check stands in for the daemon's check in a child process: mapping a
    // truncated library in this process could end it with SIGBUS.
    PluginHost host(folder, PluginLimits{},
                    {.staging = dir / "staged", .check = [](const fs::path& library) {
                         std::string bytes = test::readFile(library);
                         bool bad = bytes.size() < 4096 || bytes.back() == 'x';
                         return bad ? std::string("crashed while loading (test); not loaded") : std::string();
                     }});

    CHECK(host.scan() == 3);
    CHECK(host.refused().size() == 5);

    // Only the accepted libraries' copies stay, and the list names exactly them.
    std::vector<std::string> staged;
    for (const auto& e : fs::directory_iterator(dir / "staged"))
        if (e.path().extension() == ".so") staged.push_back(e.path().filename().string());
    std::sort(staged.begin(), staged.end());
    CHECK(staged.size() == 3);
    REQUIRE(fs::exists(host.acceptedList()));
    std::vector<std::string> listed;
    std::ifstream list(host.acceptedList());
    for (std::string line; std::getline(list, line);) listed.push_back(line);
    std::sort(listed.begin(), listed.end());
    CHECK(listed == staged);

    // A host given that list (a worker process) loads exactly those, even with more in the folder.
    test::writeFile(dir / "staged" / "stray.so", noop);  // say, left there by an older daemon
    PluginHost worker(dir / "staged", PluginLimits{}, {.libraryList = host.acceptedList()});
    CHECK(worker.scan() == 3);
    CHECK(names(worker.list()) == std::vector<std::string>{"flaky", "noop", "slow"});
    CHECK(worker.refused().empty());
}

}  // namespace pixelmill
