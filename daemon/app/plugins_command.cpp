#include "app/commands.h"

#include "common/log.h"
#include "plugins/plugin_host.h"

#include <nlohmann/json.hpp>

#include <iostream>

namespace pixelmill {

namespace {

std::string describeParam(const ParamSchema::Property& p) {
    std::string type;
    switch (p.type) {
        case ParamSchema::Type::Integer: type = "integer"; break;
        case ParamSchema::Type::Number: type = "number"; break;
        case ParamSchema::Type::String: type = "string"; break;
        case ParamSchema::Type::Boolean: type = "boolean"; break;
    }
    std::string out = p.name + " (" + type;
    if (p.minimum || p.maximum) {
        auto num = [](double v) {
            nlohmann::json j = v;
            if (v == static_cast<long long>(v)) j = static_cast<long long>(v);
            return j.dump();
        };
        out += " " + (p.minimum ? num(*p.minimum) : std::string("")) + ".." + (p.maximum ? num(*p.maximum) : "");
    }
    if (!p.allowed.empty()) {
        std::string values;
        for (const auto& a : p.allowed) values += (values.empty() ? "" : "|") + (a.is_string() ? a.get<std::string>() : a.dump());
        out += " " + values;
    }
    if (p.defaultValue) out += ", default " + (p.defaultValue->is_string() ? p.defaultValue->get<std::string>() : p.defaultValue->dump());
    out += ")";
    if (!p.description.empty()) out += ": " + p.description;
    return out;
}

}  // namespace

int checkPluginFile(const std::string& file) {
    log::init(log::Level::Error);
    initImageLibrary("pixelmill", 1);
    std::filesystem::path path(file);
    PluginHost host(path.parent_path(), PluginLimits{});
    if (host.load(path)) return 0;
    auto refused = host.refused();
    std::cout << (refused.empty() ? std::string("refused") : refused.back().reason) << "\n";
    return 1;
}

int runPlugins(const std::string& pluginDir, bool asJson) {
    log::init(log::Level::Error);  // refusals are printed below, not logged
    initImageLibrary("pixelmill", 1);
    PluginHost host(resolvePluginDir(pluginDir), PluginLimits{});
    host.scan();
    if (asJson) {
        nlohmann::json plugins = nlohmann::json::array();
        for (const auto& p : host.list())
            plugins.push_back({{"name", p->name},
                               {"version", p->version},
                               {"description", p->description},
                               {"file", p->file},
                               {"accepts", p->accepts},
                               {"params", p->params.document()}});
        nlohmann::json refused = nlohmann::json::array();
        for (const auto& r : host.refused()) refused.push_back({{"file", r.file}, {"reason", r.reason}});
        std::cout << nlohmann::json{{"folder", host.folder().string()}, {"plugins", plugins}, {"refused", refused}}.dump(2)
                  << "\n";
        return 0;
    }
    std::cout << "plugin folder: " << host.folder().string() << "\n";
    for (const auto& p : host.list()) {
        std::cout << "\n" << p->name << " " << p->version << " — " << p->description << "\n";
        std::string accepts;
        for (const auto& a : p->accepts) accepts += (accepts.empty() ? "" : ", ") + a;
        std::cout << "  accepts: " << accepts << "\n";
        std::cout << "  file:    " << p->file << "\n";
        for (const auto& param : p->params.properties()) std::cout << "  param:   " << describeParam(param) << "\n";
    }
    auto refused = host.refused();
    if (!refused.empty()) {
        std::cout << "\nrefused:\n";
        for (const auto& r : refused) std::cout << "  " << r.file << ": " << r.reason << "\n";
    }
    if (host.list().empty()) std::cout << "\nno plugins loaded\n";
    return 0;
}

}  // namespace pixelmill
