#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
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
        switch (c) {
            case '"': out.append("\\\""); break;
            case '\\': out.append("\\\\"); break;
            case '\n': out.append("\\n"); break;
            case '\r': out.append("\\r"); break;
            case '\t': out.append("\\t"); break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out.push_back('?');
                else out.push_back(c);
        }
    }
    out.push_back('"');
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
    value.assign(buf, ec == std::errc() ? end : buf);
}

void init(Level minimum) {
    static std::once_flag once;
    std::call_once(once, [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto l = std::make_shared<spdlog::logger>("pixelmill", sink);
        l->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
        l->flush_on(spdlog::level::trace);
        logger() = l;
    });
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

void write(Level level, std::string_view event, Fields fields) {
    if (!logger()) init();
    if (!enabled(level)) return;
    logger()->log(toSpd(level), "{}", format(event, fields));
}

}  // namespace pixelmill::log
