// Presets against the real daemon: from the config file and from
// PUT/DELETE /v1/presets (admin), checked against the plugin's schema when
// saved and whenever used; a submission names one instead of a plugin and
// overrides its parameters; on PostgreSQL every daemon sees the same ones.
#include "support/daemon.h"
#include "support/images.h"
#include "support/postgres.h"

#include <catch2/catch.hpp>

using namespace pixelmill::test;
using nlohmann::json;

namespace {

const char* const kConfig = R"([presets.avatar]
plugin = "thumbnail"
size = 48
crop = "centre"
)";

DaemonOptions withConfig(const TempDir& dir, std::vector<std::string> more = {}) {
    writeFile(dir / "pixelmill.toml", kConfig);
    DaemonOptions options;
    options.args = {"--config", (dir / "pixelmill.toml").string()};
    options.args.insert(options.args.end(), more.begin(), more.end());
    return options;
}

Response putPreset(HttpClient& http, const std::string& name, const json& body,
                   const std::vector<std::string>& headers = {}) {
    std::vector<std::string> all = {"Content-Type: application/json"};
    all.insert(all.end(), headers.begin(), headers.end());
    return http.request("PUT", "/v1/presets/" + name, body.dump(), all);
}

json listed(HttpClient& http, const std::string& name) {
    Response r = http.get("/v1/presets");
    REQUIRE(r.status == 200);
    json body = r.json();
    for (const json& p : body["presets"])
        if (p["name"] == name) return p;
    return nullptr;
}

void requireError(const Response& r, long status, const std::string& code, const std::string& field) {
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(r.json()["error"]["code"] == code);
    CHECK(r.json()["error"]["field"] == field);
}

// What every store must do, through `d`'s API.
void presetsWork(Daemon& d, const std::string& photo) {
    HttpClient& http = d.http();
    json avatar = listed(http, "avatar");
    REQUIRE(avatar != nullptr);
    CHECK(avatar["plugin"] == "thumbnail");
    CHECK(avatar["params"] == json{{"size", 48}, {"crop", "centre"}});
    CHECK(avatar["valid"] == true);
    CHECK(avatar["why"] == nullptr);

    // Saved, then replaced; listed as given, without the plugin's defaults.
    CHECK(putPreset(http, "small", {{"plugin", "thumbnail"}, {"params", {{"size", 32}}}}).status == 201);
    Response replaced = putPreset(http, "small", {{"plugin", "thumbnail"}, {"params", {{"size", 40}}}});
    CHECK(replaced.status == 200);
    CHECK(replaced.json()["params"] == json{{"size", 40}});
    CHECK(listed(http, "small")["params"] == json{{"size", 40}});

    // Refused, naming what is wrong, and nothing stored.
    requireError(putPreset(http, "huge", {{"plugin", "thumbnail"}, {"params", {{"size", 0}}}}), 400, "invalid_param",
                 "params.size");
    CHECK(listed(http, "huge") == nullptr);
    requireError(putPreset(http, "huge", {{"plugin", "thumbnail"}, {"params", {{"colour", "red"}}}}), 400,
                 "invalid_param", "params.colour");
    requireError(putPreset(http, "huge", {{"plugin", "nope"}}), 404, "unknown_plugin", "plugin");
    requireError(putPreset(http, "-huge", {{"plugin", "thumbnail"}}), 400, "invalid_param", "name");
    CHECK(putPreset(http, "avatar", {{"plugin", "thumbnail"}}).status == 409);
    CHECK(http.del("/v1/presets/avatar").status == 409);

    // Submitted by name: the preset's plugin and parameters, those sent on top.
    json job = d.submit(photo, "", {{"preset", "small"}}).json();
    CHECK(job["plugin"] == "thumbnail");
    CHECK(job["preset"] == "small");
    CHECK(job["params"]["size"] == 40);
    json done = d.waitForJob(job["id"]);
    REQUIRE(done["state"] == "succeeded");
    CHECK(std::max(done["outputs"][0]["width"].get<int>(), done["outputs"][0]["height"].get<int>()) == 40);

    json over = d.submit(photo, "", {{"preset", "avatar"}, {"size", "20"}}).json();
    CHECK(over["params"]["size"] == 20);
    CHECK(over["params"]["crop"] == "centre");
    json fromJson = http.post("/v1/jobs",
                              json{{"preset", "small"}, {"params", {{"quality", 50}}},
                                   {"original_id", job["original"]["id"]}}.dump(),
                              "application/json")
                        .json();
    CHECK(fromJson["preset"] == "small");
    CHECK(fromJson["params"]["size"] == 40);
    CHECK(fromJson["params"]["quality"] == 50);

    requireError(d.submit(photo, "", {{"preset", "nope"}}), 404, "unknown_preset", "preset");
    requireError(d.submit(photo, "thumbnail", {{"preset", "small"}}), 400, "invalid_param", "preset");

    CHECK(http.del("/v1/presets/small").status == 204);
    CHECK(http.del("/v1/presets/small").status == 404);
    requireError(d.submit(photo, "", {{"preset", "small"}}), 404, "unknown_preset", "preset");
    // A job made from a preset keeps its name after the preset is gone.
    CHECK(http.get("/v1/jobs/" + job["id"].get<std::string>()).json()["preset"] == "small");
}

}  // namespace

TEST_CASE("presets on SQLite: config file and API, submitted by name, checked again when plugins change") {
    TempDir dir;
    makeJpeg(dir / "photo.jpg", 320, 200);
    DaemonOptions options = withConfig(dir);
    options.dataDir = dir / "data";
    std::string photo = (dir / "photo.jpg").string();
    {
        Daemon d(options);
        presetsWork(d, photo);
        CHECK(putPreset(d.http(), "tiny", {{"plugin", "thumbnail"}, {"params", {{"size", 16}}}}).status == 201);
        d.terminate();
    }

    // Without the thumbnail plugin, both presets are listed with why, and never used.
    options.pluginDir = makePluginDir(dir / "plugins");
    for (const auto& e : std::filesystem::directory_iterator(options.pluginDir))
        if (e.path().filename().string().find("thumbnail") != std::string::npos) std::filesystem::remove(e.path());
    Daemon d(options);
    for (const char* name : {"avatar", "tiny"}) {
        json p = listed(d.http(), name);
        INFO(name << ": " << p.dump());
        REQUIRE(p != nullptr);
        CHECK(p["valid"] == false);
        CHECK(p["why"].get<std::string>().find("not loaded") != std::string::npos);
        requireError(d.submit(photo, "", {{"preset", name}}), 400, "invalid_param", "preset");
    }
}

TEST_CASE("presets need admin to change and read to list") {
    TempDir dir;
    std::string reader = makeToken(dir / "tokens", "reader", "read,submit");
    std::string admin = makeToken(dir / "tokens", "ops", "admin");
    Daemon d(withConfig(dir, {"--token-file", (dir / "tokens").string()}));
    HttpClient& http = d.http();
    json body = {{"plugin", "thumbnail"}, {"params", {{"size", 64}}}};
    CHECK(putPreset(http, "small", body).status == 401);
    CHECK(putPreset(http, "small", body, {"Authorization: Bearer " + reader}).status == 403);
    CHECK(http.request("DELETE", "/v1/presets/small", "", {"Authorization: Bearer " + reader}).status == 403);
    CHECK(putPreset(http, "small", body, {"Authorization: Bearer " + admin}).status == 201);
    Response list = http.get("/v1/presets", {"Authorization: Bearer " + reader});
    CHECK(list.status == 200);
    CHECK(list.body.find("\"small\"") != std::string::npos);
}

TEST_CASE("presets on PostgreSQL: saved through one daemon, used through another") {
    if (std::string why = PostgresServer::unavailableReason(); !why.empty()) {
        WARN("SKIPPED: PostgreSQL is not available here: " << why);
        return;
    }
    TempDir dir;
    makeJpeg(dir / "photo.jpg", 320, 200);
    std::string uri = sharedPostgres().createDatabase();
    std::vector<std::string> shared = {"--store", uri, "--blob-dir", (dir / "blobs").string()};
    Daemon a(withConfig(dir, shared));
    presetsWork(a, (dir / "photo.jpg").string());

    Daemon b(withConfig(dir, shared));
    CHECK(putPreset(a.http(), "shared", {{"plugin", "thumbnail"}, {"params", {{"size", 24}}}}).status == 201);
    REQUIRE(listed(b.http(), "shared") != nullptr);
    json job = b.submit((dir / "photo.jpg").string(), "", {{"preset", "shared"}}).json();
    CHECK(job["preset"] == "shared");
    CHECK(b.waitForJob(job["id"])["state"] == "succeeded");
    CHECK(b.http().del("/v1/presets/shared").status == 204);
    CHECK(listed(a.http(), "shared") == nullptr);
}
