#include "store/fs/fs_io.h"

#include "common/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pixelmill::fsio {

ApiError ioError(const std::string& what, int err) {
    if (err == ENOSPC || err == EDQUOT) {
        log::warn("disk_full", {{"error", what}});  // names a path: for the log, not for clients
        return ApiError::insufficientStorage("the disk is full");
    }
    return ApiError(500, "internal", what + ": " + std::strerror(err));
}

// NFS, 9p and many FUSE file systems have no RENAME_NOREPLACE (EINVAL), old
// kernels no renameat2 (ENOSYS): there a hard link does the same, atomically
// failing with EEXIST, and the temp name is unlinked after.
int moveNoReplace(const std::filesystem::path& from, const std::filesystem::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    int err = errno;
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP) return err;
    if (::link(from.c_str(), to.c_str()) != 0) return errno;
    ::unlink(from.c_str());
    return 0;
}

void touch(const std::filesystem::path& file) { ::utimensat(AT_FDCWD, file.c_str(), nullptr, 0); }

}  // namespace pixelmill::fsio
