// Endpoint host names are looked up again while the configuration serves (resolver.refresh_ms):
// a backend that moves to another address is followed without a reload. sluiced gets an
// /etc/hosts of its own (a mount namespace, see GatewaySpec::hostsFile) that the test rewrites.
#include <string>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// Backends "first" on 127.0.0.1 and "second" on 127.0.0.2, on the same port, and a hosts file
// in which backend.sluice.test is the first.
struct MovingBackend {
    ScriptedBackend first{echo("first")};
    ScriptedBackend second{echo("second"), elsewhere(first.port())};
    TempFile hosts;

    MovingBackend() { hosts.write("127.0.0.1 backend.sluice.test\n"); }
    static BackendOptions elsewhere(int port)
    {
        BackendOptions options;
        options.address = "127.0.0.2";
        options.port = port;
        return options;
    }
    // A gateway with one API in front of http://backend.sluice.test:PORT, seeing `hosts`.
    GatewaySpec gateway(int refreshMs) const
    {
        GatewaySpec spec = oneApi("/svc", endpointList({"http://backend.sluice.test:" + std::to_string(first.port())}));
        spec.resolver = R"({"refresh_ms": )" + std::to_string(refreshMs) + "}";
        spec.hostsFile = hosts.path();
        return spec;
    }
};

// two.sluice.test has two addresses: 127.0.0.1:PORT, which refuses connections, then
// 127.0.0.2:PORT, where the backend "second" listens.
struct TwoAddressName {
    ClosedPort refusing;
    ScriptedBackend second{echo("second"), MovingBackend::elsewhere(refusing.port())};
    TempFile hosts;

    TwoAddressName() { hosts.write("127.0.0.1 two.sluice.test\n127.0.0.2 two.sluice.test\n"); }
    std::string url() const { return "http://two.sluice.test:" + std::to_string(refusing.port()); }
    // One API in front of the name, then `others`, seeing `hosts`.
    GatewaySpec gateway(std::vector<std::string> others = {}) const
    {
        others.insert(others.begin(), url());
        GatewaySpec spec = oneApi("/svc", endpointList(others));
        spec.resolver = R"({"refresh_ms": 0})";
        spec.hostsFile = hosts.path();
        return spec;
    }
};

}  // namespace

TEST_CASE("resolver: new connections follow a host name to its new address, and a failed lookup keeps the old one")
{
    if (!privateHostsSupported()) {
        MESSAGE("not run: this process may not create mount namespaces (CAP_SYS_ADMIN)");
        return;
    }
    MovingBackend backends;
    ScriptedBackend& first = backends.first;
    TempFile& hosts = backends.hosts;
    SluicedProcess gw(backends.gateway(100));

    RawClient client(gw.port());
    auto before = client.exchange(getRequest("/svc/v1/a"));
    REQUIRE_MESSAGE(before, client.error());
    CHECK(before->header("X-Backend") == "first");
    CHECK(first.request(0).header("Host") == "backend.sluice.test:" + std::to_string(first.port()));

    // The name gains an address that comes first: the endpoint keeps the one it has, as long as
    // the name has it (round-robin DNS reorders its answers at every lookup).
    hosts.write("127.0.0.2 backend.sluice.test\n127.0.0.1 backend.sluice.test\n");
    std::this_thread::sleep_for(400ms);  // four refreshes; nothing to wait for when nothing changes
    auto stays = client.exchange(getRequest("/svc/v1/stays"));
    REQUIRE_MESSAGE(stays, client.error());
    CHECK(stays->header("X-Backend") == "first");
    CHECK(gw.log().find("now resolves to") == std::string::npos);

    std::size_t from = gw.logSize();
    hosts.write("127.0.0.2 backend.sluice.test\n");
    REQUIRE(gw.waitForLog("backend.sluice.test now resolves to 127.0.0.2:" + std::to_string(first.port()) +
                              " (was 127.0.0.1:" + std::to_string(first.port()) + ")",
                          from, 5s));
    // The same client connection and a new one: both go to the new address (the connection
    // pooled to the old one is not used for it).
    auto after = client.exchange(getRequest("/svc/v1/b"));
    REQUIRE_MESSAGE(after, client.error());
    CHECK(after->header("X-Backend") == "second");
    RawClient fresh(gw.port());
    auto again = fresh.exchange(getRequest("/svc/v1/c"));
    REQUIRE_MESSAGE(again, fresh.error());
    CHECK(again->header("X-Backend") == "second");
    CHECK(first.requestCount() == 2);

    // The name disappears: the lookup fails and the endpoint keeps its address.
    from = gw.logSize();
    hosts.write("127.0.0.3 other.sluice.test\n");
    REQUIRE(
        gw.waitForLog("looking up backend.sluice.test again failed, connections keep going to 127.0.0.2:", from, 5s));
    auto kept = client.exchange(getRequest("/svc/v1/d"));
    REQUIRE_MESSAGE(kept, client.error());
    CHECK(kept->header("X-Backend") == "second");
}

TEST_CASE("resolver: refresh_ms 0 looks names up only when the configuration is loaded")
{
    if (!privateHostsSupported()) {
        MESSAGE("not run: this process may not create mount namespaces (CAP_SYS_ADMIN)");
        return;
    }
    MovingBackend backends;
    TempFile& hosts = backends.hosts;
    SluicedProcess gw(backends.gateway(0));

    hosts.write("127.0.0.2 backend.sluice.test\n");
    std::this_thread::sleep_for(400ms);  // nothing to wait for: no lookup may happen
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/a"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->header("X-Backend") == "first");
    CHECK(gw.log().find("now resolves to") == std::string::npos);

    // A reload looks it up.
    REQUIRE(gw.reload());
    RawClient fresh(gw.port());
    auto reloaded = fresh.exchange(getRequest("/svc/v1/b"));
    REQUIRE_MESSAGE(reloaded, fresh.error());
    CHECK(reloaded->header("X-Backend") == "second");
}

TEST_CASE("resolver: an address of a name that takes no connection hands over to the name's next address")
{
    if (!privateHostsSupported()) {
        MESSAGE("not run: this process may not create mount namespaces (CAP_SYS_ADMIN)");
        return;
    }
    TwoAddressName name;
    SluicedProcess gw(name.gateway());

    RawClient client(gw.port());
    // A POST too (with nothing to resend): nothing was sent to the refusing address.
    auto post = client.exchange(bodyRequest("POST", "/svc/v1/p", ""));
    INFO(gw.log());
    REQUIRE_MESSAGE(post, client.error());
    CHECK(post->status == 200);
    CHECK(post->body == "second POST /p");
    CHECK(gw.waitForLog("trying the next address of two.sluice.test: 127.0.0.2:" + std::to_string(name.refusing.port()),
                        0, 2000ms));
    // The endpoint was not suspended, and later requests go to the working address at once.
    const std::size_t from = gw.logSize();
    for (int i = 0; i < 3; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/g"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "second GET /g");
    }
    CHECK(gw.log().find("trying the next address", from) == std::string::npos);
    CHECK(gw.log().find("suspend") == std::string::npos);
}

// The hand-over stays on the endpoint: the request goes to the name's next address, not to the
// next endpoint of the API, and the rotation moves on once for it.
TEST_CASE("resolver: a request handed to the name's next address stays on its endpoint")
{
    if (!privateHostsSupported()) {
        MESSAGE("not run: this process may not create mount namespaces (CAP_SYS_ADMIN)");
        return;
    }
    TwoAddressName name;
    ScriptedBackend other(echo("other"));
    // Round robin from the first endpoint (the name) on: name, other, name, ...
    SluicedProcess gw(name.gateway({other.url()}));
    RawClient client(gw.port());
    const char* expected[] = {"second GET /1", "other GET /2", "second GET /3", "other GET /4"};
    for (int i = 0; i < 4; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/" + std::to_string(i + 1)));
        INFO(gw.log());
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == expected[i]);
    }
    CHECK(gw.waitForLog("trying the next address of two.sluice.test", 0, 2000ms));
}
