#pragma once

#include "common/error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace pixelmill::sqlite {

// An SQLite failure; disk-full and I/O codes become ApiError 507 at the store's edge.
class Error : public std::runtime_error {
public:
    Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }
    bool diskFull() const noexcept;

private:
    int code_;
};

// A prepared statement. Bind indexes are 1-based, column indexes 0-based.
// Not thread-safe: it belongs to its connection's thread of the moment.
class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
    Statement& bind(int index, uint32_t value) { return bind(index, static_cast<int64_t>(value)); }
    Statement& bind(int index, uint64_t value) { return bind(index, static_cast<int64_t>(value)); }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
    Statement& bindNull(int index);
    template <class T>
    Statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bindNull(index);
    }

    // Advances; true while a row is available.
    bool step();
    // Runs to completion, ignoring rows.
    void run();
    void reset();

    int64_t i64(int column) const;
    int i32(int column) const { return static_cast<int>(i64(column)); }
    bool boolean(int column) const { return i64(column) != 0; }
    double real(int column) const;
    std::string text(int column) const;
    bool isNull(int column) const;
    std::optional<int> optInt(int column) const;
    std::optional<int64_t> optI64(int column) const;
    std::optional<double> optReal(int column) const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// One SQLite connection with a cache of prepared statements. Used by one
// thread at a time.
class Connection {
public:
    Connection(const std::string& path, bool readOnly);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void exec(std::string_view sql);
    // A cached statement for `sql`, reset and with bindings cleared.
    Statement& prepare(std::string_view sql);
    int64_t changes() const;
    int64_t lastInsertRowId() const;
    // Resets every statement still stepping, so that the connection holds no
    // read snapshot: in WAL mode an open snapshot keeps every frame after it
    // from being checkpointed, and the WAL from starting over. Returns how many
    // statements were left open.
    int endReads();
    sqlite3* raw() const { return db_; }

private:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// Resets a cached statement when the scope ends, so it holds no read lock.
class Reset {
public:
    explicit Reset(Statement& s) : s_(s) {}
    ~Reset() { s_.reset(); }
    Reset(const Reset&) = delete;
    Reset& operator=(const Reset&) = delete;

private:
    Statement& s_;
};

// Runs fn, turning SQLite's disk-full and I/O errors into the API's 507.
template <class Fn>
auto translating(Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const Error& e) {
        if (e.diskFull())
            throw ApiError::insufficientStorage(std::string("the database could not be written: ") + e.what());
        throw;
    }
}

}  // namespace pixelmill::sqlite
