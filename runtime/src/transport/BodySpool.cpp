#include "sluice/runtime/transport/BodySpool.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sluice::runtime::transport {

namespace {

std::string describe(const char* what, const std::string& dir, int err)
{
    return std::string(what) + " a temporary file for a request body in " + dir + ": " + std::strerror(err);
}

// A named file, unlinked at once, for file systems without O_TMPFILE (overlayfs before Linux 6.6,
// some network file systems).
int openUnlinked(const std::string& dir)
{
    std::string path = dir;
    if (path.empty() || path.back() != '/') {
        path.push_back('/');
    }
    path += "sluice-body-XXXXXX";
    std::vector<char> name(path.begin(), path.end());
    name.push_back('\0');
    const int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0 && ::unlink(name.data()) != 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

}  // namespace

std::unique_ptr<BodySpool> BodySpool::open(const std::string& dir, std::string& error, int* errorNumber)
{
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        fd = openUnlinked(dir);
    }
    if (fd < 0) {
        const int err = errno;
        error = describe("cannot create", dir, err);
        if (errorNumber != nullptr) {
            *errorNumber = err;
        }
        return nullptr;
    }
    return std::unique_ptr<BodySpool>(new BodySpool(fd));
}

bool BodySpool::inMemory(const std::string& dir)
{
    struct statfs fs {};
    return ::statfs(dir.c_str(), &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
}

BodySpool::~BodySpool() { ::close(_fd); }

bool BodySpool::append(std::string_view data)
{
    while (!data.empty() && _writeError == 0) {
        const ssize_t n = ::pwrite(_fd, data.data(), data.size(), static_cast<off_t>(_size));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            _writeError = n < 0 ? errno : ENOSPC;
            break;
        }
        _size += static_cast<std::uint64_t>(n);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return _writeError == 0;
}

std::string BodySpool::writeErrorText() const
{
    return std::string("cannot write a request body to its temporary file: ") + std::strerror(_writeError);
}

std::int64_t BodySpool::read(std::uint64_t offset, char* out, std::size_t n, std::string& error) const
{
    while (true) {
        const ssize_t got = ::pread(_fd, out, n, static_cast<off_t>(offset));
        if (got == 0 && offset < _size && n > 0) {
            error = "a request body's temporary file ended before its length";
            return -1;
        }
        if (got >= 0) {
            return got;
        }
        if (errno != EINTR) {
            error = std::string("cannot read a request body from its temporary file: ") + std::strerror(errno);
            return -1;
        }
    }
}

}  // namespace sluice::runtime::transport
