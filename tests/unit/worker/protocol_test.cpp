// The daemon ↔ worker messages: every message survives the wire (JSON text
// on a real socket pair) unchanged, and anything else — an unknown type, a
// missing field, a field of the wrong type or out of range — is refused as a
// ProtocolError instead of turning into a default value.
#include "worker/channel.h"
#include "worker/protocol.h"

#include <catch2/catch.hpp>

#include <limits>

using namespace pixelmill;
using namespace pixelmill::worker;
using namespace pixelmill::worker::protocol;
using json = nlohmann::json;

namespace {

// Through text, as the channel carries it.
json wire(const json& m) { return json::parse(m.dump()); }

}  // namespace

TEST_CASE("worker protocol: every daemon-to-worker message survives the wire", "[worker][protocol]") {
    Run run{"job-1", "thumbnail", "1.2.0", {{"size", "256"}, {"fit", "cover"}, {"", ""}}, "/blobs/ab/cd", "image/jpeg"};
    auto back = decodeToWorker(wire(encode(ToWorker{run})));
    REQUIRE(std::holds_alternative<Run>(back));
    const Run& r = std::get<Run>(back);
    CHECK(r.job == run.job);
    CHECK(r.plugin == run.plugin);
    CHECK(r.version == run.version);
    CHECK(r.params == run.params);
    CHECK(r.input == run.input);
    CHECK(r.mediaType == run.mediaType);

    auto probe = std::get<Probe>(decodeToWorker(wire(encode(ToWorker{Probe{"pdf2png", "1.0.0", "/in", "application/pdf"}}))));
    CHECK(probe.plugin == "pdf2png");
    CHECK(probe.version == "1.0.0");
    CHECK(probe.input == "/in");
    CHECK(probe.mediaType == "application/pdf");

    CHECK(std::holds_alternative<Stop>(decodeToWorker(wire(encode(ToWorker{Stop{}})))));
    auto ack = std::get<Ack>(decodeToWorker(wire(encode(ToWorker{Ack{std::numeric_limits<uint64_t>::max(), true}}))));
    CHECK(ack.seq == std::numeric_limits<uint64_t>::max());
    CHECK(ack.ok);
}

TEST_CASE("worker protocol: every worker-to-daemon message survives the wire", "[worker][protocol]") {
    CHECK(std::get<Ready>(decodeFromWorker(wire(encode(FromWorker{Ready{4242}})))).pid == 4242);

    protocol::Output out{7, 3, "page-3.png", "image/png", std::string(64, 'a'), 1ull << 40, true, -1, 1080};
    auto o = std::get<protocol::Output>(decodeFromWorker(wire(encode(FromWorker{out}))));
    CHECK(o.seq == 7);
    CHECK(o.index == 3);
    CHECK(o.name == out.name);
    CHECK(o.mediaType == out.mediaType);
    CHECK(o.sha256 == out.sha256);
    CHECK(o.size == out.size);
    CHECK(o.created);
    CHECK(o.width == -1);
    CHECK(o.height == 1080);

    auto p = std::get<Progress>(decodeFromWorker(wire(encode(FromWorker{Progress{5, 50}}))));
    CHECK((p.done == 5 && p.total == 50));
    auto l = std::get<Log>(decodeFromWorker(wire(encode(FromWorker{Log{3, "tile cache full"}}))));
    CHECK((l.level == 3 && l.message == "tile cache full"));

    for (auto status : {ExecResult::Status::Ok, ExecResult::Status::InvalidParam, ExecResult::Status::Unprocessable,
                        ExecResult::Status::Unsupported, ExecResult::Status::Canceled, ExecResult::Status::Transient,
                        ExecResult::Status::Internal, ExecResult::Status::Crashed, ExecResult::Status::Unavailable}) {
        auto d = std::get<Done>(decodeFromWorker(wire(encode(FromWorker{Done{status, "why", 0.25}}))));
        CHECK(d.status == status);
        CHECK(d.message == "why");
        CHECK(d.seconds == 0.25);
    }

    auto read = std::get<Probed>(decodeFromWorker(wire(encode(FromWorker{Probed{1920, 1080, std::nullopt, "", false}}))));
    CHECK(read.width == 1920);
    CHECK(read.height == 1080);
    CHECK(!read.pages);
    CHECK(read.error.empty());
    auto refused = std::get<Probed>(decodeFromWorker(
        wire(encode(FromWorker{Probed{std::nullopt, std::nullopt, std::nullopt, "the file cannot be read as image/png: bad", true}}))));
    CHECK(refused.unreadable);
    CHECK(refused.error == "the file cannot be read as image/png: bad");
    auto failed = std::get<Probed>(decodeFromWorker(
        wire(encode(FromWorker{Probed{std::nullopt, std::nullopt, std::nullopt, "plugin not loaded in the worker", false}}))));
    CHECK(!failed.unreadable);
}

TEST_CASE("worker protocol: anything but these messages is refused", "[worker][protocol]") {
    auto refusedBoth = [](const json& m) {
        CHECK_THROWS_AS(decodeToWorker(m), ProtocolError);
        CHECK_THROWS_AS(decodeFromWorker(m), ProtocolError);
    };
    refusedBoth(json::array({1, 2}));
    refusedBoth(json("run"));
    refusedBoth(json::object());
    refusedBoth({{"type", 7}});
    refusedBoth({{"type", "launch"}});

    // Each direction knows only its own messages.
    CHECK_THROWS_AS(decodeFromWorker(encode(ToWorker{Stop{}})), ProtocolError);
    CHECK_THROWS_AS(decodeToWorker(encode(FromWorker{Ready{1}})), ProtocolError);

    json run = encode(ToWorker{Run{"j", "p", "1", {{"a", "b"}}, "/in", "image/png"}});
    for (const char* name : {"job", "plugin", "version", "input", "media_type", "params"}) {
        json m = run;
        m.erase(name);
        INFO("without " << name);
        CHECK_THROWS_AS(decodeToWorker(m), ProtocolError);
    }
    json badParams = run;
    badParams["params"] = json::array({json::array({"a"})});
    CHECK_THROWS_AS(decodeToWorker(badParams), ProtocolError);
    badParams["params"] = json::array({json::array({"a", 1})});
    CHECK_THROWS_AS(decodeToWorker(badParams), ProtocolError);
    json wrongType = run;
    wrongType["job"] = 12;
    CHECK_THROWS_AS(decodeToWorker(wrongType), ProtocolError);

    json output = encode(FromWorker{protocol::Output{1, 0, "o", "image/png", "h", 10, false, 5, 5}});
    json negative = output;
    negative["size"] = -1;
    CHECK_THROWS_AS(decodeFromWorker(negative), ProtocolError);
    json tooBig = output;
    tooBig["index"] = uint64_t{1} << 33;
    CHECK_THROWS_AS(decodeFromWorker(tooBig), ProtocolError);
    json text = output;
    text["created"] = "yes";
    CHECK_THROWS_AS(decodeFromWorker(text), ProtocolError);

    CHECK_THROWS_AS(decodeFromWorker({{"type", "done"}, {"status", "exploded"}, {"message", ""}, {"seconds", 0}}),
                    ProtocolError);
    CHECK_THROWS_AS(decodeFromWorker({{"type", "probed"}, {"error", "x"}}), ProtocolError);  // unreadable missing
    CHECK_THROWS_AS(decodeFromWorker({{"type", "probed"}, {"error", ""}, {"unreadable", false}}), ProtocolError);
}

TEST_CASE("worker protocol: typed messages over a real channel", "[worker][protocol]") {
    auto [daemonEnd, workerEnd] = socketPair();
    Channel daemon(daemonEnd), worker(workerEnd);
    REQUIRE(send(daemon, ToWorker{Probe{"thumbnail", "1.0.0", "/in", "image/jpeg"}}));
    auto got = receiveToWorker(worker, std::chrono::milliseconds(1000));
    REQUIRE(got);
    CHECK(std::get<Probe>(*got).plugin == "thumbnail");

    REQUIRE(send(worker, FromWorker{Probed{64, 48, std::nullopt, "", false}}));
    auto answer = receiveFromWorker(daemon, std::chrono::milliseconds(1000));
    REQUIRE(answer);
    CHECK(std::get<Probed>(*answer).width == 64);

    CHECK(!receiveFromWorker(daemon, std::chrono::milliseconds(20)));  // nothing sent: a timeout, not an error
    // Something no worker sends is an error at the receiving end.
    REQUIRE(worker.send({{"type", "probed"}, {"width", "wide"}}));
    CHECK_THROWS_AS(receiveFromWorker(daemon, std::chrono::milliseconds(1000)), ProtocolError);
}
