#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace pixelmill {

// The parameters a plugin declares, read from its JSON Schema. The subset
// understood: an object of properties typed integer, number, string or
// boolean, with minimum/maximum, enum, pattern, minLength/maxLength and
// default; "required"; "anyOf" of "required" lists ("at least one of");
// "additionalProperties" (false unless true); and "x-aliases" on a property
// (other names clients may use for it).
// Immutable after parse(): safe to share across threads.
class ParamSchema {
public:
    enum class Type { Integer, Number, String, Boolean };

    struct Property {
        std::string name;
        Type type = Type::String;
        std::optional<double> minimum;
        std::optional<double> maximum;
        std::vector<nlohmann::json> allowed;  // enum
        std::string pattern;
        std::shared_ptr<const std::regex> regex;  // compiled pattern
        std::optional<size_t> minLength;
        std::optional<size_t> maxLength;
        std::optional<nlohmann::json> defaultValue;
        std::vector<std::string> aliases;
        std::string description;
    };

    // Throws std::invalid_argument saying what is wrong with the schema.
    static ParamSchema parse(const std::string& schemaJson);

    // Validates and coerces client input, fills defaults, and returns the
    // canonical object (sorted keys, typed values). Throws ApiError 400
    // invalid_param naming the field.
    nlohmann::json validate(const std::map<std::string, std::string>& text) const;
    nlohmann::json validate(const nlohmann::json& object) const;
    // validate() of `base` with `overlay`'s parameters in place of base's
    // for the same property (by its name or an alias): a preset's
    // parameters, then those sent with the submission.
    nlohmann::json validateOver(const nlohmann::json& base, const nlohmann::json& overlay) const;

    // Canonical object → the key/value text pairs plugins receive.
    static std::vector<std::pair<std::string, std::string>> toText(const nlohmann::json& canonical);

    // The media types an output may have with `canonical` parameters (from
    // validate()), as the schema's "x-produces" says: a list of types, or
    // {"by": PROPERTY, "types": {VALUE: [types]}, "otherwise": [types]} for
    // a plugin whose output type a parameter picks. Empty when the schema
    // does not say (then nothing is known to accept its outputs).
    std::vector<std::string> produces(const nlohmann::json& canonical) const;

    const std::vector<Property>& properties() const { return properties_; }
    const nlohmann::json& document() const { return document_; }

private:
    static ParamSchema parseUnchecked(const std::string& schemaJson);
    const Property* find(const std::string& name) const;
    nlohmann::json coerce(const Property& p, const nlohmann::json& value) const;
    nlohmann::json finish(std::map<std::string, nlohmann::json> given) const;

    nlohmann::json document_;
    std::vector<Property> properties_;
    std::vector<std::string> required_;
    std::vector<std::vector<std::string>> anyOfRequired_;
    bool additional_ = false;
    struct Produces {
        std::string by;  // the property that picks a type; empty: always `otherwise`
        std::map<std::string, std::vector<std::string>> types;
        std::vector<std::string> otherwise;
    };
    Produces produces_;
};

}  // namespace pixelmill
