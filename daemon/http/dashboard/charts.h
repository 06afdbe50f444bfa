#pragma once

// The overview's charts as template data: SVG geometry (numbers and class
// names only), so that the templates draw them without any script.
#include "http/dashboard/view.h"
#include "metrics/metrics.h"
#include "store/dashboard_reads.h"

#include <string>
#include <vector>

namespace pixelmill::http::dashboard {

// Jobs finished per minute over the last hour, stacked by outcome.
Data throughputChart(const std::vector<DashboardReads::FinishedJob>& finished, int64_t nowMs);
// p50 / p95 / p99 of the processing time of the jobs that succeeded, per
// five minutes over the last hour, on a logarithmic axis.
Data percentileChart(const std::vector<DashboardReads::FinishedJob>& finished, int64_t nowMs);
// One plugin's duration histogram (buckets of Metrics::durationBuckets())
// with its p50 / p95 / p99 marked.
Data histogramChart(const std::string& plugin, const HistogramSnapshot& histogram);

// "12.3 ms" style label of a bucket bound or a quantile.
std::string secondsLabel(double seconds);

}  // namespace pixelmill::http::dashboard
