#include "http/docs/docs_page.h"

#include "http/docs/docs_markup.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

namespace pixelmill::http {

using json = nlohmann::ordered_json;
using docs::anchor;
using docs::escape;
using docs::inlineText;
using docs::prose;
using docs::replaceAll;

namespace {

constexpr const char* kMethods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};


// "get" -> "GET" (method names are ASCII).
std::string upper(std::string_view method) {
    std::string out;
    for (char c : method) out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    return out;
}

std::string str(const json& node, const char* key) {
    auto it = node.find(key);
    return it != node.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A value as it is shown: strings as they are, anything else as indented JSON.
std::string showValue(const json& value) {
    return value.is_string() ? value.get<std::string>()
                             : value.dump(2, ' ', false, json::error_handler_t::replace);
}

class PageWriter {
public:
    PageWriter(const json& doc, std::string origin, std::string_view stylesheet)
        : doc_(doc), origin_(std::move(origin)), stylesheet_(stylesheet) {}

    std::string render();

private:
    struct Operation {
        std::string method;
        std::string path;
        const json* pathItem;
        const json* op;
        std::string id;
    };

    // The node a "$ref" names within the document, or null.
    const json* resolve(const std::string& ref) const;
    // Follows $refs (a few levels) to the node they name.
    const json& deref(const json& node) const;

    std::string typeOf(const json& schema, int depth = 0) const;
    std::string constraints(const json& schema) const;
    void propertyRows(const json& schema, const std::string& prefix, std::string& rows, int depth) const;
    void propertyTable(const json& schema);
    void curlLines(const json& node);
    void example(const json& value, const std::string& label, bool open);
    void examples(const json& media, bool open);

    // A tag's heading: its x-displayName, else its name.
    std::string tagTitle(const std::string& tag) const;
    void contents(const std::vector<std::pair<std::string, std::vector<const Operation*>>>& groups);
    void operation(const Operation& op);
    void parameters(const Operation& op);
    void requestBody(const json& body);
    void responses(const json& responses);
    void schemas();

    const json& doc_;
    std::string origin_;
    std::string_view stylesheet_;
    std::vector<Operation> ops_;
    std::string out_;
};

const json* PageWriter::resolve(const std::string& ref) const {
    if (!ref.starts_with("#/")) return nullptr;
    try {
        const json& node = doc_.at(json::json_pointer(ref.substr(1)));
        return &node;
    } catch (const json::exception&) {
        return nullptr;
    }
}

const json& PageWriter::deref(const json& node) const {
    const json* at = &node;
    for (int i = 0; i < 8 && at->is_object() && at->contains("$ref"); ++i) {
        const json* next = resolve(str(*at, "$ref"));
        if (!next) break;
        at = next;
    }
    return *at;
}

std::string PageWriter::typeOf(const json& schema, int depth) const {
    if (!schema.is_object() || depth > 6) return "any";
    std::string t;
    if (schema.contains("$ref")) {
        std::string ref = str(schema, "$ref");
        std::string name = ref.substr(ref.rfind('/') + 1);
        if (ref.starts_with("#/components/schemas/"))
            return "<a href=\"#" + anchor("schema-", name) + "\"><code>" + escape(name) + "</code></a>";
        return "<code>" + escape(name) + "</code>";
    }
    for (const char* combinator : {"allOf", "oneOf", "anyOf"}) {
        if (!schema.contains(combinator) || !schema[combinator].is_array()) continue;
        std::string sep = std::string_view(combinator) == "allOf" ? " and " : " or ";
        for (const json& part : schema[combinator]) t += (t.empty() ? "" : sep) + typeOf(part, depth + 1);
    }
    std::string type = str(schema, "type");
    if (type == "array") {
        t = "array of " + (schema.contains("items") ? typeOf(schema["items"], depth + 1) : std::string("any"));
    } else if (type == "object" && schema.contains("additionalProperties") && schema["additionalProperties"].is_object() &&
               !schema.contains("properties")) {
        t = "object of " + typeOf(schema["additionalProperties"], depth + 1);
    } else if (!type.empty()) {
        t = escape(type);
        if (schema.contains("format")) t += " <span class=\"note\">(" + escape(str(schema, "format")) + ")</span>";
    } else if (t.empty()) {
        t = "any";
    }
    if (schema.value("nullable", false)) t += " or null";
    return t;
}

std::string PageWriter::constraints(const json& schema) const {
    if (!schema.is_object()) return {};
    std::vector<std::string> parts;
    auto code = [](const json& v) { return "<code>" + escape(v.is_string() ? v.get<std::string>() : v.dump()) + "</code>"; };
    if (schema.contains("enum")) {
        std::string list;
        for (const json& v : schema["enum"]) list += (list.empty() ? "" : ", ") + code(v);
        parts.push_back("One of " + list + ".");
    }
    if (schema.contains("minimum") && schema.contains("maximum"))
        parts.push_back("From " + code(schema["minimum"]) + " to " + code(schema["maximum"]) + ".");
    else if (schema.contains("minimum")) parts.push_back("At least " + code(schema["minimum"]) + ".");
    else if (schema.contains("maximum")) parts.push_back("At most " + code(schema["maximum"]) + ".");
    if (schema.contains("minLength")) parts.push_back("At least " + code(schema["minLength"]) + " characters.");
    if (schema.contains("maxLength")) parts.push_back("At most " + code(schema["maxLength"]) + " characters.");
    if (schema.contains("minItems")) parts.push_back("At least " + code(schema["minItems"]) + " items.");
    if (schema.contains("maxItems")) parts.push_back("At most " + code(schema["maxItems"]) + " items.");
    if (schema.contains("pattern")) parts.push_back("Pattern " + code(schema["pattern"]) + ".");
    if (schema.contains("default")) parts.push_back("Default " + code(schema["default"]) + ".");
    if (schema.contains("example")) parts.push_back("Example " + code(schema["example"]) + ".");
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : " ") + p;
    return out.empty() ? out : "<p class=\"note\">" + out + "</p>";
}

// Rows for the properties of an object schema; inline objects (and arrays
// of them) are flattened as parent.child and parent[].child.
void PageWriter::propertyRows(const json& schema, const std::string& prefix, std::string& rows, int depth) const {
    if (!schema.is_object() || depth > 4 || !schema.contains("properties")) return;
    std::set<std::string> required;
    if (schema.contains("required"))
        for (const json& r : schema["required"])
            if (r.is_string()) required.insert(r.get<std::string>());
    for (const auto& [name, property] : schema["properties"].items()) {
        std::string full = prefix + name;
        rows += "<tr><td><code>" + escape(full) + "</code>";
        if (required.count(name)) rows += "<span class=\"req\">required</span>";
        rows += "</td><td>" + typeOf(property) + "</td><td>" + prose(str(property, "description")) +
                constraints(property) + "</td></tr>";
        if (property.contains("$ref")) continue;
        if (str(property, "type") == "object") propertyRows(property, full + ".", rows, depth + 1);
        if (str(property, "type") == "array" && property.contains("items") && !property["items"].contains("$ref"))
            propertyRows(property["items"], full + "[].", rows, depth + 1);
    }
    if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
        const json& more = schema["additionalProperties"];
        rows += "<tr><td><em>any other name</em></td><td>" + typeOf(more) + "</td><td>" +
                prose(str(more, "description")) + constraints(more) + "</td></tr>";
    }
}

void PageWriter::propertyTable(const json& schema) {
    std::string rows;
    propertyRows(schema, "", rows, 0);
    if (rows.empty()) return;
    out_ += "<div class=\"table\"><table><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead><tbody>" +
            rows + "</tbody></table></div>\n";
}

void PageWriter::curlLines(const json& node) {
    if (!node.is_object() || !node.contains("x-curl")) return;
    const json& curl = node["x-curl"];
    std::vector<std::string> lines;
    if (curl.is_string()) lines.push_back(curl.get<std::string>());
    else if (curl.is_array())
        for (const json& l : curl)
            if (l.is_string()) lines.push_back(l.get<std::string>());
    if (lines.empty()) return;
    out_ += "<pre class=\"curl\"><code>";
    for (size_t i = 0; i < lines.size(); ++i)
        out_ += (i ? "\n" : "") + std::string("$ ") + escape(replaceAll(lines[i], kExampleOrigin, origin_));
    out_ += "</code></pre>\n";
}

void PageWriter::example(const json& value, const std::string& label, bool open) {
    std::string text = showValue(value);
    open = open && std::count(text.begin(), text.end(), '\n') < 24;  // long ones stay folded
    out_ += std::string("<details") + (open ? " open" : "") + "><summary>" + escape(label) + "</summary><pre><code>" +
            escape(text) + "</code></pre></details>\n";
}

void PageWriter::examples(const json& media, bool open) {
    if (media.contains("example")) example(media["example"], "Example", open);
    if (!media.contains("examples") || !media["examples"].is_object()) return;
    for (const auto& [name, raw] : media["examples"].items()) {
        const json& ex = deref(raw);
        std::string label = str(ex, "summary").empty() ? name : str(ex, "summary");
        out_ += "<p class=\"note\">Example: " + inlineText(label) + "</p>\n" + prose(str(ex, "description"));
        curlLines(ex);
        if (ex.contains("value")) example(ex["value"], "Value", open);
    }
}

std::string PageWriter::tagTitle(const std::string& tag) const {
    if (doc_.contains("tags"))
        for (const json& t : doc_["tags"])
            if (str(t, "name") == tag && !str(t, "x-displayName").empty()) return str(t, "x-displayName");
    return tag;
}

void PageWriter::contents(const std::vector<std::pair<std::string, std::vector<const Operation*>>>& groups) {
    out_ += "<nav class=\"toc\" aria-label=\"Contents\"><h2>Contents</h2><ul>\n";
    for (const auto& [tag, ops] : groups) {
        out_ += "<li class=\"group\"><a href=\"#" + anchor("tag-", tag) + "\">" + escape(tagTitle(tag)) + "</a><ul>\n";
        for (const Operation* op : ops)
            out_ += "<li><a href=\"#" + op->id + "\"><span class=\"m " + op->method + "\">" +
                    upper(op->method) + "</span>" +
                    escape(op->path) + "</a></li>\n";
        out_ += "</ul></li>\n";
    }
    if (doc_.contains("components") && doc_["components"].contains("schemas")) {
        out_ += "<li class=\"group\"><a href=\"#schemas\">Schemas</a><ul>\n";
        for (const auto& [name, schema] : doc_["components"]["schemas"].items())
            out_ += "<li><a href=\"#" + anchor("schema-", name) + "\">" + escape(name) + "</a></li>\n";
        out_ += "</ul></li>\n";
    }
    out_ += "</ul></nav>\n";
}

void PageWriter::parameters(const Operation& op) {
    // The path's parameters first, unless the operation overrides them (same name and place).
    auto key = [](const json& p) { return str(p, "in") + ":" + str(p, "name"); };
    std::set<std::string> own;
    if (op.op->contains("parameters"))
        for (const json& raw : (*op.op)["parameters"]) own.insert(key(deref(raw)));
    std::vector<const json*> params;
    for (const json* source : {op.pathItem, op.op}) {
        if (!source->contains("parameters")) continue;
        for (const json& raw : (*source)["parameters"]) {
            const json& p = deref(raw);
            if (source == op.op || !own.count(key(p))) params.push_back(&p);
        }
    }
    if (params.empty()) return;
    out_ += "<h4>Parameters</h4><div class=\"table\"><table><thead><tr><th>Name</th><th>In</th><th>Type</th>"
            "<th>Description</th></tr></thead><tbody>\n";
    for (const json* p : params) {
        const json& schema = p->contains("schema") ? (*p)["schema"] : json::object();
        out_ += "<tr><td><code>" + escape(str(*p, "name")) + "</code>";
        if (p->value("required", false)) out_ += "<span class=\"req\">required</span>";
        out_ += "</td><td>" + escape(str(*p, "in")) + "</td><td>" + typeOf(schema) + "</td><td>" +
                prose(str(*p, "description")) + constraints(schema);
        if (p->contains("example")) {
            const json& ex = (*p)["example"];
            out_ += "<p class=\"note\">Example <code>" + escape(ex.is_string() ? ex.get<std::string>() : ex.dump()) +
                    "</code>.</p>";
        }
        out_ += "</td></tr>\n";
    }
    out_ += "</tbody></table></div>\n";
}

void PageWriter::requestBody(const json& raw) {
    const json& body = deref(raw);
    out_ += "<h4>Request body";
    if (body.value("required", false)) out_ += "<span class=\"req\">required</span>";
    out_ += "</h4>" + prose(str(body, "description"));
    if (!body.contains("content")) return;
    for (const auto& [type, media] : body["content"].items()) {
        out_ += "<p><code>" + escape(type) + "</code>";
        const json& schema = media.contains("schema") ? media["schema"] : json::object();
        out_ += schema.contains("$ref") ? " — " + typeOf(schema) : std::string();
        out_ += "</p>\n" + prose(str(media, "description"));
        if (!schema.contains("$ref")) propertyTable(schema);
        curlLines(media);
        examples(media, false);
    }
}

void PageWriter::responses(const json& all) {
    out_ += "<h4>Responses</h4>\n";
    for (const auto& [status, raw] : all.items()) {
        const json& r = deref(raw);
        std::string cls = status == "default" ? "sd" : "s" + status.substr(0, 1);
        out_ += "<div class=\"resp\"><p><span class=\"status " + cls + "\">" + escape(status) + "</span>" +
                inlineText(str(r, "description")) + "</p>\n";
        if (r.contains("x-error-codes") && r["x-error-codes"].is_array()) {
            std::string codes;
            for (const json& c : r["x-error-codes"])
                if (c.is_string()) codes += (codes.empty() ? "" : ", ") + ("<code>" + escape(c.get<std::string>()) + "</code>");
            out_ += "<p class=\"note\">Error codes: " + codes + "</p>\n";
        }
        if (r.contains("headers") && r["headers"].is_object() && !r["headers"].empty()) {
            out_ += "<div class=\"table\"><table><thead><tr><th>Header</th><th>Type</th><th>Description</th></tr>"
                    "</thead><tbody>";
            for (const auto& [name, rawHeader] : r["headers"].items()) {
                const json& h = deref(rawHeader);
                out_ += "<tr><td><code>" + escape(name) + "</code></td><td>" +
                        typeOf(h.contains("schema") ? h["schema"] : json::object()) + "</td><td>" +
                        prose(str(h, "description")) + "</td></tr>";
            }
            out_ += "</tbody></table></div>\n";
        }
        if (r.contains("content"))
            for (const auto& [type, media] : r["content"].items()) {
                out_ += "<p class=\"note\"><code>" + escape(type) + "</code>";
                if (media.contains("schema")) out_ += " — " + typeOf(media["schema"]);
                out_ += "</p>\n";
                examples(media, status.starts_with("2"));
            }
        out_ += "</div>\n";
    }
}

void PageWriter::operation(const Operation& op) {
    const json& o = *op.op;
    out_ += "<article class=\"op\" id=\"" + op.id + "\"><h3><span class=\"m " + op.method + "\">" + upper(op.method) +
            "</span><code>" + escape(op.path) + "</code></h3>\n";
    if (o.contains("summary")) out_ += "<p class=\"summary\">" + inlineText(str(o, "summary")) + "</p>\n";
    out_ += prose(str(o, "description"));
    if (o.contains("x-curl")) {
        out_ += "<h4>Example</h4>";
        curlLines(o);
    }
    parameters(op);
    if (o.contains("requestBody")) requestBody(o["requestBody"]);
    if (o.contains("responses")) responses(o["responses"]);
    out_ += "</article>\n";
}

void PageWriter::schemas() {
    if (!doc_.contains("components") || !doc_["components"].contains("schemas")) return;
    out_ += "<section class=\"tag\" id=\"schemas\"><h2>Schemas</h2>\n";
    for (const auto& [name, schema] : doc_["components"]["schemas"].items()) {
        out_ += "<article class=\"schema\" id=\"" + anchor("schema-", name) + "\"><h3><code>" + escape(name) +
                "</code></h3>\n" + prose(str(schema, "description"));
        if (!schema.contains("properties")) out_ += "<p>Type: " + typeOf(schema) + "</p>" + constraints(schema);
        propertyTable(schema);
        if (schema.contains("example")) example(schema["example"], "Example", false);
        out_ += "</article>\n";
    }
    out_ += "</section>\n";
}

std::string PageWriter::render() {
    const json& info = doc_.contains("info") ? doc_["info"] : json::object();
    std::string title = str(info, "title").empty() ? "API" : str(info, "title");

    if (doc_.contains("paths") && doc_["paths"].is_object())
        for (const auto& [path, item] : doc_["paths"].items())
            for (const char* method : kMethods)
                if (item.contains(method)) {
                    const json& op = item[method];
                    std::string id = str(op, "operationId").empty() ? std::string(method) + path : str(op, "operationId");
                    ops_.push_back(Operation{method, path, &item, &op, anchor("op-", id)});
                }

    // Tags in the document's order, then any others as operations name them.
    std::vector<std::pair<std::string, std::vector<const Operation*>>> groups;
    auto group = [&groups](const std::string& tag) -> std::vector<const Operation*>& {
        for (auto& g : groups)
            if (g.first == tag) return g.second;
        groups.emplace_back(tag, std::vector<const Operation*>{});
        return groups.back().second;
    };
    if (doc_.contains("tags"))
        for (const json& t : doc_["tags"]) group(str(t, "name"));
    for (const Operation& op : ops_) {
        const json& tags = op.op->contains("tags") ? (*op.op)["tags"] : json::array();
        group(!tags.empty() && tags[0].is_string() ? tags[0].get<std::string>() : "other").push_back(&op);
    }
    std::erase_if(groups, [](const auto& g) { return g.second.empty(); });

    out_ += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"color-scheme\" content=\"light dark\"><title>" +
            escape(title) + "</title><style>" + std::string(stylesheet_) + "</style></head><body>\n";
    out_ += "<header class=\"top\"><h1>" + escape(title) + "<span class=\"version\">" + escape(str(info, "version")) +
            "</span></h1>\n" + prose(str(info, "description")) + "<p class=\"note\">Base URL <code>" +
            escape(origin_) + "</code> · OpenAPI " + escape(str(doc_, "openapi")) +
            " document: <a href=\"/openapi.json\"><code>/openapi.json</code></a></p></header>\n";
    out_ += "<div class=\"layout\">\n";
    contents(groups);
    out_ += "<main>\n";
    for (const auto& [tag, ops] : groups) {
        out_ += "<section class=\"tag\" id=\"" + anchor("tag-", tag) + "\"><h2>" + escape(tagTitle(tag)) + "</h2>\n";
        if (doc_.contains("tags"))
            for (const json& t : doc_["tags"])
                if (str(t, "name") == tag) out_ += prose(str(t, "description"));
        for (const Operation* op : ops) operation(*op);
        out_ += "</section>\n";
    }
    schemas();
    out_ += "</main></div>\n<footer>Rendered by the daemon from <a href=\"/openapi.json\">/openapi.json</a>.</footer>"
            "\n</body></html>\n";
    return std::move(out_);
}

}  // namespace

std::string renderDocsPage(const json& document, const std::string& origin, std::string_view stylesheet) {
    return PageWriter(document, origin, stylesheet).render();
}

}  // namespace pixelmill::http
