#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace pixelmill {

// A file mapped read-only for the life of the object. An empty file maps to
// an empty span. Throws std::runtime_error when it cannot be opened.
class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const unsigned char> bytes() const { return {data_, size_}; }
    const unsigned char* data() const { return data_; }
    size_t size() const { return size_; }

private:
    const unsigned char* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace pixelmill
