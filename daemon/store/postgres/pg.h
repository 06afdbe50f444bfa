#pragma once

// A thin RAII layer over libpq: a connection with a cache of prepared
// statements, results read by row and column, and parameters in text form.
// Nothing here knows about jobs; pool.h shares connections between threads.
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace pixelmill::pg {

// A failure reported by libpq or by the server, with its SQLSTATE (empty when
// libpq itself failed).
class Error : public std::runtime_error {
public:
    Error(std::string sqlstate, const std::string& message, bool connectionLost)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)), connectionLost_(connectionLost) {}

    const std::string& sqlstate() const noexcept { return sqlstate_; }
    // The connection cannot be used again: the server is gone, shutting
    // down or unreachable. The pool turns this into ApiError 503.
    bool connectionLost() const noexcept { return connectionLost_; }
    // A deadlock or serialization failure: running the transaction again may succeed.
    bool retryable() const noexcept { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

private:
    std::string sqlstate_;
    bool connectionLost_;
};

// One statement parameter in libpq's text format, or NULL. The server infers
// its type from the statement.
class Value {
public:
    Value(std::nullopt_t) {}
    Value(std::string_view s) : text_(std::string(s)) {}
    Value(const std::string& s) : text_(s) {}
    Value(const char* s) : text_(std::string(s)) {}
    template <std::integral T>
    Value(T v) {
        if constexpr (std::is_same_v<T, bool>) text_ = v ? "t" : "f";
        else text_ = std::to_string(v);
    }
    Value(double v);
    template <class T>
    Value(const std::optional<T>& v) {
        if (v) *this = Value(*v);
    }

    const std::optional<std::string>& text() const noexcept { return text_; }

private:
    std::optional<std::string> text_;
};

// Parameters collected while a statement is built: `sql += "a = " + p(v)`
// appends the placeholder ($1, $2, …) of v. A placeholder may be used twice.
class Bindings {
public:
    std::string operator()(Value v) {
        values_.push_back(std::move(v));
        return "$" + std::to_string(values_.size());
    }
    const std::vector<Value>& values() const noexcept { return values_; }

private:
    std::vector<Value> values_;
};

// An array literal ('{"a","b",NULL}') for `= ANY($1)` and unnest($1::text[]).
std::string array(const std::vector<Value>& elements);
std::string array(const std::vector<std::string>& elements);

class Result;

// One row of a Result. Column indexes are 0-based; reading a NULL as a
// plain value gives 0 or "".
class Row {
public:
    Row(const Result& result, int row) : result_(&result), row_(row) {}

    bool isNull(int column) const;
    std::string text(int column) const;
    int64_t i64(int column) const;
    int i32(int column) const { return static_cast<int>(i64(column)); }
    double real(int column) const;
    bool boolean(int column) const;
    std::optional<int> optInt(int column) const;
    std::optional<int64_t> optI64(int column) const;
    std::optional<double> optReal(int column) const;

private:
    const Result* result_;
    int row_;
};

// A statement's result. Owns the PGresult.
class Result {
public:
    explicit Result(pg_result* result) : result_(result) {}
    ~Result();
    Result(Result&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
    Result& operator=(Result&&) = delete;
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;

    int rows() const;
    bool empty() const { return rows() == 0; }
    Row row(int i) const { return Row(*this, i); }
    Row front() const { return row(0); }
    // Rows an INSERT, UPDATE or DELETE changed (or returned).
    int64_t affected() const;

    class Iterator {
    public:
        Iterator(const Result& r, int i) : r_(&r), i_(i) {}
        Row operator*() const { return Row(*r_, i_); }
        Iterator& operator++() {
            ++i_;
            return *this;
        }
        bool operator!=(const Iterator& o) const { return i_ != o.i_; }

    private:
        const Result* r_;
        int i_;
    };
    Iterator begin() const { return Iterator(*this, 0); }
    Iterator end() const { return Iterator(*this, rows()); }

    pg_result* raw() const { return result_; }

private:
    pg_result* result_;
};

// One connection to the server. Used by one thread at a time.
class Connection {
public:
    // Connects (libpq URI or key=value string); throws Error with
    // connectionLost() when the server cannot be reached.
    explicit Connection(const std::string& conninfo);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Runs one statement, prepared on first use and kept for the life of the
    // connection: for SQL that is the same on every call.
    Result query(std::string_view sql, std::initializer_list<Value> params = {});
    Result query(std::string_view sql, const std::vector<Value>& params);
    // Runs one statement planned for these very values, prepared nowhere: for
    // SQL built per call, and where the plan depends on a value (LIKE 'abc%').
    Result queryOnce(const std::string& sql, const std::vector<Value>& params = {});
    // Runs SQL without parameters; several statements may be given (migrations).
    void exec(const std::string& sql);

    // False once a statement found the connection dead.
    bool usable() const;
    bool inTransaction() const;
    // Checks, without waiting, that the server has not closed the connection
    // while it sat idle (a restart, a shutdown): a pool hands out no dead ones.
    bool stillOpen();

    int socket() const;
    pg_conn* raw() const { return conn_; }

private:
    Result prepared(std::string_view sql, const Value* params, size_t count);
    Result check(pg_result* result);

    pg_conn* conn_ = nullptr;
    std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
};

}  // namespace pixelmill::pg
