// Parameter validation: the four plugins' real schemas against arbitrary
// form text and JSON, and the schema parser against arbitrary schemas.
#include "common/error.h"
#include "jobs/params.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace {

const char* kSchemas[] = {
    R"({"type":"object","properties":{"size":{"type":"integer","minimum":1,"maximum":4096,"default":256},
        "crop":{"type":"string","enum":["none","centre","attention"],"default":"none"},
        "format":{"type":"string","enum":["jpeg","png","webp"]},"quality":{"type":"integer","minimum":1,"maximum":100,"default":80}},
        "additionalProperties":false})",
    R"({"type":"object","properties":{"width":{"type":"integer","minimum":1,"maximum":16384},"height":{"type":"integer","minimum":1,"maximum":16384},
        "fit":{"type":"string","enum":["inside","cover","fill","contain"],"default":"inside"},"enlarge":{"type":"boolean","default":false}},
        "anyOf":[{"required":["width"]},{"required":["height"]}],"additionalProperties":false})",
    R"({"type":"object","properties":{"width":{"type":"integer","minimum":1,"maximum":1000,"default":100,"x-aliases":["size"]},
        "charset":{"type":"string","minLength":2,"maxLength":256},"invert":{"type":"boolean","default":false},
        "format":{"type":"string","enum":["text","html"],"default":"text"}},"additionalProperties":false})",
    R"({"type":"object","properties":{"dpi":{"type":"number","minimum":18,"maximum":600,"default":72},
        "pages":{"type":"string","pattern":"^(all|[0-9]+(-[0-9]*)?(,[0-9]+(-[0-9]*)?)*)$","default":"all","maxLength":1000},
        "max_pages":{"type":"integer","minimum":1,"maximum":100000}},"additionalProperties":false})",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    unsigned mode = data[0];
    try {
        if (mode % 6 == 5) {  // an arbitrary schema
            auto schema = pixelmill::ParamSchema::parse(text);
            (void)schema.validate(std::map<std::string, std::string>{});
            return 0;
        }
        static const auto schemas = [] {
            std::vector<pixelmill::ParamSchema> out;
            for (const char* s : kSchemas) out.push_back(pixelmill::ParamSchema::parse(s));
            return out;
        }();
        const auto& schema = schemas[mode % 4];
        nlohmann::json canonical;
        if (mode & 0x80) {  // a JSON params object
            auto doc = nlohmann::json::parse(text, nullptr, false);
            if (doc.is_discarded()) return 0;
            canonical = schema.validate(doc);
        } else {  // form fields: k=v&k=v
            std::map<std::string, std::string> fields;
            size_t at = 0;
            while (at <= text.size()) {
                size_t amp = text.find('&', at);
                std::string pair = text.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
                size_t eq = pair.find('=');
                fields[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
                if (amp == std::string::npos) break;
                at = amp + 1;
            }
            canonical = schema.validate(fields);
        }
        // What validation accepted must be accepted again, unchanged (canonical form is a fixed point).
        auto again = schema.validate(canonical);
        if (again != canonical) __builtin_trap();
        (void)pixelmill::ParamSchema::toText(canonical);
    } catch (const pixelmill::ApiError&) {
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
