#include "common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pixelmill {

// Something valid to point at for empty files, which cannot be mapped.
static const unsigned char kEmpty[1] = {0};

MappedFile::MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        throw std::runtime_error("stat " + path + ": " + std::strerror(err));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) {
        data_ = kEmpty;
        ::close(fd);
        return;
    }
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw std::runtime_error("mmap " + path + ": " + std::strerror(err));
    data_ = static_cast<const unsigned char*>(p);
}

MappedFile::~MappedFile() {
    if (size_ > 0) ::munmap(const_cast<unsigned char*>(data_), size_);
}

}  // namespace pixelmill
