#include "metrics/metrics.h"

#include "common/log.h"

#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

namespace pixelmill {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {

std::string key(const prometheus::Labels& labels) {
    std::string k;
    for (const auto& [name, value] : labels) k += name + "=" + value + "\x1f";
    return k;
}

}  // namespace

double HistogramSnapshot::quantile(double q) const {
    if (count == 0 || bounds.empty()) return std::nan("");
    double rank = q * static_cast<double>(count);
    for (size_t i = 0; i < bounds.size(); ++i) {
        if (static_cast<double>(cumulative[i]) >= rank) {
            if (std::isinf(bounds[i])) return i > 0 ? bounds[i - 1] : 0;
            double lower = i == 0 ? 0 : bounds[i - 1];
            double below = i == 0 ? 0 : static_cast<double>(cumulative[i - 1]);
            double inBucket = static_cast<double>(cumulative[i]) - below;
            if (inBucket <= 0) return bounds[i];
            return lower + (bounds[i] - lower) * (rank - below) / inBucket;
        }
    }
    return bounds.back();
}

const std::vector<double>& Metrics::durationBuckets() {
    static const std::vector<double> buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                1,     2.5,    5,     10,   30,    60,   120,  300};
    return buckets;
}

Metrics::Metrics(const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      submitted_(BuildCounter()
                     .Name("pixelmill_jobs_submitted_total")
                     .Help("Jobs accepted, by plugin (dedup hits not counted)")
                     .Register(*registry_)),
      finished_(BuildCounter()
                    .Name("pixelmill_jobs_finished_total")
                    .Help("Jobs that reached a final state, by plugin and outcome (succeeded, failed, canceled)")
                    .Register(*registry_)),
      errors_(BuildCounter()
                  .Name("pixelmill_job_errors_total")
                  .Help("Failed attempts, by plugin and error code (label error; retried ones included)")
                  .Register(*registry_)),
      retries_(BuildCounter()
                   .Name("pixelmill_job_retries_total")
                   .Help("Attempts that failed transiently and were scheduled again, by plugin")
                   .Register(*registry_)),
      dedupHits_(BuildCounter()
                     .Name("pixelmill_dedup_hits_total")
                     .Help("Submissions answered with an equal existing job")
                     .Register(*registry_)
                     .Add({})),
      uploadBytes_(BuildCounter()
                       .Name("pixelmill_upload_bytes_total")
                       .Help("Bytes of sources received for jobs and originals")
                       .Register(*registry_)
                       .Add({})),
      duration_(BuildHistogram()
                    .Name("pixelmill_job_duration_seconds")
                    .Help("Plugin processing time of successful attempts, by plugin")
                    .Register(*registry_)),
      queueWait_(BuildHistogram()
                     .Name("pixelmill_job_queue_wait_seconds")
                     .Help("Time from a job being ready to a worker starting it, by plugin")
                     .Register(*registry_)),
      http_(BuildHistogram()
                .Name("pixelmill_http_request_duration_seconds")
                .Help("Time to answer an HTTP request, by route template, method and status code")
                .Register(*registry_)),
      refreshErrors_(BuildCounter()
                         .Name("pixelmill_metrics_refresh_errors_total")
                         .Help("Scrapes in which a source of gauges (the job store) could not be read; its gauges kept their last values")
                         .Register(*registry_)
                         .Add({})),
      processCpu_(BuildCounter()
                      .Name("process_cpu_seconds_total")
                      .Help("Total user and system CPU time spent in seconds")
                      .Register(*registry_)) {
    BuildGauge()
        .Name("pixelmill_build_info")
        .Help("Build of the running daemon; the value is always 1")
        .Register(*registry_)
        .Add({{"version", version}, {"abi", "1"}})
        .Set(1);
}

template <class T>
T& Metrics::cached(std::map<std::string, T*>& cache, prometheus::Family<T>& family, const prometheus::Labels& labels) {
    std::string k = std::to_string(reinterpret_cast<uintptr_t>(&family)) + key(labels);
    std::lock_guard lock(mutex_);
    auto it = cache.find(k);
    if (it != cache.end()) return *it->second;
    T* metric;
    if constexpr (std::is_same_v<T, prometheus::Histogram>) metric = &family.Add(labels, durationBuckets());
    else metric = &family.Add(labels);
    cache.emplace(k, metric);
    return *metric;
}

void Metrics::jobSubmitted(const std::string& plugin) {
    cached(counterCache_, submitted_, {{"plugin", plugin}}).Increment();
}
void Metrics::dedupHit() { dedupHits_.Increment(); }
void Metrics::uploadBytes(uint64_t bytes) { uploadBytes_.Increment(static_cast<double>(bytes)); }
void Metrics::jobFinished(const std::string& plugin, const std::string& outcome) {
    cached(counterCache_, finished_, {{"plugin", plugin}, {"outcome", outcome}}).Increment();
}
void Metrics::jobError(const std::string& plugin, const std::string& code) {
    cached(counterCache_, errors_, {{"plugin", plugin}, {"error", code}}).Increment();
}
void Metrics::jobRetried(const std::string& plugin) { cached(counterCache_, retries_, {{"plugin", plugin}}).Increment(); }
void Metrics::jobDuration(const std::string& plugin, double seconds) {
    cached(histogramCache_, duration_, {{"plugin", plugin}}).Observe(seconds);
}
void Metrics::queueWait(const std::string& plugin, double seconds) {
    cached(histogramCache_, queueWait_, {{"plugin", plugin}}).Observe(seconds);
}
void Metrics::httpRequest(const std::string& route, const std::string& method, int code, double seconds) {
    cached(histogramCache_, http_, {{"route", route}, {"method", method}, {"code", std::to_string(code)}})
        .Observe(seconds);
}

prometheus::Gauge& Metrics::gauge(const std::string& name, const std::string& help, const prometheus::Labels& labels) {
    prometheus::Family<prometheus::Gauge>* family;
    {
        std::lock_guard lock(mutex_);
        auto it = gaugeFamilies_.find(name);
        if (it == gaugeFamilies_.end())
            it = gaugeFamilies_.emplace(name, &BuildGauge().Name(name).Help(help).Register(*registry_)).first;
        family = it->second;
    }
    return family->Add(labels);
}

void Metrics::counterTo(const std::string& name, const std::string& help, double total) {
    counterTo(name, help, {}, total);
}

void Metrics::counterTo(const std::string& name, const std::string& help, const prometheus::Labels& labels,
                        double total) {
    std::lock_guard lock(mutex_);
    std::string id = name + "{" + key(labels) + "}";
    auto it = externalCounters_.find(id);
    if (it == externalCounters_.end()) {
        auto family = externalFamilies_.find(name);
        if (family == externalFamilies_.end())
            family = externalFamilies_.emplace(name, &BuildCounter().Name(name).Help(help).Register(*registry_)).first;
        it = externalCounters_.emplace(id, &family->second->Add(labels)).first;
    }
    double now = it->second->Value();
    if (total > now) it->second->Increment(total - now);
}

void Metrics::onScrape(std::function<void(Metrics&)> refresh) {
    std::lock_guard lock(mutex_);
    refreshers_.push_back(std::move(refresh));
}

void Metrics::refreshProcess() {
    // /proc/self/stat: fields 14-15 utime/stime (ticks), 22 starttime (ticks since boot), 23 vsize, 24 rss (pages).
    std::ifstream statFile("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return;
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(fields)), std::istream_iterator<std::string>());
    if (f.size() < 22) return;  // f[0] is field 3 (state)
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    auto& cpuCounter = cached(counterCache_, processCpu_, {});
    if (cpu > lastCpuSeconds_) cpuCounter.Increment(cpu - lastCpuSeconds_);
    lastCpuSeconds_ = std::max(lastCpuSeconds_, cpu);
    double pageSize = static_cast<double>(sysconf(_SC_PAGESIZE));
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes").Set(std::stod(f[20]));
    gauge("process_resident_memory_bytes", "Resident memory size in bytes").Set(std::stod(f[21]) * pageSize);

    double bootTime = 0;
    std::ifstream procStat("/proc/stat");
    for (std::string line; std::getline(procStat, line);)
        if (line.rfind("btime ", 0) == 0) bootTime = std::stod(line.substr(6));
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds")
        .Set(bootTime + std::stod(f[19]) / ticks);

    int fds = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++fds;
        ::closedir(d);
    }
    gauge("process_open_fds", "Number of open file descriptors").Set(fds - 1);  // minus the one reading the folder
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
        gauge("process_max_fds", "Maximum number of open file descriptors").Set(static_cast<double>(limit.rlim_cur));
}

std::string Metrics::scrape() {
    std::vector<std::function<void(Metrics&)>> refreshers;
    {
        std::lock_guard lock(mutex_);
        refreshers = refreshers_;
    }
    for (auto& r : refreshers) {
        try {
            r(*this);
        } catch (const std::exception& e) {
            // A store that cannot be read now (PostgreSQL down) leaves the gauges
            // it feeds as they were; the scrape still answers with everything else.
            refreshErrors_.Increment();
            log::warn("metrics_refresh_failed", {{"error", e.what()}});
        }
    }
    refreshProcess();
    return prometheus::TextSerializer().Serialize(registry_->Collect());
}

std::map<std::string, HistogramSnapshot> Metrics::histograms(const std::string& family, const std::string& label) {
    std::map<std::string, HistogramSnapshot> out;
    for (const auto& f : registry_->Collect()) {
        if (f.name != family) continue;
        for (const auto& m : f.metric) {
            std::string value;
            for (const auto& l : m.label)
                if (l.name == label) value = l.value;
            HistogramSnapshot s;
            s.count = m.histogram.sample_count;
            s.sum = m.histogram.sample_sum;
            for (const auto& b : m.histogram.bucket) {
                s.bounds.push_back(b.upper_bound);
                s.cumulative.push_back(b.cumulative_count);
            }
            HistogramSnapshot& into = out[value];
            if (into.bounds.empty()) into = s;
            else {  // several series with the same label value: add them up
                into.count += s.count;
                into.sum += s.sum;
                for (size_t i = 0; i < into.cumulative.size() && i < s.cumulative.size(); ++i)
                    into.cumulative[i] += s.cumulative[i];
            }
        }
    }
    return out;
}

std::map<std::string, double> Metrics::counters(const std::string& family, const std::vector<std::string>& labels) {
    std::map<std::string, double> out;
    for (const auto& f : registry_->Collect()) {
        if (f.name != family) continue;
        for (const auto& m : f.metric) {
            std::string k;
            for (const std::string& want : labels)
                for (const auto& l : m.label)
                    if (l.name == want) k += (k.empty() ? "" : "/") + l.value;
            out[k] += m.counter.value;
        }
    }
    return out;
}

}  // namespace pixelmill
