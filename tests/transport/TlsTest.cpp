// TLS through the real transport, with certificates generated at test time by the openssl tool:
// HTTPS listeners (TLS 1.3, old versions refused), mutual TLS required/optional, and TLS from the
// gateway to an HTTPS backend (trusted CA accepted, unknown CA refused with 502).
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "TransportTest.h"

using namespace sluice::transport_test;
namespace fs = std::filesystem;

namespace {

// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, made with openssl.
class Certificates {
public:
    Certificates()
    {
        char pattern[] = "/tmp/sluice-tls-XXXXXX";
        _dir = ::mkdtemp(pattern);
        run("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=SluiceTestCA");
        run("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost");
        run("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext");
        run("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
            "-extfile san.ext");
        run("openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client1");
        run("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2");
    }
    ~Certificates() { fs::remove_all(_dir); }
    std::string path(const std::string& name) const { return _dir + "/" + name; }

    std::string listener(const std::string& clientAuth = "none") const
    {
        std::string tls = R"({"certificates": [{"certificate": ")" + path("server.pem") + R"(", "key": ")" +
                          path("server.key") + R"("}], "min_version": "TLSv1.2")";
        if (clientAuth != "none") {
            tls += R"(, "client_auth": ")" + clientAuth + R"(", "client_ca": ")" + path("ca.pem") + "\"";
        }
        return tls + "}";
    }

private:
    void run(const std::string& command) const
    {
        std::string full = "cd " + _dir + " && " + command + " > /dev/null 2>&1";
        REQUIRE_MESSAGE(std::system(full.c_str()) == 0, command);
    }
    std::string _dir;
};

struct TlsAnswer {
    bool handshake = false;
    std::string response;
    std::string protocol;
};

// A blocking TLS client: handshake (verifying against `ca`), one request, read until close.
TlsAnswer tlsRequest(int port, const std::string& ca, const std::string& request, int maxVersion = 0,
                     const std::string& cert = "", const std::string& key = "")
{
    TlsAnswer answer;
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (maxVersion != 0) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, maxVersion);
        SSL_CTX_set_security_level(ctx, 0);
    }
    if (!cert.empty()) {
        SSL_CTX_use_certificate_chain_file(ctx, cert.c_str());
        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
    }
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        SSL* ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, "localhost");
        SSL_set1_host(ssl, "localhost");
        if (SSL_connect(ssl) == 1) {
            answer.handshake = true;
            answer.protocol = SSL_get_version(ssl);
            SSL_write(ssl, request.data(), static_cast<int>(request.size()));
            char buf[4096];
            int n = 0;
            while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
                answer.response.append(buf, static_cast<std::size_t>(n));
            }
        }
        SSL_free(ssl);
    }
    ::close(fd);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return answer;
}

const std::string kGet = "GET /tls/v1/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

BackendReply echoProto(const ReceivedRequest& r)
{
    BackendReply reply;
    reply.bytes = httpResponse(200, "proto=" + r.header("X-Forwarded-Proto").value_or("none"));
    return reply;
}

}  // namespace

TEST_CASE("tls: an HTTPS listener negotiates TLS 1.3, proxies, and refuses TLS 1.1")
{
    Certificates certs;
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.listenerTls = certs.listener();
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);

    TlsAnswer ok = tlsRequest(gw.port(), certs.path("ca.pem"), kGet);
    REQUIRE(ok.handshake);
    CHECK(ok.protocol == "TLSv1.3");
    CHECK(ok.response.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(ok.response.find("proto=https") != std::string::npos);

    TlsAnswer old = tlsRequest(gw.port(), certs.path("ca.pem"), kGet, TLS1_1_VERSION);
    CHECK_FALSE(old.handshake);
}

TEST_CASE("tls: mutual TLS required refuses a client without a certificate and accepts one with it")
{
    Certificates certs;
    ScriptedBackend backend(echoProto);
    GatewaySpec spec;
    spec.listenerTls = certs.listener("required");
    spec.apis.emplace_back("tls", apiJson("/tls", endpointList({backend.url()})));
    SluicedProcess gw(spec);

    TlsAnswer without = tlsRequest(gw.port(), certs.path("ca.pem"), kGet);
    CHECK(without.response.find("HTTP/1.1 200") == std::string::npos);

    TlsAnswer with = tlsRequest(gw.port(), certs.path("ca.pem"), kGet, 0, certs.path("client.pem"),
                                certs.path("client.key"));
    REQUIRE(with.handshake);
    CHECK(with.response.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("tls: the gateway verifies an HTTPS backend against the configured CA, and refuses an unknown one")
{
    Certificates certs;
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
}
