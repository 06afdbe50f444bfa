#include "support/postgres.h"

#include "support/daemon.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

namespace pixelmill::test {

namespace {

constexpr const char* kUnprivileged = "nobody";

// The folder of initdb and pg_ctl: pg_config's, else the newest of Debian's.
fs::path findBinaries() {
    std::string out;
    if (runCommand("pg_config --bindir", &out) == 0) {
        out.erase(out.find_last_not_of(" \n") + 1);
        if (fs::exists(fs::path(out) / "initdb") && fs::exists(fs::path(out) / "pg_ctl")) return out;
    }
    std::vector<fs::path> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
        if (fs::exists(e.path() / "bin" / "initdb") && fs::exists(e.path() / "bin" / "pg_ctl"))
            found.push_back(e.path() / "bin");
    if (found.empty()) return {};
    // Version folders are numbers: 13, 15, 16 …
    return *std::max_element(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
        return std::stoi(a.parent_path().filename().string()) < std::stoi(b.parent_path().filename().string());
    });
}

std::string readLog(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

std::string PostgresServer::unavailableReason() {
    if (findBinaries().empty())
        return "initdb and pg_ctl not found (pg_config --bindir, /usr/lib/postgresql/*/bin): "
               "apt-get install postgresql";
    if (::geteuid() == 0) {
        if (!::getpwnam(kUnprivileged)) return "running as root and there is no user 'nobody' to run PostgreSQL as";
        if (::access("/usr/bin/setpriv", X_OK) != 0) return "running as root and setpriv (util-linux) is missing";
    }
    return {};
}

int PostgresServer::runAsServer(const std::string& program, const std::string& args, std::string* output) const {
    std::string command = "'" + (bin_ / program).string() + "' " + args;
    if (::geteuid() == 0)
        command = std::string("/usr/bin/setpriv --reuid=") + kUnprivileged + " --regid=" +
                  std::to_string(::getpwnam(kUnprivileged)->pw_gid) + " --clear-groups -- " + command;
    return runCommand(command, output);
}

PostgresServer::PostgresServer() {
    if (std::string why = unavailableReason(); !why.empty()) throw std::runtime_error(why);
    bin_ = findBinaries();
    // Under /tmp, open to `nobody`, short enough for the socket's path.
    char pattern[] = "/tmp/pixelmill-pg-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("cannot create a temp folder for PostgreSQL");
    dir_ = pattern;
    try {
        initialize();
    } catch (...) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
        throw;
    }
}

void PostgresServer::initialize() {
    ::chmod(dir_.c_str(), 0755);
    fs::create_directory(dir_ / "data");
    if (::geteuid() == 0) {
        passwd* pw = ::getpwnam(kUnprivileged);
        if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0 ||
            ::chown((dir_ / "data").c_str(), pw->pw_uid, pw->pw_gid) != 0)
            throw std::runtime_error("cannot hand " + dir_.string() + " to " + kUnprivileged);
    }
    std::string out;
    std::string data = "'" + (dir_ / "data").string() + "'";
    if (runAsServer("initdb", "-D " + data + " -A trust -U pixelmill -E UTF8 --locale=C --no-sync", &out) != 0)
        throw std::runtime_error("initdb failed: " + out);
    port_ = static_cast<uint16_t>(freePort());
    // Fast to start and light, yet room for several daemons with their pools.
    std::ofstream conf(dir_ / "data" / "postgresql.conf", std::ios::app);
    conf << "\nport = " << port_ << "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '" << dir_.string()
         << "'\nmax_connections = 200\nshared_buffers = 16MB\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\nlog_min_messages = warning\n";
    conf.close();
    start();
}

PostgresServer::~PostgresServer() {
    if (running_) runAsServer("pg_ctl", "-D '" + (dir_ / "data").string() + "' -m immediate -w stop");
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void PostgresServer::start() {
    std::string out;
    std::string data = "'" + (dir_ / "data").string() + "'", log = "'" + (dir_ / "log").string() + "'";
    if (runAsServer("pg_ctl", "-D " + data + " -l " + log + " -w -t 60 start", &out) != 0)
        throw std::runtime_error("pg_ctl start failed: " + out + "\n" + readLog(dir_ / "log"));
    running_ = true;
}

void PostgresServer::stop() {
    runAsServer("pg_ctl", "-D '" + (dir_ / "data").string() + "' -m fast -w stop");
    running_ = false;
}

std::string PostgresServer::createDatabase() {
    std::string name = "pixelmill_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
    std::string admin = "postgres://pixelmill@127.0.0.1:" + std::to_string(port_) + "/postgres";
    std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(admin.c_str()), &PQfinish);
    if (PQstatus(c.get()) != CONNECTION_OK)
        throw std::runtime_error("cannot connect to the test PostgreSQL: " + std::string(PQerrorMessage(c.get())));
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), ("CREATE DATABASE " + name).c_str()), &PQclear);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        throw std::runtime_error("CREATE DATABASE failed: " + std::string(PQerrorMessage(c.get())));
    return "postgres://pixelmill@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

PostgresServer& sharedPostgres() {
    // Destroyed at exit like any static: the server stops with the process.
    static PostgresServer server;
    return server;
}

}  // namespace pixelmill::test
