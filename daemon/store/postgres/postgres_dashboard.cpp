// PostgresJobStore: the dashboard's queries. Every one is served by an index
// (migrations/002_dashboard.sql, 008_job_states.sql) so that pages stay fast
// at 100k jobs.
#include "store/postgres/postgres_job_store.h"

#include "store/dashboard_paging.h"
#include "store/postgres/rows.h"

#include <algorithm>
#include <cctype>

namespace pixelmill {

using namespace pg;

namespace {

// A filename folded to ASCII lower case and compared bytewise: exactly the
// expression index originals_filename is built on.
const std::string kFoldedFilename =
    "translate(o.filename, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\"";

// A LIKE pattern for "starts with `search`", ASCII lower-cased, its
// wildcards escaped.
std::string startsWith(const std::string& search) {
    std::string pattern;
    for (char c : search) {
        if (c == '%' || c == '_' || c == '\\') pattern += '\\';
        pattern += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return pattern + '%';
}

// The filters every arm of the jobs query shares. With a state, each arm
// joins job_states s (stateJoin) and filters and orders on its columns, so
// that its (state, plugin, seq) index serves them: jobs has none on state.
std::string jobFilters(const JobStore::DashboardJobQuery& q, Bindings& p) {
    const std::string t = q.state ? "s." : "j.";
    std::string sql;
    if (q.state) sql += " AND s.state = " + p(toString(*q.state));
    if (!q.plugin.empty()) sql += " AND " + t + "plugin = " + p(q.plugin);
    if (q.beforeSeq) sql += " AND " + t + "seq < " + p(*q.beforeSeq);
    if (q.afterSeq) sql += " AND " + t + "seq > " + p(*q.afterSeq);
    return sql;
}

std::string stateJoin(const JobStore::DashboardJobQuery& q) { return q.state ? kJoinStates : std::string(); }

}  // namespace

JobStore::DashboardJobPage PostgresJobStore::dashboardJobs(const DashboardJobQuery& q) {
    const int limit = std::clamp(q.limit, 1, 500);
    const bool newerFirst = !q.afterSeq.has_value();  // paging back walks upwards, then reverses
    const std::string order =
        std::string(" ORDER BY ") + (q.state ? "s" : "j") + (newerFirst ? ".seq DESC" : ".seq ASC");
    const bool searchId = !q.search.empty() && couldBeJobId(q.search);

    std::vector<Job> rows = pool_.run([&](Connection& c) {
        std::vector<Job> out;
        Bindings p;
        const std::string filters = jobFilters(q, p);
        if (q.search.empty()) {
            std::string sql = kSelectJob + stateJoin(q) + " WHERE true" + filters + order + " LIMIT " + p(limit + 1);
            for (Row r : c.query(sql, p.values())) out.push_back(readJob(r));
            return out;
        }
        // Planned with the pattern known (queryOnce), so that its prefix becomes an index range.
        const std::string like = startsWith(q.search);
        auto countUpTo = [&](const std::string& from, const std::string& match) {
            return c.queryOnce("SELECT count(*) FROM (SELECT 1 FROM " + from + " WHERE " + match + " LIMIT " +
                                   std::to_string(kNarrowSearch) + ") AS m",
                               {like})
                .front()
                .i64(0);
        };
        int64_t candidates = countUpTo("originals o", kFoldedFilename + " LIKE $1");
        if (searchId) candidates += countUpTo("jobs j", "j.id LIKE $1");

        const std::string pattern = p(like);
        const std::string idMatch = "j.id LIKE " + pattern;
        const std::string fileMatch = kFoldedFilename + " LIKE " + pattern;
        std::string sql;
        if (candidates < kNarrowSearch) {
            // Few matches: collect their seqs from the two indexes, then read the page.
            std::string seqs = "SELECT j.seq FROM originals o JOIN jobs j ON j.original_id = o.id" + stateJoin(q) +
                               " WHERE " + fileMatch + filters;
            if (searchId) seqs += " UNION SELECT j.seq FROM jobs j" + stateJoin(q) + " WHERE " + idMatch + filters;
            sql = kSelectJob + " WHERE j.seq IN (SELECT seq FROM (" + seqs + ") AS m ORDER BY seq" +
                  (newerFirst ? " DESC" : "") + " LIMIT " + p(limit + 1) + ")" +
                  (newerFirst ? " ORDER BY j.seq DESC" : " ORDER BY j.seq ASC");
        } else {
            // Many matches: walk jobs in seq order; a page fills after a few rows.
            std::string match = "(" + fileMatch + (searchId ? " OR " + idMatch : std::string()) + ")";
            sql = kSelectJob + stateJoin(q) + " WHERE " + match + filters + order + " LIMIT " + p(limit + 1);
        }
        for (Row r : c.queryOnce(sql, p.values())) out.push_back(readJob(r));
        return out;
    });

    return dashboardPage(std::move(rows), q, limit);
}

std::vector<JobStore::FinishedJob> PostgresJobStore::finishedSince(int64_t since) {
    return pool_.run([&](Connection& c) {
        std::vector<FinishedJob> out;
        for (Row r : c.query("SELECT finished_at, state, duration_seconds FROM job_states WHERE finished_at >= $1 "
                             "ORDER BY finished_at",
                             {since})) {
            FinishedJob f;
            f.finishedAt = r.i64(0);
            f.state = parseJobState(r.text(1)).value_or(JobState::Succeeded);
            f.durationSeconds = r.optReal(2);
            out.push_back(f);
        }
        return out;
    });
}

std::vector<JobStore::ErrorCount> PostgresJobStore::failuresByCode() {
    return pool_.run([](Connection& c) {
        std::vector<ErrorCount> out;
        for (Row r : c.query("SELECT plugin, coalesce(error_code, ''), count(*) AS n FROM job_states "
                             "WHERE state = 'failed' "
                             "GROUP BY plugin, error_code ORDER BY n DESC, plugin, error_code"))
            out.push_back({r.text(0), r.text(1), static_cast<uint64_t>(r.i64(2))});
        return out;
    });
}

std::vector<Job> PostgresJobStore::latestFailures(int limit) {
    return pool_.run([&](Connection& c) {
        std::vector<Job> out;
        for (Row r : c.query(kSelectJob + kJoinStates +
                                 " WHERE s.state = 'failed' ORDER BY s.finished_at DESC LIMIT $1",
                             {std::clamp(limit, 1, 100)}))
            out.push_back(readJob(r));
        return out;
    });
}

std::map<std::string, JobStore::OriginalUsage> PostgresJobStore::originalUsage(const std::vector<std::string>& ids,
                                                                             int latest) {
    return pool_.run([&](Connection& c) {
        std::map<std::string, OriginalUsage> out;
        for (const std::string& id : ids) out[id];
        std::vector<std::string> unique;
        for (const auto& [id, usage] : out) unique.push_back(id);
        for (Row r : c.query("SELECT original_id, count(*) FROM jobs WHERE original_id = ANY($1::text[]) "
                             "GROUP BY original_id",
                             {array(unique)}))
            out[r.text(0)].jobs = static_cast<uint64_t>(r.i64(1));
        // The newest `latest` of each, from the (original_id, seq) index.
        for (Row r : c.query("SELECT u.id, j.id, j.plugin, j.state, j.created_at "
                             "FROM unnest($1::text[]) WITH ORDINALITY AS u (id, pos) "
                             "CROSS JOIN LATERAL (SELECT id, plugin, state, created_at, seq FROM jobs "
                             "  WHERE original_id = u.id ORDER BY seq DESC LIMIT $2) AS j "
                             "ORDER BY u.pos, j.seq DESC",
                             {array(unique), std::max(latest, 0)})) {
            Job j;
            j.id = r.text(1);
            j.plugin = r.text(2);
            j.state = parseJobState(r.text(3)).value_or(JobState::Queued);
            j.createdAt = r.i64(4);
            out[r.text(0)].latest.push_back(std::move(j));
        }
        return out;
    });
}

}  // namespace pixelmill
