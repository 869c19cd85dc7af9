#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Poco/Dynamic/Var.h>

#include "sluice/runtime/transport/Net.h"
#include "sluice/runtime/transport/TicketKeys.h"

namespace sluice::runtime::transport {

class TlsStream;

// Server-side TLS for one listener: one SSL_CTX per configured certificate, chosen by SNI
// (exact name, then "*.domain" wildcard, else the first certificate); TLS 1.2 or 1.3, TLS 1.2
// with forward-secret AEAD suites only unless "ciphers" says otherwise ("ciphersuites" for TLS
// 1.3; suites without encryption or authentication are refused whatever they say), no renegotiation, no
// compression; optional or required client certificates verified against a CA bundle (mutual
// TLS). "optional" admits a client without a certificate; a certificate that is sent and does not
// verify fails the handshake under both modes. A session (ID or ticket) resumes only under the
// certificate and client-verification settings that made it: never under another SNI
// certificate, never after a reload that changed client_auth or the CA bundle.
//
// Immutable once created, and shared: each configuration snapshot owns its listeners' contexts, a
// reload publishes new ones for new connections, and every stream accepted under a context keeps
// it alive (the SNI callback is handed a raw pointer to it), so replacing a context never pulls it
// from under a handshake in progress.
class TlsServerContext : public std::enable_shared_from_this<TlsServerContext> {
public:
    // Builds from the listener's "tls" object (already schema-valid); paths relative to
    // `baseDir`. Throws std::runtime_error naming the file and OpenSSL's reason.
    static std::shared_ptr<TlsServerContext> create(const Poco::Dynamic::Var& tls, const std::string& baseDir);
    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;

    // A server stream for the accepted socket `fd` that holds this context until it is destroyed;
    // null when OpenSSL cannot make a session (the caller still owns `fd`).
    std::unique_ptr<TlsStream> accept(int fd) const;
    bool clientAuth() const noexcept { return _clientAuth != "none"; }

private:
    struct Certificate {
        SSL_CTX* ctx = nullptr;
        std::vector<std::string> names;  // lower-case; "*.example.com" wildcards allowed
        // The session ID context: a digest of the certificate and the client verification
        // settings, so that a session resumes only under the context that made it (a client's
        // SNI name is added to it per connection, see onClientHello).
        std::vector<unsigned char> sessionContext;
    };
    // Chooses the certificate by the ClientHello's SNI, before OpenSSL considers resuming a
    // session the client offers (so resumption is checked against the chosen context).
    static int onClientHello(SSL* ssl, int* alert, void* arg);
    // Acknowledges the SNI; the choice was made by onClientHello.
    static int onServerName(SSL* ssl, int* alert, void* arg);
    static void use(SSL* ssl, const Certificate& chosen);
    TlsServerContext() = default;
    // The certificate for `name` (lower-case, without a trailing dot); the first one by default.
    const Certificate& select(const std::string& name) const;

    std::vector<Certificate> _certificates;
    std::string _clientAuth = "none";
    std::unique_ptr<TicketKeys> _ticketKeys;  // shared by the certificate contexts, which it outlives
};

// Client-side TLS for connections to backends (and plugin HTTP calls): certificate and host
// name verification against the system CAs or a given bundle, SNI, optional client certificate.
class TlsClientContext {
public:
    struct Options {
        bool verify = true;
        std::string caFile;             // empty: the system's default CAs
        std::string crlFile;            // PEM revocation lists for the backend's chain, optional
        std::string clientCertificate;  // PEM chain, optional
        std::string clientKey;
    };
    static std::shared_ptr<TlsClientContext> create(const Options& options);
    // The context for calls with system CAs and verification on.
    static std::shared_ptr<TlsClientContext> systemDefault();
    ~TlsClientContext();

    // A session for `fd` sending SNI `serverName` and verifying the peer for `verifyName`.
    SSL* newSession(int fd, const std::string& serverName) const;
    bool verifies() const noexcept { return _verify; }
    // Unique for the life of the process, unlike the context's address, which a later context
    // may get once this one is freed: it keys upstream pools, whose idle connections outlive a
    // reload.
    std::uint64_t id() const noexcept { return _id; }

private:
    static std::uint64_t nextId() noexcept;

    SSL_CTX* _ctx = nullptr;
    bool _verify = true;
    std::uint64_t _id = nextId();
};

// A Stream over OpenSSL in non-blocking mode; owns `ssl`.
class TlsStream final : public Stream {
    friend class TlsServerContext;  // records the SNI of the hello it reads

public:
    // A client stream (`server` false): its SSL_CTX, referenced by the SSL, is all it needs.
    TlsStream(int fd, SSL* ssl, bool server);
    // A server stream made by TlsServerContext::accept(); keeps `context` alive while OpenSSL may
    // still call back into it (SNI selection during the handshake).
    TlsStream(int fd, SSL* ssl, std::shared_ptr<const TlsServerContext> context);
    ~TlsStream() override;

    IoResult read(char* buffer, std::size_t length) override;
    bool inputPending() override;
    PeerState peerState() override;
    IoResult writev(const iovec* parts, int count) override;
    IoResult handshake() override;
    bool handshakeDone() const override { return _done; }
    std::string peerCertificatePem() const override;
    bool isTls() const override { return true; }
    bool peerSpokePlainHttp() const override { return _plainHttp; }
    std::string handshakeFailure() const override { return _handshakeFailure; }
    std::string readFailure() const override { return _readFailure; }
    bool handshakeRefused() const override { return _handshakeRefused; }
    std::string requestedServerName() const override;
    void closeSocket() override;
    bool silent() const override { return _server && !_done && !_firstByteSeen; }
    void abandon() override;
    // A write that could not finish because TLS needs to read first (and vice versa).
    bool wantsRead() const noexcept { return _wantRead; }

private:
    IoResult fromSslError(int rc);
    void noteHandshakeFailure(int rc);

    SSL* _ssl;
    bool _server;
    std::shared_ptr<const TlsServerContext> _serverContext;  // released after SSL_free(_ssl)
    bool _done = false;
    bool _wantRead = false;
    bool _plainHttp = false;
    bool _firstByteSeen = false;  // server side: the client's first byte was looked at
    std::string _handshakeFailure;
    std::string _readFailure;      // see Stream::readFailure
    std::string _helloServerName;  // the SNI of the client's hello, as onClientHello read it
    bool _handshakeRefused = false;
};

// OpenSSL's error queue as text (and cleared).
std::string opensslError();

}  // namespace sluice::runtime::transport
