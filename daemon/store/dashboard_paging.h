#pragma once

// What both stores' dashboardJobs share: when a search changes plan, and how
// the rows a query read become a page with its cursors.
#include "store/job_store.h"

#include <string_view>
#include <vector>

namespace pixelmill {

// Search terms matching more rows than this are served by walking jobs in seq
// order (matches are dense: a page fills fast); fewer, by collecting the
// matches from the id and filename indexes and sorting them.
inline constexpr int kNarrowSearch = 5000;

// True if `search` may begin a job id (hex digits and dashes).
bool couldBeJobId(std::string_view search);

// The page from the rows a query read: up to limit + 1 (one more says more
// exist), newest first, or oldest first when paging back (afterSeq).
JobStore::DashboardJobPage dashboardPage(std::vector<Job> rows, const JobStore::DashboardJobQuery& query, int limit);

}  // namespace pixelmill
