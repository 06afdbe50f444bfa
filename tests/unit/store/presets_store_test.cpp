// Presets in every JobStore, SQLite and PostgreSQL alike: saved as given,
// replaced under the same name, listed by name, deleted, kept across a
// reopen and seen by another daemon on the same data; jobs keep the preset
// they were submitted with.
#include "store_fixture.h"

#include "common/clock.h"

#include <catch2/catch.hpp>

using namespace pixelmill;
using namespace pixelmill::test;

namespace {

Preset preset(const std::string& name, const std::string& plugin, nlohmann::json params, int64_t at) {
    return Preset{name, plugin, std::move(params), at, false};
}

}  // namespace

TEMPLATE_TEST_CASE("presets: saved, replaced, listed by name and deleted", "[store][presets]", SqliteStore,
                   PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    CHECK(s.listPresets().empty());
    CHECK_FALSE(s.getPreset("avatar"));

    CHECK(s.savePreset(preset("avatar", "thumbnail", {{"size", 128}, {"crop", "centre"}}, t)));
    CHECK(s.savePreset(preset("banner", "resize", {{"width", 1200}}, t)));
    // The same name again replaces it: not new.
    CHECK_FALSE(s.savePreset(preset("avatar", "thumbnail", {{"size", 64}}, t + 1)));

    auto avatar = s.getPreset("avatar");
    REQUIRE(avatar);
    CHECK(avatar->plugin == "thumbnail");
    CHECK(avatar->params == nlohmann::json{{"size", 64}});
    CHECK(avatar->updatedAt == t + 1);

    auto all = s.listPresets();
    REQUIRE(all.size() == 2);
    CHECK(all[0].name == "avatar");
    CHECK(all[1].name == "banner");
    CHECK(all[1].params == nlohmann::json{{"width", 1200}});

    CHECK(s.deletePreset("avatar"));
    CHECK_FALSE(s.deletePreset("avatar"));
    CHECK_FALSE(s.getPreset("avatar"));
    CHECK(s.listPresets().size() == 1);
}

TEMPLATE_TEST_CASE("presets: kept across a reopen and seen by another daemon on the same data", "[store][presets]",
                   SqliteStore, PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    f.store().savePreset(preset("page", "pdf2png", {{"dpi", 150}, {"pages", "1-3"}}, nowMs()));
    f.reopen();
    auto kept = f.store().getPreset("page");
    REQUIRE(kept);
    CHECK(kept->params == nlohmann::json{{"dpi", 150}, {"pages", "1-3"}});
    if constexpr (std::is_same_v<TestType, PostgresStore>) {
        auto other = f.open("node-b");
        REQUIRE(other->getPreset("page"));
        other->deletePreset("page");
        CHECK_FALSE(f.store().getPreset("page"));
    }
}

TEMPLATE_TEST_CASE("presets: a job keeps the preset it was submitted with", "[store][presets]", SqliteStore,
                   PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    JobStore& s = f.store();
    int64_t t = nowMs();
    NewJob named = makeJob("with-preset", t);
    named.preset = "avatar";
    auto a = s.submit(makeOriginal("a", t), named);
    auto b = s.submit(makeOriginal("b", t), makeJob("without", t));
    CHECK(a.job.preset == "avatar");
    CHECK(s.getJob(a.job.id)->preset == "avatar");
    CHECK(s.getJob(b.job.id)->preset.empty());
}
