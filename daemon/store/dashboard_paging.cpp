#include "store/dashboard_paging.h"

#include <algorithm>
#include <cctype>

namespace pixelmill {

bool couldBeJobId(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '-'; });
}

JobStore::DashboardJobPage dashboardPage(std::vector<Job> rows, const JobStore::DashboardJobQuery& q, int limit) {
    const bool newerFirst = !q.afterSeq.has_value();
    JobStore::DashboardJobPage page;
    bool more = static_cast<int>(rows.size()) > limit;
    if (more) rows.pop_back();
    if (!newerFirst) std::reverse(rows.begin(), rows.end());
    page.jobs = std::move(rows);
    if (page.jobs.empty()) {
        // Past either end: offer the way back.
        if (q.beforeSeq) page.newerCursor = *q.beforeSeq - 1;
        if (q.afterSeq) page.olderCursor = *q.afterSeq + 1;
        return page;
    }
    bool older = newerFirst ? more : true;  // came from older pages: they exist
    bool newer = newerFirst ? q.beforeSeq.has_value() : more;
    if (older) page.olderCursor = page.jobs.back().seq;
    if (newer) page.newerCursor = page.jobs.front().seq;
    return page;
}

}  // namespace pixelmill
