// The gateway's memory after a spike: what a thousand clients each holding a 64 KiB body took
// goes back to the system once they have gone (glibc would otherwise keep it for good).
#include <sys/resource.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// Waits until VmRSS satisfies `ok`; returns the last reading.
template <typename Ok>
long waitForRss(SluicedProcess& gw, Ok ok, std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    long rss = gw.statusValue("VmRSS");
    while (!ok(rss) && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        rss = gw.statusValue("VmRSS");
    }
    return rss;
}

}  // namespace

TEST_CASE("memory: what a thousand clients holding 64 KiB bodies took goes back to the system after they leave" *
          doctest::skip(!kGlibcAllocator))
{
    constexpr int kClients = 1000;
    constexpr int kBody = 64 * 1024;
    // This process holds the clients, sluiced (which inherits the limit) their connections and
    // their backend connections' share of its budget: half the open-file limit.
    rlimit files{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
    if (files.rlim_max < 2 * kClients + 300) {
        MESSAGE("skipped: the open-file limit (" << files.rlim_max << ") is too low for " << kClients << " clients");
        return;
    }
    if (files.rlim_cur < 2 * kClients + 300) {
        files.rlim_cur = 2 * kClients + 300;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &files) == 0);
    }
    ScriptedBackend backend(lengthAndHash());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    {
        RawClient warm(gw.port());
        auto r = warm.exchange(bodyRequest("POST", "/svc/v1/x", pattern(kBody, 1)));
        REQUIRE_MESSAGE(r, warm.error());
    }
    const long baseline = gw.statusValue("VmRSS");
    REQUIRE(baseline > 0);

    // Each sends all of its body but the last byte: the gateway holds it whole (request_buffer_bytes).
    const std::string request =
        "POST /svc/v1/x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n" +
        pattern(kBody - 1, 2);
    std::vector<int> clients;
    for (int i = 0; i < kClients; ++i) {
        int error = 0;
        const int fd = connectLoopback(gw.port(), error);
        REQUIRE_MESSAGE(fd >= 0, "connect: " << error);
        clients.push_back(fd);
        REQUIRE(sendAll(fd, request));
    }
    const long held = waitForRss(
        gw, [&](long rss) { return rss - baseline >= 40 * 1024; }, 10s);
    INFO("VmRSS " << baseline << " kB, with the bodies held " << held << " kB");
    REQUIRE(held - baseline >= 40 * 1024);
    for (const int fd : clients) {
        ::close(fd);
    }
    // The gateway looks every 5 s; the connections' exchanges it keeps for reuse (256, each with
    // at most 16 KiB of body buffer) stay.
    const long after = waitForRss(
        gw, [&](long rss) { return rss - baseline < 20 * 1024; }, 15s);
    INFO("after the clients left " << after << " kB");
    CHECK(after - baseline < 20 * 1024);
    RawClient next(gw.port());
    auto r = next.exchange(bodyRequest("POST", "/svc/v1/x", pattern(kBody, 3)));
    REQUIRE_MESSAGE(r, next.error());
    CHECK(r->body == lengthAndHashOf(pattern(kBody, 3)));
}
