// SqliteJobStore: the dashboard's queries. Every one is served by an index
// (migrations/003_dashboard.sql) so that pages stay fast at 100k jobs.
#include "store/dashboard_paging.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_job_store.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace pixelmill {

using namespace sqlite;

namespace {

// [lower, upper) of the strings that start with `prefix` (bytewise, and
// under NOCASE when the prefix is lower-case); empty if no upper bound exists.
std::pair<std::string, std::string> prefixRange(std::string prefix) {
    std::string upper = prefix;
    while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
    if (!upper.empty()) upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    return {std::move(prefix), std::move(upper)};
}

std::string asciiLower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The filters every arm of the jobs query shares, numbered from ?10 up.
struct Filters {
    std::string sql;
    void add(bool on, const char* clause) {
        if (on) sql += clause;
    }
};

Filters jobFilters(const JobStore::DashboardJobQuery& q) {
    Filters f;
    f.add(q.state.has_value(), " AND j.state = ?10");
    f.add(!q.plugin.empty(), " AND j.plugin = ?11");
    f.add(q.beforeSeq.has_value(), " AND j.seq < ?12");
    f.add(q.afterSeq.has_value(), " AND j.seq > ?13");
    return f;
}

void bindFilters(Statement& s, const JobStore::DashboardJobQuery& q) {
    if (q.state) s.bind(10, toString(*q.state));
    if (!q.plugin.empty()) s.bind(11, q.plugin);
    if (q.beforeSeq) s.bind(12, *q.beforeSeq);
    if (q.afterSeq) s.bind(13, *q.afterSeq);
}

// kSelectJob with its FROM clause replaced, to steer the planner where it
// has no statistics to go by (the daemon does not ANALYZE).
std::string selectJobFrom(const std::string& from) {
    static const std::string plain = "FROM jobs j JOIN originals o ON o.id = j.original_id";
    std::string sql = kSelectJob;
    auto at = sql.find(plain);
    if (at == std::string::npos) throw std::logic_error("kSelectJob no longer reads " + plain);
    return sql.replace(at, plain.size(), from);
}

int64_t countUpTo(Connection& db, const std::string& sql, const std::string& lo, const std::string& hi) {
    Statement& s = db.prepare("SELECT COUNT(*) FROM (" + sql + " LIMIT " + std::to_string(kNarrowSearch) + ")");
    Reset r(s);
    s.bind(1, lo).bind(2, hi);
    return s.step() ? s.i64(0) : 0;
}

}  // namespace

JobStore::DashboardJobPage SqliteJobStore::dashboardJobs(const DashboardJobQuery& q) {
    const int limit = std::clamp(q.limit, 1, 500);
    const bool newerFirst = !q.afterSeq.has_value();  // paging back walks upwards, then reverses
    const std::string order = newerFirst ? " ORDER BY j.seq DESC" : " ORDER BY j.seq ASC";
    Filters f = jobFilters(q);
    auto db = reader();

    std::string search = asciiLower(q.search);
    bool searchId = !search.empty() && couldBeJobId(search);
    auto [fileLo, fileHi] = prefixRange(search);
    auto [idLo, idHi] = prefixRange(search);
    if (fileHi.empty()) fileHi = "\xFF";  // no upper bound: the end of the index
    if (idHi.empty()) idHi = "\xFF";

    std::vector<Job> rows;
    if (search.empty()) {
        Statement& s = db->prepare(kSelectJob + " WHERE 1 = 1" + f.sql + order + " LIMIT ?1");
        Reset r(s);
        bindFilters(s, q);
        s.bind(1, limit + 1);
        while (s.step()) rows.push_back(readJob(s));
    } else {
        const std::string idArm = "SELECT j.seq FROM jobs j WHERE j.id >= ?1 AND j.id < ?2";
        const std::string fileArm =
            "SELECT j.seq FROM originals o JOIN jobs j ON j.original_id = o.id "
            "WHERE o.filename COLLATE NOCASE >= ?3 AND o.filename COLLATE NOCASE < ?4";
        int64_t candidates = countUpTo(*db, "SELECT 1 FROM originals WHERE filename COLLATE NOCASE >= ?1 AND "
                                            "filename COLLATE NOCASE < ?2", fileLo, fileHi);
        if (searchId) candidates += countUpTo(*db, "SELECT 1 FROM jobs WHERE id >= ?1 AND id < ?2", idLo, idHi);
        if (candidates < kNarrowSearch) {
            // Few matches: collect their seqs from the two indexes, then read the page.
            std::string sql = (searchId ? idArm + f.sql + " UNION " : std::string()) + fileArm + f.sql +
                              (newerFirst ? " ORDER BY 1 DESC" : " ORDER BY 1 ASC") + " LIMIT ?5";
            std::vector<int64_t> seqs;
            {
                Statement& s = db->prepare(sql);
                Reset r(s);
                if (searchId) s.bind(1, idLo).bind(2, idHi);
                s.bind(3, fileLo).bind(4, fileHi).bind(5, limit + 1);
                bindFilters(s, q);
                while (s.step()) seqs.push_back(s.i64(0));
            }
            Statement& row = db->prepare(kSelectJob + " WHERE j.seq = ?");
            for (int64_t seq : seqs) {
                Reset r(row);
                row.bind(1, seq);
                if (row.step()) rows.push_back(readJob(row));
            }
        } else {
            // Many matches: walk jobs in seq order (CROSS JOIN keeps jobs outside,
            // '+' keeps the planner off the filename index); a page fills after a few rows.
            std::string match = "(+o.filename COLLATE NOCASE >= ?3 AND +o.filename COLLATE NOCASE < ?4";
            if (searchId) match += " OR (j.id >= ?1 AND j.id < ?2)";
            match += ")";
            Statement& s = db->prepare(selectJobFrom("FROM jobs j CROSS JOIN originals o ON o.id = j.original_id") +
                                       " WHERE " + match + f.sql + order + " LIMIT ?5");
            Reset r(s);
            if (searchId) s.bind(1, idLo).bind(2, idHi);
            s.bind(3, fileLo).bind(4, fileHi).bind(5, limit + 1);
            bindFilters(s, q);
            while (s.step()) rows.push_back(readJob(s));
        }
    }

    return dashboardPage(std::move(rows), q, limit);
}

std::vector<JobStore::FinishedJob> SqliteJobStore::finishedSince(int64_t since) {
    auto db = reader();
    Statement& s = db->prepare(
        "SELECT finished_at, state, duration_seconds FROM jobs WHERE finished_at >= ? ORDER BY finished_at");
    Reset r(s);
    s.bind(1, since);
    std::vector<FinishedJob> out;
    while (s.step()) {
        FinishedJob f;
        f.finishedAt = s.i64(0);
        f.state = parseJobState(s.text(1)).value_or(JobState::Succeeded);
        f.durationSeconds = s.optReal(2);
        out.push_back(f);
    }
    return out;
}

std::vector<JobStore::ErrorCount> SqliteJobStore::failuresByCode() {
    auto db = reader();
    Statement& s = db->prepare(
        "SELECT plugin, coalesce(error_code, ''), COUNT(*) AS n FROM jobs INDEXED BY jobs_failed_codes "
        "WHERE state = 'failed' "
        "GROUP BY plugin, error_code ORDER BY n DESC, plugin, error_code");
    Reset r(s);
    std::vector<ErrorCount> out;
    while (s.step()) out.push_back({s.text(0), s.text(1), static_cast<uint64_t>(s.i64(2))});
    return out;
}

std::vector<Job> SqliteJobStore::latestFailures(int limit) {
    auto db = reader();
    Statement& s = db->prepare(selectJobFrom("FROM jobs j INDEXED BY jobs_failed_finished JOIN originals o ON "
                                             "o.id = j.original_id") +
                               " WHERE j.state = 'failed' ORDER BY j.finished_at DESC LIMIT ?");
    Reset r(s);
    s.bind(1, std::clamp(limit, 1, 100));
    std::vector<Job> out;
    while (s.step()) out.push_back(readJob(s));
    return out;
}

std::map<std::string, JobStore::OriginalUsage> SqliteJobStore::originalUsage(const std::vector<std::string>& ids,
                                                                           int latest) {
    auto db = reader();
    std::map<std::string, OriginalUsage> out;
    for (const std::string& id : ids) {
        OriginalUsage& u = out[id];
        {
            Statement& s = db->prepare("SELECT COUNT(*) FROM jobs WHERE original_id = ?");
            Reset r(s);
            s.bind(1, id);
            if (s.step()) u.jobs = static_cast<uint64_t>(s.i64(0));
        }
        if (u.jobs == 0) continue;
        Statement& s = db->prepare(
            "SELECT id, plugin, state, created_at FROM jobs WHERE original_id = ? ORDER BY seq DESC LIMIT ?");
        Reset r(s);
        s.bind(1, id).bind(2, std::max(latest, 0));
        while (s.step()) {
            Job j;
            j.id = s.text(0);
            j.plugin = s.text(1);
            j.state = parseJobState(s.text(2)).value_or(JobState::Queued);
            j.createdAt = s.i64(3);
            u.latest.push_back(std::move(j));
        }
    }
    return out;
}

}  // namespace pixelmill
