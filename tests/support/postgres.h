#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>

namespace pixelmill::test {

// A throwaway PostgreSQL server of the Debian `postgresql` package: initdb
// into a temp folder (trust authentication, no fsync), started with pg_ctl
// on 127.0.0.1 and a free port, its socket inside the folder. As root, the
// server runs as `nobody` (initdb refuses root). Superuser: `pixelmill`.
class PostgresServer {
public:
    // Why PostgreSQL cannot be used here (initdb/pg_ctl not found), or empty.
    static std::string unavailableReason();

    PostgresServer();   // initdb + start; throws std::runtime_error with the server's log if it fails
    ~PostgresServer();  // pg_ctl stop -m immediate, then removes the folder
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // CREATE DATABASE with a fresh name; returns its URI
    // "postgres://pixelmill@127.0.0.1:PORT/NAME".
    std::string createDatabase();
    void stop();   // pg_ctl stop -m fast (for outage tests)
    void start();  // the same data folder and port again
    uint16_t port() const { return port_; }

private:
    // initdb into dir_, settings, start.
    void initialize();
    // Runs a PostgreSQL program (as `nobody` when root); its output in `output`.
    int runAsServer(const std::string& program, const std::string& args, std::string* output = nullptr) const;

    std::filesystem::path bin_;
    std::filesystem::path dir_;   // the temp folder: data/, log, socket
    uint16_t port_ = 0;
    bool running_ = false;
    std::atomic<int> databases_{0};
};

// One server per test process, started on first use, stopped at exit.
PostgresServer& sharedPostgres();

}  // namespace pixelmill::test
