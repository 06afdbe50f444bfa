// Following a submitted job to its end, for tests that need it finished.
#pragma once

#include "support/daemon.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

namespace pixelmill::test {

// The job a submit answered 202 with, once it succeeded with `outputs` outputs.
inline nlohmann::json succeededJob(Daemon& d, const Response& submitted, size_t outputs) {
    INFO(submitted.body);
    REQUIRE(submitted.status == 202);
    nlohmann::json job = d.waitForJob(submitted.json()["id"]);
    INFO(job.dump());
    REQUIRE(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == outputs);
    return job;
}

// Output `index` of `job`, downloaded.
inline Response downloadOutput(Daemon& d, const nlohmann::json& job, size_t index = 0) {
    Response out = d.http().get(job["outputs"][index]["url"].get<std::string>());
    REQUIRE(out.status == 200);
    return out;
}

}  // namespace pixelmill::test
