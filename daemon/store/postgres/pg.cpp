#include "store/postgres/pg.h"

#include <libpq-fe.h>
#include <poll.h>

#include <charconv>
#include <cstdlib>

namespace pixelmill::pg {

namespace {

// SQLSTATEs after which the connection is no use: connection exceptions
// (class 08), and the server shutting down or starting up.
bool lostConnection(const std::string& sqlstate) {
    return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

std::string trimmed(const char* message) {
    std::string s = message ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Parameters as libpq takes them: pointers into the values, NULL for NULL.
std::vector<const char*> pointers(const Value* values, size_t n) {
    std::vector<const char*> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = values[i].text() ? values[i].text()->c_str() : nullptr;
    return out;
}

void appendQuoted(std::string& out, const std::string& s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

}  // namespace

Value::Value(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
    text_ = std::string(buf, ec == std::errc() ? end : buf);
}

std::string array(const std::vector<Value>& elements) {
    std::string out = "{";
    for (size_t i = 0; i < elements.size(); ++i) {
        if (i) out += ',';
        if (elements[i].text()) appendQuoted(out, *elements[i].text());
        else out += "NULL";
    }
    return out + "}";
}

std::string array(const std::vector<std::string>& elements) {
    std::string out = "{";
    for (size_t i = 0; i < elements.size(); ++i) {
        if (i) out += ',';
        appendQuoted(out, elements[i]);
    }
    return out + "}";
}

// Row ---------------------------------------------------------------------------

bool Row::isNull(int column) const { return PQgetisnull(result_->raw(), row_, column) != 0; }

std::string Row::text(int column) const {
    pg_result* r = result_->raw();
    return std::string(PQgetvalue(r, row_, column), static_cast<size_t>(PQgetlength(r, row_, column)));
}

int64_t Row::i64(int column) const {
    if (isNull(column)) return 0;
    const char* v = PQgetvalue(result_->raw(), row_, column);
    return std::strtoll(v, nullptr, 10);
}

double Row::real(int column) const {
    if (isNull(column)) return 0;
    return std::strtod(PQgetvalue(result_->raw(), row_, column), nullptr);
}

bool Row::boolean(int column) const {
    return !isNull(column) && PQgetvalue(result_->raw(), row_, column)[0] == 't';
}

std::optional<int> Row::optInt(int column) const {
    if (isNull(column)) return std::nullopt;
    return i32(column);
}

std::optional<int64_t> Row::optI64(int column) const {
    if (isNull(column)) return std::nullopt;
    return i64(column);
}

std::optional<double> Row::optReal(int column) const {
    if (isNull(column)) return std::nullopt;
    return real(column);
}

// Result ------------------------------------------------------------------------

Result::~Result() {
    if (result_) PQclear(result_);
}

int Result::rows() const { return PQntuples(result_); }

int64_t Result::affected() const {
    const char* n = PQcmdTuples(result_);
    return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

// Connection --------------------------------------------------------------------

Connection::Connection(const std::string& conninfo) {
    // Keywords before dbname are defaults the URI may override. Keepalives:
    // a server that vanished (host down, network cut) fails a waiting call
    // in about half a minute rather than the kernel's quarter of an hour.
    const char* keys[] = {"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "dbname", nullptr};
    const char* values[] = {"5", "pixelmill", "15", "5", "3", conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_) throw Error("", "out of memory connecting to PostgreSQL", true);
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string message = trimmed(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw Error("08001", "cannot connect to PostgreSQL: " + message, true);
    }
    // Notices (a NOTICE from CREATE ... IF NOT EXISTS) are not worth a line on stderr.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
    if (conn_) PQfinish(conn_);
}

Result Connection::check(pg_result* result) {
    ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Result(result);
    std::string sqlstate, message;
    if (result) {
        const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        sqlstate = state ? state : "";
        message = trimmed(PQresultErrorMessage(result));
        PQclear(result);
    }
    if (message.empty()) message = trimmed(PQerrorMessage(conn_));
    bool lost = PQstatus(conn_) != CONNECTION_OK || lostConnection(sqlstate);
    throw Error(sqlstate, message, lost);
}

Result Connection::query(std::string_view sql, std::initializer_list<Value> params) {
    return prepared(sql, params.begin(), params.size());
}

Result Connection::query(std::string_view sql, const std::vector<Value>& params) {
    return prepared(sql, params.data(), params.size());
}

Result Connection::prepared(std::string_view sql, const Value* params, size_t count) {
    auto it = prepared_.find(std::string(sql));
    if (it == prepared_.end()) {
        std::string name = "s" + std::to_string(prepared_.size());
        std::string text(sql);
        check(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
        it = prepared_.emplace(std::move(text), std::move(name)).first;
    }
    auto ptrs = pointers(params, count);
    return check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(count), ptrs.data(), nullptr, nullptr, 0));
}

Result Connection::queryOnce(const std::string& sql, const std::vector<Value>& params) {
    auto ptrs = pointers(params.data(), params.size());
    return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(ptrs.size()), nullptr, ptrs.data(), nullptr,
                              nullptr, 0));
}

void Connection::exec(const std::string& sql) { check(PQexec(conn_, sql.c_str())); }

bool Connection::usable() const { return PQstatus(conn_) == CONNECTION_OK; }

bool Connection::inTransaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

bool Connection::stillOpen() {
    if (!usable()) return false;
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (p.fd < 0) return false;
    // Readable while idle: the server said goodbye (57P01) or closed the socket.
    if (::poll(&p, 1, 0) > 0 && !PQconsumeInput(conn_)) return false;
    while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
    return usable();
}

int Connection::socket() const { return PQsocket(conn_); }

}  // namespace pixelmill::pg
