#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/runtime/Config.h"
#include "sluice/runtime/transport/EventLoop.h"

namespace sluice::runtime::transport {

// What the access log says of one exchange.
struct AccessRecord {
    std::string_view client;  // the peer's IP address
    std::string_view method;  // empty: the request line could not be read
    std::string_view path;    // normalised, without the query (it may carry credentials)
    int versionMinor = 1;
    int status = 0;                        // 0: no response was sent (the client left, or the gateway gave up)
    std::uint64_t bytes = 0;               // response bytes, head and body, written to the connection
    std::chrono::nanoseconds duration{0};  // from the request head to its answer's last byte written
    std::string_view api;                  // "name:version", empty when no API matched
    std::string upstream;                  // address of the last backend attempt, empty for none
};

// The access log file of one configuration: opened when it is loaded (so a reload reopens it,
// after logrotate moved it), appended to by every worker in whole batches of lines (O_APPEND:
// batches of different workers never interleave). A pipe or another file that is not a regular
// one (/dev/stdout read by a log collector) is written without blocking, in pieces of whole lines
// of at most PIPE_BUF bytes, which a pipe never mixes; when its reader does not keep up, lines are
// dropped and counted rather than holding up a worker.
class AccessLogFile {
public:
    // Creates the file if needed (mode 0640); nullptr and `error` when it cannot be opened.
    static std::shared_ptr<AccessLogFile> open(const AccessLogConfig& config, std::string& error);
    ~AccessLogFile();
    AccessLogFile(const AccessLogFile&) = delete;
    AccessLogFile& operator=(const AccessLogFile&) = delete;

    const AccessLogConfig& config() const noexcept { return _config; }
    // Appends whole lines; the first failure is reported on the runtime log, and lines that
    // cannot be written are lost (a worker never waits for its log).
    void write(std::string_view lines) noexcept;

private:
    AccessLogFile(int fd, AccessLogConfig config, bool stream) : _fd(fd), _config(std::move(config)), _stream(stream) {}
    void drop(std::string_view lines) noexcept;
    void reportFailure(int err) noexcept;  // once

    int _fd;
    AccessLogConfig _config;
    bool _stream;  // not a regular file: non-blocking, in atomic pieces
    std::atomic<bool> _failed{false};
    std::atomic<std::uint64_t> _dropped{0};
    std::atomic<std::int64_t> _dropReportedMs{0};  // when dropped lines were last reported
};

// One worker's pending lines: written when buffer_bytes are pending, when the oldest is
// flush_ms old, when the configuration's file changes, and when the worker ends.
// THREADING: the worker's loop thread only.
class AccessLogWriter final : public TimerTarget {
public:
    explicit AccessLogWriter(EventLoop& loop) : _loop(loop) {}
    ~AccessLogWriter() override;

    void record(const std::shared_ptr<AccessLogFile>& file, const AccessRecord& r);
    void flush() noexcept;
    Clock::time_point onTimer(Clock::time_point now) override;

    // One line, as record() writes it ("\n" included), at wall-clock time `when`.
    static std::string format(const AccessRecord& r, bool json, std::chrono::system_clock::time_point when);

private:
    EventLoop& _loop;
    std::shared_ptr<AccessLogFile> _file;  // of the pending lines; none once they are written
    std::string _pending;
    bool _armed = false;
};

}  // namespace sluice::runtime::transport
