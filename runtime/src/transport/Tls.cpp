#include "sluice/runtime/transport/Tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include "sluice/runtime/Logging.h"

namespace sluice::runtime::transport {

std::string opensslError()
{
    std::string out;
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) {
            out += "; ";
        }
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

namespace {

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string resolvePath(const std::string& baseDir, const std::string& path)
{
    std::filesystem::path p(path);
    return (p.is_absolute() ? p : std::filesystem::path(baseDir) / p).lexically_normal().string();
}

// The TLS 1.2 suites offered when the listener configures no "ciphers": forward secrecy (ECDHE)
// and AEAD only (AES-GCM, ChaCha20-Poly1305), for ECDSA and RSA certificates - no static-RSA key
// exchange, no CBC, SHA-1 MAC, 3DES, RC4, NULL or anonymous suites (Mozilla "intermediate"
// without DHE, which would need configured parameters). TLS 1.3 suites are OpenSSL's (all AEAD).
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL asks for the passphrase of an encrypted key through this. Without it, it prompts on
// the terminal and blocks the thread that loads the key: the start, `--check-config`, or the
// signal thread during a reload (which then never takes another signal).
int refusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* asked)
{
    if (asked != nullptr) {
        *static_cast<bool*>(asked) = true;
    }
    return -1;
}

// Loads the private key of `ctx`'s certificate from `key`; throws with a message naming the file
// (`what`: "private key", "client key") and the certificate (`certificate`, its file).
void useKeyFile(SSL_CTX* ctx, const std::string& key, const std::string& what, const std::string& certificate)
{
    bool asked = false;
    SSL_CTX_set_default_passwd_cb(ctx, refusePassphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
    const bool loaded = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    if (!loaded) {
        std::string reason = opensslError();
        if (asked) {
            throw std::runtime_error(what + " " + key +
                                     ": it is encrypted with a passphrase, which sluiced does not ask for; store it "
                                     "unencrypted (openssl pkey -in KEY -out NEW), readable by the sluice user only");
        }
        throw std::runtime_error(what + " " + key + " (for the certificate " + certificate + "): " + reason);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        throw std::runtime_error(what + " " + key + " does not belong to the certificate " + certificate + ": " +
                                 opensslError());
    }
    struct stat info {};
    if (::stat(key.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0) {
        Logging::get("tls")->warn(
            "{} {} is readable by every user of this machine (mode {:o}); make it readable by "
            "the sluice user only (chmod 600, or 640 with a group such as ssl-cert)",
            what, key, info.st_mode & 07777);
    }
}

// "Nov 28 15:00:00 2026 GMT".
std::string asn1TimeText(const ASN1_TIME* t)
{
    std::string out;
    if (BIO* b = BIO_new(BIO_s_mem())) {
        if (ASN1_TIME_print(b, t) == 1) {
            char* data = nullptr;
            const long n = BIO_get_mem_data(b, &data);
            out.assign(data, static_cast<std::size_t>(n));
        }
        BIO_free(b);
    }
    return out;
}

// Warns about a certificate that clients will refuse for its dates (expired, or not valid yet):
// the listener starts, as a renewal may be on its way, but the operator should know.
void warnAboutDates(SSL_CTX* ctx, const std::string& file)
{
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (cert == nullptr) {
        return;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        Logging::get("tls")->warn("certificate {} expired on {}: clients will refuse it", file,
                                  asn1TimeText(X509_get0_notAfter(cert)));
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        Logging::get("tls")->warn("certificate {} is not valid before {}: clients will refuse it until then", file,
                                  asn1TimeText(X509_get0_notBefore(cert)));
    }
}

// What the suites `ctx` can negotiate say about its cipher lists. The suites a connection
// supports, not the configured list: OpenSSL's security level keeps null suites out unless the
// list lowers it (@SECLEVEL=0), so "HIGH" or "ALL" are fine although they name some.
struct SuiteSurvey {
    std::string unsafe;       // the first that encrypts nothing or authenticates no one (eNULL, aNULL)
    bool tls12Usable = true;  // some TLS 1.2 suite that this certificate's key can sign for
};

SuiteSurvey surveySuites(SSL_CTX* ctx)
{
    SuiteSurvey survey;
    SSL* probe = SSL_new(ctx);
    if (probe == nullptr) {
        return survey;  // cannot tell; the handshake will say
    }
    // TLS 1.2 suites name the key their server signs with; TLS 1.3 ones do not.
    int keyAuth = NID_undef;
    if (EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx)) {
        const int type = EVP_PKEY_get_base_id(key);
        keyAuth = type == EVP_PKEY_RSA || type == EVP_PKEY_RSA_PSS                            ? NID_auth_rsa
                  : type == EVP_PKEY_EC || type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448 ? NID_auth_ecdsa
                                                                                              : NID_undef;
    }
    survey.tls12Usable = false;
    STACK_OF(SSL_CIPHER)* suites = SSL_get1_supported_ciphers(probe);
    for (int i = 0; i < sk_SSL_CIPHER_num(suites); ++i) {
        const SSL_CIPHER* c = sk_SSL_CIPHER_value(suites, i);
        const int auth = SSL_CIPHER_get_auth_nid(c);
        if (survey.unsafe.empty() && (SSL_CIPHER_get_cipher_nid(c) == NID_undef || auth == NID_auth_null)) {
            survey.unsafe = SSL_CIPHER_get_name(c);
        }
        if (std::string_view(SSL_CIPHER_get_version(c)) != "TLSv1.3" &&
            (keyAuth == NID_undef || auth == keyAuth || auth == NID_auth_any)) {
            survey.tls12Usable = true;
        }
    }
    sk_SSL_CIPHER_free(suites);
    SSL_free(probe);
    return survey;
}

// ALPN (RFC 7301): the gateway speaks HTTP/1.1 (and 1.0). A client that offers protocols but
// neither of those gets the no_application_protocol alert rather than a connection it would use
// for another protocol (cross-protocol attacks such as ALPACA, where a TLS client meant for one
// service is made to talk to another that shares the certificate), as nginx does since 1.21.4.
// A client that offers no ALPN is served as before.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outLength, const unsigned char* offered,
               unsigned int offeredLength, void*)
{
    static constexpr std::string_view kPreferred[] = {"http/1.1", "http/1.0"};
    for (std::string_view wanted : kPreferred) {
        for (unsigned int at = 0; at < offeredLength;) {
            const unsigned int length = offered[at];
            if (at + 1 + length > offeredLength) {
                break;  // OpenSSL checks the list's framing; never read past it regardless
            }
            const std::string_view name(reinterpret_cast<const char*>(offered + at + 1), length);
            if (name == wanted) {
                *out = offered + at + 1;
                *outLength = static_cast<unsigned char>(length);
                return SSL_TLSEXT_ERR_OK;
            }
            at += 1 + length;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// `configured`: the listener's "ciphers" (TLS 1.2; empty: kDefaultCiphers); `suites13` its
// "ciphersuites" (TLS 1.3; empty: OpenSSL's).
SSL_CTX* newServerCtx(const std::string& cert, const std::string& key, int minVersion, const std::string& configured,
                      const std::string& suites13)
{
    const std::string ciphers = configured.empty() ? std::string(kDefaultCiphers) : configured;
    // Freed on every refusal below; released to the caller at the end.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> owned(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
    SSL_CTX* ctx = owned.get();
    if (ctx == nullptr) {
        throw std::runtime_error("cannot create a TLS context: " + opensslError());
    }
    SSL_CTX_set_min_proto_version(ctx, minVersion);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    // NO_AUTO_CHAIN: the chain sent is the certificate file's, as written. Without it OpenSSL
    // completes the chain from the trust store, which on an mTLS listener holds client_ca: the
    // chain (and whether a missing intermediate is noticed) would depend on the client CAs.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
        throw std::runtime_error("certificate " + cert + ": " + opensslError());
    }
    useKeyFile(ctx, key, "private key", cert);
    warnAboutDates(ctx, cert);
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
        throw std::runtime_error("ciphers '" + ciphers + "': " + opensslError());
    }
    if (!suites13.empty() && SSL_CTX_set_ciphersuites(ctx, suites13.c_str()) != 1) {
        throw std::runtime_error("ciphersuites '" + suites13 + "': " + opensslError());
    }
    const SuiteSurvey survey = surveySuites(ctx);
    if (!survey.unsafe.empty()) {
        throw std::runtime_error("ciphers '" + ciphers + "' (with ciphersuites '" + suites13 + "'): " + survey.unsafe +
                                 " encrypts nothing or authenticates no one; such suites are refused");
    }
    if (minVersion <= TLS1_2_VERSION && !survey.tls12Usable) {
        // "aNULL" or "eNULL" alone, only suites the security level removes, or only ECDSA suites
        // for an RSA key: every TLS 1.2 client would fail, silently.
        throw std::runtime_error("ciphers '" + ciphers + "' leave TLS 1.2 with no suite to negotiate with the key of " +
                                 cert + " (for TLS 1.3 only, set min_version TLSv1.3)");
    }
    SSL_CTX_set_alpn_select_cb(ctx, &selectAlpn, nullptr);
    return owned.release();
}

// The names a certificate is valid for (subjectAltName DNS entries, else the CN).
std::vector<std::string> certificateNames(SSL_CTX* ctx)
{
    std::vector<std::string> names;
    X509* x = SSL_CTX_get0_certificate(ctx);
    if (x == nullptr) {
        return names;
    }
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
            if (n->type == GEN_DNS) {
                const auto* data = ASN1_STRING_get0_data(n->d.dNSName);
                names.push_back(lower(std::string(reinterpret_cast<const char*>(data),
                                                  static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName)))));
            }
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        char cn[256] = {};
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0) {
            names.push_back(lower(cn));
        }
    }
    return names;
}

std::string fileBytes(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A session ID context (at most SSL_MAX_SID_CTX_LENGTH bytes) that stands for `material`.
bool sessionContextDigest(const std::string& material, std::vector<unsigned char>& digest)
{
    digest.resize(EVP_MAX_MD_SIZE);
    unsigned int length = 0;
    if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
        return false;
    }
    digest.resize(std::min<std::size_t>(length, SSL_MAX_SID_CTX_LENGTH));
    return true;
}

// The session ID context of one certificate context: a digest of everything a resumed session
// would otherwise carry over unchecked - the certificate served, client_auth and the client CA
// bundle's content, the protocol floor and the cipher list. OpenSSL resumes a session (session
// ID or ticket, TLS 1.2 or 1.3) only under the same context, so a session never crosses to
// another SNI certificate, nor to settings that would verify the client differently.
std::vector<unsigned char> sessionContext(SSL_CTX* ctx, const std::string& clientAuth, const std::string& clientCaBytes,
                                          int minVersion, const std::string& ciphers)
{
    std::string material = "sluice-tls-session\n" + clientAuth + "\n" + std::to_string(minVersion) + "\n" + ciphers +
                           "\n" + std::to_string(clientCaBytes.size()) + "\n" + clientCaBytes;
    if (X509* x = SSL_CTX_get0_certificate(ctx)) {
        unsigned char* der = nullptr;
        int length = i2d_X509(x, &der);
        if (length > 0) {
            material.append(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
        }
        OPENSSL_free(der);
    }
    std::vector<unsigned char> digest;
    if (!sessionContextDigest(material, digest)) {
        throw std::runtime_error("cannot digest the TLS session context: " + opensslError());
    }
    return digest;
}

// The host_name of the ClientHello's server_name extension, read before OpenSSL decides on
// resumption; false when there is none or it is malformed (OpenSSL's own parser then rejects it).
bool clientHelloServerName(SSL* ssl, std::string& name)
{
    const unsigned char* p = nullptr;
    std::size_t length = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &length) != 1 || length < 2) {
        return false;
    }
    std::size_t list = (static_cast<std::size_t>(p[0]) << 8) | p[1];
    if (list + 2 != length) {
        return false;
    }
    p += 2;
    while (list >= 3) {
        unsigned type = p[0];
        std::size_t n = (static_cast<std::size_t>(p[1]) << 8) | p[2];
        if (n + 3 > list) {
            return false;
        }
        if (type == TLSEXT_NAMETYPE_host_name) {
            name.assign(reinterpret_cast<const char*>(p + 3), n);
            return n > 0 && n <= TLSEXT_MAXLEN_host_name && name.find('\0') == std::string::npos;
        }
        p += n + 3;
        list -= n + 3;
    }
    return false;
}

// How often a listener's session ticket key is replaced by default (and at most, by the schema):
// a ticket opens for one to two hours, within the two hours OpenSSL gives a session.
constexpr int kTicketRotationSeconds = 3600;

bool nameMatches(const std::string& pattern, const std::string& name)
{
    if (pattern == name) {
        return true;
    }
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
        std::size_t dot = name.find('.');
        return dot != std::string::npos && name.compare(dot, std::string::npos, pattern, 1, std::string::npos) == 0;
    }
    return false;
}

// Whether the PEM file at `path` holds at least one certificate (its lists and keys aside). A
// file SSL_CTX_load_verify_locations accepts may hold none: only revocation lists, for instance.
bool holdsCertificate(const std::string& path)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(path.c_str(), "r"), &BIO_free);
    if (!in) {
        ERR_clear_error();
        return false;
    }
    STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(in.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    bool found = false;
    for (int i = 0; infos != nullptr && i < sk_X509_INFO_num(infos); ++i) {
        found = found || sk_X509_INFO_value(infos, i)->x509 != nullptr;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    return found;
}

using CrlList = std::vector<std::unique_ptr<X509_CRL, decltype(&X509_CRL_free)>>;

// The certificate revocation lists in the PEM file `path` (at least one, or an error naming the
// setting `key` and the file), for checking the certificates of `whose`.
CrlList readCrls(const std::string& path, const char* key, const char* whose)
{
    CrlList crls;
    const std::string where = std::string(key) + " " + path;
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(path.c_str(), "r"), &BIO_free);
    if (!in) {
        throw std::runtime_error(where + ": " + opensslError());
    }
    ERR_clear_error();
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(in.get(), nullptr, nullptr, nullptr)) {
        crls.emplace_back(crl, &X509_CRL_free);
    }
    const unsigned long last = ERR_peek_last_error();
    if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // the end of the file
    } else if (last != 0) {
        throw std::runtime_error(where + ": " + opensslError());
    }
    if (crls.empty()) {
        throw std::runtime_error(where + ": no certificate revocation list (PEM, X509 CRL) in it");
    }
    for (const auto& crl : crls) {
        const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
        if (next != nullptr && X509_cmp_current_time(next) < 0) {
            Logging::get("tls")->warn(
                "{}: a list is past its next update ({}): every {} certificate from its issuer "
                "is refused until a new list is loaded",
                where, asn1TimeText(next), whose);
        }
    }
    return crls;
}

// Checks every certificate of a peer's chain against its issuer's list in `crls`, as nginx's
// ssl_crl and proxy_ssl_crl do: a CA without a list fails verification ("unable to get
// certificate CRL"), and so does a list past its next update.
void useCrls(SSL_CTX* ctx, const CrlList& crls, const std::string& where)
{
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& crl : crls) {
        if (X509_STORE_add_crl(store, crl.get()) != 1) {
            throw std::runtime_error(where + ": " + opensslError());
        }
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

}  // namespace

std::shared_ptr<TlsServerContext> TlsServerContext::create(const Poco::Dynamic::Var& tlsVar, const std::string& baseDir)
{
    auto tls = tlsVar.extract<Poco::JSON::Object::Ptr>();
    auto context = std::shared_ptr<TlsServerContext>(new TlsServerContext());
    int minVersion =
        tls->optValue<std::string>("min_version", "TLSv1.2") == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    std::string ciphers = tls->optValue<std::string>("ciphers", "");
    std::string suites13 = tls->optValue<std::string>("ciphersuites", "");
    context->_clientAuth = tls->optValue<std::string>("client_auth", "none");
    std::string clientCa = tls->has("client_ca") ? resolvePath(baseDir, tls->getValue<std::string>("client_ca")) : "";
    if (context->_clientAuth != "none" && clientCa.empty()) {
        throw std::runtime_error("client_auth '" + context->_clientAuth + "' needs client_ca (a CA bundle)");
    }
    if (context->_clientAuth == "none" && tls->has("client_ca")) {
        throw std::runtime_error("client_ca is set but client_auth is 'none': no client certificate is asked for");
    }
    std::string clientCaBytes;
    if (context->_clientAuth != "none") {
        clientCaBytes = fileBytes(clientCa);
    }
    const std::string clientCrl =
        tls->has("client_crl") ? resolvePath(baseDir, tls->getValue<std::string>("client_crl")) : "";
    if (!clientCrl.empty() && context->_clientAuth == "none") {
        throw std::runtime_error("client_crl is set but client_auth is 'none': no client certificate is checked");
    }
    const CrlList crls = clientCrl.empty() ? CrlList() : readCrls(clientCrl, "client_crl", "client");
    if (!clientCrl.empty()) {
        // A session made before a revocation must not resume under the new list (a reload).
        clientCaBytes += "\n" + fileBytes(clientCrl);
    }
    context->_ticketKeys = std::make_unique<TicketKeys>(
        std::chrono::seconds(tls->optValue<int>("session_ticket_rotation_s", kTicketRotationSeconds)));
    auto certs = tls->getArray("certificates");
    for (unsigned i = 0; i < certs->size(); ++i) {
        auto entry = certs->getObject(i);
        std::string cert = resolvePath(baseDir, entry->getValue<std::string>("certificate"));
        std::string key = resolvePath(baseDir, entry->getValue<std::string>("key"));
        Certificate c;
        c.ctx = newServerCtx(cert, key, minVersion, ciphers, suites13);
        context->_certificates.push_back(c);  // owned from here on (freed by the destructor)
        if (entry->has("server_names")) {
            auto names = entry->getArray("server_names");
            for (unsigned n = 0; n < names->size(); ++n) {
                const std::string name = lower(names->getElement<std::string>(n));
                // The first certificate that names it would always win: the other's is dead.
                for (std::size_t earlier = 0; earlier + 1 < context->_certificates.size(); ++earlier) {
                    const auto& taken = context->_certificates[earlier].names;
                    if (std::find(taken.begin(), taken.end(), name) != taken.end()) {
                        throw std::runtime_error("certificates/" + std::to_string(i) + ": server name '" + name +
                                                 "' is already certificate " + std::to_string(earlier) + "'s");
                    }
                }
                context->_certificates.back().names.push_back(name);
            }
        } else {
            context->_certificates.back().names = certificateNames(c.ctx);
        }
        if (context->_clientAuth != "none") {
            int mode = SSL_VERIFY_PEER | (context->_clientAuth == "required" ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
            if (SSL_CTX_load_verify_locations(c.ctx, clientCa.c_str(), nullptr) != 1) {
                throw std::runtime_error("client_ca " + clientCa + ": " + opensslError());
            }
            if (!holdsCertificate(clientCa)) {
                throw std::runtime_error("client_ca " + clientCa +
                                         ": no certificate (PEM) in it: every client certificate would be refused");
            }
            if (!crls.empty()) {
                useCrls(c.ctx, crls, "client_crl " + clientCrl);
            }
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(clientCa.c_str());
            if (names != nullptr) {
                SSL_CTX_set_client_CA_list(c.ctx, names);
            }
            // "optional" (as nginx's ssl_verify_client optional): a client may send no certificate,
            // but one it sends must verify, else the handshake fails (unknown_ca, bad_certificate,
            // ...) - a client presenting a certificate is never served as anonymous instead.
            SSL_CTX_set_verify(c.ctx, mode, nullptr);
            SSL_CTX_set_verify_depth(c.ctx, 8);
        }
        // The certificate is chosen from the ClientHello before OpenSSL looks at a session the
        // client offers, so that the session ID context it checks is the chosen certificate's.
        SSL_CTX_set_client_hello_cb(c.ctx, &TlsServerContext::onClientHello, context.get());
        SSL_CTX_set_tlsext_servername_callback(c.ctx, &TlsServerContext::onServerName);
        SSL_CTX_set_tlsext_servername_arg(c.ctx, context.get());
        TicketKeys::install(c.ctx, context->_ticketKeys.get());
        auto& sid = context->_certificates.back().sessionContext;
        sid = sessionContext(c.ctx, context->_clientAuth, clientCaBytes, minVersion, ciphers + "\n" + suites13);
        if (SSL_CTX_set_session_id_context(c.ctx, sid.data(), static_cast<unsigned>(sid.size())) != 1) {
            throw std::runtime_error("cannot set the TLS session context: " + opensslError());
        }
    }
    return context;
}

TlsServerContext::~TlsServerContext()
{
    for (auto& c : _certificates) {
        SSL_CTX_free(c.ctx);
    }
}

const TlsServerContext::Certificate& TlsServerContext::select(const std::string& name) const
{
    for (const auto& c : _certificates) {
        for (const auto& pattern : c.names) {
            if (pattern == name) {
                return c;
            }
        }
    }
    for (const auto& c : _certificates) {
        for (const auto& pattern : c.names) {
            if (nameMatches(pattern, name)) {
                return c;
            }
        }
    }
    return _certificates.front();
}

void TlsServerContext::use(SSL* ssl, const Certificate& chosen)
{
    if (chosen.ctx == SSL_get_SSL_CTX(ssl)) {
        return;
    }
    // SSL_set_SSL_CTX does not copy the verification settings; the session ID context is set by
    // the caller.
    SSL_set_SSL_CTX(ssl, chosen.ctx);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(chosen.ctx), SSL_CTX_get_verify_callback(chosen.ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(chosen.ctx));
}

int TlsServerContext::onClientHello(SSL* ssl, int* alert, void* arg)
{
    const auto* self = static_cast<const TlsServerContext*>(arg);
    std::string name;
    if (!clientHelloServerName(ssl, name)) {
        // The first certificate, under its own session context (set again: after a
        // HelloRetryRequest this is the second hello, and the first may have named another).
        const Certificate& first = self->_certificates.front();
        use(ssl, first);
        if (SSL_set_session_id_context(ssl, first.sessionContext.data(),
                                       static_cast<unsigned>(first.sessionContext.size())) != 1) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if (auto* stream = static_cast<TlsStream*>(SSL_get_app_data(ssl))) {
        stream->_helloServerName = name;
    }
    name = lower(name);
    if (name.size() > 1 && name.back() == '.') {
        name.pop_back();  // "a.test." names a.test (RFC 6066 forbids the dot; some clients send it)
    }
    const Certificate& chosen = self->select(name);
    use(ssl, chosen);
    // A session resumes only under the name it was made for (RFC 6066 §3: a full handshake when
    // the name differs), even where one certificate serves both names: the session context is
    // the certificate's and the name's.
    std::string material(chosen.sessionContext.begin(), chosen.sessionContext.end());
    material.append("\nserver name\n").append(name);
    std::vector<unsigned char> sid;
    if (!sessionContextDigest(material, sid) ||
        SSL_set_session_id_context(ssl, sid.data(), static_cast<unsigned>(sid.size())) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

int TlsServerContext::onServerName(SSL*, int*, void*)
{
    // The certificate was chosen from the ClientHello (onClientHello), before resumption was
    // decided; switching here would come too late. This only acknowledges the name.
    return SSL_TLSEXT_ERR_OK;
}

std::unique_ptr<TlsStream> TlsServerContext::accept(int fd) const
{
    SSL* ssl = SSL_new(_certificates.front().ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_accept_state(ssl);
    return std::make_unique<TlsStream>(fd, ssl, shared_from_this());
}

std::uint64_t TlsClientContext::nextId() noexcept
{
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<TlsClientContext> TlsClientContext::create(const Options& options)
{
    auto context = std::shared_ptr<TlsClientContext>(new TlsClientContext());
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) {
        throw std::runtime_error("cannot create a TLS client context: " + opensslError());
    }
    context->_ctx = ctx;
    context->_verify = options.verify;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (options.verify) {
        int ok = options.caFile.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                        : SSL_CTX_load_verify_locations(ctx, options.caFile.c_str(), nullptr);
        if (ok != 1) {
            throw std::runtime_error("CA bundle " +
                                     (options.caFile.empty() ? std::string("(system)") : options.caFile) + ": " +
                                     opensslError());
        }
        if (!options.caFile.empty() && !holdsCertificate(options.caFile)) {
            throw std::runtime_error("CA bundle " + options.caFile +
                                     ": no certificate (PEM) in it: every backend certificate would be refused");
        }
        // A name is checked against the subjectAltName only, never the subject's CN (RFC 9525
        // §6.3; browsers and curl do the same); partial wildcards ("a*.example.com") match nothing.
        X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx),
                                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!options.crlFile.empty()) {
            useCrls(ctx, readCrls(options.crlFile, "crl", "backend"), "crl " + options.crlFile);
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (!options.clientCertificate.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, options.clientCertificate.c_str()) != 1) {
            throw std::runtime_error("client certificate " + options.clientCertificate + ": " + opensslError());
        }
        useKeyFile(ctx, options.clientKey, "client key", options.clientCertificate);
    }
    return context;
}

std::shared_ptr<TlsClientContext> TlsClientContext::systemDefault()
{
    static std::shared_ptr<TlsClientContext> context = create(Options{});
    return context;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(_ctx); }

SSL* TlsClientContext::newSession(int fd, const std::string& serverName) const
{
    if (serverName.empty() && _verify) {
        ERR_raise_data(ERR_LIB_SSL, ERR_R_PASSED_INVALID_ARGUMENT, "no server name to verify");
        return nullptr;
    }
    SSL* ssl = SSL_new(_ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    // An IP literal is verified against the certificate's IP addresses and sent no SNI (RFC 6066).
    // Only a canonical literal counts: "127.1" or "2130706433" (which the resolver also takes for
    // 127.0.0.1) are checked as DNS names, which no certificate matches - never left unchecked.
    unsigned char ip[16];
    std::string bare = serverName.size() > 2 && serverName.front() == '[' && serverName.back() == ']'
                           ? serverName.substr(1, serverName.size() - 2)
                           : serverName;
    bool isIp = ::inet_pton(AF_INET, bare.c_str(), ip) == 1 || ::inet_pton(AF_INET6, bare.c_str(), ip) == 1;
    bool addressLike =
        serverName.find_first_not_of("0123456789.") == std::string::npos || serverName.find(':') != std::string::npos;
    bool ok = true;
    if (!isIp && !addressLike && !serverName.empty()) {
        ok = SSL_set_tlsext_host_name(ssl, serverName.c_str()) == 1;
    }
    if (_verify && ok) {
        // A name or address that cannot be set is a failed session, not an unchecked one.
        ok = isIp ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), bare.c_str()) == 1
                  : SSL_set1_host(ssl, serverName.c_str()) == 1;
    }
    if (!ok) {
        ERR_raise_data(ERR_LIB_SSL, ERR_R_PASSED_INVALID_ARGUMENT, "cannot verify the server name '%s'",
                       serverName.c_str());
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

TlsStream::TlsStream(int fd, SSL* ssl, bool server) : Stream(fd), _ssl(ssl), _server(server) { (void)_server; }

TlsStream::TlsStream(int fd, SSL* ssl, std::shared_ptr<const TlsServerContext> context)
    : Stream(fd), _ssl(ssl), _server(true), _serverContext(std::move(context))
{
    SSL_set_app_data(_ssl, this);  // for onClientHello
}

void TlsStream::abandon()
{
    SSL_set_quiet_shutdown(_ssl, 1);  // SSL_shutdown() then sends nothing
}

void TlsStream::closeSocket()
{
    if (_done && fd() >= 0) {
        SSL_shutdown(_ssl);  // best effort close_notify; never waits
        _done = false;       // not again at destruction, when the descriptor may be another's
    }
    Stream::closeSocket();
}

TlsStream::~TlsStream()
{
    if (_done) {
        SSL_shutdown(_ssl);  // best effort close_notify; never waits
    }
    SSL_free(_ssl);
}

IoResult TlsStream::fromSslError(int rc)
{
    int err = SSL_get_error(_ssl, rc);
    switch (err) {
        case SSL_ERROR_WANT_READ: _wantRead = true; return {IoStatus::WouldBlock, 0, 0};
        case SSL_ERROR_WANT_WRITE: return {IoStatus::WouldBlock, 0, 0};
        case SSL_ERROR_ZERO_RETURN: return {IoStatus::Eof, 0, 0};
        case SSL_ERROR_SYSCALL: ERR_clear_error(); return {errno == 0 ? IoStatus::Eof : IoStatus::Error, 0, errno};
        default: ERR_clear_error(); return {IoStatus::Error, 0, EPROTO};
    }
}

IoResult TlsStream::handshake()
{
    if (_done) {
        return {};
    }
    if (_server && !_firstByteSeen) {
        // A TLS record starts with its content type (0x16 for a handshake); an HTTP request
        // starts with a method in capitals. OpenSSL itself recognises only a few methods.
        // OpenSSL is not called before that byte is here: bytes that arrive between an empty
        // peek and its read would reach it unseen, and a method it does not know would be
        // refused as a bad record instead of answered.
        unsigned char first = 0;
        const ssize_t n = ::recv(_fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) {
            return {IoStatus::Eof, 0, 0};
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                _wantRead = true;
                return {IoStatus::WouldBlock, 0, 0};
            }
            return {IoStatus::Error, 0, errno};
        }
        _firstByteSeen = true;
        if (first >= 'A' && first <= 'Z') {
            _plainHttp = true;
            return {IoStatus::Error, 0, EPROTO};
        }
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(_ssl);
    if (rc == 1) {
        _done = true;
        return {};
    }
    if (_server && SSL_get_error(_ssl, rc) == SSL_ERROR_SSL) {
        const int reason = ERR_GET_REASON(ERR_peek_error());
        _plainHttp = reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST;
    }
    noteHandshakeFailure(rc);
    return fromSslError(rc);
}

std::string TlsStream::requestedServerName() const
{
    // Taken from the ClientHello (onClientHello): OpenSSL's own record of it comes only after a
    // version check, which is the most common refusal.
    constexpr std::size_t kLongest = 255;
    std::string shown = _helloServerName.substr(0, kLongest);
    for (char& c : shown) {
        if (c < 0x21 || c > 0x7e) {
            c = '?';  // a log line is no place for control bytes from the network
        }
    }
    return shown;
}

// Before fromSslError() clears OpenSSL's queue: what an operator needs to fix the failure.
void TlsStream::noteHandshakeFailure(int rc)
{
    const int savedErrno = errno;
    const int err = SSL_get_error(_ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return;
    }
    // OpenSSL 3 reports a peer that closed in the middle of the handshake as a protocol error:
    // a client that left (a scanner, a cancelled page), not one the gateway refused.
    bool leftEarly = false;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    leftEarly = err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#endif
    _handshakeRefused = err == SSL_ERROR_SSL && !leftEarly;
    const long verify = SSL_get_verify_result(_ssl);
    if (leftEarly) {
        _handshakeFailure = "the peer closed the connection during the handshake";
    } else if (verify != X509_V_OK) {
        _handshakeFailure = std::string(_server ? "client " : "") +
                            "certificate verification failed: " + X509_verify_cert_error_string(verify);
    } else if (err == SSL_ERROR_SSL) {
        const char* reason = ERR_reason_error_string(ERR_peek_error());
        _handshakeFailure = reason != nullptr ? reason : "TLS protocol error";
    } else if (err == SSL_ERROR_SYSCALL && savedErrno != 0) {
        _handshakeFailure = std::strerror(savedErrno);
    } else {
        _handshakeFailure = "the peer closed the connection during the handshake";
    }
    errno = savedErrno;
}

IoResult TlsStream::read(char* buffer, std::size_t length)
{
    _wantRead = false;
    ERR_clear_error();
    std::size_t n = 0;
    int rc = SSL_read_ex(_ssl, buffer, length, &n);
    if (rc == 1) {
        return {IoStatus::Ok, n, 0};
    }
    if (SSL_get_error(_ssl, rc) == SSL_ERROR_SSL) {
        const char* reason = ERR_reason_error_string(ERR_peek_last_error());
        _readFailure = reason != nullptr ? reason : "TLS protocol error";
    }
    return fromSslError(rc);
}

bool TlsStream::inputPending()
{
    // SSL_peek processes what is not application data (a TLS 1.3 session ticket, say) and leaves
    // the rest for read().
    ERR_clear_error();
    char probe;
    std::size_t n = 0;
    if (SSL_peek_ex(_ssl, &probe, 1, &n) == 1) {
        return true;
    }
    const int error = SSL_get_error(_ssl, 0);
    ERR_clear_error();
    return error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;
}

Stream::PeerState TlsStream::peerState()
{
    ERR_clear_error();
    char probe;
    std::size_t n = 0;
    if (SSL_peek_ex(_ssl, &probe, 1, &n) == 1) {
        return PeerState::Open;
    }
    const int error = SSL_get_error(_ssl, 0);
    ERR_clear_error();
    switch (error) {
        case SSL_ERROR_ZERO_RETURN:
            return PeerState::Ended;  // close_notify: the answer may still be written
        // A reset, or a FIN without close_notify (a truncation): fatal for the TLS connection,
        // nothing can be written on it any more.
        case SSL_ERROR_SYSCALL:
        case SSL_ERROR_SSL: return PeerState::Reset;
        default: return PeerState::Open;
    }
}

// Writes as a socket does: as much as it can, stopping only when TLS would block. With partial
// writes on, SSL_write_ex may take one record (16 KiB) of a longer buffer and succeed; stopping
// there would read as "the socket is full" to a caller that then waits for a writable event that
// never comes.
IoResult TlsStream::writev(const iovec* parts, int count)
{
    _wantRead = false;
    std::size_t total = 0;
    for (int i = 0; i < count; ++i) {
        std::size_t done = 0;
        while (done < parts[i].iov_len) {
            ERR_clear_error();
            std::size_t n = 0;
            int rc =
                SSL_write_ex(_ssl, static_cast<const char*>(parts[i].iov_base) + done, parts[i].iov_len - done, &n);
            if (rc != 1) {
                IoResult r = fromSslError(rc);
                if (total > 0 && r.status == IoStatus::WouldBlock) {
                    return {IoStatus::Ok, total, 0};
                }
                return r;
            }
            done += n;
            total += n;
        }
    }
    return {IoStatus::Ok, total, 0};
}

std::string TlsStream::peerCertificatePem() const
{
    X509* cert = SSL_get1_peer_certificate(_ssl);
    if (cert == nullptr) {
        return {};
    }
    std::string pem;
    if (SSL_get_verify_result(_ssl) == X509_V_OK) {
        BIO* bio = BIO_new(BIO_s_mem());
        if (bio != nullptr && PEM_write_bio_X509(bio, cert) == 1) {
            char* data = nullptr;
            long len = BIO_get_mem_data(bio, &data);
            pem.assign(data, static_cast<std::size_t>(len));
        }
        BIO_free(bio);
    }
    X509_free(cert);
    return pem;
}

}  // namespace sluice::runtime::transport
