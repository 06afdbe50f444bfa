#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace pixelmill::log {

enum class Level { Debug, Info, Warn, Error };

// One key=value pair of a log line. Values with spaces, quotes or '=' are
// quoted, so that every line splits back into its pairs.
struct Field {
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
    Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)) {}
    Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)) {}
    Field(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
    Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)) {}
    Field(std::string_view k, double v);
    Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}

    std::string_view key;
    std::string value;
};

using Fields = std::initializer_list<Field>;

// Sets up the process-wide logger (stderr, UTC timestamps). Thread-safe after.
void init(Level minimum = Level::Info);
void setLevel(Level minimum);
bool enabled(Level level);

// Writes `ts=… level=… event=<event> k=v …` as one line.
void write(Level level, std::string_view event, Fields fields = {});

inline void debug(std::string_view event, Fields fields = {}) { write(Level::Debug, event, fields); }
inline void info(std::string_view event, Fields fields = {}) { write(Level::Info, event, fields); }
inline void warn(std::string_view event, Fields fields = {}) { write(Level::Warn, event, fields); }
inline void error(std::string_view event, Fields fields = {}) { write(Level::Error, event, fields); }

// Formats the pairs alone (used by tests and by write()).
std::string format(std::string_view event, Fields fields);

}  // namespace pixelmill::log
