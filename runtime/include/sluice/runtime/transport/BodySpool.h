#pragma once

// A request body kept in a temporary file while it arrives (an API's request_buffering): the
// part past http.request_buffer_bytes goes to disk, as nginx's client_body_temp_path, so that
// each client sending a long body costs a file, not memory. The file has no name (O_TMPFILE; where
// the file system lacks it, a file unlinked right after it is made, so a crash in between leaves a
// `sluice-body-*` behind) and mode 0600: nothing else can open it, and the kernel frees its blocks
// when it is closed, whatever ends the exchange.
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
    // A new empty file in `dir`, or nullptr with `error` saying why (the directory and errno) and
    // the errno in `*errorNumber` when given.
    static std::unique_ptr<BodySpool> open(const std::string& dir, std::string& error, int* errorNumber = nullptr);

    ~BodySpool();
    BodySpool(const BodySpool&) = delete;
    BodySpool& operator=(const BodySpool&) = delete;

    // Appends `data` at the end; false when the disk refused it (full, say) or refused an earlier
    // append: writeError() then says why, and nothing more is written.
    bool append(std::string_view data);
    // The errno of the first append that failed, 0 when none did; and as a message.
    int writeError() const { return _writeError; }
    std::string writeErrorText() const;
    // Whether `dir` is on a file system kept in memory (tmpfs, ramfs): a spool there costs RAM.
    static bool inMemory(const std::string& dir);
    // Up to `n` bytes from `offset` into `out`: how many, 0 at offset size(); -1 with `error` set
    // when the read failed or the file ended before size() (so a caller below size() gets at
    // least one byte or an error, never a loop without progress).
    std::int64_t read(std::uint64_t offset, char* out, std::size_t n, std::string& error) const;

    std::uint64_t size() const { return _size; }
    // Bytes of the file sent to the current attempt's backend; an attempt starts again at 0.
    std::uint64_t sent = 0;

private:
    explicit BodySpool(int fd) : _fd(fd) {}

    int _fd;
    int _writeError = 0;
    std::uint64_t _size = 0;
};

}  // namespace sluice::runtime::transport
