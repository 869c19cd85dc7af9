#include "sluice/runtime/transport/AccessLog.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sluice/runtime/Json.h"
#include "sluice/runtime/Logging.h"

namespace sluice::runtime::transport {

namespace {

// Text lines quote the request line: anything that could end the quote or the line, or confuse
// a terminal, is written as \xHH.
void appendEscaped(std::string& out, std::string_view text)
{
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : text) {
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
}

}  // namespace

std::shared_ptr<AccessLogFile> AccessLogFile::open(const AccessLogConfig& config, std::string& error)
{
    // O_NONBLOCK also keeps open() of a FIFO without a reader from blocking (it fails, ENXIO).
    const int fd = ::open(config.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd < 0) {
        error = "cannot open the access log " + config.path + ": " + std::strerror(errno);
        return nullptr;
    }
    struct stat st {};
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular) {
        // A regular file never reports "would block"; its writes simply complete.
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    return std::shared_ptr<AccessLogFile>(new AccessLogFile(fd, config, !regular));
}

AccessLogFile::~AccessLogFile() { ::close(_fd); }

void AccessLogFile::write(std::string_view lines) noexcept
{
    if (!_stream) {
        while (!lines.empty()) {
            const ssize_t n = ::write(_fd, lines.data(), lines.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                reportFailure(errno);
                return;
            }
            lines.remove_prefix(static_cast<std::size_t>(n));
        }
        return;
    }
    // A pipe: pieces of whole lines of at most PIPE_BUF bytes, each written whole or not at all.
    while (!lines.empty()) {
        std::size_t end = 0;
        while (end < lines.size()) {
            const std::size_t next = lines.find('\n', end);
            const std::size_t lineEnd = next == std::string_view::npos ? lines.size() : next + 1;
            if (lineEnd > PIPE_BUF && end > 0) {
                break;
            }
            end = lineEnd;
        }
        std::string_view piece = lines.substr(0, end);
        char cut[PIPE_BUF];
        if (piece.size() > PIPE_BUF) {
            // One line longer than a pipe writes at once (a path of several KiB): shortened.
            std::memcpy(cut, piece.data(), PIPE_BUF - 4);
            std::copy_n("...\n", 4, cut + PIPE_BUF - 4);  // a view with its length follows, not a C string
            piece = std::string_view(cut, PIPE_BUF);
        }
        const ssize_t n = ::write(_fd, piece.data(), piece.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            drop(lines);
            return;
        }
        if (n <= 0) {
            reportFailure(errno);
            return;
        }
        lines.remove_prefix(end);
    }
}

void AccessLogFile::drop(std::string_view lines) noexcept
{
    const auto count = static_cast<std::uint64_t>(std::count(lines.begin(), lines.end(), '\n'));
    const std::uint64_t total = _dropped.fetch_add(count, std::memory_order_relaxed) + count;
    const std::int64_t nowMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    std::int64_t last = _dropReportedMs.load(std::memory_order_relaxed);
    if (nowMs - last >= 10000 && _dropReportedMs.compare_exchange_strong(last, nowMs)) {
        try {
            Logging::get("runtime")->warn("access log {}: its reader does not keep up; {} line(s) dropped so far",
                                          _config.path, total);
        } catch (...) {
        }
    }
}

void AccessLogFile::reportFailure(int err) noexcept
{
    if (_failed.exchange(true)) {
        return;
    }
    try {
        Logging::get("runtime")->error("access log {}: {}; lines that cannot be written are lost", _config.path,
                                       std::strerror(err));
    } catch (...) {
    }
}

AccessLogWriter::~AccessLogWriter()
{
    flush();
    if (_armed) {
        _loop.disarm(this);
    }
}

std::string AccessLogWriter::format(const AccessRecord& r, bool json, std::chrono::system_clock::time_point when)
{
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    char stamp[40];
    const double durationMs = static_cast<double>(r.duration.count()) / 1e6;
    char number[32];
    std::string line;
    line.reserve(200 + r.path.size());
    if (json) {
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
        std::snprintf(number, sizeof number, ".%03dZ", static_cast<int>(millis));
        line += "{\"time\":\"";
        line += stamp;
        line += number;
        line += "\",\"client\":" + jsonQuote(r.client);
        line += ",\"method\":" + (r.method.empty() ? std::string("null") : jsonQuote(r.method));
        line += ",\"path\":" + (r.method.empty() ? std::string("null") : jsonQuote(r.path));
        line += ",\"protocol\":\"HTTP/1.";
        line += std::to_string(r.versionMinor);
        line += "\",\"status\":" + std::to_string(r.status);
        line += ",\"bytes\":" + std::to_string(r.bytes);
        std::snprintf(number, sizeof number, "%.3f", durationMs);
        line += ",\"duration_ms\":";
        line += number;
        line += ",\"api\":" + (r.api.empty() ? std::string("null") : jsonQuote(r.api));
        line += ",\"upstream\":" + (r.upstream.empty() ? std::string("null") : jsonQuote(r.upstream));
        line += "}\n";
        return line;
    }
    std::strftime(stamp, sizeof stamp, "%d/%b/%Y:%H:%M:%S", &utc);
    appendEscaped(line, r.client);
    line += " - - [";
    line += stamp;
    std::snprintf(number, sizeof number, ".%03d +0000] \"", static_cast<int>(millis));
    line += number;
    if (r.method.empty()) {
        line += "-";
    } else {
        appendEscaped(line, r.method);
        line.push_back(' ');
        appendEscaped(line, r.path);
        line += " HTTP/1.";
        line += std::to_string(r.versionMinor);
    }
    line += "\" " + std::to_string(r.status) + " " + std::to_string(r.bytes) + " ";
    std::snprintf(number, sizeof number, "%.3f", durationMs);
    line += number;
    line += " \"";
    appendEscaped(line, r.api.empty() ? std::string_view("-") : r.api);
    line += "\" ";
    line += r.upstream.empty() ? std::string("-") : r.upstream;
    line.push_back('\n');
    return line;
}

void AccessLogWriter::record(const std::shared_ptr<AccessLogFile>& file, const AccessRecord& r)
{
    if (file != _file) {
        flush();  // lines of the configuration before go to its file
        _file = file;
    }
    _pending += format(r, file->config().format == "json", std::chrono::system_clock::now());
    if (_pending.size() >= file->config().bufferBytes) {
        flush();
    } else if (!_armed) {
        _armed = true;
        _loop.arm(this, _loop.now() + std::chrono::milliseconds(file->config().flushMs));
    }
}

void AccessLogWriter::flush() noexcept
{
    if (!_pending.empty() && _file != nullptr) {
        _file->write(_pending);
    }
    _pending.clear();
}

Clock::time_point AccessLogWriter::onTimer(Clock::time_point)
{
    _armed = false;
    flush();
    // Nothing is pending: the file is let go of, so that one a reload replaced (and logrotate
    // renamed) is closed even if this worker logs nothing more.
    _file.reset();
    return Clock::time_point::max();
}

}  // namespace sluice::runtime::transport
