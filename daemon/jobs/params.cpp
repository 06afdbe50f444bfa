#include "jobs/params.h"

#include "common/error.h"

#include <charconv>
#include <climits>
#include <cmath>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace pixelmill {
namespace {

using json = nlohmann::json;

std::string formatNumber(double v) {
    if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    std::ostringstream os;
    os << v;
    return os.str();
}

std::optional<long long> parseInt(const std::string& s) {
    long long v = 0;
    const char* b = s.data();
    const char* e = s.data() + s.size();
    if (b != e && *b == '+') ++b;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e || b == e) return std::nullopt;
    return v;
}

std::optional<double> parseDouble(const std::string& s) {
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

using Property = ParamSchema::Property;

// 2^63: the first double that a long long cannot hold. A value past it is out of
// range, never converted (that conversion is undefined behaviour).
constexpr double kLongLongEnd = 9223372036854775808.0;

// A whole number in JSON (unsigned, signed or a float with no fraction) or in
// text, within the property's minimum and maximum.
json coerceInteger(const Property& p, const json& value) {
    const std::string& f = p.name;
    json out;
    if (value.is_number_unsigned()) {
        if (value.get<unsigned long long>() > static_cast<unsigned long long>(LLONG_MAX))
            throw ApiError::invalidParam(f, f + " is out of range");
        out = value.get<long long>();
    } else if (value.is_number_integer()) out = value.get<long long>();
    else if (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>()) {
        double d = value.get<double>();
        if (!(d >= -kLongLongEnd && d < kLongLongEnd)) throw ApiError::invalidParam(f, f + " is out of range");
        out = static_cast<long long>(d);
    } else if (value.is_string()) {
        auto v = parseInt(value.get<std::string>());
        if (!v) throw ApiError::invalidParam(f, f + " must be an integer, got '" + value.get<std::string>() + "'");
        out = *v;
    } else throw ApiError::invalidParam(f, f + " must be an integer");
    double d = static_cast<double>(out.get<long long>());
    if (p.minimum && d < *p.minimum)
        throw ApiError::invalidParam(f, f + " must be at least " + formatNumber(*p.minimum) + ", got " +
                                            formatNumber(d));
    if (p.maximum && d > *p.maximum)
        throw ApiError::invalidParam(f, f + " must be at most " + formatNumber(*p.maximum) + ", got " +
                                            formatNumber(d));
    return out;
}

// A finite number in JSON or in text, within the property's minimum and maximum.
json coerceNumber(const Property& p, const json& value) {
    const std::string& f = p.name;
    json out;
    if (value.is_number()) out = value.get<double>();
    else if (value.is_string()) {
        auto v = parseDouble(value.get<std::string>());
        if (!v) throw ApiError::invalidParam(f, f + " must be a number, got '" + value.get<std::string>() + "'");
        out = *v;
    } else throw ApiError::invalidParam(f, f + " must be a number");
    double d = out.get<double>();
    if (p.minimum && d < *p.minimum)
        throw ApiError::invalidParam(f, f + " must be at least " + formatNumber(*p.minimum));
    if (p.maximum && d > *p.maximum)
        throw ApiError::invalidParam(f, f + " must be at most " + formatNumber(*p.maximum));
    return out;
}

// A JSON boolean, or the words (and 1 and 0) a form or a query string sends for one.
json coerceBoolean(const Property& p, const json& value) {
    const std::string& f = p.name;
    json out;
    if (value.is_boolean()) out = value.get<bool>();
    else if (value.is_string() || value.is_number_integer()) {
        std::string s = value.is_string() ? value.get<std::string>() : std::to_string(value.get<long long>());
        if (s == "true" || s == "1" || s == "yes" || s == "on") out = true;
        else if (s == "false" || s == "0" || s == "no" || s == "off") out = false;
        else throw ApiError::invalidParam(f, f + " must be true or false, got '" + s + "'");
    } else throw ApiError::invalidParam(f, f + " must be true or false");
    return out;
}

// A string, or a number or boolean as its JSON text, within the property's
// lengths and matching its pattern.
json coerceString(const Property& p, const json& value) {
    const std::string& f = p.name;
    json out;
    if (value.is_string()) out = value.get<std::string>();
    else if (value.is_number() || value.is_boolean()) out = value.dump();
    else throw ApiError::invalidParam(f, f + " must be a string");
    const std::string& s = out.get_ref<const std::string&>();
    if (p.minLength && s.size() < *p.minLength)
        throw ApiError::invalidParam(f, f + " must be at least " + std::to_string(*p.minLength) + " characters");
    if (p.maxLength && s.size() > *p.maxLength)
        throw ApiError::invalidParam(f, f + " must be at most " + std::to_string(*p.maxLength) + " characters");
    if (!p.pattern.empty() && !std::regex_match(s, *p.regex))
        throw ApiError::invalidParam(f, f + " '" + s + "' is not of the form " + p.pattern);
    return out;
}

// The coerced value must be one of the enum's, when the property has one.
void requireAllowed(const Property& p, const json& out) {
    if (p.allowed.empty()) return;
    for (const json& a : p.allowed)
        if (a == out) return;
    const std::string& f = p.name;
    std::string list;
    for (const json& a : p.allowed) list += (list.empty() ? "" : ", ") + (a.is_string() ? a.get<std::string>() : a.dump());
    std::string got = out.is_string() ? out.get<std::string>() : out.dump();
    throw ApiError::invalidParam(f, f + " must be one of " + list + ", got '" + got + "'");
}

// A non-empty list of media types ("type/subtype"), or invalid_argument naming `what`.
std::vector<std::string> mediaTypeList(const json& list, const std::string& what) {
    if (!list.is_array() || list.empty()) throw std::invalid_argument(what + " is not a list of media types");
    std::vector<std::string> out;
    for (const json& t : list) {
        if (!t.is_string() || t.get<std::string>().find('/') == std::string::npos)
            throw std::invalid_argument(what + " is not a list of media types");
        out.push_back(t.get<std::string>());
    }
    return out;
}

}  // namespace

ParamSchema ParamSchema::parse(const std::string& schemaJson) {
    try {
        return parseUnchecked(schemaJson);
    } catch (const std::invalid_argument&) {
        throw;
    } catch (const std::exception& e) {
        // A default outside its own range, a keyword of the wrong type: the schema is broken.
        throw std::invalid_argument(std::string("parameter schema: ") + e.what());
    }
}

ParamSchema ParamSchema::parseUnchecked(const std::string& schemaJson) {
    ParamSchema schema;
    try {
        schema.document_ = json::parse(schemaJson);
    } catch (const json::exception& e) {
        throw std::invalid_argument(std::string("parameter schema is not JSON: ") + e.what());
    }
    const json& doc = schema.document_;
    if (!doc.is_object()) throw std::invalid_argument("parameter schema is not an object");
    if (doc.contains("type") && doc["type"] != "object")
        throw std::invalid_argument("parameter schema must have type object");
    if (doc.contains("additionalProperties")) schema.additional_ = doc["additionalProperties"] == true;
    if (doc.contains("properties")) {
        if (!doc["properties"].is_object()) throw std::invalid_argument("properties must be an object");
        for (auto& [name, def] : doc["properties"].items()) {
            if (!def.is_object()) throw std::invalid_argument("property " + name + " is not an object");
            Property p;
            p.name = name;
            std::string type = def.value("type", "string");
            if (type == "integer") p.type = Type::Integer;
            else if (type == "number") p.type = Type::Number;
            else if (type == "string") p.type = Type::String;
            else if (type == "boolean") p.type = Type::Boolean;
            else throw std::invalid_argument("property " + name + " has unsupported type " + type);
            if (def.contains("minimum")) p.minimum = def["minimum"].get<double>();
            if (def.contains("maximum")) p.maximum = def["maximum"].get<double>();
            if (def.contains("enum")) p.allowed = def["enum"].get<std::vector<json>>();
            if (def.contains("pattern")) {
                p.pattern = def["pattern"].get<std::string>();
                try {
                    p.regex = std::make_shared<const std::regex>(p.pattern, std::regex::ECMAScript);
                } catch (const std::regex_error&) {
                    throw std::invalid_argument("property " + name + " has an invalid pattern");
                }
            }
            if (def.contains("minLength")) p.minLength = def["minLength"].get<size_t>();
            if (def.contains("maxLength")) p.maxLength = def["maxLength"].get<size_t>();
            if (def.contains("x-aliases")) p.aliases = def["x-aliases"].get<std::vector<std::string>>();
            p.description = def.value("description", "");
            schema.properties_.push_back(std::move(p));
            if (def.contains("default")) {
                // Validate the default with the same rules clients face.
                schema.properties_.back().defaultValue =
                    schema.coerce(schema.properties_.back(), def["default"]);
            }
        }
    }
    if (doc.contains("x-produces")) {
        const json& produces = doc["x-produces"];
        if (produces.is_array()) {
            schema.produces_.otherwise = mediaTypeList(produces, "x-produces");
        } else {
            if (!produces.is_object() || !produces.contains("by") || !produces["by"].is_string() ||
                !produces.contains("types") || !produces["types"].is_object())
                throw std::invalid_argument("x-produces is a list of media types or {\"by\", \"types\", \"otherwise\"}");
            schema.produces_.by = produces["by"].get<std::string>();
            if (!schema.find(schema.produces_.by))
                throw std::invalid_argument("x-produces is by " + schema.produces_.by + ", which is not a property");
            for (const auto& [value, types] : produces["types"].items())
                schema.produces_.types[value] = mediaTypeList(types, "x-produces for " + value);
            if (produces.contains("otherwise"))
                schema.produces_.otherwise = mediaTypeList(produces["otherwise"], "x-produces otherwise");
        }
    }
    if (doc.contains("required")) schema.required_ = doc["required"].get<std::vector<std::string>>();
    if (doc.contains("anyOf")) {
        for (const json& alt : doc["anyOf"]) {
            if (!alt.is_object() || !alt.contains("required"))
                throw std::invalid_argument("anyOf supports only lists of required properties");
            schema.anyOfRequired_.push_back(alt["required"].get<std::vector<std::string>>());
        }
    }
    return schema;
}

const ParamSchema::Property* ParamSchema::find(const std::string& name) const {
    for (const Property& p : properties_) {
        if (p.name == name) return &p;
        for (const std::string& a : p.aliases)
            if (a == name) return &p;
    }
    return nullptr;
}

json ParamSchema::coerce(const Property& p, const json& value) const {
    json out;
    switch (p.type) {
        case Type::Integer: out = coerceInteger(p, value); break;
        case Type::Number: out = coerceNumber(p, value); break;
        case Type::Boolean: out = coerceBoolean(p, value); break;
        case Type::String: out = coerceString(p, value); break;
    }
    requireAllowed(p, out);
    return out;
}

json ParamSchema::finish(std::map<std::string, json> given) const {
    for (const std::string& r : required_)
        if (!given.count(r)) throw ApiError::invalidParam(r, r + " is required");
    if (!anyOfRequired_.empty()) {
        bool satisfied = false;
        for (const auto& branch : anyOfRequired_) {
            bool all = true;
            for (const std::string& name : branch) all = all && given.count(name);
            satisfied = satisfied || all;
        }
        if (!satisfied) {
            std::string list;
            for (const auto& branch : anyOfRequired_) {
                std::string b;
                for (const std::string& name : branch) b += (b.empty() ? "" : " and ") + name;
                list += (list.empty() ? "" : ", ") + b;
            }
            throw ApiError::invalidParam(anyOfRequired_.front().empty() ? "" : anyOfRequired_.front().front(),
                                         "at least one of " + list + " is required");
        }
    }
    json out = json::object();
    for (const Property& p : properties_) {
        auto it = given.find(p.name);
        if (it != given.end()) out[p.name] = it->second;
        else if (p.defaultValue) out[p.name] = *p.defaultValue;
    }
    if (additional_)
        for (auto& [k, v] : given)
            if (!out.contains(k)) out[k] = v;
    return out;
}

json ParamSchema::validate(const std::map<std::string, std::string>& text) const {
    json object = json::object();
    for (const auto& [k, v] : text) object[k] = v;
    return validate(object);
}

json ParamSchema::validate(const json& object) const {
    if (!object.is_object()) throw ApiError::badRequest("invalid_param", "params must be an object", "params");
    std::map<std::string, json> given;
    for (auto& [key, value] : object.items()) {
        const Property* p = find(key);
        if (!p) {
            if (additional_) {
                given[key] = value;
                continue;
            }
            std::string known;
            for (const Property& q : properties_) known += (known.empty() ? "" : ", ") + q.name;
            throw ApiError::invalidParam(key, "unknown parameter '" + key + "'" +
                                                  (known.empty() ? "; this plugin takes none" : "; expected one of " + known));
        }
        if (value.is_null()) continue;
        if (given.count(p->name))
            throw ApiError::invalidParam(key, key + " is given twice (" + p->name + " and an alias)");
        given[p->name] = coerce(*p, value);
    }
    return finish(std::move(given));
}

json ParamSchema::validateOver(const json& base, const json& overlay) const {
    if (!base.is_object() || !overlay.is_object())
        throw ApiError::badRequest("invalid_param", "params must be an object", "params");
    auto property = [this](const std::string& key) {
        const Property* p = find(key);
        return p ? p->name : key;
    };
    json merged = json::object();
    for (auto& [key, value] : base.items()) merged[property(key)] = value;
    for (auto& [key, value] : overlay.items()) merged[property(key)] = value;
    return validate(merged);
}

std::vector<std::pair<std::string, std::string>> ParamSchema::toText(const json& canonical) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [k, v] : canonical.items()) {
        if (v.is_string()) out.emplace_back(k, v.get<std::string>());
        else if (v.is_boolean()) out.emplace_back(k, v.get<bool>() ? "true" : "false");
        else out.emplace_back(k, v.dump());
    }
    return out;
}

std::vector<std::string> ParamSchema::produces(const json& canonical) const {
    if (!produces_.by.empty() && canonical.is_object()) {
        auto value = canonical.find(produces_.by);
        if (value != canonical.end() && value->is_string())
            if (auto types = produces_.types.find(value->get<std::string>()); types != produces_.types.end())
                return types->second;
    }
    return produces_.otherwise;
}

}  // namespace pixelmill
