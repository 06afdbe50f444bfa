// monitoring/: the Prometheus config, the alert rules and their unit tests
// pass promtool, and every query of the Grafana dashboard is accepted by a
// real Prometheus scraping a real daemon, and finds data there.
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

#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

fs::path monitoringDir() { return sourceDir() / "monitoring"; }

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// ---- A real Prometheus: support/prometheus.h.

// ---- The dashboard.

nlohmann::json loadDashboard() {
    std::string text = readFile(monitoringDir() / "grafana" / "pixelmill.json");
    REQUIRE_FALSE(text.empty());
    try {
        return nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        FAIL("monitoring/grafana/pixelmill.json is not valid JSON: " << e.what());
    }
    return {};
}

struct PanelQuery {
    std::string panel;
    std::string expr;
};

std::vector<PanelQuery> panelQueries(const nlohmann::json& dashboard) {
    std::vector<PanelQuery> out;
    std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& panels) {
        for (const auto& p : panels) {
            if (p.contains("panels")) walk(p["panels"]);  // panels inside collapsed rows
            if (!p.contains("targets")) continue;
            for (const auto& t : p["targets"]) out.push_back({p.value("title", ""), t.value("expr", "")});
        }
    };
    walk(dashboard["panels"]);
    return out;
}

// Grafana's variables, as a query sent straight to Prometheus would need them.
std::string expandVariables(std::string expr) {
    static const std::vector<std::pair<std::regex, std::string>> rules = {
        {std::regex(R"(\$__rate_interval|\$\{__rate_interval\})"), "1m"},
        {std::regex(R"(\$__interval|\$\{__interval\})"), "1m"},
        {std::regex(R"(\$__range|\$\{__range\})"), "1h"},
        {std::regex(R"(\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*)"), ".*"},  // $job, ${instance}
    };
    for (const auto& [re, value] : rules) expr = std::regex_replace(expr, re, value);
    return expr;
}

// Gauges read from the job store are the same on every node sharing it: they
// are taken with max(), never added up.
const std::vector<std::string> kStoreGauges = {"pixelmill_jobs{", "pixelmill_oldest_queued_job_age_seconds",
                                               "pixelmill_webhook_deliveries_pending",
                                               "pixelmill_notifications_pending"};

void checkStoreGaugesUseMax(const std::string& expr) {
    for (const std::string& g : kStoreGauges) {
        size_t at = expr.find(g);
        if (at == std::string::npos) continue;
        INFO(expr);
        // The innermost aggregation around the gauge: the nearest "max"/"sum"/... before it.
        static const std::regex aggregation(R"((sum|max|min|avg|count)\s*(by|without)?\s*(\([^()]*\))?\s*\(\s*$)");
        std::smatch m;
        std::string head = expr.substr(0, at);
        REQUIRE(std::regex_search(head, m, aggregation));
        CHECK(m[1] == "max");
    }
}

// ---- Jobs for the real daemon, so that the dashboard's queries find data.

std::string submitOk(Daemon& d, const fs::path& file, const std::string& plugin,
                     const std::map<std::string, std::string>& fields, long status = 202) {
    Response r = d.submit(file.string(), plugin, fields);
    INFO(r.body);
    REQUIRE(r.status == status);
    return r.json()["id"];
}

}  // namespace

TEST_CASE("promtool: the alert rules, their unit tests and prometheus.yml are clean") {
    if (!haveCommand("promtool")) {
        WARN("promtool is not installed (Debian package prometheus): skipping the promtool checks of monitoring/");
        return;
    }
    std::string out;
    std::string dir = monitoringDir().string();

    int rc = runCommand("cd '" + dir + "' && promtool check rules alerts.yml", &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("SUCCESS") != std::string::npos);
    CHECK(out.find("WARN") == std::string::npos);
    CHECK(out.find("FAILED") == std::string::npos);

    rc = runCommand("cd '" + dir + "' && promtool test rules alerts_test.yml", &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("SUCCESS") != std::string::npos);

    rc = runCommand("cd '" + dir + "' && promtool check config prometheus.yml", &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("is valid prometheus config file syntax") != std::string::npos);
    CHECK(out.find("WARN") == std::string::npos);
}

TEST_CASE("every alert has a severity, a for, a summary and a description, and tests that fire it and keep it quiet") {
    std::string rules = readFile(monitoringDir() / "alerts.yml");
    std::string tests = readFile(monitoringDir() / "alerts_test.yml");
    REQUIRE_FALSE(rules.empty());
    REQUIRE_FALSE(tests.empty());

    // alerts.yml, one rule at a time (a rule runs from "- alert:" to the next).
    static const std::regex alertLine(R"(^\s*- alert:\s*(\S+)\s*$)");
    std::map<std::string, std::string> bodies;
    std::string current;
    for (const std::string& line : lines(rules)) {
        std::smatch m;
        if (std::regex_match(line, m, alertLine)) current = m[1];
        else if (!current.empty()) bodies[current] += line + "\n";
    }
    const std::set<std::string> expected = {"PixelmillHighJobFailureRatio", "PixelmillQueueBacklog",
                                            "PixelmillNoJobSucceeding",     "PixelmillDown",
                                            "PixelmillStorageNearQuota",    "PixelmillMemoryGrowth",
                                            "PixelmillSqliteWalTooLarge"};
    for (const std::string& name : expected) CHECK(bodies.count(name));
    for (const auto& [name, body] : bodies) {
        INFO(name << ":\n" << body);
        CHECK(std::regex_search(body, std::regex(R"(\n\s+for:\s*\d+[smh])")));
        CHECK(std::regex_search(body, std::regex(R"(severity:\s*(critical|warning|info))")));
        CHECK(std::regex_search(body, std::regex(R"(summary:\s*\S)")));
        CHECK(std::regex_search(body, std::regex(R"(description:\s*\S)")));
        checkStoreGaugesUseMax(body);
    }
    CHECK(bodies["PixelmillStorageNearQuota"].find("pixelmill_blob_store_quota_bytes > 0") != std::string::npos);
    CHECK(bodies["PixelmillDown"].find("up{") != std::string::npos);
    CHECK(bodies["PixelmillMemoryGrowth"].find("process_resident_memory_bytes") != std::string::npos);
    CHECK(bodies["PixelmillSqliteWalTooLarge"].find("pixelmill_sqlite_wal_bytes") != std::string::npos);

    // alerts_test.yml: for each alert, a case that fires (exp_labels) and one that does not (exp_alerts: []).
    static const std::regex nameLine(R"(^\s*alertname:\s*(\S+)\s*$)");
    std::map<std::string, int> firing, quiet;
    std::string alert;
    for (const std::string& line : lines(tests)) {
        std::smatch m;
        if (std::regex_match(line, m, nameLine)) alert = m[1];
        else if (!alert.empty() && std::regex_search(line, std::regex(R"(exp_alerts:\s*\[\s*\])"))) ++quiet[alert];
        else if (!alert.empty() && line.find("- exp_labels:") != std::string::npos) ++firing[alert];
    }
    for (const std::string& name : expected) {
        INFO(name);
        CHECK(firing[name] > 0);
        CHECK(quiet[name] > 0);
    }
}

TEST_CASE("the Grafana dashboard imports as is and asks for the panels operators need") {
    nlohmann::json dash = loadDashboard();
    REQUIRE(dash.is_object());
    CHECK(dash["schemaVersion"].is_number_integer());
    CHECK(dash["schemaVersion"].get<int>() >= 30);
    CHECK(dash["title"].is_string());
    CHECK(dash["uid"].is_string());
    CHECK_FALSE((dash.contains("id") && !dash["id"].is_null()));  // an exported id would clash on import

    // The data source is a variable, so the JSON imports into any Grafana.
    bool dsVariable = false;
    for (const auto& v : dash["templating"]["list"])
        if (v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource" && v["query"] == "prometheus") dsVariable = true;
    CHECK(dsVariable);

    std::set<int> ids;
    for (const auto& p : dash["panels"]) {
        INFO(p.value("title", "?"));
        REQUIRE(p.contains("id"));
        CHECK(ids.insert(p["id"].get<int>()).second);
        CHECK(p["gridPos"].contains("w"));
        if (p["type"] == "row") continue;
        CHECK(p["datasource"]["uid"] == "${DS_PROMETHEUS}");
        REQUIRE(p.contains("targets"));
        CHECK_FALSE(p["targets"].empty());
        for (const auto& t : p["targets"]) {
            CHECK(t["datasource"]["uid"] == "${DS_PROMETHEUS}");
            CHECK_FALSE(t.value("expr", "").empty());
            CHECK_FALSE(t.value("refId", "").empty());
        }
    }

    std::vector<PanelQuery> queries = panelQueries(dash);
    auto anyExpr = [&](const std::string& needle) {
        return std::any_of(queries.begin(), queries.end(),
                           [&](const PanelQuery& q) { return q.expr.find(needle) != std::string::npos; });
    };
    for (const char* q : {"0.5", "0.95", "0.99"}) {
        INFO("conversion time quantile " << q);
        CHECK(anyExpr(std::string("histogram_quantile(") + q +
                      ", sum by (le, plugin) (rate(pixelmill_job_duration_seconds_bucket"));
    }
    for (const char* needle : {"pixelmill_jobs_finished_total", "pixelmill_job_errors_total", "by (plugin, error)",
                               "pixelmill_jobs{", "pixelmill_oldest_queued_job_age_seconds",
                               "pixelmill_job_queue_wait_seconds_bucket", "pixelmill_workers_busy",
                               "process_resident_memory_bytes", "process_cpu_seconds_total",
                               "pixelmill_blob_store_bytes", "pixelmill_blob_store_quota_bytes",
                               "pixelmill_notifications_pending", "pixelmill_notifications_total",
                               "pixelmill_http_connections_open", "pixelmill_http_connections_refused_total",
                               "pixelmill_http_rate_limited_total", "pixelmill_intake_queue_depth",
                               "pixelmill_store_connections"}) {
        INFO(needle);
        CHECK(anyExpr(needle));
    }
    for (const PanelQuery& q : queries) {
        INFO(q.panel);
        checkStoreGaugesUseMax(q.expr);
    }
}

TEST_CASE("every dashboard query is accepted by a real Prometheus scraping the daemon, and finds data") {
    if (!haveCommand("prometheus")) {
        WARN("prometheus is not installed (Debian package prometheus): skipping the dashboard queries");
        return;
    }
    Daemon d(DaemonOptions{.args = {"--retry-base", "0.05", "--max-storage-bytes", "1GiB"}});
    Prometheus prometheus("127.0.0.1:" + std::to_string(d.port()), monitoringDir() / "alerts.yml");
    prometheus.waitForTargetsUp(20s);

    // Successes, a retry, a failure and a dedup hit, while Prometheus scrapes.
    TempDir files;
    makeJpeg(files / "a.jpg", 400, 300, 1, 31);
    writeFile(files / "retry.txt", "retry " + std::to_string(::getpid()) + "\n");
    writeFile(files / "bad.txt", "bad " + std::to_string(::getpid()) + "\n");
    std::vector<std::string> ids{submitOk(d, files / "a.jpg", "thumbnail", {}),
                                 submitOk(d, files / "retry.txt", "flaky", {{"fail_times", "1"}}),
                                 submitOk(d, files / "bad.txt", "flaky", {{"permanent", "true"}})};
    for (const auto& id : ids) d.waitForJob(id);
    submitOk(d, files / "a.jpg", "thumbnail", {}, 200);

    // Wait until Prometheus holds the final numbers, then two more scrapes so rates have two points.
    std::optional<double> finished;
    for (int i = 0; i < 100 && finished != 3.0; ++i) {
        finished = prometheus.scalar("sum(pixelmill_jobs_finished_total)");
        if (finished != 3.0) std::this_thread::sleep_for(100ms);
    }
    REQUIRE(finished == 3.0);
    std::this_thread::sleep_for(2500ms);

    std::vector<PanelQuery> queries = panelQueries(loadDashboard());
    REQUIRE(queries.size() >= 10);
    for (const PanelQuery& q : queries) {
        std::string expr = expandVariables(q.expr);
        INFO("panel '" << q.panel << "': " << expr);
        CHECK(expr.find('$') == std::string::npos);
        auto answer = prometheus.query(expr);
        INFO(answer.dump());
        CHECK(answer["status"] == "success");
        if (answer["status"] == "success") CHECK_FALSE(answer["data"]["result"].empty());
    }

    // The alert rules load into the same Prometheus and evaluate without errors.
    auto rules = prometheus.api("/api/v1/rules");
    REQUIRE(rules["status"] == "success");
    int evaluated = 0;
    for (const auto& group : rules["data"]["groups"])
        for (const auto& rule : group["rules"]) {
            INFO(rule.dump());
            CHECK(rule.value("health", "") != "err");
            ++evaluated;
        }
    CHECK(evaluated == 7);
}
