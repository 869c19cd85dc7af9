// TLS through the real transport, with certificates generated at test time by the openssl tool
// and real TLS clients (OpenSSL in-process): HTTPS listeners (TLS 1.3, old versions refused),
// certificate choice by SNI, a listener chain (leaf + intermediate), mutual TLS required and
// optional (and what "optional" does with a certificate that does not verify), the verified client
// certificate reaching a handler (the test_peer_cert plugin), reloads that renew the listener's
// certificate or change its TLS settings (new connections only), and TLS from the gateway to an
// HTTPS backend (trusted CA accepted, unknown CA refused with 502).
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "TestCertificates.h"
#include "TlsClient.h"
#include "TransportTest.h"

using namespace sluice::transport_test;
namespace fs = std::filesystem;

namespace {

// caOnly() presenting a client certificate: `cert` (a chain file) and `key` in the PKI's directory.
Offer clientOffer(const TestCertificates& certs, const std::string& cert, const std::string& key)
{
    Offer o = caOnly(certs);
    o.cert = certs.path(cert);
    o.key = certs.path(key);
    return o;
}

bool answered200(const Outcome& a) { return a.response.rfind("HTTP/1.1 200", 0) == 0; }

// A TLS client connection driven step by step, so that a test can hold it at a chosen point
// (connected only, ClientHello answered, handshake done) across a reload; then keep-alive
// requests on it. Blocking I/O, every read and write bounded by 5 s.
class TlsConnection {
public:
    TlsConnection(int port, const Offer& o)
    {
        _ctx = SSL_CTX_new(TLS_client_method());
        REQUIRE(_ctx != nullptr);
        REQUIRE(SSL_CTX_load_verify_locations(_ctx, o.ca.c_str(), nullptr) == 1);
        SSL_CTX_set_verify(_ctx, SSL_VERIFY_PEER, nullptr);
        if (!o.cert.empty()) {
            REQUIRE(SSL_CTX_use_certificate_chain_file(_ctx, o.cert.c_str()) == 1);
            REQUIRE(SSL_CTX_use_PrivateKey_file(_ctx, o.key.c_str(), SSL_FILETYPE_PEM) == 1);
        }
        _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(_fd >= 0);
        timeval tv{5, 0};
        ::setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        _ssl = SSL_new(_ctx);
        REQUIRE(_ssl != nullptr);
        SSL_set_fd(_ssl, _fd);
        if (o.sni) {
            SSL_set_tlsext_host_name(_ssl, o.sni->c_str());
        }
        if (!o.verifyHost.empty()) {
            SSL_set1_host(_ssl, o.verifyHost.c_str());
        }
    }
    ~TlsConnection()
    {
        SSL_free(_ssl);
        ::close(_fd);
        SSL_CTX_free(_ctx);
        ERR_clear_error();
    }
    TlsConnection(const TlsConnection&) = delete;
    TlsConnection& operator=(const TlsConnection&) = delete;

    // Sends the ClientHello and returns once the server's answer to it is readable (left unread):
    // the server has accepted the connection and its side of the handshake is under way.
    bool startHandshake()
    {
        // Reads come from an empty memory BIO meanwhile, so that a fast server's answer cannot
        // complete the handshake here.
        BIO* nothing = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(nothing, -1);
        SSL_set0_rbio(_ssl, nothing);
        ERR_clear_error();
        int rc = SSL_connect(_ssl);
        bool waiting = rc != 1 && SSL_get_error(_ssl, rc) == SSL_ERROR_WANT_READ;
        BIO* socket = SSL_get_wbio(_ssl);
        BIO_up_ref(socket);
        SSL_set0_rbio(_ssl, socket);
        pollfd p{_fd, POLLIN, 0};
        return waiting && ::poll(&p, 1, 5000) == 1 && (p.revents & POLLIN) != 0;
    }
    // Completes the handshake from wherever it is.
    bool finishHandshake()
    {
        ERR_clear_error();
        if (SSL_connect(_ssl) != 1) {
            _error = drainErrors();
            return false;
        }
        if (X509* peer = SSL_get1_peer_certificate(_ssl)) {
            _peerSubject = nameText(X509_get_subject_name(peer));
            X509_free(peer);
        }
        return true;
    }
    // A keep-alive GET; its response (head and Content-Length body), or what arrived before a
    // failure (error() then says why).
    std::string get(const std::string& path)
    {
        std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
        ERR_clear_error();
        if (SSL_write(_ssl, request.data(), static_cast<int>(request.size())) <= 0) {
            _error = "write: " + drainErrors();
            return {};
        }
        std::string in;
        char buf[4096];
        for (;;) {
            std::size_t end = in.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::string head = in.substr(0, end + 2);
                std::transform(head.begin(), head.end(), head.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
                std::size_t field = head.find("\r\ncontent-length:");
                if (field == std::string::npos) {
                    _error = "no Content-Length";
                    return in;
                }
                std::size_t length = std::stoul(head.substr(field + 17));
                if (in.size() >= end + 4 + length) {
                    return in.substr(0, end + 4 + length);
                }
            }
            int n = SSL_read(_ssl, buf, sizeof buf);
            if (n <= 0) {
                _error = "read: " + drainErrors();
                return in;
            }
            in.append(buf, static_cast<std::size_t>(n));
        }
    }
    const std::string& peerSubject() const noexcept { return _peerSubject; }
    const std::string& error() const noexcept { return _error; }

private:
    SSL_CTX* _ctx = nullptr;
    SSL* _ssl = nullptr;
    int _fd = -1;
    std::string _peerSubject;
    std::string _error;
};

bool is200(const std::string& response) { return response.rfind("HTTP/1.1 200", 0) == 0; }

// The SHA-256 fingerprint of a PEM certificate file, lower-case hex (what test_peer_cert reports).
std::string fingerprint(const std::string& pemFile)
{
    std::FILE* f = std::fopen(pemFile.c_str(), "r");
    REQUIRE(f != nullptr);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    REQUIRE(cert != nullptr);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    REQUIRE(X509_digest(cert, EVP_sha256(), digest, &length) == 1);
    X509_free(cert);
    std::string hex;
    char byte[3];
    for (unsigned int i = 0; i < length; ++i) {
        std::snprintf(byte, sizeof byte, "%02x", digest[i]);
        hex += byte;
    }
    return hex;
}

const std::string kGet = "GET /tls/v1/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

BackendReply echoProto(const ReceivedRequest& r)
{
    BackendReply reply;
    reply.bytes = httpResponse(200, "proto=" + r.header("X-Forwarded-Proto").value_or("none"));
    return reply;
}

// A backend answering 200 "peer=<X-Peer-Cert> subject=<X-Peer-Subject>" (what test_peer_cert set).
BackendReply echoPeer(const ReceivedRequest& r)
{
    BackendReply reply;
    reply.bytes = httpResponse(200, "peer=" + r.header("X-Peer-Cert").value_or("missing") +
                                        " subject=" + r.header("X-Peer-Subject").value_or("-"));
    return reply;
}

const std::string kPeerCertChain = R"("handlers": [{"component": "test_peer_cert"}])";

}  // namespace

TEST_CASE("tls: an HTTPS listener negotiates TLS 1.3, proxies, and refuses TLS 1.1")
{
    TestCertificates certs;
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.listenerTls = certs.listener();
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);

    Outcome ok = tlsTry(gw.port(), caOnly(certs), kGet);
    REQUIRE_MESSAGE(ok.handshake, ok.error);
    CHECK(ok.protocol == "TLSv1.3");
    CHECK(answered200(ok));
    CHECK(ok.response.find("proto=https") != std::string::npos);

    Offer tls11 = caOnly(certs);
    tls11.maxVersion = TLS1_1_VERSION;
    Outcome old = tlsTry(gw.port(), tls11, kGet);
    CHECK_FALSE(old.handshake);
}

TEST_CASE("tls: mutual TLS required refuses a client without a certificate and accepts one with it")
{
    TestCertificates certs;
    certs.root("rogue", "RogueCA");
    certs.leaf("rogueclient", "client1", "", "rogue");
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.listenerTls = certs.listener("required");
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);

    Outcome without = tlsTry(gw.port(), caOnly(certs), kGet);
    CHECK(without.response.empty());
    CHECK_MESSAGE(without.error.find("certificate required") != std::string::npos, without.error);

    Outcome rogue = tlsTry(gw.port(), clientOffer(certs, "rogueclient.pem", "rogueclient.key"), kGet);
    CHECK(rogue.response.empty());
    CHECK_MESSAGE(rogue.error.find("unknown ca") != std::string::npos, rogue.error);

    Outcome with = tlsTry(gw.port(), clientOffer(certs, "client.pem", "client.key"), kGet);
    REQUIRE_MESSAGE(with.handshake, with.error);
    CHECK(answered200(with));
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("tls: min_version TLSv1.3 refuses TLS 1.2, and ciphers limits the TLS 1.2 suites")
{
    TestCertificates certs;
    ScriptedBackend backend(echoProto);
    const std::vector<TestCertificates::Entry> server{{"server.pem", "server.key", ""}};
    Offer o = caOnly(certs);

    GatewaySpec only13;
    only13.listenerTls = certs.listenerWith(server, "none", "", "TLSv1.3");
    only13.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    {
        SluicedProcess gw(only13);
        o.maxVersion = TLS1_2_VERSION;
        Outcome refused = tlsTry(gw.port(), o, kGet);
        CHECK_FALSE(refused.handshake);
        CHECK_MESSAGE(refused.error.find("protocol version") != std::string::npos, refused.error);
        o.maxVersion = 0;
        Outcome ok = tlsTry(gw.port(), o, kGet);
        CHECK(ok.protocol == "TLSv1.3");
        CHECK(answered200(ok));
    }

    GatewaySpec limited;
    limited.listenerTls =
        certs.listenerWith(server, "none", "", "TLSv1.2", R"("ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384")");
    limited.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    {
        SluicedProcess gw(limited);
        o.maxVersion = TLS1_2_VERSION;
        o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305";
        Outcome other = tlsTry(gw.port(), o, kGet);
        CHECK_FALSE(other.handshake);
        CHECK_MESSAGE(other.error.find("handshake failure") != std::string::npos, other.error);
        o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384";
        Outcome allowed = tlsTry(gw.port(), o, kGet);
        REQUIRE_MESSAGE(allowed.handshake, allowed.error);
        CHECK(allowed.protocol == "TLSv1.2");
        CHECK(allowed.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384");
        CHECK(answered200(allowed));
    }
    GatewaySpec limited13;
    limited13.listenerTls =
        certs.listenerWith(server, "none", "", "TLSv1.2", R"("ciphersuites": "TLS_CHACHA20_POLY1305_SHA256")");
    limited13.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    {
        SluicedProcess gw(limited13);
        Offer any13 = caOnly(certs);  // offers OpenSSL's TLS 1.3 suites, AES-GCM first
        Outcome chosen = tlsTry(gw.port(), any13, kGet);
        REQUIRE_MESSAGE(chosen.handshake, chosen.error);
        CHECK(chosen.protocol == "TLSv1.3");
        CHECK(chosen.cipher == "TLS_CHACHA20_POLY1305_SHA256");
        CHECK(answered200(chosen));
    }
    CHECK(backend.requestCount() == 3);

    // A listener with `list` as its "ciphers", and why it did not start (empty: it started).
    auto withCiphers = [&](const std::string& list) {
        GatewaySpec spec;
        spec.listenerTls = certs.listenerWith(server, "none", "", "TLSv1.2", R"("ciphers": ")" + list + "\"");
        spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
        return spec;
    };
    auto whyNotStarted = [](const GatewaySpec& spec) {
        try {
            SluicedProcess gw(spec);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string();
    };

    // Suites that encrypt nothing or authenticate no one are refused, whatever the list says;
    // lists that name such suites but leave them to OpenSSL's security level are fine.
    for (const auto& [list, refused] :
         std::vector<std::pair<std::string, bool>>{{"eNULL:aNULL:@SECLEVEL=0", true},
                                                   {"ECDHE-ECDSA-AES128-GCM-SHA256:AECDH-AES128-SHA:@SECLEVEL=0", true},
                                                   {"HIGH", false},
                                                   {"ALL", false},
                                                   {"HIGH:@SECLEVEL=1", false}}) {
        CAPTURE(list);
        if (refused) {
            const std::string why = whyNotStarted(withCiphers(list));
            CHECK_MESSAGE(why.find("encrypts nothing or authenticates no one") != std::string::npos, why);
            continue;
        }
        SluicedProcess gw(withCiphers(list));
        Outcome ok = tlsTry(gw.port(), caOnly(certs), kGet);
        CHECK_MESSAGE(answered200(ok), ok.error);
    }

    // A list that leaves TLS 1.2 nothing to negotiate (the null suites it names are kept out by
    // the security level) would fail every TLS 1.2 client: refused, unless TLS 1.2 is off.
    // So would one whose suites need another kind of key than the certificate's (EC here).
    for (const std::string list : {"aNULL", "eNULL", "PSK", "ECDHE-RSA-AES128-GCM-SHA256"}) {
        CAPTURE(list);
        const std::string why = whyNotStarted(withCiphers(list));
        CHECK_MESSAGE(why.find("leave TLS 1.2 with no suite to negotiate with the key of") != std::string::npos, why);
    }
    GatewaySpec nullOnly13 = only13;
    nullOnly13.listenerTls = certs.listenerWith(server, "none", "", "TLSv1.3", R"("ciphers": "aNULL")");
    SluicedProcess tls13(nullOnly13);
    Outcome ok13 = tlsTry(tls13.port(), caOnly(certs), kGet);
    CHECK_MESSAGE(answered200(ok13), ok13.error);

    // A cipher list OpenSSL cannot use is a configuration error naming it.
    const std::string failure = whyNotStarted(withCiphers("NO-SUCH-CIPHER"));
    CHECK_MESSAGE(failure.find("ciphers 'NO-SUCH-CIPHER'") != std::string::npos, failure);
    CHECK(failure.find("not starting") != std::string::npos);
}

TEST_CASE("tls: SNI chooses the certificate, and no or an unknown name gets the first one")
{
    TestCertificates certs;
    certs.leaf("a", "a.test", "DNS:a.test", "ca");
    certs.leaf("b", "b.test", "DNS:b.test,DNS:www.b.test", "ca");
    certs.leaf("c", "c.test", "DNS:c.test", "ca");  // served for the configured names only
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.listenerTls = certs.listenerWith(
        {{"a.pem", "a.key", ""}, {"b.pem", "b.key", ""}, {"c.pem", "c.key", R"(["c.test", "*.wild.test"])"}});
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);

    auto subjectFor = [&](std::optional<std::string> sni, const std::string& verifyHost = "") {
        // Both set whatever the arguments: here no SNI and no host check are the defaults, not
        // the Offer's "localhost".
        Offer o = caOnly(certs);
        o.sni = std::move(sni);
        o.verifyHost = verifyHost;
        Outcome a = tlsTry(gw.port(), o, kGet);
        INFO("sni " << o.sni.value_or("(none)") << ": " << a.error << " " << a.verifyError);
        CHECK(a.handshake);
        CHECK(answered200(a));  // every certificate serves the same listener and routes
        return a.peerSubject;
    };
    // Exact names, verified as host names by the client.
    CHECK(subjectFor("a.test", "a.test") == "CN=a.test");
    CHECK(subjectFor("b.test", "b.test") == "CN=b.test");
    CHECK(subjectFor("www.b.test", "www.b.test") == "CN=b.test");
    CHECK(subjectFor("B.Test", "b.test") == "CN=b.test");   // names are case-insensitive
    CHECK(subjectFor("b.test.", "b.test") == "CN=b.test");  // a trailing dot names the same host
    CHECK(subjectFor("x.wild.test.") == "CN=c.test");
    // server_names given in the configuration, a wildcard among them.
    CHECK(subjectFor("c.test", "c.test") == "CN=c.test");
    CHECK(subjectFor("x.wild.test") == "CN=c.test");
    CHECK(subjectFor("deep.x.wild.test") == "CN=a.test");  // a wildcard covers one label only
    // No SNI, or a name no certificate has: the first certificate.
    CHECK(subjectFor(std::nullopt) == "CN=a.test");
    CHECK(subjectFor("unknown.test") == "CN=a.test");
    CHECK(backend.requestCount() == 11);
}

TEST_CASE("tls: SNI with mutual TLS keeps client verification on the chosen certificate")
{
    TestCertificates certs;
    certs.leaf("a", "a.test", "DNS:a.test", "ca");
    certs.leaf("b", "b.test", "DNS:b.test", "ca");
    certs.root("rogue", "RogueCA");
    certs.leaf("rogueclient", "client1", "", "rogue");
    ScriptedBackend backend(echoPeer);
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.listenerTls = certs.listenerWith({{"a.pem", "a.key", ""}, {"b.pem", "b.key", ""}}, "required");
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()}), kPeerCertChain));
    SluicedProcess gw(spec);

    Offer o = caOnly(certs);
    o.sni = "b.test";
    o.verifyHost = "b.test";
    Outcome without = tlsTry(gw.port(), o, kGet);
    CHECK(without.response.empty());
    CHECK_MESSAGE(without.error.find("certificate required") != std::string::npos, without.error);

    o.cert = certs.path("rogueclient.pem");
    o.key = certs.path("rogueclient.key");
    Outcome rogue = tlsTry(gw.port(), o, kGet);
    CHECK(rogue.response.empty());
    CHECK_MESSAGE(rogue.error.find("unknown ca") != std::string::npos, rogue.error);

    o.cert = certs.path("client.pem");
    o.key = certs.path("client.key");
    Outcome with = tlsTry(gw.port(), o, kGet);
    REQUIRE_MESSAGE(with.handshake, with.error);
    CHECK(with.peerSubject == "CN=b.test");
    CHECK(answered200(with));
    CHECK(with.response.find("peer=present subject=CN=client1") != std::string::npos);
    CHECK(backend.requestCount() == 1);
}

// "optional" follows nginx's ssl_verify_client optional: a client may send no certificate, but
// one that it sends must verify against client_ca, else the handshake is refused (a client that
// presents a certificate expects to be authenticated by it; it is never silently anonymous).
TEST_CASE("tls: client_auth optional admits no certificate, verifies a trusted one and refuses an untrusted one")
{
    TestCertificates certs;
    certs.intermediate("inter", "SluiceTestIntermediate", "ca");
    certs.leaf("deepclient", "client2", "", "inter");
    certs.bundle("deepclient-chain.pem", {"deepclient.pem", "inter.pem"});
    certs.root("rogue", "RogueCA");
    certs.leaf("rogueclient", "client1", "", "rogue");
    ScriptedBackend backend(echoPeer);
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.listenerTls = certs.listener("optional");
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()}), kPeerCertChain));
    SluicedProcess gw(spec);

    Outcome anonymous = tlsTry(gw.port(), caOnly(certs), kGet);
    REQUIRE_MESSAGE(anonymous.handshake, anonymous.error);
    CHECK(answered200(anonymous));
    CHECK(anonymous.response.find("peer=absent") != std::string::npos);

    Outcome trusted = tlsTry(gw.port(), clientOffer(certs, "client.pem", "client.key"), kGet);
    REQUIRE_MESSAGE(trusted.handshake, trusted.error);
    CHECK(answered200(trusted));
    CHECK(trusted.response.find("peer=present subject=CN=client1") != std::string::npos);

    // Issued by an intermediate the client sends along; the gateway trusts the root only.
    Outcome chained = tlsTry(gw.port(), clientOffer(certs, "deepclient-chain.pem", "deepclient.key"), kGet);
    REQUIRE_MESSAGE(chained.handshake, chained.error);
    CHECK(answered200(chained));
    CHECK(chained.response.find("peer=present subject=CN=client2") != std::string::npos);

    // Unknown CA: refused by the gateway with an unknown_ca alert, nothing reaches the backend
    // (TLS 1.3: the client learns it on its first read; TLS 1.2: in the handshake itself).
    std::size_t before = backend.requestCount();
    Outcome rogue = tlsTry(gw.port(), clientOffer(certs, "rogueclient.pem", "rogueclient.key"), kGet);
    CHECK(rogue.response.empty());
    CHECK_MESSAGE(rogue.error.find("unknown ca") != std::string::npos, rogue.error);
    Offer rogueTls12 = clientOffer(certs, "rogueclient.pem", "rogueclient.key");
    rogueTls12.maxVersion = TLS1_2_VERSION;
    Outcome rogue12 = tlsTry(gw.port(), rogueTls12, kGet);
    CHECK_FALSE(rogue12.handshake);
    CHECK_MESSAGE(rogue12.error.find("unknown ca") != std::string::npos, rogue12.error);
    // Without its intermediate the chained certificate does not verify either.
    Outcome incomplete = tlsTry(gw.port(), clientOffer(certs, "deepclient.pem", "deepclient.key"), kGet);
    CHECK(incomplete.response.empty());
    CHECK_MESSAGE(incomplete.error.find("unknown ca") != std::string::npos, incomplete.error);
    CHECK(backend.requestCount() == before);

    // The gateway is still serving.
    Outcome after = tlsTry(gw.port(), caOnly(certs), kGet);
    CHECK(answered200(after));
    CHECK(gw.running());
}

TEST_CASE("tls: a handler reads the verified client certificate, and without one it is absent and cannot be forged")
{
    TestCertificates certs;
    ScriptedBackend backend(echo());
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.listenerTls = certs.listener("optional");
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()}), kPeerCertChain));
    SluicedProcess gw(spec);

    // A client with a certificate, also trying to forge the headers the handler writes.
    const std::string forging =
        "GET /tls/v1/who HTTP/1.1\r\nHost: localhost\r\nX-Peer-Subject: CN=admin\r\n"
        "X-Peer-Cert: forged\r\nConnection: close\r\n\r\n";
    Outcome with = tlsTry(gw.port(), clientOffer(certs, "client.pem", "client.key"), forging);
    REQUIRE_MESSAGE(with.handshake, with.error);
    CHECK(answered200(with));
    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest seen = backend.request(0);
    CHECK(seen.header("X-Peer-Cert") == "present");
    CHECK(seen.headerCount("X-Peer-Cert") == 1);
    CHECK(seen.header("X-Peer-Subject") == "CN=client1");
    CHECK(seen.headerCount("X-Peer-Subject") == 1);
    CHECK(seen.header("X-Peer-Issuer") == "CN=SluiceTestCA");
    CHECK(seen.header("X-Peer-Sha256") == fingerprint(certs.path("client.pem")));

    // The same listener, no client certificate: absent, and the forged values are gone.
    Outcome without = tlsTry(gw.port(), caOnly(certs), forging);
    REQUIRE_MESSAGE(without.handshake, without.error);
    CHECK(answered200(without));
    REQUIRE(backend.waitForRequests(2, 2s));
    ReceivedRequest anonymous = backend.request(1);
    CHECK(anonymous.header("X-Peer-Cert") == "absent");
    CHECK_FALSE(anonymous.header("X-Peer-Subject"));

    // A listener that does not ask for client certificates exposes none, even to a client that has one.
    GatewaySpec plainSpec;
    plainSpec.testPlugins = true;
    plainSpec.listenerTls = certs.listener("none");
    plainSpec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()}), kPeerCertChain));
    SluicedProcess noAuth(plainSpec);
    Outcome unasked = tlsTry(noAuth.port(), clientOffer(certs, "client.pem", "client.key"), kGet);
    REQUIRE_MESSAGE(unasked.handshake, unasked.error);
    CHECK(answered200(unasked));
    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.request(2).header("X-Peer-Cert") == "absent");

    // Plain HTTP: absent too.
    GatewaySpec httpSpec;
    httpSpec.testPlugins = true;
    httpSpec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()}), kPeerCertChain));
    SluicedProcess plain(httpSpec);
    RawClient client(plain.port());
    auto r = client.exchange(getRequest("/tls/v1/plain"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(4, 2s));
    CHECK(backend.request(3).header("X-Peer-Cert") == "absent");
}

TEST_CASE("tls: a listener certificate file with leaf + intermediate verifies for a client trusting only the root")
{
    TestCertificates certs;
    certs.intermediate("inter", "SluiceTestIntermediate", "ca");
    certs.leaf("leaf", "localhost", "DNS:localhost,IP:127.0.0.1", "inter");
    certs.bundle("leaf-chain.pem", {"leaf.pem", "inter.pem"});
    ScriptedBackend backend(echoProto);

    GatewaySpec spec;
    spec.listenerTls = certs.listenerWith({{"leaf-chain.pem", "leaf.key", ""}});
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);
    Outcome ok = tlsTry(gw.port(), caOnly(certs), kGet);
    REQUIRE_MESSAGE(ok.handshake, ok.error << " " << ok.verifyError);
    CHECK(ok.peerSubject == "CN=localhost");
    CHECK(answered200(ok));
    CHECK(ok.response.find("proto=https") != std::string::npos);

    // The control: the leaf alone does not verify against the root, so the intermediate sent by
    // the gateway is what made the difference.
    GatewaySpec leafOnly;
    leafOnly.listenerTls = certs.listenerWith({{"leaf.pem", "leaf.key", ""}});
    leafOnly.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess bare(leafOnly);
    Outcome refused = tlsTry(bare.port(), caOnly(certs), kGet);
    CHECK_FALSE(refused.handshake);
    CHECK_MESSAGE(refused.verifyError.find("unable to get local issuer certificate") != std::string::npos,
                  refused.verifyError);
    CHECK(backend.requestCount() == 1);
}

// A reload rebuilds the listeners' TLS contexts with the rest of the configuration, so a renewed
// certificate (the operator's "certbot renew, then reload") reaches new connections at once, while
// connections accepted under the old context keep it: a kept-alive one, one whose handshake was
// under way, and one accepted but not yet sent its ClientHello (whose SNI selection then runs on
// the old context after the reload). Broken certificate files refuse the reload and whatever was
// served stays served.
TEST_CASE("tls: a reload serves a renewed listener certificate to new connections while open ones keep theirs")
{
    TestCertificates certs;
    certs.leaf("renewed", "renewed.localhost", "DNS:localhost,IP:127.0.0.1", "ca");
    certs.bundle("live.pem", {"server.pem"});
    certs.bundle("live.key", {"server.key"});
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.workers = 1;  // one listening socket: connections are accepted in the order they connect
    spec.listenerTls = certs.listenerWith({{"live.pem", "live.key", ""}});
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);
    Offer o = caOnly(certs);

    TlsConnection kept(gw.port(), o);
    REQUIRE_MESSAGE(kept.finishHandshake(), kept.error());
    CHECK(kept.peerSubject() == "CN=localhost");
    CHECK(is200(kept.get("/tls/v1/kept")));
    TlsConnection accepted(gw.port(), o);  // no byte of its handshake before the reload
    TlsConnection midway(gw.port(), o);
    // The server answered midway's ClientHello, so it has accepted both (in order).
    REQUIRE(midway.startHandshake());
    Outcome before = tlsTry(gw.port(), caOnly(certs), kGet);
    REQUIRE_MESSAGE(before.handshake, before.error);
    CHECK(before.peerSubject == "CN=localhost");

    // The new certificate with the old key: refused, the old certificate stays.
    certs.bundle("live.pem", {"renewed.pem"});
    std::size_t from = gw.logSize();
    CHECK_FALSE(gw.reload());
    CHECK(gw.waitForLog("/listeners/0/tls: private key", from, 2s));
    Outcome still = tlsTry(gw.port(), caOnly(certs), kGet);
    CHECK(answered200(still));
    CHECK(still.peerSubject == "CN=localhost");

    // The matching key too: new connections get the renewed certificate.
    certs.bundle("live.key", {"renewed.key"});
    REQUIRE(gw.reload());
    Outcome after = tlsTry(gw.port(), caOnly(certs), kGet);
    REQUIRE_MESSAGE(after.handshake, after.error);
    CHECK(answered200(after));
    CHECK(after.peerSubject == "CN=renewed.localhost");

    // The connections of the old context work on, with its certificate.
    CHECK_MESSAGE(is200(kept.get("/tls/v1/kept-again")), kept.error());
    REQUIRE_MESSAGE(midway.finishHandshake(), midway.error());
    CHECK(midway.peerSubject() == "CN=localhost");
    CHECK_MESSAGE(is200(midway.get("/tls/v1/midway")), midway.error());
    REQUIRE_MESSAGE(accepted.finishHandshake(), accepted.error());
    CHECK(accepted.peerSubject() == "CN=localhost");
    CHECK_MESSAGE(is200(accepted.get("/tls/v1/accepted")), accepted.error());

    // Broken again (the renewed certificate with the old key): refused, the renewed one stays.
    certs.bundle("live.key", {"server.key"});
    from = gw.logSize();
    CHECK_FALSE(gw.reload());
    CHECK(gw.waitForLog("/listeners/0/tls: private key", from, 2s));
    Outcome stays = tlsTry(gw.port(), caOnly(certs), kGet);
    REQUIRE_MESSAGE(stays.handshake, stays.error);
    CHECK(answered200(stays));
    CHECK(stays.peerSubject == "CN=renewed.localhost");
    CHECK(backend.requestCount() == 8);
}

// Not only the certificate files follow a reload: client_auth, its CA bundle and min_version do
// too, for new connections. A connection keeps the settings it was accepted under, even when its
// handshake begins after a further reload has replaced them (the first generation stays alive in
// sluiced, so the second is the one that has to outlive its replacement). Turning TLS off is a
// listener change: logged, and it waits for a restart.
TEST_CASE("tls: a reload applies client_auth and min_version to new connections but not to open ones")
{
    TestCertificates certs;
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.workers = 1;  // one listening socket: connections are accepted in the order they connect
    spec.listenerTls = certs.listener();
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);
    Offer anonymous = caOnly(certs);
    Offer client = anonymous;
    client.cert = certs.path("client.pem");
    client.key = certs.path("client.key");
    TlsConnection open(gw.port(), anonymous);
    REQUIRE_MESSAGE(open.finishHandshake(), open.error());
    CHECK(is200(open.get("/tls/v1/open")));

    GatewaySpec mutual = spec;
    mutual.listenerTls = certs.listenerWith({{"server.pem", "server.key", ""}}, "required", "ca.pem", "TLSv1.3");
    gw.writeGatewayConfig(mutual);
    REQUIRE(gw.reload());
    TlsConnection pending(gw.port(), client);  // accepted under client_auth required...
    Outcome without = tlsTry(gw.port(), anonymous, kGet);
    CHECK(without.response.empty());
    CHECK_MESSAGE(without.error.find("certificate required") != std::string::npos, without.error);
    Offer old = client;
    old.maxVersion = TLS1_2_VERSION;
    Outcome refused = tlsTry(gw.port(), old, kGet);
    CHECK_FALSE(refused.handshake);
    CHECK_MESSAGE(refused.error.find("protocol version") != std::string::npos, refused.error);
    Outcome with = tlsTry(gw.port(), client, kGet);
    REQUIRE_MESSAGE(with.handshake, with.error);
    CHECK(answered200(with));
    // Accepted without a client certificate under the first settings: still served.
    CHECK_MESSAGE(is200(open.get("/tls/v1/open-again")), open.error());

    // Back to no client authentication; the pending connection (accepted, as the completed
    // exchanges after it show) starts its handshake only now, under the settings it was accepted
    // with.
    gw.writeGatewayConfig(spec);
    REQUIRE(gw.reload());
    Outcome anonymousAgain = tlsTry(gw.port(), anonymous, kGet);
    REQUIRE_MESSAGE(anonymousAgain.handshake, anonymousAgain.error);
    CHECK(answered200(anonymousAgain));
    REQUIRE_MESSAGE(pending.finishHandshake(), pending.error());
    CHECK(pending.peerSubject() == "CN=localhost");
    CHECK_MESSAGE(is200(pending.get("/tls/v1/pending")), pending.error());
    REQUIRE(backend.waitForRequests(5, 2s));
    CHECK(backend.request(4).target == "/pending");

    GatewaySpec plain = spec;
    plain.listenerTls.clear();
    gw.writeGatewayConfig(plain);
    std::size_t from = gw.logSize();
    REQUIRE(gw.reload());
    CHECK(gw.waitForLog("listener 'http': TLS was turned off; this takes effect at a restart", from, 2s));
    Outcome stillTls = tlsTry(gw.port(), anonymous, kGet);
    REQUIRE_MESSAGE(stillTls.handshake, stillTls.error);
    CHECK(answered200(stillTls));
    CHECK(backend.requestCount() == 6);
}

TEST_CASE("tls: the gateway verifies an HTTPS backend against the configured CA, and refuses an unknown one")
{
    TestCertificates certs;
    ScriptedBackend backend(echoProto);
    // The HTTPS "backend" is a second gateway with a TLS listener in front of the scripted one.
    GatewaySpec tlsBackend;
    tlsBackend.listenerTls = certs.listener();
    tlsBackend.apis.emplace_back("b", apiJson("/b", endpointList({backend.url()})));
    SluicedProcess inner(tlsBackend);

    std::string https = "https://localhost:" + std::to_string(inner.port()) + "/b/v1";
    GatewaySpec spec;
    spec.apis.emplace_back("trusted", apiJson("/trusted", endpointList({https}),
                                              R"("tls": {"ca_file": ")" + certs.path("ca.pem") + R"("})"));
    spec.apis.emplace_back("unknown", apiJson("/unknown", endpointList({https})));
    SluicedProcess gw(spec);

    RawClient client(gw.port());
    auto trusted = client.exchange(getRequest("/trusted/v1/x"));
    REQUIRE_MESSAGE(trusted, client.error());
    CHECK(trusted->status == 200);
    CHECK(trusted->body == "proto=https");

    RawClient other(gw.port());
    auto unknown = other.exchange(getRequest("/unknown/v1/x"));
    REQUIRE_MESSAGE(unknown, other.error());
    CHECK(unknown->status == 502);
    CHECK(unknown->body.find("101503") != std::string::npos);
    // The log says why, so an operator need not guess between a refused port and a certificate.
    CHECK(gw.waitForLog("GET " + https + ": connect failed: TLS handshake: certificate verification failed: ", 0, 5s));

    // A certificate for another name fails on the name, even from a trusted CA.
    std::string byAddress = "https://127.0.0.1:" + std::to_string(inner.port()) + "/b/v1";
    GatewaySpec named;
    named.apis.emplace_back(
        "other", apiJson("/other", endpointList({byAddress}),
                         R"("tls": {"ca_file": ")" + certs.path("ca.pem") + R"(", "server_name": "other.example"})"));
    SluicedProcess gw2(named);
    RawClient third(gw2.port());
    auto mismatch = third.exchange(getRequest("/other/v1/x"));
    REQUIRE_MESSAGE(mismatch, third.error());
    CHECK(mismatch->status == 502);
    CHECK(gw2.waitForLog(": connect failed: TLS handshake: certificate verification failed: hostname mismatch", 0, 5s));
}

TEST_CASE("tls: tls.crl refuses a revoked backend certificate and a list past its update, and a reload reads it again")
{
    TestCertificates certs;
    certs.leaf("revokedserver", "localhost", "DNS:localhost", "ca");
    certs.crl("crl", "ca", {"revokedserver"});
    certs.crl("stale", "ca", {}, true);
    certs.crl("live", "ca", {});
    ScriptedBackend backend(echoProto);
    auto inner = [&](const std::string& listenerTls) {
        GatewaySpec spec;
        spec.listenerTls = listenerTls;
        spec.apis.emplace_back("b", apiJson("/b", endpointList({backend.url()})));
        return spec;
    };
    SluicedProcess good(inner(certs.listener()));
    SluicedProcess revoked(inner(certs.listenerOf({"revokedserver"})));
    auto https = [](const SluicedProcess& p) { return "https://localhost:" + std::to_string(p.port()) + "/b/v1"; };
    auto tlsWith = [&](const std::string& crl, const std::string& extra = "") {
        return R"("tls": {"ca_file": ")" + certs.path("ca.pem") + R"(", "crl": ")" + certs.path(crl) + "\"" + extra +
               "}";
    };
    GatewaySpec spec;
    spec.apis.emplace_back("good", apiJson("/good", endpointList({https(good)}), tlsWith("crl.pem")));
    spec.apis.emplace_back("revoked", apiJson("/revoked", endpointList({https(revoked)}), tlsWith("crl.pem")));
    spec.apis.emplace_back("stale", apiJson("/stale", endpointList({https(good)}), tlsWith("stale.pem")));
    spec.apis.emplace_back("live", apiJson("/live", endpointList({https(revoked)}), tlsWith("live.pem")));
    SluicedProcess gw(spec);
    CHECK(gw.waitForLog("stale.pem: a list is past its next update", 0, 2s));  // said at start

    auto get = [&](const std::string& path) {
        RawClient client(gw.port());
        auto r = client.exchange(getRequest(path));
        REQUIRE_MESSAGE(r, client.error());
        return *r;
    };
    auto ok = get("/good/v1/x");
    CHECK(ok.status == 200);
    CHECK(ok.body == "proto=https");
    auto refused = get("/revoked/v1/x");
    CHECK(refused.status == 502);
    CHECK(refused.body.find("101503") != std::string::npos);
    CHECK(gw.waitForLog("connect failed: TLS handshake: certificate verification failed: certificate revoked", 0, 5s));
    auto stale = get("/stale/v1/x");
    CHECK(stale.status == 502);
    CHECK(gw.waitForLog("certificate verification failed: CRL has expired", 0, 5s));

    // The same backend under a list that does not revoke it; after the list changes and a
    // reload, its pooled connection (verified under the old list) is not used again.
    RawClient keep(gw.port());
    for (int i = 0; i < 2; ++i) {
        auto r = keep.exchange(getRequest("/live/v1/x"));
        REQUIRE_MESSAGE(r, keep.error());
        CHECK(r->status == 200);
    }
    const std::size_t served = backend.requestCount();
    certs.crl("live", "ca", {"revokedserver"});
    REQUIRE(gw.reload());
    auto after = keep.exchange(getRequest("/live/v1/x"));
    REQUIRE_MESSAGE(after, keep.error());
    CHECK(after->status == 502);
    CHECK(backend.requestCount() == served);
    CHECK(get("/good/v1/x").status == 200);

    // Configuration errors name the setting and the file.
    auto whyNotStarted = [&](const std::string& tls) {
        GatewaySpec bad;
        bad.apis.emplace_back("x", apiJson("/x", endpointList({https(good)}), tls));
        try {
            SluicedProcess refusedStart(bad);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    const std::string unverified = whyNotStarted(tlsWith("crl.pem", R"(, "verify": false)"));
    CHECK_MESSAGE(unverified.find("/tls/crl: crl is set but verify is false") != std::string::npos, unverified);
    const std::string notCrl = whyNotStarted(tlsWith("ca.pem"));
    CHECK_MESSAGE(notCrl.find("crl " + certs.path("ca.pem") + ": no certificate revocation list") != std::string::npos,
                  notCrl);
    const std::string missing = whyNotStarted(tlsWith("no-such.pem"));
    CHECK_MESSAGE(missing.find("crl " + certs.path("no-such.pem") + ": ") != std::string::npos, missing);
}

TEST_CASE("tls: request bodies of any size reach an HTTPS backend, on a new or a pooled connection")
{
    // A TLS write may take one 16 KiB record of a longer buffer: the rest must still go out.
    TestCertificates certs;
    ScriptedBackend backend(methodAndLength());
    GatewaySpec tlsBackend;
    tlsBackend.listenerTls = certs.listener();
    tlsBackend.apis.emplace_back("b", apiJson("/b", endpointList({backend.url()})));
    SluicedProcess inner(tlsBackend);
    GatewaySpec spec =
        oneApi("/svc", endpointList({"https://localhost:" + std::to_string(inner.port()) + "/b/v1"}),
               R"("tls": {"ca_file": ")" + certs.path("ca.pem") + R"("}, "timeouts": {"read_ms": 3000})");
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto warm = client.exchange(getRequest("/svc/v1/warm"));
    REQUIRE_MESSAGE(warm, client.error());
    CHECK(warm->status == 200);
    for (std::size_t size : {1000u, 17000u, 60000u, 300000u, 3000000u}) {
        CAPTURE(size);
        auto r = client.exchange(bodyRequest("POST", "/svc/v1/upload", std::string(size, 'b')), 10s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "POST " + std::to_string(size));
    }
}

// OpenSSL asks for the passphrase of an encrypted key on the terminal when nothing else answers:
// sluiced started from a shell would hang in --check-config or at start, and a reload would block
// the signal thread for good. The key is refused at once instead, saying why.
TEST_CASE("tls: an encrypted private key is refused at once with a clear message, even with a terminal")
{
    TestCertificates certs;
    REQUIRE(certs.shell("openssl pkey -in server.key -aes256 -passout pass:secret -out encrypted.key") == 0);
    const std::string config = certs.path("sluice.json");
    std::ofstream(config) << R"({"listeners": [{"name": "https", "host": "127.0.0.1", "port": 0, "tls": )"
                          << certs.listenerWith({{"server.pem", "encrypted.key", ""}}) << "}]}";
    // `script` gives sluiced a terminal of its own (it would wait on it for ever); timeout ends that.
    const auto [status, output] = runCommand("timeout 20 script -qec '" + std::string(SLUICE_TRANSPORT_SLUICED) +
                                             " --check-config --config " + config + "' /dev/null");
    INFO(output);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);  // 124 when it waited for a passphrase
    CHECK(output.find("encrypted with a passphrase") != std::string::npos);
    CHECK(output.find("pass phrase") == std::string::npos);  // no prompt

    // A reload with the encrypted key is refused, and the gateway still takes the next one.
    certs.bundle("live.key", {"server.key"});
    ScriptedBackend backend(echo());
    GatewaySpec spec;
    spec.listenerTls = certs.listenerWith({{"server.pem", "live.key", ""}});
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);
    certs.bundle("live.key", {"encrypted.key"});
    const std::size_t from = gw.logSize();
    CHECK_FALSE(gw.reload());
    CHECK(gw.waitForLog("encrypted with a passphrase", from, 2s));
    certs.bundle("live.key", {"server.key"});
    CHECK(gw.reload());
}
