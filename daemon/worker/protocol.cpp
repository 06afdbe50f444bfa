#include "worker/protocol.h"

#include <array>
#include <limits>
#include <type_traits>

namespace pixelmill::worker::protocol {

using json = nlohmann::json;

namespace {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};

constexpr std::array<std::pair<ExecResult::Status, const char*>, 9> kStatusNames{{
    {ExecResult::Status::Ok, "ok"},
    {ExecResult::Status::InvalidParam, "invalid_param"},
    {ExecResult::Status::Unprocessable, "unprocessable"},
    {ExecResult::Status::Unsupported, "unsupported"},
    {ExecResult::Status::Canceled, "canceled"},
    {ExecResult::Status::Transient, "transient"},
    {ExecResult::Status::Internal, "internal"},
    {ExecResult::Status::Crashed, "crashed"},
    {ExecResult::Status::Unavailable, "unavailable"},
}};

// A field of the expected JSON type, or a ProtocolError naming it.
template <class T>
T field(const json& m, const char* name) {
    auto it = m.find(name);
    if (it == m.end()) throw ProtocolError(std::string("a message lacks \"") + name + "\"");
    const bool fits = [&] {
        if constexpr (std::is_same_v<T, bool>) return it->is_boolean();
        else if constexpr (std::is_same_v<T, std::string>) return it->is_string();
        else if constexpr (std::is_floating_point_v<T>) return it->is_number();
        else if constexpr (std::is_unsigned_v<T>) return it->is_number_unsigned();
        else return it->is_number_integer();
    }();
    if (!fits) throw ProtocolError(std::string("\"") + name + "\" has the wrong type");
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        // Range-checked: a value that does not fit is an error, not a wrapped number.
        if constexpr (std::is_unsigned_v<T>) {
            uint64_t v = it->get<uint64_t>();
            if (v > std::numeric_limits<T>::max()) throw ProtocolError(std::string("\"") + name + "\" is out of range");
            return static_cast<T>(v);
        } else {
            int64_t v = it->get<int64_t>();
            if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
                throw ProtocolError(std::string("\"") + name + "\" is out of range");
            return static_cast<T>(v);
        }
    }
    return it->get<T>();
}

std::optional<int> optionalInt(const json& m, const char* name) {
    auto it = m.find(name);
    if (it == m.end() || it->is_null()) return std::nullopt;
    return field<int>(m, name);
}

json optionalJson(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

std::string typeOf(const json& m) {
    if (!m.is_object()) throw ProtocolError("a message is not a JSON object");
    return field<std::string>(m, "type");
}

}  // namespace

const char* statusName(ExecResult::Status status) {
    for (const auto& [s, name] : kStatusNames)
        if (s == status) return name;
    return "internal";
}

std::optional<ExecResult::Status> statusFromName(std::string_view name) {
    for (const auto& [s, n] : kStatusNames)
        if (name == n) return s;
    return std::nullopt;
}

json encode(const ToWorker& message) {
    return std::visit(
        Overloaded{
            [](const Run& r) {
                json params = json::array();
                for (const auto& [k, v] : r.params) params.push_back({k, v});
                return json{{"type", "run"}, {"job", r.job}, {"plugin", r.plugin}, {"version", r.version},
                            {"params", params}, {"input", r.input}, {"media_type", r.mediaType}};
            },
            [](const Probe& p) {
                return json{{"type", "probe"}, {"plugin", p.plugin}, {"version", p.version}, {"input", p.input},
                            {"media_type", p.mediaType}};
            },
            [](const Stop&) { return json{{"type", "stop"}}; },
            [](const Ack& a) { return json{{"type", "ack"}, {"seq", a.seq}, {"ok", a.ok}}; },
        },
        message);
}

json encode(const FromWorker& message) {
    return std::visit(
        Overloaded{
            [](const Ready& r) { return json{{"type", "ready"}, {"pid", r.pid}}; },
            [](const Output& o) {
                return json{{"type", "output"}, {"seq", o.seq},       {"index", o.index},     {"name", o.name},
                            {"media_type", o.mediaType}, {"sha256", o.sha256}, {"size", o.size},
                            {"created", o.created},      {"width", o.width},   {"height", o.height}};
            },
            [](const Progress& p) { return json{{"type", "progress"}, {"done", p.done}, {"total", p.total}}; },
            [](const Log& l) { return json{{"type", "log"}, {"level", l.level}, {"message", l.message}}; },
            [](const Done& d) {
                return json{{"type", "done"}, {"status", statusName(d.status)}, {"message", d.message},
                            {"seconds", d.seconds}};
            },
            [](const Probed& p) {
                json m{{"type", "probed"}, {"width", optionalJson(p.width)}, {"height", optionalJson(p.height)},
                       {"pages", optionalJson(p.pages)}};
                if (!p.error.empty()) {
                    m["error"] = p.error;
                    m["unreadable"] = p.unreadable;
                }
                return m;
            },
        },
        message);
}

ToWorker decodeToWorker(const json& m) {
    const std::string type = typeOf(m);
    if (type == "run") {
        Run r{field<std::string>(m, "job"),   field<std::string>(m, "plugin"), field<std::string>(m, "version"),
              {},                             field<std::string>(m, "input"),  field<std::string>(m, "media_type")};
        auto params = m.find("params");
        if (params == m.end() || !params->is_array()) throw ProtocolError("\"params\" is not an array");
        for (const json& kv : *params) {
            if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string() || !kv[1].is_string())
                throw ProtocolError("a parameter is not a [name, value] pair of strings");
            r.params.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
        }
        return r;
    }
    if (type == "probe")
        return Probe{field<std::string>(m, "plugin"), field<std::string>(m, "version"), field<std::string>(m, "input"),
                     field<std::string>(m, "media_type")};
    if (type == "stop") return Stop{};
    if (type == "ack") return Ack{field<uint64_t>(m, "seq"), field<bool>(m, "ok")};
    throw ProtocolError("unknown message type \"" + type + "\" for a worker");
}

FromWorker decodeFromWorker(const json& m) {
    const std::string type = typeOf(m);
    if (type == "ready") return Ready{field<int>(m, "pid")};
    if (type == "output")
        return Output{field<uint64_t>(m, "seq"),         field<uint32_t>(m, "index"),   field<std::string>(m, "name"),
                      field<std::string>(m, "media_type"), field<std::string>(m, "sha256"), field<uint64_t>(m, "size"),
                      field<bool>(m, "created"),          field<int32_t>(m, "width"),    field<int32_t>(m, "height")};
    if (type == "progress") return Progress{field<uint32_t>(m, "done"), field<uint32_t>(m, "total")};
    if (type == "log") return Log{field<int>(m, "level"), field<std::string>(m, "message")};
    if (type == "done") {
        const std::string name = field<std::string>(m, "status");
        auto status = statusFromName(name);
        if (!status) throw ProtocolError("unknown job status \"" + name + "\"");
        return Done{*status, field<std::string>(m, "message"), field<double>(m, "seconds")};
    }
    if (type == "probed") {
        Probed p{optionalInt(m, "width"), optionalInt(m, "height"), optionalInt(m, "pages"), {}, false};
        if (m.contains("error")) {
            p.error = field<std::string>(m, "error");
            p.unreadable = field<bool>(m, "unreadable");
            if (p.error.empty()) throw ProtocolError("\"error\" is empty");
        }
        return p;
    }
    throw ProtocolError("unknown message type \"" + type + "\" from a worker");
}

bool send(Channel& channel, const ToWorker& message) { return channel.send(encode(message)); }
bool send(Channel& channel, const FromWorker& message) { return channel.send(encode(message)); }

std::optional<FromWorker> receiveFromWorker(Channel& channel, std::chrono::milliseconds timeout) {
    std::optional<json> m = channel.receive(timeout);
    if (!m) return std::nullopt;
    return decodeFromWorker(*m);
}

std::optional<ToWorker> receiveToWorker(Channel& channel, std::chrono::milliseconds timeout) {
    std::optional<json> m = channel.receive(timeout);
    if (!m) return std::nullopt;
    return decodeToWorker(*m);
}

}  // namespace pixelmill::worker::protocol
