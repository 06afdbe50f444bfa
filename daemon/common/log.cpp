#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace pixelmill::log {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
    static std::shared_ptr<spdlog::logger> instance;
    return instance;
}

spdlog::level::level_enum toSpd(Level level) {
    switch (level) {
        case Level::Debug: return spdlog::level::debug;
        case Level::Info: return spdlog::level::info;
        case Level::Warn: return spdlog::level::warn;
        case Level::Error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

std::atomic<Format> lineFormat{Format::Logfmt};
thread_local std::string tlsRequest;
std::atomic<bool> toJournal{false};

// JOURNAL_STREAM is "device:inode" of the stream systemd connected; it
// names stderr when stderr is still that stream.
bool stderrIsJournal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (!stream || ::fstat(2, &st) != 0) return false;
    return std::string(stream) ==
           std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
               std::to_string(static_cast<unsigned long long>(st.st_ino));
}

int syslogPriority(Level level) {
    switch (level) {
        case Level::Debug: return 7;
        case Level::Info: return 6;
        case Level::Warn: return 4;
        case Level::Error: return 3;
    }
    return 6;
}

std::string utcNow() {
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[40];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
    return buf;
}

// The backslash escapes logfmt and JSON share: true if `c` was one.
bool appendEscaped(std::string& out, char c) {
    switch (c) {
        case '"': out.append("\\\""); return true;
        case '\\': out.append("\\\\"); return true;
        case '\n': out.append("\\n"); return true;
        case '\r': out.append("\\r"); return true;
        case '\t': out.append("\\t"); return true;
        default: return false;
    }
}

// The length of the well-formed UTF-8 sequence at s[i], or 0.
size_t utf8Length(std::string_view s, size_t i) {
    auto u = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = u(i);
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((u(i + k) & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && u(i + 1) < 0xa0) || (c == 0xed && u(i + 1) > 0x9f))) return 0;  // overlong, surrogate
    if (n == 4 && ((c == 0xf0 && u(i + 1) < 0x90) || (c == 0xf4 && u(i + 1) > 0x8f))) return 0;  // overlong, > U+10FFFF
    return n;
}

// A JSON string; a byte that is not part of well-formed UTF-8 (a file name
// as uploaded) becomes U+FFFD, so that every line parses.
void appendJsonString(std::string& out, std::string_view v) {
    static const char* hex = "0123456789abcdef";
    out.push_back('"');
    for (size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        if (static_cast<unsigned char>(c) >= 0x80) {
            size_t n = utf8Length(v, i);
            if (n == 0) {
                out.append("\\ufffd");
            } else {
                out.append(v.substr(i, n));
                i += n - 1;
            }
            continue;
        }
        if (appendEscaped(out, c)) continue;
        if (static_cast<unsigned char>(c) < 0x20) {
            out.append("\\u00");
            out.push_back(hex[(c >> 4) & 0xf]);
            out.push_back(hex[c & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

bool needsQuotes(std::string_view v) {
    if (v.empty()) return true;
    for (char c : v)
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
    return false;
}

void appendValue(std::string& out, std::string_view v) {
    if (!needsQuotes(v)) {
        out.append(v);
        return;
    }
    out.push_back('"');
    for (char c : v) {
        if (appendEscaped(out, c)) continue;
        out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
    }
    out.push_back('"');
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k), literal(std::isfinite(v)) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
    value.assign(buf, ec == std::errc() ? end : buf);
}

RequestScope::RequestScope(std::string_view requestId) : previous_(std::move(tlsRequest)) {
    tlsRequest.assign(requestId);
}

RequestScope::~RequestScope() { tlsRequest = std::move(previous_); }

const std::string& currentRequest() { return tlsRequest; }

const char* levelName(Level level) {
    switch (level) {
        case Level::Debug: return "debug";
        case Level::Info: return "info";
        case Level::Warn: return "warn";
        case Level::Error: return "error";
    }
    return "info";
}

void init(Level minimum, Format format) {
    static std::once_flag once;
    std::call_once(once, [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto l = std::make_shared<spdlog::logger>("pixelmill", sink);
        l->set_pattern("%v");  // the whole line is ours: line()
        l->flush_on(spdlog::level::trace);
        logger() = l;
        toJournal = stderrIsJournal();
    });
    lineFormat = format;
    setLevel(minimum);
}

void setLevel(Level minimum) {
    if (logger()) logger()->set_level(toSpd(minimum));
}

bool enabled(Level level) { return logger() && logger()->should_log(toSpd(level)); }

std::string format(std::string_view event, Fields fields) {
    std::string out = "event=";
    appendValue(out, event);
    for (const Field& f : fields) {
        out.push_back(' ');
        out.append(f.key);
        out.push_back('=');
        appendValue(out, f.value);
    }
    return out;
}

std::string line(Format format, std::string_view timestamp, Level level, std::string_view event, Fields fields) {
    std::string out;
    if (format == Format::Logfmt) {
        out.append("ts=").append(timestamp).append(" level=").append(levelName(level)).push_back(' ');
        out.append(log::format(event, fields));
        if (!tlsRequest.empty()) appendValue(out.append(" request="), tlsRequest);
        return out;
    }
    out.append("{\"ts\":");
    appendJsonString(out, timestamp);
    out.append(",\"level\":\"").append(levelName(level)).append("\",\"event\":");
    appendJsonString(out, event);
    for (const Field& f : fields) {
        out.push_back(',');
        appendJsonString(out, f.key);
        out.push_back(':');
        if (f.literal) out.append(f.value);
        else appendJsonString(out, f.value);
    }
    if (!tlsRequest.empty()) appendJsonString(out.append(",\"request\":"), tlsRequest);
    out.push_back('}');
    return out;
}

void write(Level level, std::string_view event, Fields fields) {
    if (!logger()) init();
    if (!enabled(level)) return;
    std::string text = line(lineFormat.load(), utcNow(), level, event, fields);
    if (toJournal) text = "<" + std::to_string(syslogPriority(level)) + ">" + text;
    logger()->log(toSpd(level), "{}", text);
}

}  // namespace pixelmill::log
