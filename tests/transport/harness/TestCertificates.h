#pragma once

// A temporary PKI made with the openssl tool, for the TLS tests: the root CA "ca"
// (CN=SluiceTestCA), the server certificate "server" (CN=localhost, SAN localhost and 127.0.0.1)
// and the client certificate "client" (CN=client1), both issued by the root; further ones on
// demand. Keys are EC P-256 (fast to make) unless RSA is asked for. The directory is removed
// with the object.

#include <string>
#include <vector>

namespace sluice::transport_test {

class TestCertificates {
public:
    TestCertificates();
    ~TestCertificates();
    TestCertificates(const TestCertificates&) = delete;
    TestCertificates& operator=(const TestCertificates&) = delete;

    std::string path(const std::string& name) const { return _dir + "/" + name; }

    // A self-signed CA: <name>.pem, <name>.key.
    void root(const std::string& name, const std::string& cn) const;
    // An intermediate CA issued by `issuer`.
    void intermediate(const std::string& name, const std::string& cn, const std::string& issuer) const;
    // An end-entity certificate issued by `issuer`; `sans` like "DNS:a.test" (empty: none);
    // `days` -1 makes one that has already expired; `rsa` an RSA-2048 key instead of EC.
    void leaf(const std::string& name, const std::string& cn, const std::string& sans, const std::string& issuer,
              int days = 2, bool rsa = false) const;
    // An end-entity certificate issued by `issuer` that is valid only from 2090 on (`openssl ca`:
    // `openssl x509` cannot date one ahead).
    void futureLeaf(const std::string& name, const std::string& cn, const std::string& issuer) const;
    // A self-signed end-entity certificate (what a backend with a home-made certificate has).
    void selfSigned(const std::string& name, const std::string& cn, const std::string& sans) const;
    // A certificate revocation list <name>.pem signed by `issuer`, revoking the certificates
    // <revoked>.pem; valid for a week, or (`expired`) one whose next update has passed.
    void crl(const std::string& name, const std::string& issuer, const std::vector<std::string>& revoked,
             bool expired = false) const;
    // Concatenates PEM files into `name` (a chain file).
    void bundle(const std::string& name, const std::vector<std::string>& parts) const;

    // A listener "tls" block serving "server", with client authentication against `clientCa`.
    std::string listener(const std::string& clientAuth = "none", const std::string& clientCa = "ca.pem") const;
    // A listener "tls" block with one certificate per entry (files in this directory; the first
    // is the default one).
    struct Entry {
        std::string certificate;
        std::string key;
        std::string serverNames;  // JSON array text; empty: taken from the certificate
    };
    // `extra`: further members of the block, e.g. R"("ciphers": "...")".
    std::string listenerWith(const std::vector<Entry>& entries, const std::string& clientAuth = "none",
                             const std::string& clientCa = "ca.pem", const std::string& minVersion = "TLSv1.2",
                             const std::string& extra = "") const;
    // The same for certificates named by their stem (<name>.pem with <name>.key).
    std::string listenerOf(const std::vector<std::string>& names, const std::string& clientAuth = "none",
                           const std::string& clientCa = "ca.pem", const std::string& extra = "") const;

    // Runs `command` in this directory; its exit status.
    int shell(const std::string& command) const;

private:
    void issue(const std::string& name, const std::string& cn, const std::string& issuer, const std::string& ext,
               int days = 2, bool rsa = false) const;
    void run(const std::string& command) const;
    // `openssl ca` with a fresh database <name>.* for `issuer`: the command line up to its action.
    std::string caCommand(const std::string& name, const std::string& issuer) const;

    std::string _dir;
};

}  // namespace sluice::transport_test
