// ParamSchema: what a plugin's JSON Schema lets clients send, how text from
// a form is coerced, and the canonical JSON that goes into the dedup key.
#include "jobs/params.h"

#include "common/error.h"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pixelmill {
namespace {

using json = nlohmann::json;
using Text = std::map<std::string, std::string>;

const char* const kThumbnailSchema = R"({
  "type": "object",
  "properties": {
    "size":    {"type": "integer", "minimum": 1, "maximum": 4096, "default": 256, "description": "box in px"},
    "quality": {"type": "number", "minimum": 0.5, "maximum": 100},
    "crop":    {"type": "string", "enum": ["none", "centre", "attention"], "default": "none"},
    "pages":   {"type": "string", "pattern": "all|[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*"},
    "label":   {"type": "string", "minLength": 2, "maxLength": 5},
    "enlarge": {"type": "boolean", "default": false},
    "width":   {"type": "integer", "minimum": 1, "x-aliases": ["w", "cols"]}
  },
  "additionalProperties": false
})";

const ParamSchema& thumbnail() {
    static const ParamSchema schema = ParamSchema::parse(kThumbnailSchema);
    return schema;
}

// Runs `call`, which must throw ApiError invalid_param for `field`; returns the message.
template <class Fn>
std::string invalidParam(Fn&& call, const std::string& field) {
    try {
        call();
    } catch (const ApiError& e) {
        CHECK(e.status() == 400);
        CHECK(e.code() == "invalid_param");
        CHECK(e.field() == field);
        return e.what();
    }
    FAIL_CHECK("expected ApiError invalid_param for " << field);
    return "(no error)";
}

}  // namespace

TEST_CASE("params: integers are coerced from text", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    json out = s.validate(Text{{"size", "064"}});
    CHECK(out["size"] == 64);
    CHECK(out["size"].is_number_integer());
    CHECK(s.validate(Text{{"size", "+12"}})["size"] == 12);
    CHECK(s.validate(json{{"size", 100}})["size"] == 100);
    CHECK(s.validate(json{{"size", 100.0}})["size"] == 100);  // a JSON number with no fraction

    for (const char* bad : {"6.5", "abc", "", "12px", "0x10", " 12", "1e3"}) {
        CAPTURE(bad);
        std::string message = invalidParam([&] { s.validate(Text{{"size", bad}}); }, "size");
        CHECK_THAT(message, Catch::Contains("integer"));
    }
    invalidParam([&] { s.validate(json{{"size", 6.5}}); }, "size");
    invalidParam([&] { s.validate(json{{"size", true}}); }, "size");
    invalidParam([&] { s.validate(json{{"size", json::array({1})}}); }, "size");
}

TEST_CASE("params: integers past the range of a 64-bit integer are refused, never converted", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    // Converting 1e300 to an integer is undefined behaviour; the fuzzer found it.
    for (const json& huge : {json(1e300), json(-1e300), json(9223372036854775808.0), json(18446744073709551615ULL)}) {
        CAPTURE(huge.dump());
        std::string message = invalidParam([&] { s.validate(json{{"width", huge}}); }, "width");
        CHECK_THAT(message, Catch::Contains("out of range"));
    }
    CHECK(s.validate(json{{"width", 9223372036854775807LL}})["width"] == 9223372036854775807LL);
    CHECK(s.validate(json{{"width", 4611686018427387904.0}})["width"] == 4611686018427387904LL);  // 2^62
    invalidParam([&] { s.validate(Text{{"width", "99999999999999999999"}}); }, "width");
}

TEST_CASE("params: minimum and maximum name the field and the limit", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    CHECK(s.validate(Text{{"size", "1"}})["size"] == 1);
    CHECK(s.validate(Text{{"size", "4096"}})["size"] == 4096);

    std::string low = invalidParam([&] { s.validate(Text{{"size", "0"}}); }, "size");
    CHECK(low == "size must be at least 1, got 0");
    std::string high = invalidParam([&] { s.validate(Text{{"size", "5000"}}); }, "size");
    CHECK(high == "size must be at most 4096, got 5000");
    std::string negative = invalidParam([&] { s.validate(Text{{"size", "-3"}}); }, "size");
    CHECK_THAT(negative, Catch::Contains("at least 1"));

    // Numbers: fractions are fine, limits apply the same way.
    CHECK(s.validate(Text{{"quality", "72.5"}})["quality"] == Approx(72.5));
    CHECK(s.validate(Text{{"quality", "80"}})["quality"] == Approx(80));
    std::string q = invalidParam([&] { s.validate(Text{{"quality", "0.25"}}); }, "quality");
    CHECK_THAT(q, Catch::Contains("at least 0.5"));
    std::string q2 = invalidParam([&] { s.validate(Text{{"quality", "100.5"}}); }, "quality");
    CHECK_THAT(q2, Catch::Contains("at most 100"));
    invalidParam([&] { s.validate(Text{{"quality", "high"}}); }, "quality");
    invalidParam([&] { s.validate(Text{{"quality", "nan"}}); }, "quality");
    invalidParam([&] { s.validate(Text{{"quality", "inf"}}); }, "quality");
}

TEST_CASE("params: enum, pattern and string lengths", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    CHECK(s.validate(Text{{"crop", "attention"}})["crop"] == "attention");
    std::string e = invalidParam([&] { s.validate(Text{{"crop", "middle"}}); }, "crop");
    CHECK_THAT(e, Catch::Contains("none, centre, attention"));
    CHECK_THAT(e, Catch::Contains("middle"));
    invalidParam([&] { s.validate(Text{{"crop", "Centre"}}); }, "crop");

    CHECK(s.validate(Text{{"pages", "all"}})["pages"] == "all");
    CHECK(s.validate(Text{{"pages", "1-3,7"}})["pages"] == "1-3,7");
    std::string p = invalidParam([&] { s.validate(Text{{"pages", "1-3;7"}}); }, "pages");
    CHECK_THAT(p, Catch::Contains("1-3;7"));
    // The whole value must match, not a part of it.
    invalidParam([&] { s.validate(Text{{"pages", "all pages"}}); }, "pages");
    invalidParam([&] { s.validate(Text{{"pages", "x7"}}); }, "pages");

    CHECK(s.validate(Text{{"label", "ab"}})["label"] == "ab");
    CHECK(s.validate(Text{{"label", "abcde"}})["label"] == "abcde");
    invalidParam([&] { s.validate(Text{{"label", "a"}}); }, "label");
    invalidParam([&] { s.validate(Text{{"label", "abcdef"}}); }, "label");
    // A JSON number given for a string parameter is taken as its text.
    CHECK(s.validate(json{{"label", 42}})["label"] == "42");
}

TEST_CASE("params: booleans from form text", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    for (const char* yes : {"true", "1", "yes", "on"}) {
        CAPTURE(yes);
        json out = s.validate(Text{{"enlarge", yes}});
        CHECK(out["enlarge"] == true);
        CHECK(out["enlarge"].is_boolean());
    }
    for (const char* no : {"false", "0", "no", "off"}) {
        CAPTURE(no);
        CHECK(s.validate(Text{{"enlarge", no}})["enlarge"] == false);
    }
    CHECK(s.validate(json{{"enlarge", true}})["enlarge"] == true);
    std::string m = invalidParam([&] { s.validate(Text{{"enlarge", "maybe"}}); }, "enlarge");
    CHECK_THAT(m, Catch::Contains("maybe"));
    invalidParam([&] { s.validate(json{{"enlarge", 2}}); }, "enlarge");
}

TEST_CASE("params: defaults are filled in, absent optionals stay absent", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    json out = s.validate(Text{});
    CHECK(out == json{{"size", 256}, {"crop", "none"}, {"enlarge", false}});
    CHECK(out["size"].is_number_integer());

    json given = s.validate(Text{{"size", "128"}});
    CHECK(given["size"] == 128);
    CHECK(given["crop"] == "none");
    CHECK_FALSE(given.contains("quality"));

    // A JSON null means "not given": the default applies.
    CHECK(s.validate(json{{"size", nullptr}})["size"] == 256);
}

TEST_CASE("params: unknown parameters are refused by name unless additionalProperties is true",
          "[jobs][params]") {
    std::string m = invalidParam([&] { thumbnail().validate(Text{{"sizee", "5"}}); }, "sizee");
    CHECK_THAT(m, Catch::Contains("sizee"));
    CHECK_THAT(m, Catch::Contains("size"));  // what was meant is among the expected

    ParamSchema none = ParamSchema::parse(R"({"type": "object", "properties": {}})");
    CHECK(none.validate(Text{}) == json::object());
    invalidParam([&] { none.validate(Text{{"x", "1"}}); }, "x");

    ParamSchema open = ParamSchema::parse(
        R"({"type": "object", "properties": {"n": {"type": "integer", "default": 1}}, "additionalProperties": true})");
    json out = open.validate(Text{{"extra", "value"}, {"n", "5"}});
    CHECK(out["n"] == 5);
    CHECK(out["extra"] == "value");
}

TEST_CASE("params: required and anyOf-required", "[jobs][params]") {
    ParamSchema pdf = ParamSchema::parse(R"({
      "type": "object",
      "properties": {"dpi": {"type": "integer", "minimum": 18}, "pages": {"type": "string"}},
      "required": ["dpi"]
    })");
    std::string m = invalidParam([&] { pdf.validate(Text{{"pages", "1"}}); }, "dpi");
    CHECK_THAT(m, Catch::Contains("dpi"));
    CHECK_THAT(m, Catch::Contains("required"));
    CHECK(pdf.validate(Text{{"dpi", "72"}})["dpi"] == 72);

    ParamSchema resize = ParamSchema::parse(R"({
      "type": "object",
      "properties": {"width": {"type": "integer", "x-aliases": ["w"]}, "height": {"type": "integer"},
                     "fit": {"type": "string", "default": "inside"}},
      "anyOf": [{"required": ["width"]}, {"required": ["height"]}]
    })");
    std::string any = invalidParam([&] { resize.validate(Text{{"fit", "cover"}}); }, "width");
    CHECK_THAT(any, Catch::Contains("width"));
    CHECK_THAT(any, Catch::Contains("height"));
    CHECK(resize.validate(Text{{"width", "10"}})["width"] == 10);
    CHECK(resize.validate(Text{{"height", "10"}})["height"] == 10);
    CHECK(resize.validate(Text{{"w", "10"}})["width"] == 10);  // an alias satisfies it too
    // A default does not count as given.
    invalidParam([&] { resize.validate(Text{}); }, "width");
}

TEST_CASE("params: x-aliases map to the canonical name, and alias with canonical name is refused", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    json viaAlias = s.validate(Text{{"w", "40"}});
    CHECK(viaAlias["width"] == 40);
    CHECK_FALSE(viaAlias.contains("w"));
    CHECK(s.validate(Text{{"cols", "41"}})["width"] == 41);
    CHECK(s.validate(Text{{"w", "40"}}) == s.validate(Text{{"width", "40"}}));

    // Errors found through an alias still say what is wrong.
    std::string m = invalidParam([&] { s.validate(Text{{"w", "0"}}); }, "width");
    CHECK_THAT(m, Catch::Contains("at least 1"));

    auto twice = [&](const Text& given) {
        try {
            s.validate(given);
            FAIL_CHECK("alias and canonical name given together must be refused");
        } catch (const ApiError& e) {
            CHECK(e.status() == 400);
            CHECK(e.code() == "invalid_param");
            CHECK((e.field() == "width" || e.field() == "w" || e.field() == "cols"));
            CHECK_THAT(std::string(e.what()), Catch::Contains("twice"));
        }
    };
    twice(Text{{"w", "40"}, {"width", "40"}});
    twice(Text{{"cols", "1"}, {"width", "2"}});
    twice(Text{{"w", "1"}, {"cols", "2"}});
}

TEST_CASE("params: the canonical JSON does not depend on input order or form", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    json a = s.validate(json::parse(R"({"size": "10", "crop": "centre", "enlarge": "yes", "w": 5})"));
    json b = s.validate(json::parse(R"({"w": "5", "enlarge": true, "crop": "centre", "size": 10})"));
    json c = s.validate(Text{{"enlarge", "1"}, {"size", "010"}, {"width", "5"}, {"crop", "centre"}});
    CHECK(a.dump() == b.dump());
    CHECK(a.dump() == c.dump());
    CHECK(a.dump() == R"({"crop":"centre","enlarge":true,"size":10,"width":5})");
}

TEST_CASE("params: toText turns canonical values into the text plugins receive", "[jobs][params]") {
    json canonical = thumbnail().validate(Text{{"quality", "72.5"}, {"label", "hi"}});
    auto text = ParamSchema::toText(canonical);
    std::vector<std::pair<std::string, std::string>> expected{
        {"crop", "none"}, {"enlarge", "false"}, {"label", "hi"}, {"quality", "72.5"}, {"size", "256"}};
    CHECK(text == expected);

    auto more = ParamSchema::toText(json{{"on", true}, {"n", -7}, {"x", 0.1}, {"s", "a b"}});
    std::map<std::string, std::string> m(more.begin(), more.end());
    CHECK(m["on"] == "true");
    CHECK(m["n"] == "-7");
    CHECK(m["x"] == "0.1");  // shortest form that reads back the same
    CHECK(m["s"] == "a b");  // strings unquoted
    CHECK(ParamSchema::toText(json::object()).empty());
}

TEST_CASE("params: parse() reads the subset it supports", "[jobs][params]") {
    const ParamSchema& s = thumbnail();
    REQUIRE(s.properties().size() == 7);
    const ParamSchema::Property* size = nullptr;
    for (const auto& p : s.properties())
        if (p.name == "size") size = &p;
    REQUIRE(size);
    CHECK(size->type == ParamSchema::Type::Integer);
    REQUIRE(size->minimum);
    REQUIRE(size->maximum);
    CHECK(*size->minimum == Approx(1));
    CHECK(*size->maximum == Approx(4096));
    REQUIRE(size->defaultValue);
    CHECK(*size->defaultValue == 256);
    CHECK(size->description == "box in px");
    CHECK(s.document()["type"] == "object");

    // No properties at all: a plugin without parameters.
    CHECK(ParamSchema::parse("{}").validate(Text{}) == json::object());
    // A property without a type is a string.
    CHECK(ParamSchema::parse(R"({"properties": {"t": {}}})").validate(json{{"t", 5}})["t"] == "5");
}

TEST_CASE("params: parse() refuses what it cannot honour with std::invalid_argument", "[jobs][params]") {
    CHECK_THROWS_AS(ParamSchema::parse("not json"), std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"type": "object", "properties": )"), std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse("[1, 2]"), std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"type": "array"})"), std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": []})"), std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {"x": 5}})"), std::invalid_argument);
    CHECK_THROWS_WITH(ParamSchema::parse(R"({"properties": {"tags": {"type": "array"}}})"),
                      Catch::Contains("tags") && Catch::Contains("array"));
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {"o": {"type": "object"}}})"), std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {"p": {"type": "string", "pattern": "(["}}})"),
                    std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {}, "anyOf": [{"minimum": 1}]})"), std::invalid_argument);

    // A schema whose own default breaks its rules, or whose keywords have the
    // wrong JSON type, is a broken schema too: the header promises
    // std::invalid_argument saying what is wrong, whatever the mistake.
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {"size": {"type": "integer", "maximum": 10, "default": 20}}})"),
                    std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {"size": {"type": "integer", "minimum": "one"}}})"),
                    std::invalid_argument);
    CHECK_THROWS_AS(ParamSchema::parse(R"({"properties": {"size": {"type": "integer"}}, "required": "size"})"),
                    std::invalid_argument);
}

TEST_CASE("params: a preset's parameters under those sent with a submission", "[jobs][params][presets]") {
    const json preset = {{"size", 128}, {"crop", "centre"}, {"w", 40}};
    // Nothing sent: the preset's, with the schema's defaults.
    json plain = thumbnail().validateOver(preset, json::object());
    CHECK(plain["size"] == 128);
    CHECK(plain["crop"] == "centre");
    CHECK(plain["width"] == 40);
    CHECK(plain["enlarge"] == false);

    // Sent as form text: coerced, and in place of the preset's own.
    json text = thumbnail().validateOver(preset, json{{"size", "64"}, {"enlarge", "true"}});
    CHECK(text["size"] == 64);
    CHECK(text["enlarge"] == true);
    CHECK(text["crop"] == "centre");

    // An alias sent replaces the preset's value of that property, not a conflict.
    json alias = thumbnail().validateOver(preset, json{{"cols", 80}});
    CHECK(alias["width"] == 80);
    json byName = thumbnail().validateOver(preset, json{{"width", 90}});
    CHECK(byName["width"] == 90);

    // What is sent is still checked, naming the field.
    invalidParam([&] { thumbnail().validateOver(preset, json{{"size", 0}}); }, "size");
    invalidParam([&] { thumbnail().validateOver(preset, json{{"colour", "red"}}); }, "colour");
    // A null sent leaves the preset's value out, so the default applies.
    CHECK(thumbnail().validateOver(preset, json{{"crop", nullptr}})["crop"] == "none");
}

TEST_CASE("params: x-produces says what a plugin writes, fixed or picked by a parameter", "[jobs][params][produces]") {
    using Types = std::vector<std::string>;
    ParamSchema fixed = ParamSchema::parse(R"({"type": "object", "x-produces": ["image/png"]})");
    CHECK(fixed.produces(json::object()) == Types{"image/png"});

    ParamSchema picked = ParamSchema::parse(R"({"type": "object",
        "properties": {"format": {"type": "string", "enum": ["jpeg", "webp"]},
                       "mode": {"type": "string", "enum": ["a", "b"], "default": "a"}},
        "x-produces": {"by": "format", "types": {"jpeg": ["image/jpeg"], "webp": ["image/webp"]},
                       "otherwise": ["image/jpeg", "image/png"]}})");
    CHECK(picked.produces(picked.validate(Text{{"format", "webp"}})) == Types{"image/webp"});
    CHECK(picked.produces(picked.validate(Text{{"format", "jpeg"}})) == Types{"image/jpeg"});
    CHECK(picked.produces(picked.validate(Text{})) == Types{"image/jpeg", "image/png"});  // no format: either

    ParamSchema byDefault = ParamSchema::parse(R"({"type": "object",
        "properties": {"format": {"type": "string", "enum": ["text", "html"], "default": "text"}},
        "x-produces": {"by": "format", "types": {"text": ["text/plain"], "html": ["text/html"]}}})");
    CHECK(byDefault.produces(byDefault.validate(Text{})) == Types{"text/plain"});  // the default picks
    CHECK(byDefault.produces(byDefault.validate(Text{{"format", "html"}})) == Types{"text/html"});

    ParamSchema silent = ParamSchema::parse(R"({"type": "object"})");
    CHECK(silent.produces(json::object()).empty());

    for (const char* broken : {R"({"x-produces": []})", R"({"x-produces": ["png"]})", R"({"x-produces": "image/png"})",
                               R"({"x-produces": {"by": "format", "types": {}}})",
                               R"({"properties": {"f": {"type": "string"}}, "x-produces": {"by": "f"}})",
                               R"({"properties": {"f": {"type": "string"}},
                                   "x-produces": {"by": "f", "types": {"a": "image/png"}}})"}) {
        CAPTURE(broken);
        CHECK_THROWS_AS(ParamSchema::parse(broken), std::invalid_argument);
    }
}

}  // namespace pixelmill
