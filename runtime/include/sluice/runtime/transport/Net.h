#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::runtime::transport {

// An IPv4 or IPv6 socket address. Every client connection keeps one, so it holds just what
// those two families need (28 bytes, where sockaddr_storage would take 128).
struct Address {
    union Storage {
        sockaddr any;
        sockaddr_in v4;
        sockaddr_in6 v6;
    };
    Storage storage{};
    socklen_t length = 0;

    sa_family_t family() const noexcept { return storage.any.sa_family; }
    const sockaddr* sockaddrPtr() const noexcept { return &storage.any; }
    sockaddr* sockaddrPtr() noexcept { return &storage.any; }

    std::string str() const;  // "1.2.3.4:80" or "[::1]:80"
    std::string ip() const;   // "1.2.3.4" or "::1"
    // The same family, address and port (IPv6: and scope).
    bool operator==(const Address& other) const noexcept;
};

// An address block such as 10.0.0.0/8 or ::1/128 (a bare address is a /32 or /128).
struct Cidr {
    int family = 0;
    unsigned char bytes[16] = {};
    int prefix = 0;

    static bool parse(const std::string& text, Cidr& out);
    bool contains(const Address& address) const noexcept;
    // The block with the address bits beyond the prefix cleared, as text ("10.0.0.0/8").
    std::string network() const;
    // No address bit beyond the prefix is set ("10.0.0.0/8", not "10.1.2.3/8").
    bool exact() const noexcept;
};

// An absolute http:// or https:// URL split for a client.
struct HttpUrl {
    bool tls = false;
    std::string host;  // without brackets
    int port = 80;
    std::string target;      // path and query, "/" when empty
    std::string hostHeader;  // host[:port] as the Host header carries it
};

// Parses scheme://host[:port][/path][?query]; no user information, no fragment.
bool parseHttpUrl(const std::string& url, HttpUrl& out, std::string& error);

// Resolves host:port (numeric or by name) into addresses. Blocking: configuration time, or a
// thread of its own (never a worker's loop).
std::vector<Address> resolve(const std::string& host, int port, std::string& error);
// Whether `host` is an address the resolver reads without a lookup ("10.0.0.1", "::1", "[::1]",
// and also "127.1"): its address never changes.
bool isIpLiteral(const std::string& host);

// A non-blocking listening socket, SO_REUSEADDR, and SO_REUSEPORT when `reusePort`.
int listenTcp(const Address& address, bool reusePort, int backlog, std::string& error);
int localPort(int fd);

// Why a connection could not even be started.
struct ConnectError {
    std::string text;
    // The gateway's own resources ran out (descriptors, memory, local ports): not the peer's fault.
    bool local = false;
    int code = 0;  // the errno of the failed call, when there was one
};

// EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL: errors of this process's or host's resources.
bool isLocalResourceError(int err) noexcept;

// Starts a non-blocking connect; returns the fd (connect may still be in progress) or -1.
int connectTcp(const Address& address, ConnectError& error);
// The pending error of a socket whose connect completed (0 when connected).
int socketError(int fd);

void setNoDelay(int fd);

// Raises the soft limit on open files to the hard limit and returns the limit now in force.
std::size_t raiseOpenFileLimit() noexcept;

enum class IoStatus { Ok, WouldBlock, Eof, Error };

struct IoResult {
    IoStatus status = IoStatus::Ok;
    std::size_t bytes = 0;
    int error = 0;
};

// Byte stream over a connected socket. The plain implementation is a thin wrapper over
// read/writev; TLS implements the same interface.
class Stream {
public:
    explicit Stream(int fd) : _fd(fd) {}
    virtual ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    int fd() const noexcept { return _fd; }
    virtual IoResult read(char* buffer, std::size_t length);
    // Whether bytes, an end of stream or an error wait to be read; consumes nothing and never
    // blocks. (TLS: application data, after processing any records that are not.)
    virtual bool inputPending();
    // How the peer's side stands when nothing is left to read before its end; consumes nothing
    // and never blocks. Ended: a FIN (TLS: close_notify), after which the peer may still read;
    // Reset: a reset or another error (TLS: also a FIN without close_notify), after which
    // nothing can reach it.
    enum class PeerState { Open, Ended, Reset };
    virtual PeerState peerState();
    virtual IoResult writev(const iovec* parts, int count);
    // TLS: drives the handshake; true when done. Plain streams are always done.
    virtual IoResult handshake() { return {}; }
    virtual bool handshakeDone() const { return true; }
    // Verified client certificate (PEM) on a TLS stream; empty otherwise.
    virtual std::string peerCertificatePem() const { return {}; }
    virtual bool isTls() const { return false; }
    // TLS: the handshake failed because the peer sent a plain HTTP request instead of a ClientHello.
    virtual bool peerSpokePlainHttp() const { return false; }
    // TLS: why the handshake failed (the certificate check, or OpenSSL's reason); empty otherwise.
    virtual std::string handshakeFailure() const { return {}; }
    // TLS: OpenSSL's reason when a read failed on the protocol (an alert from the peer, such as
    // "tlsv13 alert certificate required", which a TLS 1.3 server sends after the client thinks
    // the handshake is done); empty otherwise.
    virtual std::string readFailure() const { return {}; }
    // TLS: the handshake failed on the protocol (an alert: no common version or cipher, a peer
    // certificate that does not verify, ...), not because the peer left or the socket failed.
    virtual bool handshakeRefused() const { return false; }
    // TLS, server side: the server name the client asked for (SNI), printable ASCII only (others
    // shown as '?'), at most 255 characters; empty when it sent none.
    virtual std::string requestedServerName() const { return {}; }
    // TLS, server side: not one byte of the client's hello has been seen yet.
    virtual bool silent() const { return false; }
    // TLS: the connection is closed in the middle of a message; no close_notify is sent, so that
    // the peer sees a truncation, not an orderly end.
    virtual void abandon() {}
    // Closes the socket now (TLS: after a close_notify) rather than at destruction, freeing its
    // descriptor; the stream must see no more I/O.
    virtual void closeSocket();

protected:
    int _fd;
};

}  // namespace sluice::runtime::transport
