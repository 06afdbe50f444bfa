#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pixelmill {

// A histogram as the dashboard draws it: cumulative counts per upper bound.
struct HistogramSnapshot {
    std::vector<double> bounds;           // upper bounds, ascending; +Inf last
    std::vector<uint64_t> cumulative;     // observations <= bound
    uint64_t count = 0;
    double sum = 0;
    // Linear interpolation inside the bucket, as PromQL's histogram_quantile does.
    double quantile(double q) const;
};

// pixelmill's Prometheus metrics, on prometheus-cpp's registry and families.
// Every layer records into it; it depends on none of them. Thread-safe:
// prometheus-cpp's metrics are; the caches of label sets have a mutex.
class Metrics {
public:
    static const std::vector<double>& durationBuckets();  // 1 ms to 5 min

    explicit Metrics(const std::string& version);

    // Jobs.
    void jobSubmitted(const std::string& plugin);
    void dedupHit();
    void uploadBytes(uint64_t bytes);
    void jobFinished(const std::string& plugin, const std::string& outcome);  // succeeded|failed|canceled
    void jobError(const std::string& plugin, const std::string& code);
    void jobRetried(const std::string& plugin);
    void jobDuration(const std::string& plugin, double seconds);
    void queueWait(const std::string& plugin, double seconds);
    // HTTP: `route` is the template (/v1/jobs/:id), never the raw path.
    void httpRequest(const std::string& route, const std::string& method, int code, double seconds);

    // Gauges set before each scrape by whoever knows them.
    prometheus::Gauge& gauge(const std::string& name, const std::string& help,
                             const prometheus::Labels& labels = {});
    // A counter whose total someone else keeps: brought up to `total` (never down).
    void counterTo(const std::string& name, const std::string& help, double total);
    void counterTo(const std::string& name, const std::string& help, const prometheus::Labels& labels, double total);
    void onScrape(std::function<void(Metrics&)> refresh);

    // The text exposition format 0.0.4, with the process metrics read from /proc.
    std::string scrape();

    // For the dashboard: one histogram per label value of a family.
    std::map<std::string, HistogramSnapshot> histograms(const std::string& family, const std::string& label);
    // Counter values of a family, keyed by the given labels joined with '/'.
    std::map<std::string, double> counters(const std::string& family, const std::vector<std::string>& labels);

    prometheus::Registry& registry() { return *registry_; }

private:
    template <class T>
    T& cached(std::map<std::string, T*>& cache, prometheus::Family<T>& family, const prometheus::Labels& labels);
    void refreshProcess();

    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& submitted_;
    prometheus::Family<prometheus::Counter>& finished_;
    prometheus::Family<prometheus::Counter>& errors_;
    prometheus::Family<prometheus::Counter>& retries_;
    prometheus::Counter& dedupHits_;
    prometheus::Counter& uploadBytes_;
    prometheus::Family<prometheus::Histogram>& duration_;
    prometheus::Family<prometheus::Histogram>& queueWait_;
    prometheus::Family<prometheus::Histogram>& http_;
    prometheus::Counter& refreshErrors_;
    prometheus::Family<prometheus::Counter>& processCpu_;

    std::mutex mutex_;
    std::map<std::string, prometheus::Counter*> counterCache_;
    std::map<std::string, prometheus::Histogram*> histogramCache_;
    std::map<std::string, prometheus::Family<prometheus::Gauge>*> gaugeFamilies_;
    std::map<std::string, prometheus::Family<prometheus::Counter>*> externalFamilies_;
    std::map<std::string, prometheus::Counter*> externalCounters_;
    std::vector<std::function<void(Metrics&)>> refreshers_;
    double lastCpuSeconds_ = 0;
};

}  // namespace pixelmill
