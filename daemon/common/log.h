#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace pixelmill::log {

enum class Level { Debug, Info, Warn, Error };

// logfmt: `ts=… level=… event=… k=v …`; json: one object a line with the same
// keys (numbers and booleans as JSON literals).
enum class Format { Logfmt, Json };

// "debug", "info", "warn", "error": the words --log-level takes.
const char* levelName(Level level);

// One key=value pair of a log line. Values with spaces, quotes or '=' are
// quoted, so that every line splits back into its pairs.
struct Field {
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
    Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)), literal(true) {}
    Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)), literal(true) {}
    Field(std::string_view k, int v) : key(k), value(std::to_string(v)), literal(true) {}
    Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)), literal(true) {}
    Field(std::string_view k, double v);
    Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), literal(true) {}

    std::string_view key;
    std::string value;
    bool literal = false;  // a number or boolean, written unquoted in JSON
};

using Fields = std::initializer_list<Field>;

// Sets up the process-wide logger (stderr, UTC timestamps). Thread-safe after.
// When stderr is the systemd journal (JOURNAL_STREAM names it), each line
// starts with its syslog priority (<3> error … <7> debug) for journald.
void init(Level minimum = Level::Info, Format format = Format::Logfmt);
void setLevel(Level minimum);
bool enabled(Level level);

// Writes `ts=… level=… event=<event> k=v …` as one line.
void write(Level level, std::string_view event, Fields fields = {});

inline void debug(std::string_view event, Fields fields = {}) { write(Level::Debug, event, fields); }
inline void info(std::string_view event, Fields fields = {}) { write(Level::Info, event, fields); }
inline void warn(std::string_view event, Fields fields = {}) { write(Level::Warn, event, fields); }
inline void error(std::string_view event, Fields fields = {}) { write(Level::Error, event, fields); }

// The request this thread is working for, set for a scope (nests): every
// line written meanwhile ends with `request=<id>`, so that one request's
// lines can be found together. Work that continues a request on another
// thread opens its own scope there.
class RequestScope {
public:
    explicit RequestScope(std::string_view requestId);
    ~RequestScope();
    RequestScope(const RequestScope&) = delete;
    RequestScope& operator=(const RequestScope&) = delete;

private:
    std::string previous_;
};
// The id of the request this thread is working for; empty outside a RequestScope.
const std::string& currentRequest();

// Formats the pairs alone (used by tests and by write()).
std::string format(std::string_view event, Fields fields);

// One whole line as write() prints it, without the journal's prefix
// (with this thread's current request, if any).
std::string line(Format format, std::string_view timestamp, Level level, std::string_view event, Fields fields);

}  // namespace pixelmill::log
