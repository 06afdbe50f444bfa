#include "http/server/body.h"

#include "common/error.h"

namespace pixelmill::http {
namespace {

thread_local RequestBody* tlsBody = nullptr;

RequestBody& emptyBody() {
    thread_local RequestBody empty;
    return empty;
}

}  // namespace

RequestBody& currentBody() { return tlsBody ? *tlsBody : emptyBody(); }

BodyScope::BodyScope(RequestBody* body) : previous_(tlsBody) { tlsBody = body; }
BodyScope::~BodyScope() { tlsBody = previous_; }

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

}  // namespace pixelmill::http
