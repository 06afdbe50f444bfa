#pragma once

namespace pixelmill {

// How much nicer than the daemon's reactor, scheduler and store threads its
// slow work runs: plugin worker processes by 10, the intake pool (uploads
// sniffed, checked, probed, committed) by 5. When the cores are busy, a
// reactor thread with a request to frame or answer runs first, and an
// upload's checks before a job's pixels; an otherwise idle machine still
// gives the slow work every core.
constexpr int kWorkerNice = 10;
constexpr int kIntakeNice = 5;

}  // namespace pixelmill
