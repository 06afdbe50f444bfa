// Config: flag > PIXELMILL_* env > TOML file > default, errors that say
// where a bad value came from, and the value parsers.
#include "config/config.h"

#include "support/daemon.h"

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace pixelmill {
namespace {

using test::TempDir;
using test::writeFile;

// Clears every PIXELMILL_* variable for the test and puts the environment
// back as it was afterwards, whatever the test set.
class CleanEnvironment {
public:
    CleanEnvironment() {
        for (char** e = environ; e && *e; ++e) {
            std::string kv = *e;
            if (kv.rfind("PIXELMILL_", 0) != 0) continue;
            auto eq = kv.find('=');
            saved_.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
        }
        for (const auto& [name, value] : saved_) ::unsetenv(name.c_str());
    }
    ~CleanEnvironment() {
        for (const std::string& name : set_) ::unsetenv(name.c_str());
        for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
    }
    CleanEnvironment(const CleanEnvironment&) = delete;
    CleanEnvironment& operator=(const CleanEnvironment&) = delete;

    void set(const std::string& name, const std::string& value) {
        ::setenv(name.c_str(), value.c_str(), 1);
        set_.push_back(name);
    }

private:
    std::vector<std::pair<std::string, std::string>> saved_;
    std::vector<std::string> set_;
};

// What `pixelmill serve ARGS…` resolves to.
Config resolve(const std::vector<std::string>& args) {
    CLI::App app{"pixelmill serve (test)"};
    ConfigOptions options(app);
    std::vector<const char*> argv{"pixelmill"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return options.resolve();
}

// The message of the std::invalid_argument that resolving must throw.
std::string resolveError(const std::vector<std::string>& args) {
    try {
        resolve(args);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    FAIL_CHECK("expected std::invalid_argument, but it resolved");
    return "(no error)";
}

}  // namespace

TEST_CASE("config: defaults when nothing is given", "[config]") {
    CleanEnvironment env;
    Config c = resolve({});
    CHECK(c.listen == "127.0.0.1:8080");
    CHECK(c.dataDir == "./data");
    CHECK(c.pluginDir.empty());
    CHECK(c.workers == 0);
    CHECK(c.configFile.empty());
    CHECK(c.maxUploadBytes == 256ull * 1024 * 1024);
    CHECK(c.maxStorageBytes == 0);
    CHECK_FALSE(c.allowPrivateNetwork);
    CHECK(c.jobTimeoutSeconds == Approx(60));
    CHECK(c.maxPixels == 71'000'000);
    CHECK(c.maxPages == 1000);
    CHECK(c.maxSvgBytes == 8ull * 1024 * 1024);
    CHECK(c.drainTimeoutSeconds == Approx(30));
    CHECK(c.maxAttempts == 3);
    CHECK(c.retryBaseSeconds == Approx(1));
    CHECK(c.fsync);
    CHECK(c.logLevel == "info");
}

TEST_CASE("config: flag beats env beats file beats default", "[config]") {
    CleanEnvironment env;
    TempDir dir("pixelmill-config");
    std::string file = (dir / "pixelmill.toml").string();
    writeFile(file,
              "# a config file as people write them\n"
              "listen = \"127.0.0.1:1111\"\n"
              "workers = 3\n"
              "job_timeout = \"90s\"\n"
              "max-upload-bytes = \"10MiB\"\n"
              "data_dir = \"/srv/pixelmill-file\"\n");

    SECTION("the file beats the defaults") {
        Config c = resolve({"--config", file});
        CHECK(c.configFile == file);
        CHECK(c.listen == "127.0.0.1:1111");
        CHECK(c.workers == 3);
        CHECK(c.jobTimeoutSeconds == Approx(90));
        CHECK(c.maxUploadBytes == 10ull * 1024 * 1024);
        CHECK(c.dataDir == "/srv/pixelmill-file");
        CHECK(c.maxAttempts == 3);  // not in the file: default
    }
    SECTION("the environment beats the file") {
        env.set("PIXELMILL_LISTEN", "127.0.0.1:2222");
        env.set("PIXELMILL_WORKERS", "5");
        env.set("PIXELMILL_MAX_UPLOAD_BYTES", "1MiB");
        Config c = resolve({"--config", file});
        CHECK(c.listen == "127.0.0.1:2222");
        CHECK(c.workers == 5);
        CHECK(c.maxUploadBytes == 1024 * 1024);
        CHECK(c.jobTimeoutSeconds == Approx(90));  // only in the file
        CHECK(c.dataDir == "/srv/pixelmill-file");
    }
    SECTION("a flag beats the environment and the file") {
        env.set("PIXELMILL_LISTEN", "127.0.0.1:2222");
        env.set("PIXELMILL_WORKERS", "5");
        Config c = resolve({"--config", file, "--listen", "127.0.0.1:3333", "--workers", "7", "--job-timeout", "2m"});
        CHECK(c.listen == "127.0.0.1:3333");
        CHECK(c.workers == 7);
        CHECK(c.jobTimeoutSeconds == Approx(120));
        CHECK(c.maxUploadBytes == 10ull * 1024 * 1024);  // only in the file
    }
    SECTION("the environment beats the default without a file") {
        env.set("PIXELMILL_DATA_DIR", "/tmp/env-data");
        env.set("PIXELMILL_MAX_ATTEMPTS", "9");
        Config c = resolve({});
        CHECK(c.dataDir == "/tmp/env-data");
        CHECK(c.maxAttempts == 9);
        CHECK(c.listen == "127.0.0.1:8080");
    }
    SECTION("the file can be named by PIXELMILL_CONFIG") {
        env.set("PIXELMILL_CONFIG", file);
        Config c = resolve({});
        CHECK(c.listen == "127.0.0.1:1111");
        CHECK(c.workers == 3);
    }
}

TEST_CASE("config: booleans from flags, env and file", "[config]") {
    CleanEnvironment env;
    TempDir dir("pixelmill-config");
    std::string file = (dir / "c.toml").string();
    writeFile(file, "allow_private_network = true\nfsync = false\nretry_base = 0.25\nmax_pages = 12\n");

    SECTION("a bare flag means true") {
        Config c = resolve({"--allow-private-network", "--workers", "2"});
        CHECK(c.allowPrivateNetwork);
        CHECK(c.workers == 2);
    }
    SECTION("TOML booleans, floats and integers") {
        Config c = resolve({"--config", file});
        CHECK(c.allowPrivateNetwork);
        CHECK_FALSE(c.fsync);
        CHECK(c.retryBaseSeconds == Approx(0.25));
        CHECK(c.maxPages == 12);
    }
    SECTION("env false beats file true; a flag value beats env") {
        env.set("PIXELMILL_ALLOW_PRIVATE_NETWORK", "no");
        env.set("PIXELMILL_FSYNC", "on");
        CHECK_FALSE(resolve({"--config", file}).allowPrivateNetwork);
        CHECK(resolve({"--config", file}).fsync);
        CHECK_FALSE(resolve({"--config", file, "--fsync", "false"}).fsync);
    }
}

TEST_CASE("config: an unknown key in the file is refused by name", "[config]") {
    CleanEnvironment env;
    TempDir dir("pixelmill-config");
    std::string file = (dir / "typo.toml").string();
    writeFile(file, "listen = \"127.0.0.1:9000\"\nlisten_adress = \"127.0.0.1:9001\"\n");
    std::string message = resolveError({"--config", file});
    CHECK_THAT(message, Catch::Contains("listen_adress"));
    CHECK_THAT(message, Catch::Contains(file));
}

TEST_CASE("config: a bad value is refused with a message naming where it came from", "[config]") {
    CleanEnvironment env;
    TempDir dir("pixelmill-config");

    SECTION("a flag") {
        std::string m = resolveError({"--workers", "lots"});
        CHECK_THAT(m, Catch::Contains("--workers"));
        CHECK_THAT(m, Catch::Contains("lots"));
        CHECK_THAT(resolveError({"--workers", "5000"}), Catch::Contains("--workers"));
        CHECK_THAT(resolveError({"--log-level", "loud"}), Catch::Contains("--log-level"));
        CHECK_THAT(resolveError({"--listen", "8080"}), Catch::Contains("--listen"));
        CHECK_THAT(resolveError({"--job-timeout", "soon"}), Catch::Contains("--job-timeout"));
        // A negative time would fail every job at once, or drain without waiting.
        CHECK_THAT(resolveError({"--job-timeout", "-5s"}), Catch::Contains("--job-timeout"));
        CHECK_THAT(resolveError({"--drain-timeout", "-1"}), Catch::Contains("--drain-timeout"));
    }
    SECTION("the environment") {
        env.set("PIXELMILL_MAX_UPLOAD_BYTES", "12 parsecs");
        std::string m = resolveError({});
        CHECK_THAT(m, Catch::Contains("PIXELMILL_MAX_UPLOAD_BYTES"));
        CHECK_THAT(m, Catch::Contains("12 parsecs"));
    }
    SECTION("the environment, for a value a flag would also take") {
        env.set("PIXELMILL_LISTEN", "nohost");
        CHECK_THAT(resolveError({}), Catch::Contains("PIXELMILL_LISTEN"));
        // The flag wins, so the bad env value is never read.
        CHECK(resolve({"--listen", "127.0.0.1:1"}).listen == "127.0.0.1:1");
    }
    SECTION("the file") {
        std::string file = (dir / "bad.toml").string();
        writeFile(file, "job_timeout = \"soon\"\n");
        std::string m = resolveError({"--config", file});
        CHECK_THAT(m, Catch::Contains("config file"));
        CHECK_THAT(m, Catch::Contains("soon"));
        CHECK_THAT(m, Catch::Contains("job"));
    }
    SECTION("a value of a type no option takes") {
        std::string file = (dir / "array.toml").string();
        writeFile(file, "listen = [\"127.0.0.1:1\"]\n");
        std::string m = resolveError({"--config", file});
        CHECK_THAT(m, Catch::Contains("config file"));
        CHECK_THAT(m, Catch::Contains("listen"));
    }
    SECTION("a file that is not TOML") {
        std::string file = (dir / "broken.toml").string();
        writeFile(file, "listen = \"unterminated\nworkers = \n");
        std::string m = resolveError({"--config", file});
        CHECK_THAT(m, Catch::Contains("config file"));
        CHECK_THAT(m, Catch::Contains(file));
    }
    SECTION("a file that does not exist") {
        std::string file = (dir / "missing.toml").string();
        std::string m = resolveError({"--config", file});
        CHECK_THAT(m, Catch::Contains(file));
    }
}

TEST_CASE("config: the environment is restored after a test", "[config]") {
    // Guards the guard: what a test sets does not leak into the next one.
    ::setenv("PIXELMILL_TEST_SENTINEL", "before", 1);
    {
        CleanEnvironment env;
        CHECK(std::getenv("PIXELMILL_TEST_SENTINEL") == nullptr);
        env.set("PIXELMILL_WORKERS", "4");
        env.set("PIXELMILL_TEST_SENTINEL", "during");
    }
    REQUIRE(std::getenv("PIXELMILL_TEST_SENTINEL") != nullptr);
    CHECK(std::string(std::getenv("PIXELMILL_TEST_SENTINEL")) == "before");
    ::unsetenv("PIXELMILL_TEST_SENTINEL");
}

TEST_CASE("config: parseBytes", "[config]") {
    CHECK(parseBytes("256MiB") == 268'435'456);
    CHECK(parseBytes("4096") == 4096);
    CHECK(parseBytes("4096B") == 4096);
    CHECK(parseBytes("10M") == 10'000'000);
    CHECK(parseBytes("10mb") == 10'000'000);
    CHECK(parseBytes("1.5KiB") == 1536);
    CHECK(parseBytes("2 GiB") == 2ull * 1024 * 1024 * 1024);
    CHECK(parseBytes("1TiB") == (1ull << 40));
    CHECK(parseBytes("3k") == 3000);
    CHECK(parseBytes("0") == 0);
    CHECK_THROWS_AS(parseBytes(""), std::invalid_argument);
    CHECK_THROWS_AS(parseBytes("MiB"), std::invalid_argument);
    CHECK_THROWS_AS(parseBytes("12XB"), std::invalid_argument);
    CHECK_THROWS_AS(parseBytes("-5"), std::invalid_argument);
    CHECK_THROWS_AS(parseBytes("lots"), std::invalid_argument);
}

TEST_CASE("config: parseSeconds", "[config]") {
    CHECK(parseSeconds("1.5m") == Approx(90));
    CHECK(parseSeconds("60") == Approx(60));
    CHECK(parseSeconds("60s") == Approx(60));
    CHECK(parseSeconds("250ms") == Approx(0.25));
    CHECK(parseSeconds("2min") == Approx(120));
    CHECK(parseSeconds("1h") == Approx(3600));
    CHECK(parseSeconds("0.05") == Approx(0.05));
    CHECK_THROWS_AS(parseSeconds(""), std::invalid_argument);
    CHECK_THROWS_AS(parseSeconds("soon"), std::invalid_argument);
    CHECK_THROWS_AS(parseSeconds("5 parsecs"), std::invalid_argument);
    CHECK_THROWS_AS(parseSeconds("10d"), std::invalid_argument);
    // Not a duration at all, though strtod reads them.
    CHECK_THROWS_AS(parseSeconds("nan"), std::invalid_argument);
    CHECK_THROWS_AS(parseSeconds("inf"), std::invalid_argument);
    CHECK_THROWS_AS(parseSeconds("-5"), std::invalid_argument);
}

TEST_CASE("config: parseBool", "[config]") {
    for (const char* yes : {"1", "true", "TRUE", "yes", "on", "True"}) {
        CAPTURE(yes);
        CHECK(parseBool(yes));
    }
    for (const char* no : {"0", "false", "no", "off", "FALSE", ""}) {
        CAPTURE(no);
        CHECK_FALSE(parseBool(no));
    }
    CHECK_THROWS_AS(parseBool("maybe"), std::invalid_argument);
    CHECK_THROWS_AS(parseBool("2"), std::invalid_argument);
}

TEST_CASE("config: splitListen", "[config]") {
    std::string host;
    uint16_t port = 1;
    splitListen("127.0.0.1:8080", host, port);
    CHECK(host == "127.0.0.1");
    CHECK(port == 8080);
    splitListen("[::1]:9000", host, port);
    CHECK(host == "::1");
    CHECK(port == 9000);
    splitListen("localhost:0", host, port);
    CHECK(host == "localhost");
    CHECK(port == 0);
    splitListen("0.0.0.0:65535", host, port);
    CHECK(port == 65535);

    CHECK_THROWS_AS(splitListen("nohost", host, port), std::invalid_argument);
    CHECK_THROWS_AS(splitListen(":8080", host, port), std::invalid_argument);
    CHECK_THROWS_AS(splitListen("host:", host, port), std::invalid_argument);
    CHECK_THROWS_AS(splitListen("host:65536", host, port), std::invalid_argument);
    CHECK_THROWS_AS(splitListen("host:http", host, port), std::invalid_argument);
    CHECK_THROWS_AS(splitListen("host:-1", host, port), std::invalid_argument);
}

TEST_CASE("config: --max-svg-bytes from a flag, the environment and the file", "[config]") {
    CleanEnvironment env;
    TempDir dir("pixelmill-config");
    std::string file = (dir / "svg.toml").string();
    writeFile(file, "max_svg_bytes = \"2MiB\"\n");
    CHECK(resolve({"--config", file}).maxSvgBytes == 2ull << 20);
    env.set("PIXELMILL_MAX_SVG_BYTES", "3MiB");
    CHECK(resolve({"--config", file}).maxSvgBytes == 3ull << 20);
    CHECK(resolve({"--config", file, "--max-svg-bytes", "512KiB"}).maxSvgBytes == 512ull << 10);
}

}  // namespace pixelmill
