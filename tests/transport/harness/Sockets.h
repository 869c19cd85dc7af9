#pragma once

// Blocking loopback sockets for the test harness (every descriptor is close-on-exec, so the
// sluiced child never inherits one).

#include <chrono>
#include <string>
#include <string_view>

namespace sluice::transport_test {

using Clock = std::chrono::steady_clock;

// A listening socket on 127.0.0.1:0; `port` receives the chosen port. Throws on failure.
// `receiveBuffer` sets SO_RCVBUF before listen() (accepted sockets inherit it) when non-zero.
int listenLoopback(int& port, int backlog = 64, int receiveBuffer = 0);
// A listening socket on `ipv4`:`port` (another loopback address such as "127.0.0.2", and port 0
// for any); `port` receives the port. Throws on failure.
int listenOn(const std::string& ipv4, int& port, int backlog = 64, int receiveBuffer = 0);

// Connects to 127.0.0.1:port; returns the descriptor, or -1 with `error` set to errno.
int connectLoopback(int port, int& error);
// Closes `fd` with a reset (SO_LINGER 0) instead of a FIN.
void closeWithReset(int fd);
// Connects to `ipv4` (dotted quad, e.g. another loopback address such as "127.0.0.2") and port.
// `receiveBuffer` sets SO_RCVBUF before connect() (a window small from the start) when non-zero;
// `maxSegment` sets TCP_MAXSEG, the segment size offered to the server. On loopback (64 KiB
// segments) the server's kernel sizes its send buffer in megabytes; with small segments and a
// small window it stays small, so that an answer the client does not read stays in the server.
int connectAddress(const std::string& ipv4, int port, int& error, int receiveBuffer = 0, int maxSegment = 0);

// Blocking reads and writes on `fd` give up after `timeout` (SO_RCVTIMEO / SO_SNDTIMEO).
void setIoTimeouts(int fd, std::chrono::seconds timeout);

// Writes everything (MSG_NOSIGNAL); false when the peer went away.
bool sendAll(int fd, std::string_view bytes);

enum class ReadStatus { Data, Eof, Timeout, Error };

// Appends what one recv() returns to `into`, waiting until `deadline` at most.
ReadStatus readSome(int fd, std::string& into, Clock::time_point deadline, std::size_t maxBytes = 64 * 1024);
// Reads until the peer closes (Eof), the deadline passes (Timeout) or an error; returns which.
ReadStatus readToEnd(int fd, std::string& into, Clock::time_point deadline);

bool equalsIgnoreCase(std::string_view a, std::string_view b);
std::string toLower(std::string_view text);
std::string_view trim(std::string_view text);

}  // namespace sluice::transport_test
