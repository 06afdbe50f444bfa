// A full disk: the daemon answers 507 with a JSON error, leaves no partial
// file behind, keeps serving, and takes uploads again once room is freed.
// The data folder is a small tmpfs, so the disk really fills (ENOSPC from
// the kernel, not a simulated error); mounting needs root, elsewhere the
// test says why it did not run.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <optional>

using namespace pixelmill::test;

namespace {

class SmallDisk {
public:
    SmallDisk(const std::filesystem::path& where, int megabytes) : where_(where) {
        std::filesystem::create_directories(where);
        std::string out;
        mounted_ = runCommand("mount -t tmpfs -o size=" + std::to_string(megabytes) + "m pixelmill-test '" +
                                  where.string() + "'",
                              &out) == 0;
        if (!mounted_) why_ = out;
    }
    ~SmallDisk() {
        if (mounted_) runCommand("umount -l '" + where_.string() + "'");
    }
    bool mounted() const { return mounted_; }
    const std::string& why() const { return why_; }

private:
    std::filesystem::path where_;
    bool mounted_ = false;
    std::string why_;
};

// Files in the daemon's scratch folder: partial uploads and outputs live there
// until they are complete, so after any request it must be empty.
std::vector<std::filesystem::path> scratchFiles(const std::filesystem::path& dataDir) {
    if (!std::filesystem::exists(dataDir / "tmp")) return {};
    return filesUnder(dataDir / "tmp");
}

}  // namespace

TEST_CASE("a full disk answers 507, leaves nothing half-written, and recovers when room is freed") {
    TempDir root;
    SmallDisk disk(root / "data", 12);
    if (!disk.mounted()) {
        WARN("not run: a tmpfs could not be mounted (needs root): " << disk.why());
        return;
    }
    initVips();
    TempDir files;

    DaemonOptions options;
    options.dataDir = root / "data";
    Daemon d(options);

    std::vector<std::string> stored;
    std::optional<Response> refused;
    for (int seed = 1; seed <= 40 && !refused; ++seed) {
        auto path = files / ("noise-" + std::to_string(seed) + ".png");
        makePng(path, 900, 900, false, seed);
        Response r = d.http().postFile("/v1/originals", "file", path.string());
        if (r.status == 201) {
            stored.push_back(r.json()["id"].get<std::string>());
        } else {
            refused = r;
        }
        std::filesystem::remove(path);
    }
    REQUIRE(refused.has_value());
    INFO("stored " << stored.size() << " originals before the disk filled; daemon log:\n" << d.log());
    REQUIRE(stored.size() >= 1);
    CHECK(refused->status == 507);
    CHECK(refused->json()["error"]["code"] == "insufficient_storage");
    // The message is for clients: it names no file or folder of the daemon's.
    CHECK(refused->body.find(d.dataDir().string()) == std::string::npos);
    CHECK(refused->body.find("/tmp") == std::string::npos);
    CHECK(scratchFiles(d.dataDir()).empty());

    // A job submitted while the disk is full is refused the same way and not accepted.
    auto jobsBefore = d.http().get("/v1/jobs").json()["jobs"].size();
    makePng(files / "late.png", 900, 900, false, 1000);
    Response job = d.submit((files / "late.png").string(), "thumbnail", {{"size", "64"}});
    CHECK(job.status == 507);
    CHECK(job.json()["error"]["code"] == "insufficient_storage");
    CHECK(d.http().get("/v1/jobs").json()["jobs"].size() == jobsBefore);
    CHECK(scratchFiles(d.dataDir()).empty());

    // Still serving, and everything stored before is intact.
    CHECK(d.http().get("/healthz").status == 200);
    for (const auto& id : stored) CHECK(d.http().get("/v1/originals/" + id).status == 200);

    // Room freed: the same upload goes through.
    for (size_t i = 0; i < stored.size() / 2 + 1; ++i)
        REQUIRE(d.http().del("/v1/originals/" + stored[i]).status == 204);
    Response again = d.submit((files / "late.png").string(), "thumbnail", {{"size", "64"}});
    REQUIRE(again.status == 202);
    CHECK(d.waitForJob(again.json()["id"].get<std::string>())["state"] == "succeeded");

    // And the store survives a restart on the same small disk.
    CHECK(d.terminate() == 0);
    d.start();
    CHECK(d.http().get("/v1/originals").status == 200);
    CHECK(d.http().get("/v1/jobs/" + again.json()["id"].get<std::string>()).json()["state"] == "succeeded");
}
