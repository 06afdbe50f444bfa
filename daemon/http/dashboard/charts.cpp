#include "http/dashboard/charts.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace pixelmill::http::dashboard {

namespace {

constexpr double kWidth = 600;
constexpr double kHistWidth = 360;  // the small multiples of the histograms
constexpr double kPlot = 120;  // plot height; labels go below

// 1, 2, 5 × 10^k at or above n.
uint64_t niceCeiling(uint64_t n) {
    if (n <= 1) return 1;
    uint64_t base = 1;
    while (base * 10 < n) base *= 10;
    for (uint64_t m : {1, 2, 5, 10})
        if (base * m >= n) return base * m;
    return base * 10;
}

std::string coord(double v) { return fixed(v, 1); }

double quantileOf(std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    double rank = q * static_cast<double>(sorted.size() - 1);
    auto lo = static_cast<size_t>(std::floor(rank));
    size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

std::string clockText(int64_t unixMs) {
    std::string t = timeText(unixMs);  // 2026-11-22 17:49:03 UTC
    return t.substr(11, 5);
}

}  // namespace

std::string secondsLabel(double s) {
    // One decimal below 10 of a unit, none when it would be ".0".
    auto text = [](double v, const char* unit) {
        std::string t = fixed(v, v >= 10 ? 0 : 1);
        if (t.size() > 2 && t.ends_with(".0")) t.resize(t.size() - 2);
        return t + " " + unit;
    };
    if (s >= 60) return text(s / 60, "min");
    if (s >= 1) return text(s, "s");
    return text(s * 1000, "ms");
}

Data throughputChart(const std::vector<DashboardReads::FinishedJob>& finished, int64_t now) {
    constexpr int kMinutes = 60;
    int64_t lastMinute = now / 60000 * 60000;
    int64_t start = lastMinute - (kMinutes - 1) * 60000LL;
    std::array<std::array<uint64_t, 3>, kMinutes> counts{};  // succeeded, failed, canceled
    std::array<uint64_t, 3> totals{};
    for (const auto& f : finished) {
        if (f.finishedAt < start) continue;
        auto m = static_cast<size_t>((f.finishedAt - start) / 60000);
        if (m >= kMinutes) m = kMinutes - 1;
        size_t k = f.state == JobState::Succeeded ? 0 : f.state == JobState::Failed ? 1 : 2;
        ++counts[m][k];
        ++totals[k];
    }
    uint64_t peak = 0;
    for (const auto& c : counts) peak = std::max(peak, c[0] + c[1] + c[2]);
    uint64_t top = niceCeiling(std::max<uint64_t>(peak, 1));
    double slot = kWidth / kMinutes;
    static const char* classes[] = {"succeeded", "failed", "canceled"};
    static const char* words[] = {"succeeded", "failed", "canceled"};
    Data bars = list();
    for (int m = 0; m < kMinutes; ++m) {
        Data bar;
        bar.set("x", coord(m * slot + 1));
        bar.set("w", coord(slot - 2));
        std::string title = clockText(start + m * 60000LL) + " UTC:";
        Data segments = list();
        double y = kPlot;
        uint64_t sum = 0;
        for (size_t k = 0; k < 3; ++k) {
            uint64_t n = counts[static_cast<size_t>(m)][k];
            sum += n;
            if (n == 0) continue;
            double h = kPlot * static_cast<double>(n) / static_cast<double>(top);
            y -= h;
            Data seg;
            seg.set("y", coord(y));
            seg.set("h", coord(h));
            seg.set("class", classes[k]);
            segments.push_back(seg);
            title += " " + num(n) + " " + words[k];
        }
        if (sum == 0) title += " none finished";
        bar.set("segments", segments);
        bar.set("title", title);
        bars.push_back(bar);
    }
    Data d;
    d.set("bars", bars);
    d.set("top", num(top));
    d.set("half", top % 2 == 0 ? num(top / 2) : fixed(static_cast<double>(top) / 2, 1));
    d.set("succeeded", num(totals[0]));
    d.set("failed", num(totals[1]));
    d.set("canceled", num(totals[2]));
    d.set("per_minute", fixed(static_cast<double>(totals[0] + totals[1] + totals[2]) / kMinutes, 1));
    d.set("start_label", clockText(start));
    d.set("end_label", clockText(lastMinute));
    d.set("empty", totals[0] + totals[1] + totals[2] == 0);
    return d;
}

namespace {

constexpr int kWindows = 12;  // of the percentile chart
constexpr int64_t kWindowMs = 5 * 60000;
const char* const kQuantileNames[] = {"p50", "p95", "p99"};

// p50, p95 and p99 of the durations of one window's succeeded jobs.
struct WindowQuantiles {
    int window;
    double q[3];
    size_t n;
};

// The windows from `start` on that have a succeeded job, oldest first.
std::vector<WindowQuantiles> windowQuantiles(const std::vector<DashboardReads::FinishedJob>& finished, int64_t start) {
    std::array<std::vector<double>, kWindows> windows;
    for (const auto& f : finished) {
        if (f.state != JobState::Succeeded || !f.durationSeconds || f.finishedAt < start) continue;
        auto w = static_cast<size_t>(std::min<int64_t>((f.finishedAt - start) / kWindowMs, kWindows - 1));
        windows[w].push_back(std::max(*f.durationSeconds, 1e-4));
    }
    std::vector<WindowQuantiles> points;
    for (int w = 0; w < kWindows; ++w) {
        auto& v = windows[static_cast<size_t>(w)];
        if (v.empty()) continue;
        std::sort(v.begin(), v.end());
        points.push_back({w, {quantileOf(v, 0.5), quantileOf(v, 0.95), quantileOf(v, 0.99)}, v.size()});
    }
    return points;
}

// A logarithmic y axis from decade `lo` to decade `hi` (powers of ten).
struct DecadeScale {
    double lo;
    double hi;
    double y(double v) const { return kPlot - kPlot * (std::log10(v) - lo) / (hi - lo); }
};

// Whole decades around the data, at least two.
DecadeScale decadesAround(const std::vector<WindowQuantiles>& points) {
    double lo = 1e9, hi = 0;
    for (const WindowQuantiles& p : points) {
        lo = std::min(lo, p.q[0]);
        hi = std::max(hi, p.q[2]);
    }
    double decadeLo = std::floor(std::log10(lo));
    return {decadeLo, std::max(std::ceil(std::log10(hi)), decadeLo + 1)};
}

// Quantile k's line through the windows, with a dot on each that says its value.
Data quantileLine(const std::vector<WindowQuantiles>& points, int k, const DecadeScale& scale, int64_t start) {
    double slot = kWidth / kWindows;
    std::string pts;
    Data dots = list();
    for (const WindowQuantiles& p : points) {
        double x = (p.window + 0.5) * slot;
        double y = scale.y(p.q[k]);
        pts += (pts.empty() ? "" : " ") + coord(x) + "," + coord(y);
        Data dot;
        dot.set("cx", coord(x));
        dot.set("cy", coord(y));
        dot.set("title", std::string(kQuantileNames[k]) + " " + secondsLabel(p.q[k]) + " (" +
                             num(static_cast<uint64_t>(p.n)) + " jobs, " + clockText(start + p.window * kWindowMs) +
                             "–" + clockText(start + (p.window + 1) * kWindowMs) + " UTC)");
        dots.push_back(dot);
    }
    Data line;
    line.set("name", kQuantileNames[k]);
    line.set("points", pts);
    line.set("dots", dots);
    return line;
}

// A labelled grid line at each decade.
Data decadeGrid(const DecadeScale& scale) {
    Data grid = list();
    for (double e = scale.lo; e <= scale.hi + 1e-9; e += 1) {
        Data g;
        g.set("y", coord(scale.y(std::pow(10.0, e))));
        g.set("label", secondsLabel(std::pow(10.0, e)));
        grid.push_back(g);
    }
    return grid;
}

// A bar per bucket, as high as its share of the fullest bucket (at least a
// pixel when it has any), titled with its range and count.
Data histogramBars(const HistogramSnapshot& h, double slot) {
    size_t n = h.bounds.size();
    std::vector<uint64_t> perBucket(n);  // the snapshot's counts are cumulative
    uint64_t peak = 1;
    for (size_t i = 0; i < n; ++i) {
        perBucket[i] = h.cumulative[i] - (i ? h.cumulative[i - 1] : 0);
        peak = std::max(peak, perBucket[i]);
    }
    Data bars = list();
    for (size_t i = 0; i < n; ++i) {
        Data bar;
        double hgt = perBucket[i] ? std::max(1.0, kPlot * static_cast<double>(perBucket[i]) / static_cast<double>(peak)) : 0;
        bar.set("x", coord(static_cast<double>(i) * slot + 1));
        bar.set("w", coord(slot - 2));
        bar.set("y", coord(kPlot - hgt));
        bar.set("h", coord(hgt));
        std::string lower = i ? secondsLabel(h.bounds[i - 1]) : std::string("0");
        std::string upper = std::isinf(h.bounds[i]) ? std::string("∞") : secondsLabel(h.bounds[i]);
        bar.set("title", lower + " – " + upper + ": " + num(perBucket[i]) + " jobs");
        bars.push_back(bar);
    }
    return bars;
}

// Axis labels at the bucket bounds of 1 ms, 10 ms, 100 ms, 1 s, 10 s and 5 min.
Data boundLabels(const HistogramSnapshot& h, double slot) {
    Data labels = list();
    for (size_t i = 0; i < h.bounds.size(); ++i) {
        double b = h.bounds[i];
        if (!std::isinf(b) && (b == 0.001 || b == 0.01 || b == 0.1 || b == 1 || b == 10 || b == 300)) {
            Data label;
            label.set("x", coord(static_cast<double>(i + 1) * slot));
            label.set("text", secondsLabel(b));
            labels.push_back(label);
        }
    }
    return labels;
}

// Where a duration falls on the histogram's x axis: linearly inside its
// bucket, or the middle of the +Inf bucket.
double histogramX(const HistogramSnapshot& h, double v, double slot) {
    for (size_t i = 0; i < h.bounds.size(); ++i) {
        if (v > h.bounds[i]) continue;
        if (std::isinf(h.bounds[i])) return (static_cast<double>(i) + 0.5) * slot;
        double lower = i ? h.bounds[i - 1] : 0;
        double frac = h.bounds[i] > lower ? (v - lower) / (h.bounds[i] - lower) : 1;
        return (static_cast<double>(i) + std::clamp(frac, 0.0, 1.0)) * slot;
    }
    return kHistWidth - slot / 2;
}

// p50 / p95 / p99 as markers on the histogram and as values beside it.
void setQuantileMarkers(Data& d, const HistogramSnapshot& h, double slot) {
    Data markers = list();
    static const std::pair<const char*, double> qs[] = {{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}};
    int row = 0;
    for (const auto& [name, q] : qs) {
        double v = h.quantile(q);
        Data m;
        m.set("name", name);
        m.set("ly", coord(12.0 + 12.0 * row++));
        m.set("x", coord(histogramX(h, v, slot)));
        m.set("value", secondsLabel(v));
        markers.push_back(m);
        d.set(name, secondsLabel(v));
    }
    d.set("markers", markers);
}

}  // namespace

Data percentileChart(const std::vector<DashboardReads::FinishedJob>& finished, int64_t now) {
    int64_t end = now;
    int64_t start = end - kWindows * kWindowMs;
    std::vector<WindowQuantiles> points = windowQuantiles(finished, start);
    Data d;
    d.set("empty", points.empty());
    if (points.empty()) return d;
    DecadeScale scale = decadesAround(points);
    Data lines = list();
    for (int k = 0; k < 3; ++k) lines.push_back(quantileLine(points, k, scale, start));
    d.set("lines", lines);
    d.set("grid", decadeGrid(scale));
    d.set("start_label", clockText(start));
    d.set("end_label", clockText(end));
    const WindowQuantiles& last = points.back();
    d.set("p50", secondsLabel(last.q[0]));
    d.set("p95", secondsLabel(last.q[1]));
    d.set("p99", secondsLabel(last.q[2]));
    return d;
}

Data histogramChart(const std::string& plugin, const HistogramSnapshot& h) {
    Data d;
    d.set("plugin", plugin);
    d.set("count", num(h.count) + (h.count == 1 ? " job" : " jobs"));
    d.set("empty", h.count == 0);
    if (h.count == 0 || h.bounds.empty()) return d;
    double slot = kHistWidth / static_cast<double>(h.bounds.size());
    d.set("bars", histogramBars(h, slot));
    d.set("labels", boundLabels(h, slot));
    setQuantileMarkers(d, h, slot);
    d.set("mean", secondsLabel(h.sum / static_cast<double>(h.count)));
    return d;
}

}  // namespace pixelmill::http::dashboard
