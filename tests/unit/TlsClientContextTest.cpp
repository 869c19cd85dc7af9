// Upstream pools key idle connections by endpoint and TLS settings, and those connections outlive
// the configuration (and the TLS context) that made them: a context made after a reload must
// never share a key with a freed one, even when it lands at the freed one's address.
#include "sluice/runtime/transport/Tls.h"

#include <string>

#include <doctest/doctest.h>

#include "sluice/runtime/upstream/EndpointSet.h"

using namespace sluice::runtime;

namespace {

// The pool key of the one endpoint of an API at https://127.0.0.1:9443 with `verify`.
std::string poolKeyOf(bool verify)
{
    ApiConfig api;
    api.file = "/etc/sluice-test/apis/tls.json";
    api.name = "Tls";
    api.version = "v1";
    api.tlsVerify = verify;
    api.endpoints.push_back({"https://127.0.0.1:9443", 1, "", ""});
    std::vector<ConfigError> errors;
    auto set = upstream::EndpointSet::build(api, errors);
    REQUIRE(errors.empty());
    REQUIRE(set->endpoints().size() == 1);
    return set->endpoints().front()->target().poolKey;
}  // the set, and with it the TLS context, is freed here

}  // namespace

TEST_CASE("TlsClientContext: a configuration built after another never shares its TLS pool key")
{
    // Alternating settings, each set freed before the next is built (as a reload does): the
    // allocator tends to hand the next context the freed one's address.
    std::string previous = poolKeyOf(false);
    for (int i = 1; i <= 10; ++i) {
        CAPTURE(i);
        const std::string key = poolKeyOf(i % 2 == 0);
        CHECK(key != previous);
        previous = key;
    }
}
