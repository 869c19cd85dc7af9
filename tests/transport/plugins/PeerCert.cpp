// Test plugin: copies the client certificate the host exposes (get_peer_certificate, PEM, only
// when the transport verified it) into request headers, so the test can read them at the backend:
//   X-Peer-Cert: present | absent | unparsable
//   X-Peer-Subject / X-Peer-Issuer: the DNs in RFC 2253 form ("CN=client1")
//   X-Peer-Sha256: the SHA-256 fingerprint of the DER certificate, lower-case hex
// Headers of the same names sent by the client are removed first, so none can be forged.
// Config: {} (none).
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <optional>
#include <string>

#include <sluice/sdk.hpp>

namespace {

using namespace sluice::sdk;

std::string nameText(const X509_NAME* name)
{
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) {
        return {};
    }
    std::string text;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        if (len > 0) {
            text.assign(data, static_cast<std::size_t>(len));
        }
    }
    BIO_free(bio);
    return text;
}

struct Parsed {
    std::string subject;
    std::string issuer;
    std::string sha256;
};

std::optional<Parsed> parse(std::string_view pem)
{
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) {
        return std::nullopt;
    }
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (cert == nullptr) {
        return std::nullopt;
    }
    Parsed p;
    p.subject = nameText(X509_get_subject_name(cert));
    p.issuer = nameText(X509_get_issuer_name(cert));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &length) == 1) {
        static const char hex[] = "0123456789abcdef";
        for (unsigned int i = 0; i < length; ++i) {
            p.sha256.push_back(hex[digest[i] >> 4]);
            p.sha256.push_back(hex[digest[i] & 0x0f]);
        }
    }
    X509_free(cert);
    return p;
}

class PeerCert final : public Handler {
public:
    static constexpr ComponentInfo kInfo{"test_peer_cert",
                                         "1.0.0",
                                         0,
                                         0,
                                         R"({"type":"object","additionalProperties":false})",
                                         "test: the verified client certificate into request headers"};

    explicit PeerCert(const ComponentInit& init) : Handler(init) {}

    Action onRequest(MessageContext& ctx) override
    {
        for (const char* name : {"X-Peer-Cert", "X-Peer-Subject", "X-Peer-Issuer", "X-Peer-Sha256"}) {
            ctx.removeHeader(Message::Request, name);
        }
        std::optional<std::string_view> pem = ctx.peerCertificatePem();
        if (!pem) {
            ctx.setHeader(Message::Request, "X-Peer-Cert", "absent");
            return Action::Continue;
        }
        std::optional<Parsed> parsed = parse(*pem);
        if (!parsed) {
            ctx.setHeader(Message::Request, "X-Peer-Cert", "unparsable");
            return Action::Continue;
        }
        ctx.setHeader(Message::Request, "X-Peer-Cert", "present");
        ctx.setHeader(Message::Request, "X-Peer-Subject", parsed->subject);
        ctx.setHeader(Message::Request, "X-Peer-Issuer", parsed->issuer);
        ctx.setHeader(Message::Request, "X-Peer-Sha256", parsed->sha256);
        return Action::Continue;
    }
};

}  // namespace

SLUICE_PLUGIN("test_peer_cert", "1.0.0", "test plugin: the verified client certificate in request headers", PeerCert)
