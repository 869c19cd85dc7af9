#include "TestCertificates.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

namespace sluice::transport_test {

namespace {
constexpr const char* kEcKey = "ec -pkeyopt ec_paramgen_curve:prime256v1";
}  // namespace

TestCertificates::TestCertificates()
{
    char pattern[] = "/tmp/sluice-tls-XXXXXX";
    const char* dir = ::mkdtemp(pattern);
    REQUIRE(dir != nullptr);
    _dir = dir;
    root("ca", "SluiceTestCA");
    leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1", "ca");
    leaf("client", "client1", "", "ca");
}

TestCertificates::~TestCertificates()
{
    std::error_code ignored;
    std::filesystem::remove_all(_dir, ignored);
}

void TestCertificates::root(const std::string& name, const std::string& cn) const
{
    run(std::string("openssl req -x509 -newkey ") + kEcKey + " -nodes -keyout " + name + ".key -out " + name +
        ".pem -days 2 -subj /CN=" + cn);
}

void TestCertificates::intermediate(const std::string& name, const std::string& cn, const std::string& issuer) const
{
    issue(name, cn, issuer, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
}

void TestCertificates::leaf(const std::string& name, const std::string& cn, const std::string& sans,
                            const std::string& issuer, int days, bool rsa) const
{
    std::string ext = "basicConstraints=CA:FALSE\n";
    if (!sans.empty()) {
        ext += "subjectAltName=" + sans + "\n";
    }
    issue(name, cn, issuer, ext, days, rsa);
}

void TestCertificates::selfSigned(const std::string& name, const std::string& cn, const std::string& sans) const
{
    run(std::string("openssl req -x509 -newkey ") + kEcKey + " -nodes -keyout " + name + ".key -out " + name +
        ".pem -days 2 -subj /CN=" + cn + " -addext basicConstraints=critical,CA:FALSE -addext subjectAltName=" + sans);
}

std::string TestCertificates::caCommand(const std::string& name, const std::string& issuer) const
{
    // `openssl ca` keeps what it issued and revoked in a database of its own (one per `name`),
    // with one counter file for certificate serials and list numbers.
    {
        std::ofstream cnf(path(name + ".cnf"), std::ios::trunc);
        cnf << "[ca]\ndefault_ca = d\n[d]\ndatabase = " << name << ".index\nnew_certs_dir = .\nserial = " << name
            << ".counter\ncrlnumber = " << name << ".counter\ndefault_md = sha256\ndefault_crl_days = 7\npolicy = p\n"
            << "unique_subject = no\n[p]\ncommonName = supplied\n";
        std::ofstream(path(name + ".index"), std::ios::trunc);
        std::ofstream(path(name + ".counter"), std::ios::trunc) << "01\n";
        REQUIRE_MESSAGE(cnf, name);
    }
    return "openssl ca -batch -config " + name + ".cnf -keyfile " + issuer + ".key -cert " + issuer + ".pem";
}

void TestCertificates::futureLeaf(const std::string& name, const std::string& cn, const std::string& issuer) const
{
    run(std::string("openssl req -newkey ") + kEcKey + " -nodes -keyout " + name + ".key -out " + name +
        ".csr -subj /CN=" + cn);
    run(caCommand(name, issuer) + " -in " + name + ".csr -out " + name +
        ".pem -startdate 20900101000000Z -enddate 20900201000000Z");
}

void TestCertificates::crl(const std::string& name, const std::string& issuer, const std::vector<std::string>& revoked,
                           bool expired) const
{
    const std::string ca = caCommand(name, issuer);
    for (const auto& r : revoked) {
        run(ca + " -revoke " + r + ".pem");
    }
    run(ca + " -gencrl -out " + name + ".pem" +
        (expired ? " -crl_lastupdate 20200101000000Z -crl_nextupdate 20200108000000Z" : ""));
}

void TestCertificates::bundle(const std::string& name, const std::vector<std::string>& parts) const
{
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    for (const auto& p : parts) {
        std::ifstream in(path(p), std::ios::binary);
        REQUIRE_MESSAGE(in, p);
        out << in.rdbuf();
    }
    REQUIRE_MESSAGE(out, name);
}

std::string TestCertificates::listener(const std::string& clientAuth, const std::string& clientCa) const
{
    return listenerWith({{"server.pem", "server.key", ""}}, clientAuth, clientCa);
}

std::string TestCertificates::listenerWith(const std::vector<Entry>& entries, const std::string& clientAuth,
                                           const std::string& clientCa, const std::string& minVersion,
                                           const std::string& extra) const
{
    std::string tls = R"({"certificates": [)";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        tls += (i == 0 ? "" : ", ") + std::string(R"({"certificate": ")") + path(entries[i].certificate) +
               R"(", "key": ")" + path(entries[i].key) + "\"";
        if (!entries[i].serverNames.empty()) {
            tls += R"(, "server_names": )" + entries[i].serverNames;
        }
        tls += "}";
    }
    tls += R"(], "min_version": ")" + minVersion + "\"";
    if (!extra.empty()) {
        tls += ", " + extra;
    }
    if (clientAuth != "none") {
        tls += R"(, "client_auth": ")" + clientAuth + R"(", "client_ca": ")" + path(clientCa) + "\"";
    }
    return tls + "}";
}

std::string TestCertificates::listenerOf(const std::vector<std::string>& names, const std::string& clientAuth,
                                         const std::string& clientCa, const std::string& extra) const
{
    std::vector<Entry> entries;
    for (const auto& name : names) {
        entries.push_back({name + ".pem", name + ".key", ""});
    }
    return listenerWith(entries, clientAuth, clientCa, "TLSv1.2", extra);
}

int TestCertificates::shell(const std::string& command) const
{
    const std::string full = "cd " + _dir + " && " + command;
    return std::system(full.c_str());
}

void TestCertificates::issue(const std::string& name, const std::string& cn, const std::string& issuer,
                             const std::string& ext, int days, bool rsa) const
{
    {
        std::ofstream out(path(name + ".ext"), std::ios::trunc);
        out << ext;
        REQUIRE_MESSAGE(out, (name + ".ext"));
    }
    run("openssl req -newkey " + std::string(rsa ? "rsa:2048" : kEcKey) + " -nodes -keyout " + name + ".key -out " +
        name + ".csr -subj /CN=" + cn);
    run("openssl x509 -req -in " + name + ".csr -CA " + issuer + ".pem -CAkey " + issuer +
        ".key -CAcreateserial -out " + name + ".pem -days " + std::to_string(days) + " -extfile " + name + ".ext");
}

void TestCertificates::run(const std::string& command) const
{
    REQUIRE_MESSAGE(shell(command + " > /dev/null 2>&1") == 0, command);
}

}  // namespace sluice::transport_test
