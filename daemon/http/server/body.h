#pragma once

#include "jobs/job_service.h"
#include "store/blob_store.h"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pixelmill::http {

// A file part of a multipart body, already streamed into a blob writer.
struct FormFile {
    std::string field;
    std::string filename;
    std::string contentType;
    std::unique_ptr<BlobWriter> writer;
};

// A request body as the streaming front end leaves it for the routes:
// multipart fields in memory, file parts in blob writers, and any other body
// in memory up to kMemoryLimit, beyond that in a blob writer.
struct RequestBody {
    static constexpr size_t kMemoryLimit = 1 << 20;

    bool present = false;
    std::string contentType;
    bool multipart = false;
    std::map<std::string, std::string> fields;
    std::vector<FormFile> files;
    std::string bytes;                     // non-multipart, when it fit in memory
    std::unique_ptr<BlobWriter> spilled;   // non-multipart, when it did not
    uint64_t size = 0;

    // Takes the file part `field` as an Upload (nullopt if absent).
    std::optional<Upload> takeFile(const std::string& field);
    // Takes a non-multipart body as an Upload, writing it to `blobs` if it was in memory.
    Upload takeRaw(BlobStore& blobs, const std::string& filename);
    // A non-multipart body as text; 413 if it spilled to disk.
    const std::string& text() const;
    // A non-multipart body as a JSON object; 400 bad_json if it is not one.
    nlohmann::json jsonObject() const;
};

}  // namespace pixelmill::http
