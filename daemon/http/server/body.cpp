#include "http/server/body.h"
#include "http/server/body_handoff.h"

#include "common/error.h"

namespace pixelmill::http {
namespace {

thread_local RequestBody* tlsBody = nullptr;

RequestBody& emptyBody() {
    thread_local RequestBody empty;
    return empty;
}

}  // namespace

RequestBody& handedOffBody() { return tlsBody ? *tlsBody : emptyBody(); }

BodyHandOff::BodyHandOff(RequestBody* body) : previous_(tlsBody) { tlsBody = body; }
BodyHandOff::~BodyHandOff() { tlsBody = previous_; }

std::optional<Upload> RequestBody::takeFile(const std::string& field) {
    for (FormFile& f : files) {
        if (f.field == field && f.writer) return Upload{std::move(f.writer), f.filename};
    }
    return std::nullopt;
}

Upload RequestBody::takeRaw(BlobStore& blobs, const std::string& filename) {
    if (spilled) return Upload{std::move(spilled), filename};
    auto writer = blobs.writer();
    if (!bytes.empty()) writer->write(bytes.data(), bytes.size());
    return Upload{std::move(writer), filename};
}

const std::string& RequestBody::text() const {
    if (spilled) throw ApiError(413, "too_large", "a JSON body may be at most 1 MiB", "body");
    return bytes;
}

nlohmann::json RequestBody::jsonObject() const {
    nlohmann::json doc = nlohmann::json::parse(text(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw ApiError::badRequest("bad_json", "the body is not a JSON object");
    return doc;
}

}  // namespace pixelmill::http
