#pragma once

// A request body kept in a temporary file while it arrives (an API's request_buffering): the
// part past http.request_buffer_bytes goes to disk, as nginx's client_body_temp_path, so that
// each client sending a long body costs a file, not memory. The file has no name (O_TMPFILE, or
// unlinked at once where the file system lacks it) and mode 0600: nothing else can open it,
// and the kernel frees its blocks when it is closed, whatever ends the exchange.
//
// THREADING: owned by one connection, on its worker. The calls block on the disk (as nginx's
// temp files do without aio threads); the page cache takes most of them.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::runtime::transport {

class BodySpool {
public:
    // A new empty file in `dir`, or nullptr with `error` saying why (the directory and errno).
    static std::unique_ptr<BodySpool> open(const std::string& dir, std::string& error);

    ~BodySpool();
    BodySpool(const BodySpool&) = delete;
    BodySpool& operator=(const BodySpool&) = delete;

    // Appends `data` at the end; false with `error` set when the disk refused it (full, say).
    bool append(std::string_view data, std::string& error);
    // Up to `n` bytes from `offset` into `out`: how many, 0 at the end; -1 with `error` set when
    // the read failed.
    std::int64_t read(std::uint64_t offset, char* out, std::size_t n, std::string& error) const;

    std::uint64_t size() const { return _size; }
    // Bytes of the file sent to the current attempt's backend; an attempt starts again at 0.
    std::uint64_t sent = 0;

private:
    explicit BodySpool(int fd) : _fd(fd) {}

    int _fd;
    std::uint64_t _size = 0;
};

}  // namespace sluice::runtime::transport
