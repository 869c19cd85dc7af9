#include "TlsClient.h"

#include <openssl/err.h>

#include <unistd.h>

#include <chrono>
#include <cstring>

#include <doctest/doctest.h>

#include "Sockets.h"
#include "TestCertificates.h"

namespace sluice::transport_test {

std::string nameText(const X509_NAME* name)
{
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return text;
}

std::string drainErrors()
{
    std::string out;
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        out += (out.empty() ? "" : "; ") + std::string(buf);
    }
    return out;
}

Outcome tlsTry(int port, const Offer& o, const std::string& request,
               const std::function<void(SSL*, Outcome&)>& afterHandshake)
{
    Outcome out;
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    REQUIRE(ctx != nullptr);
    REQUIRE(SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    // No client session cache: freeing the context would flush it and mark the sessions handed
    // out as no longer resumable.
    if (o.minVersion != 0 || o.maxVersion != 0 || !o.ciphers.empty()) {
        // Old versions and weak suites are what some tests offer on purpose; the client's own
        // security level must not be what refuses them.
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_min_proto_version(ctx, o.minVersion != 0 ? o.minVersion : TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, o.maxVersion);
    }
    if (!o.ciphers.empty()) {
        REQUIRE_MESSAGE(SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str()) == 1, o.ciphers);
    }
    if (o.noTicket) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    if (!o.cert.empty()) {
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) == 1);
    }
    if (!o.alpn.empty()) {
        REQUIRE(SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(o.alpn.data()),
                                        static_cast<unsigned>(o.alpn.size())) == 0);
    }
    int connectError = 0;
    int fd = connectLoopback(port, connectError);
    if (fd >= 0) {
        setIoTimeouts(fd, std::chrono::seconds(5));
        SSL* ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (o.sni) {
            REQUIRE(SSL_set_tlsext_host_name(ssl, o.sni->c_str()) == 1);
        }
        if (!o.verifyHost.empty()) {
            SSL_set1_host(ssl, o.verifyHost.c_str());
        }
        if (o.session) {
            REQUIRE(SSL_set_session(ssl, o.session.get()) == 1);
        }
        if (SSL_connect(ssl) == 1) {
            out.handshake = true;
            out.reused = SSL_session_reused(ssl) == 1;
            out.compressed = SSL_get_current_compression(ssl) != nullptr;
            out.protocol = SSL_get_version(ssl);
            out.cipher = SSL_get_cipher_name(ssl);
            const unsigned char* selected = nullptr;
            unsigned int selectedLength = 0;
            SSL_get0_alpn_selected(ssl, &selected, &selectedLength);
            out.alpn.assign(reinterpret_cast<const char*>(selected), selectedLength);
            if (const STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
                out.peerChainLength = sk_X509_num(chain);
            }
            if (X509* peer = SSL_get1_peer_certificate(ssl)) {
                out.peerSubject = nameText(X509_get_subject_name(peer));
                X509_free(peer);
            }
            if (afterHandshake) {
                afterHandshake(ssl, out);
            }
            SSL_write(ssl, request.data(), static_cast<int>(request.size()));
            char buf[4096];
            int n = 0;
            while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
                out.response.append(buf, static_cast<std::size_t>(n));
            }
            out.closeNotify = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
            if (!out.closeNotify) {
                out.error += drainErrors();  // with TLS 1.3 a refused client certificate shows here
            }
            // A connection freed without close_notify marks its session as not resumable.
            SSL_shutdown(ssl);
            SSL_SESSION* s = SSL_get1_session(ssl);
            if (s != nullptr && SSL_SESSION_is_resumable(s) == 1) {
                out.session = Session(s, SSL_SESSION_free);
            } else {
                SSL_SESSION_free(s);
            }
        } else {
            out.error = drainErrors();
            long verify = SSL_get_verify_result(ssl);
            if (verify != X509_V_OK) {
                out.verifyError = X509_verify_cert_error_string(verify);
            }
        }
        SSL_free(ssl);
        ::close(fd);
    } else {
        out.error = "connect failed: " + std::string(std::strerror(connectError));
    }
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return out;
}

Offer caOnly(const TestCertificates& pki)
{
    Offer o;
    o.ca = pki.path("ca.pem");
    return o;
}

}  // namespace sluice::transport_test
