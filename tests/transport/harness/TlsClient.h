#pragma once

// A blocking TLS test client shared by the TLS suites: OpenSSL in-process, one connection per
// call (handshake, one request, read until close), every read and write bounded. The Offer says
// what the client offers (trust anchors, SNI, host check, client certificate, versions, suites,
// ALPN, a session to resume); the Outcome says what it saw, with the client's own verification
// result apart from OpenSSL's error queue so that a test can tell "the gateway refused" from
// "the client refused the gateway".

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sluice::transport_test {

class TestCertificates;

// A resumable client session; shared so that a test can offer it to several later connections.
using Session = std::shared_ptr<SSL_SESSION>;

// What a TLS client offers. The defaults are the common case of these tests: SNI "localhost" and
// the server certificate checked against the host name "localhost"; clear them for a client that
// sends no SNI or verifies the chain only.
struct Offer {
    std::string ca;                                // the only trust anchors
    std::optional<std::string> sni = "localhost";  // nullopt: no server_name extension
    std::string verifyHost = "localhost";          // empty: the chain only
    std::string cert;                              // client certificate chain (PEM) and key, optional
    std::string key;
    int minVersion = 0;     // 0: TLS 1.0 once a version or suite is pinned, else OpenSSL's default
    int maxVersion = 0;     // e.g. TLS1_1_VERSION to offer old versions only; 0: the newest
    std::string ciphers;    // TLS 1.2 suites to offer (security level 0 then); empty: the default
    std::string alpn;       // wire format, e.g. "\x02h2"; empty: no ALPN
    Session session;        // a session to resume
    bool noTicket = false;  // TLS 1.2 resumption by session ID instead of a ticket
};

// What the client saw.
struct Outcome {
    bool handshake = false;
    bool reused = false;
    bool compressed = false;
    std::string protocol;
    std::string cipher;
    std::string alpn;
    std::string peerSubject;   // the server certificate's subject, RFC 2253 ("CN=a.test")
    int peerChainLength = 0;   // certificates the server sent (its own first)
    std::string verifyError;   // the client's verification result when the handshake failed
    std::string error;         // OpenSSL's reason for a failed handshake or read (e.g. an alert)
    std::string response;      // everything read until close
    bool closeNotify = false;  // the server ended with close_notify (an orderly end, not a cut)
    Session session;           // resumable after the exchange (TLS 1.3: its ticket arrived with the response)
};

// A blocking TLS client: handshake, one request, read until close (each read bounded by 5 s).
// `afterHandshake`, when set, runs on the live connection before the request.
Outcome tlsTry(int port, const Offer& o, const std::string& request,
               const std::function<void(SSL*, Outcome&)>& afterHandshake = {});

// An anonymous client trusting the test CA of `pki`, SNI and host name "localhost".
Offer caOnly(const TestCertificates& pki);

// `name` in RFC 2253 form ("CN=a.test").
std::string nameText(const X509_NAME* name);

// Empties OpenSSL's error queue of this thread into one line ("; " between the entries).
std::string drainErrors();

}  // namespace sluice::transport_test
