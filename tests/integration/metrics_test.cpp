// GET /metrics against the real daemon: counters and histograms move by
// exactly what the jobs did, routes are templates, promtool finds nothing to
// say about the exposition, and a real Prometheus scrapes it and answers
// queries over it.
#include "support/daemon.h"
#include "support/prometheus.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// ---- The text exposition format 0.0.4, parsed strictly enough to catch a
// ---- malformed line, a sample without a TYPE, or a value that is no number.

using Labels = std::map<std::string, std::string>;

struct Sample {
    std::string name;
    Labels labels;
    double value = 0;
};

struct Exposition {
    std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|summary|untyped
    std::vector<Sample> samples;

    // The sample with exactly these labels; 0 when absent (a counter that has
    // not been incremented yet has no series).
    double value(const std::string& name, const Labels& labels = {}) const {
        for (const Sample& s : samples)
            if (s.name == name && s.labels == labels) return s.value;
        return 0;
    }
    // The sum over every sample of `name` whose labels include `match`.
    double sum(const std::string& name, const Labels& match = {}) const {
        double total = 0;
        for (const Sample& s : samples) {
            if (s.name != name) continue;
            bool all = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
                auto it = s.labels.find(kv.first);
                return it != s.labels.end() && it->second == kv.second;
            });
            if (all) total += s.value;
        }
        return total;
    }
    std::set<std::string> labelValues(const std::string& name, const std::string& label) const {
        std::set<std::string> out;
        for (const Sample& s : samples)
            if (s.name == name && s.labels.count(label)) out.insert(s.labels.at(label));
        return out;
    }
};

double parseValue(const std::string& text) {
    if (text == "+Inf" || text == "Inf") return INFINITY;
    if (text == "-Inf") return -INFINITY;
    if (text == "NaN") return NAN;
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size()) throw std::runtime_error("not a number: " + text);
    return v;
}

// The family a sample belongs to: histograms expose name_bucket, name_sum and name_count.
std::string familyOf(const std::string& sample, const std::map<std::string, std::string>& types) {
    if (types.count(sample)) return sample;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string s(suffix);
        if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
            std::string base = sample.substr(0, sample.size() - s.size());
            auto it = types.find(base);
            if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
        }
    }
    return "";
}

Exposition parseExposition(const std::string& text) {
    static const std::regex nameRe("[a-zA-Z_:][a-zA-Z0-9_:]*");
    Exposition e;
    std::istringstream in(text);
    int lineNo = 0;
    for (std::string line; std::getline(in, line);) {
        ++lineNo;
        auto fail = [&](const std::string& why) {
            throw std::runtime_error("line " + std::to_string(lineNo) + ": " + why + ": " + line);
        };
        if (line.empty()) continue;
        if (line[0] == '#') {
            std::istringstream words(line.substr(1));
            std::string keyword, name, type;
            words >> keyword >> name;
            if (keyword == "TYPE") {
                words >> type;
                static const std::set<std::string> known{"counter", "gauge", "histogram", "summary", "untyped"};
                if (!known.count(type)) fail("unknown type");
                if (e.types.count(name)) fail("second TYPE line");
                e.types[name] = type;
            }
            continue;
        }
        Sample s;
        size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        s.name = line.substr(0, i);
        if (!std::regex_match(s.name, nameRe)) fail("bad metric name");
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                size_t eq = line.find('=', i);
                if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') fail("bad label");
                std::string label = line.substr(i, eq - i);
                if (!std::regex_match(label, nameRe)) fail("bad label name");
                std::string value;
                size_t j = eq + 2;
                for (; j < line.size() && line[j] != '"'; ++j) {
                    if (line[j] == '\\' && j + 1 < line.size()) {
                        char c = line[++j];
                        value += c == 'n' ? '\n' : c;
                    } else {
                        value += line[j];
                    }
                }
                if (j >= line.size()) fail("unterminated label value");
                if (s.labels.count(label)) fail("label twice");
                s.labels[label] = value;
                i = j + 1;
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (i >= line.size()) fail("unterminated label set");
            ++i;
        }
        if (i >= line.size() || line[i] != ' ') fail("no value");
        std::istringstream rest(line.substr(i + 1));
        std::string value, timestamp, extra;
        rest >> value >> timestamp >> extra;
        if (!extra.empty()) fail("trailing text");
        try {
            s.value = parseValue(value);
        } catch (const std::exception&) {
            fail("bad value");
        }
        if (familyOf(s.name, e.types).empty()) fail("sample without a TYPE line");
        e.samples.push_back(std::move(s));
    }
    return e;
}

// Histogram invariants: buckets cumulative and ascending, +Inf equal to _count.
void checkHistograms(const Exposition& e) {
    for (const auto& [family, type] : e.types) {
        if (type != "histogram") continue;
        std::map<Labels, std::vector<std::pair<double, double>>> buckets;  // series -> (le, count)
        for (const Sample& s : e.samples) {
            if (s.name != family + "_bucket") continue;
            Labels series = s.labels;
            REQUIRE(series.count("le"));
            double le = parseValue(series.at("le"));
            series.erase("le");
            buckets[series].emplace_back(le, s.value);
        }
        for (auto& [series, bs] : buckets) {
            INFO(family);
            std::sort(bs.begin(), bs.end());
            for (size_t i = 1; i < bs.size(); ++i) CHECK(bs[i].second >= bs[i - 1].second);
            REQUIRE(std::isinf(bs.back().first));
            CHECK(bs.back().second == e.value(family + "_count", series));
            // 1 ms to 5 min, as ARCHITECTURE.md asks.
            CHECK(bs.front().first <= 0.001);
            CHECK(bs[bs.size() - 2].first >= 300);
        }
    }
}

Exposition scrape(Daemon& d, std::string* raw = nullptr) {
    Response r = d.http().get("/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type").find("text/plain") == 0);
    if (raw) *raw = r.body;
    try {
        return parseExposition(r.body);
    } catch (const std::exception& e) {
        FAIL("unparseable /metrics: " << e.what());
    }
    return {};
}

// ---- A real Prometheus: support/prometheus.h.

// ---- Jobs.

std::string submitFile(Daemon& d, const fs::path& file, const std::string& plugin,
                       const std::map<std::string, std::string>& fields, long expectStatus = 202) {
    Response r = d.submit(file.string(), plugin, fields);
    INFO(r.body);
    REQUIRE(r.status == expectStatus);
    return r.json()["id"];
}

// Waits with the long poll, counting GET /v1/jobs/:id requests.
nlohmann::json waitEnded(Daemon& d, const std::string& id, int& gets) {
    for (int i = 0; i < 10; ++i) {
        Response r = d.http().get("/v1/jobs/" + id + "?wait=10");
        ++gets;
        REQUIRE(r.status == 200);
        auto job = r.json();
        std::string state = job["state"];
        if (state == "succeeded" || state == "failed" || state == "canceled") return job;
    }
    FAIL("job " << id << " did not end");
    return {};
}

void waitIdle(Daemon& d) {
    for (int i = 0; i < 500; ++i) {
        auto status = d.http().get("/v1/status").json();
        if (status["workers"]["busy"] == 0 && status["jobs"]["running"] == 0 && status["jobs"]["queued"] == 0) return;
        std::this_thread::sleep_for(10ms);
    }
    FAIL("the daemon did not become idle");
}

std::string unique(const std::string& what) {
    return what + " " + std::to_string(::getpid()) + " " +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "\n";
}

}  // namespace

TEST_CASE("/metrics moves by exactly what the jobs did, with route templates, and passes promtool") {
    Daemon d(DaemonOptions{.args = {"--retry-base", "0.05"}});
    TempDir files;
    Exposition before = scrape(d);

    // Two thumbnails, then the first one again: a dedup hit.
    makeJpeg(files / "a.jpg", 640, 480, 1, 11);
    makeJpeg(files / "b.jpg", 480, 640, 1, 12);
    writeFile(files / "flaky.txt", unique("flaky"));
    writeFile(files / "permanent.txt", unique("permanent"));
    writeFile(files / "slow.txt", unique("slow"));
    double uploaded = 0;
    for (const char* f : {"a.jpg", "b.jpg", "a.jpg", "flaky.txt", "permanent.txt", "slow.txt"})
        uploaded += static_cast<double>(fs::file_size(files / f));

    int gets = 0;  // GET /v1/jobs/:id answered 200
    std::vector<std::string> ids;
    ids.push_back(submitFile(d, files / "a.jpg", "thumbnail", {{"size", "64"}}));
    ids.push_back(submitFile(d, files / "b.jpg", "thumbnail", {{"size", "64"}}));
    CHECK(waitEnded(d, ids[0], gets)["state"] == "succeeded");
    CHECK(waitEnded(d, ids[1], gets)["state"] == "succeeded");
    CHECK(submitFile(d, files / "a.jpg", "thumbnail", {{"size", "64"}}, 200) == ids[0]);

    // Fails twice (transient), then succeeds on the third attempt.
    ids.push_back(submitFile(d, files / "flaky.txt", "flaky", {{"fail_times", "2"}}));
    auto flaky = waitEnded(d, ids.back(), gets);
    CHECK(flaky["state"] == "succeeded");
    REQUIRE(flaky["attempts"] == 3);

    // Fails for good on the first attempt.
    ids.push_back(submitFile(d, files / "permanent.txt", "flaky", {{"permanent", "true"}}));
    auto permanent = waitEnded(d, ids.back(), gets);
    CHECK(permanent["state"] == "failed");
    REQUIRE(permanent["attempts"] == 1);

    // Canceled while running.
    ids.push_back(submitFile(d, files / "slow.txt", "slow", {{"ms", "20000"}}));
    for (int i = 0; i < 500; ++i) {
        Response r = d.http().get("/v1/jobs/" + ids.back());
        ++gets;
        if (r.json()["state"] == "running") break;
        std::this_thread::sleep_for(10ms);
    }
    Response cancel = d.http().post("/v1/jobs/" + ids.back() + "/cancel", "");
    REQUIRE(cancel.status == 202);

    // A missing job and a path no route knows: still templates, not raw paths.
    std::string missing = "0123456789abcdef0123456789abcdef";
    CHECK(d.http().get("/v1/jobs/" + missing).status == 404);
    CHECK(d.http().get("/no/such/" + missing).status == 404);

    // The canceled attempt has stopped in its worker before we look.
    waitIdle(d);
    std::string raw;
    Exposition after = scrape(d, &raw);
    auto delta = [&](const std::string& name, const Labels& labels = {}) {
        return after.value(name, labels) - before.value(name, labels);
    };
    auto deltaSum = [&](const std::string& name, const Labels& match = {}) {
        return after.sum(name, match) - before.sum(name, match);
    };

    {  // every family the daemon documents is there, with its type
        const std::map<std::string, std::string> expected{
            {"pixelmill_jobs", "gauge"},
            {"pixelmill_workers_busy", "gauge"},
            {"pixelmill_workers", "gauge"},
            {"pixelmill_oldest_queued_job_age_seconds", "gauge"},
            {"pixelmill_blob_store_bytes", "gauge"},
            {"pixelmill_blob_store_quota_bytes", "gauge"},
            {"pixelmill_webhook_deliveries_pending", "gauge"},
            {"pixelmill_notifications_pending", "gauge"},
            {"pixelmill_notifications_total", "counter"},
            {"pixelmill_http_connections_open", "gauge"},
            {"pixelmill_http_connections_refused_total", "counter"},
            {"pixelmill_http_rate_limited_total", "counter"},
            {"pixelmill_intake_queue_depth", "gauge"},
            {"pixelmill_store_connections", "gauge"},
            {"pixelmill_vips_tracked_memory_bytes", "gauge"},
            {"pixelmill_build_info", "gauge"},
            {"process_resident_memory_bytes", "gauge"},
            {"process_virtual_memory_bytes", "gauge"},
            {"process_start_time_seconds", "gauge"},
            {"process_open_fds", "gauge"},
            {"process_max_fds", "gauge"},
            {"process_cpu_seconds_total", "counter"},
            {"pixelmill_jobs_submitted_total", "counter"},
            {"pixelmill_jobs_finished_total", "counter"},
            {"pixelmill_job_errors_total", "counter"},
            {"pixelmill_job_retries_total", "counter"},
            {"pixelmill_dedup_hits_total", "counter"},
            {"pixelmill_upload_bytes_total", "counter"},
            {"pixelmill_job_duration_seconds", "histogram"},
            {"pixelmill_job_queue_wait_seconds", "histogram"},
            {"pixelmill_http_request_duration_seconds", "histogram"},
        };
        for (const auto& [name, type] : expected) {
            INFO(name);
            REQUIRE(after.types.count(name));
            CHECK(after.types.at(name) == type);
        }
        for (const auto& [name, type] : after.types) {
            INFO(name);
            if (type == "counter") CHECK(name.size() > 6);
            if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
            CHECK((name.rfind("pixelmill_", 0) == 0 || name.rfind("process_", 0) == 0));
        }
        std::set<std::string> versions = after.labelValues("pixelmill_build_info", "version");
        REQUIRE(versions.size() == 1);
        CHECK_FALSE(versions.begin()->empty());
        CHECK(after.value("pixelmill_build_info", {{"version", *versions.begin()}, {"abi", "1"}}) == 1);
    }

    {  // job counters moved by exactly what happened
        CHECK(delta("pixelmill_jobs_submitted_total", {{"plugin", "thumbnail"}}) == 2);
        CHECK(delta("pixelmill_jobs_submitted_total", {{"plugin", "flaky"}}) == 2);
        CHECK(delta("pixelmill_jobs_submitted_total", {{"plugin", "slow"}}) == 1);
        CHECK(deltaSum("pixelmill_jobs_submitted_total") == 5);

        CHECK(delta("pixelmill_jobs_finished_total", {{"plugin", "thumbnail"}, {"outcome", "succeeded"}}) == 2);
        CHECK(delta("pixelmill_jobs_finished_total", {{"plugin", "flaky"}, {"outcome", "succeeded"}}) == 1);
        CHECK(delta("pixelmill_jobs_finished_total", {{"plugin", "flaky"}, {"outcome", "failed"}}) == 1);
        CHECK(delta("pixelmill_jobs_finished_total", {{"plugin", "slow"}, {"outcome", "canceled"}}) == 1);
        CHECK(deltaSum("pixelmill_jobs_finished_total") == 5);

        CHECK(delta("pixelmill_job_errors_total", {{"plugin", "flaky"}, {"error", "transient"}}) == 2);
        CHECK(delta("pixelmill_job_errors_total", {{"plugin", "flaky"}, {"error", "unprocessable"}}) == 1);
        CHECK(deltaSum("pixelmill_job_errors_total") == 3);

        CHECK(delta("pixelmill_job_retries_total", {{"plugin", "flaky"}}) == 2);
        CHECK(deltaSum("pixelmill_job_retries_total") == 2);

        CHECK(delta("pixelmill_dedup_hits_total") == 1);
        CHECK(delta("pixelmill_upload_bytes_total") == uploaded);
    }

    {  // histogram counts moved by exactly what happened
        // Processing time of successful attempts only.
        CHECK(delta("pixelmill_job_duration_seconds_count", {{"plugin", "thumbnail"}}) == 2);
        CHECK(delta("pixelmill_job_duration_seconds_count", {{"plugin", "flaky"}}) == 1);
        CHECK(delta("pixelmill_job_duration_seconds_count", {{"plugin", "slow"}}) == 0);
        CHECK(deltaSum("pixelmill_job_duration_seconds_count") == 3);
        CHECK(delta("pixelmill_job_duration_seconds_sum", {{"plugin", "thumbnail"}}) > 0);
        CHECK(delta("pixelmill_job_duration_seconds_bucket", {{"plugin", "thumbnail"}, {"le", "+Inf"}}) == 2);

        // One queue wait per attempt started: 3 for the flaky job, 1 for the permanent failure.
        CHECK(delta("pixelmill_job_queue_wait_seconds_count", {{"plugin", "thumbnail"}}) == 2);
        CHECK(delta("pixelmill_job_queue_wait_seconds_count", {{"plugin", "flaky"}}) == 4);
        CHECK(delta("pixelmill_job_queue_wait_seconds_count", {{"plugin", "slow"}}) == 1);

        const std::string http = "pixelmill_http_request_duration_seconds_count";
        CHECK(delta(http, {{"route", "/v1/jobs"}, {"method", "POST"}, {"code", "202"}}) == 5);
        CHECK(delta(http, {{"route", "/v1/jobs"}, {"method", "POST"}, {"code", "200"}}) == 1);
        CHECK(delta(http, {{"route", "/v1/jobs/:id"}, {"method", "GET"}, {"code", "200"}}) == gets);
        CHECK(delta(http, {{"route", "/v1/jobs/:id"}, {"method", "GET"}, {"code", "404"}}) == 1);
        CHECK(delta(http, {{"route", "/v1/jobs/:id/cancel"}, {"method", "POST"}, {"code", "202"}}) == 1);
        // The first scrape is recorded once it has been answered.
        CHECK(delta(http, {{"route", "/metrics"}, {"method", "GET"}, {"code", "200"}}) == 1);
        CHECK(deltaSum(http, {{"code", "404"}}) == 2);

        checkHistograms(after);
    }

    {  // HTTP routes are templates, never raw ids or paths
        std::set<std::string> routes = after.labelValues("pixelmill_http_request_duration_seconds_count", "route");
        INFO("routes seen: " << [&] {
            std::string s;
            for (const auto& r : routes) s += r + " ";
            return s;
        }());
        CHECK(routes.count("/v1/jobs"));
        CHECK(routes.count("/v1/jobs/:id"));
        CHECK(routes.count("/v1/jobs/:id/cancel"));
        CHECK(routes.count("/metrics"));
        static const std::regex rawId("[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}|[0-9a-fA-F]{16,}");
        for (const std::string& r : routes) {
            INFO(r);
            CHECK_FALSE(std::regex_search(r, rawId));
            CHECK(r.find("/no/such") == std::string::npos);
            CHECK(r.find('?') == std::string::npos);
        }
        // No label value anywhere carries a job id.
        for (const Sample& s : after.samples)
            for (const auto& [label, value] : s.labels)
                for (const std::string& id : ids) {
                    INFO(s.name << " " << label << "=" << value);
                    CHECK(value.find(id) == std::string::npos);
                }
    }

    {  // gauges describe the store and the pool as they are now
        CHECK(after.value("pixelmill_jobs", {{"state", "succeeded"}}) == 3);
        CHECK(after.value("pixelmill_jobs", {{"state", "failed"}}) == 1);
        CHECK(after.value("pixelmill_jobs", {{"state", "canceled"}}) == 1);
        CHECK(after.value("pixelmill_jobs", {{"state", "queued"}}) == 0);
        CHECK(after.value("pixelmill_jobs", {{"state", "running"}}) == 0);
        CHECK(after.value("pixelmill_workers") == 2);
        CHECK(after.value("pixelmill_workers_busy") == 0);
        CHECK(after.value("pixelmill_oldest_queued_job_age_seconds") == 0);
        CHECK(after.value("pixelmill_blob_store_bytes") > 0);
        CHECK(after.value("pixelmill_blob_store_quota_bytes") == 0);
        CHECK(after.value("process_resident_memory_bytes") > 1e6);
        CHECK(after.value("process_start_time_seconds") > 1.5e9);
    }

    // promtool check metrics has nothing to say: no error, no lint warning.
    if (haveCommand("promtool")) {
        writeFile(files / "metrics.txt", raw);
        std::string out;
        int rc = runCommand("promtool check metrics < '" + (files / "metrics.txt").string() + "'", &out);
        INFO(out);
        CHECK(rc == 0);
        CHECK(out.empty());
    } else {
        WARN("promtool is not installed (Debian package prometheus): skipping promtool check metrics");
    }
}

TEST_CASE("a real Prometheus scrapes the daemon and its queries see the jobs") {
    if (!haveCommand("prometheus")) {
        WARN("prometheus is not installed (Debian package prometheus): skipping the real scrape");
        return;
    }
    Daemon d(DaemonOptions{.args = {"--retry-base", "0.05"}});
    TempDir files;
    int gets = 0;
    makeJpeg(files / "a.jpg", 320, 240, 1, 21);
    makeJpeg(files / "b.jpg", 320, 240, 1, 22);
    writeFile(files / "bad.txt", unique("bad"));
    std::vector<std::string> ids{submitFile(d, files / "a.jpg", "thumbnail", {}),
                                 submitFile(d, files / "b.jpg", "thumbnail", {}),
                                 submitFile(d, files / "bad.txt", "flaky", {{"permanent", "true"}})};
    for (const auto& id : ids) waitEnded(d, id, gets);

    Prometheus prometheus("127.0.0.1:" + std::to_string(d.port()));
    auto targets = prometheus.waitForTargetsUp(20s);
    REQUIRE(targets.size() == 1);
    CHECK(targets[0]["labels"]["job"] == "pixelmill");
    CHECK(targets[0]["lastError"] == "");

    // The first scrape after the jobs carries them all.
    std::optional<double> finished;
    for (int i = 0; i < 100 && finished != 3.0; ++i) {
        finished = prometheus.scalar("sum(pixelmill_jobs_finished_total)");
        if (finished != 3.0) std::this_thread::sleep_for(100ms);
    }
    INFO(prometheus.log());
    REQUIRE(finished.has_value());
    CHECK(*finished == 3);
    CHECK(prometheus.scalar(R"(sum(pixelmill_jobs_finished_total{outcome="succeeded"}))") == 2.0);
    CHECK(prometheus.scalar(R"(sum by (plugin) (pixelmill_jobs_finished_total{outcome="failed"}))") == 1.0);
    CHECK(prometheus.scalar(R"(max(pixelmill_jobs{state="succeeded"}))") == 2.0);
    CHECK(prometheus.scalar(R"(up{job="pixelmill"})") == 1.0);
    CHECK(prometheus.scalar(R"(sum(pixelmill_job_duration_seconds_count{plugin="thumbnail"}))") == 2.0);
    auto quantile = prometheus.query(
        "histogram_quantile(0.5, sum by (le, plugin) (pixelmill_job_duration_seconds_bucket{plugin=\"thumbnail\"}))");
    CHECK(quantile["status"] == "success");
    REQUIRE(quantile["data"]["result"].size() == 1);
    double p50 = std::stod(quantile["data"]["result"][0]["value"][1].get<std::string>());
    CHECK(p50 > 0);
    CHECK(p50 < 60);
}
