// Upstream TLS contexts are told apart by an id that is never reused: pools key idle connections
// by it, and those connections outlive the configuration (and the context) that made them.
#include "sluice/runtime/transport/Tls.h"

#include <cstdint>
#include <set>

#include <doctest/doctest.h>

using sluice::runtime::transport::TlsClientContext;

TEST_CASE("TlsClientContext: a new context never gets the id of a freed one, even at its address")
{
    std::set<std::uint64_t> ids;
    bool addressReused = false;
    const void* first = nullptr;
    for (int i = 0; i < 20; ++i) {
        TlsClientContext::Options options;
        options.verify = i % 2 == 0;
        auto context = TlsClientContext::create(options);
        REQUIRE(context != nullptr);
        addressReused = addressReused || (first != nullptr && context.get() == first);
        first = first == nullptr ? context.get() : first;
        CHECK(ids.insert(context->id()).second);
    }  // each context is freed before the next is made
    INFO("a freed context's address came back: " << addressReused);
    CHECK(ids.size() == 20);
}
