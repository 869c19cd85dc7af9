// An API's request_buffering: every body is read whole before the backend is contacted, the part
// past http.request_buffer_bytes in an unnamed file in http.body_temp_dir (nginx's
// client_body_temp_path), so that a client sending a long body costs disk, not memory.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "TransportTest.h"
#include "support/TempDir.h"

using namespace sluice::transport_test;

namespace {

// Sizes of the files the process `pid` has open under `dir` (through /proc/PID/fd: a file without
// a name shows there as "<dir>/#<inode> (deleted)" or "<dir>/<name> (deleted)").
std::vector<long long> openFilesUnder(pid_t pid, const std::string& dir)
{
    std::vector<long long> sizes;
    const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
        const auto target = std::filesystem::read_symlink(fd.path(), ec);
        struct stat st {};
        if (!ec && target.string().rfind(dir + "/", 0) == 0 && ::stat(fd.path().c_str(), &st) == 0) {
            sizes.push_back(static_cast<long long>(st.st_size));
        }
    }
    return sizes;
}

// Waits until the process has exactly one file open under `dir`, of `size` bytes.
bool waitForSpool(pid_t pid, const std::string& dir, long long size)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto sizes = openFilesUnder(pid, dir);
        if (sizes.size() == 1 && sizes.front() == size) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

bool waitForNoSpool(pid_t pid, const std::string& dir)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!openFilesUnder(pid, dir).empty()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// The lowest descriptor number the process `pid` has free: the next one it would get.
int lowestFreeDescriptor(pid_t pid)
{
    std::vector<int> used;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        used.push_back(std::stoi(fd.path().filename().string()));
    }
    std::sort(used.begin(), used.end());
    int free = 0;
    for (const int n : used) {
        if (n != free) {
            break;
        }
        ++free;
    }
    return free;
}

// An "http" block keeping bodies past 64 KiB in `dir`; `extra` adds members ("name": value, ...).
std::string spoolingHttp(const std::string& dir, const std::string& extra = "")
{
    return R"({"request_buffer_bytes": 65536, "max_body_bytes": 33554432, "body_temp_dir": ")" + dir + "\"" +
           (extra.empty() ? "" : ", " + extra) + "}";
}

// Two PUTs of 2 MiB through an API whose endpoints are `failing` (round robin gives it one of the
// two first) and `answering`: each answer is `answering`'s, for the whole body, sent again from
// its start after the failure; no file is left open.
void expectSentAgainWhole(const std::string& failing, const ScriptedBackend& answering)
{
    sluice::test::TempDir spool;
    SluicedProcess gw(oneApi("/svc", endpointList({failing, answering.url()}),
                             R"("request_buffering": true, )" + kNoSuspension, spoolingHttp(spool.path())));
    for (unsigned i = 0; i < 2; ++i) {
        CAPTURE(i);
        const std::string body = pattern(2u << 20, i);
        RawClient client(gw.port());
        auto r = client.exchange(bodyRequest("PUT", "/svc/v1/up", body), 30s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == lengthAndHashOf(body));
    }
    CHECK(answering.requestCount() == 2);
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
}

}  // namespace

TEST_CASE("request_buffering: a long body waits in an unnamed file in body_temp_dir, not in memory, until it is whole")
{
    constexpr std::size_t kSize = 16u << 20;
    constexpr std::size_t kFirst = 12u << 20;
    sluice::test::TempDir spool;
    ScriptedBackend backend(lengthAndHash());
    ScriptedBackend other(lengthAndHash());  // warms the gateway up, so that `backend` sees only the long body
    GatewaySpec spec;
    spec.http = spoolingHttp(spool.path());
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.url()}), R"("request_buffering": true)"));
    spec.apis.emplace_back("warm", apiJson("/warm", endpointList({other.url()}), R"("request_buffering": true)"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto warm = client.exchange(bodyRequest("POST", "/warm/v1/x", pattern(100 * 1024, 1)));
    REQUIRE_MESSAGE(warm, client.error());
    const long baseline = gw.statusValue("VmHWM");
    REQUIRE(baseline > 0);

    const std::string body = pattern(kSize, 9);
    REQUIRE(client.send("PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " + std::to_string(kSize) +
                        "\r\n\r\n" + body.substr(0, kFirst)));
    // All that came is in one file, which has no name in the directory; the backend has not
    // been contacted, and the gateway's memory has not grown by the body.
    CHECK(waitForSpool(gw.pid(), spool.path(), kFirst));
    CHECK(spool.entryCount() == 0);
    CHECK(backend.connectionCount() == 0U);
    const long held = gw.statusValue("VmHWM");
    INFO("VmHWM before " << baseline << " kB, with 12 MiB of the body held " << held << " kB");
    CHECK(held - baseline < 4 * 1024);

    REQUIRE(client.send(body.substr(kFirst)));
    auto r = client.read(30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == lengthAndHashOf(body));
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("Content-Length") == std::to_string(kSize));
    CHECK_FALSE(backend.request(0).chunked);
    const long peak = gw.statusValue("VmHWM");
    INFO("VmHWM after the exchange " << peak << " kB");
    CHECK(peak - baseline < 4 * 1024);
    // The file is closed (its space freed) with the exchange, while the connection stays open.
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
    auto again = client.exchange(getRequest("/svc/v1/next"));
    REQUIRE_MESSAGE(again, client.error());
    CHECK(again->status == 200);

    // A chunked body the same way: whole in its file, then sent with a Content-Length.
    const std::string chunked = pattern(3u << 20, 4);
    REQUIRE(client.send("POST /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
    REQUIRE(sendChunked(client, chunked, 256 * 1024, 0ms));
    auto c = client.read(30s);
    REQUIRE_MESSAGE(c, client.error());
    CHECK(c->body == lengthAndHashOf(chunked));
    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.request(2).header("Content-Length") == std::to_string(chunked.size()));
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
}

TEST_CASE("request_buffering: a client that leaves or stalls in the middle of a long body leaves no file open")
{
    sluice::test::TempDir spool;
    ScriptedBackend backend(lengthAndHash());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)",
                             spoolingHttp(spool.path(), R"("body_timeout_ms": 500)")));
    const std::string head = "PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 4194304\r\n\r\n";
    {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send(head + pattern(1u << 20, 1)));
        REQUIRE(waitForSpool(gw.pid(), spool.path(), 1 << 20));
    }  // closed here
    CHECK(waitForNoSpool(gw.pid(), spool.path()));

    RawClient stalling(gw.port());
    REQUIRE(stalling.send(head + pattern(1u << 20, 2)));
    REQUIRE(waitForSpool(gw.pid(), spool.path(), 1 << 20));
    auto r = stalling.read(5s);  // body_timeout_ms passes
    REQUIRE_MESSAGE(r, stalling.error());
    CHECK(r->status == 408);
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
    CHECK(backend.connectionCount() == 0U);
}

TEST_CASE("request_buffering: a body in its file goes again, from its start, to another endpoint after a failure")
{
    // `closing` reads each request whole and closes without an answer: a PUT may be sent again.
    ScriptedBackend closing([](const ReceivedRequest&) {
        BackendReply reply;
        reply.silentClose = true;
        return reply;
    });
    ScriptedBackend answering(lengthAndHash());
    expectSentAgainWhole(closing.url(), answering);
    REQUIRE(closing.requestCount() >= 1);
    CHECK(closing.request(0).bodyLength == 2u << 20);  // it had the whole body too
}

TEST_CASE("request_buffering: a POST form body in its file naming another method in _method is refused")
{
    sluice::test::TempDir spool;
    ScriptedBackend backend(lengthAndHash());
    SluicedProcess gw(
        oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp(spool.path())));
    const std::string filler = "a=" + pattern(300 * 1024, 2);
    for (const bool overrides : {true, false}) {
        CAPTURE(overrides);
        const std::string body = filler + (overrides ? "&_method=DELETE" : "&b=1");
        RawClient client(gw.port());
        auto r = client.exchange(postRequest({"Host: gateway.test", "Content-Type: application/x-www-form-urlencoded",
                                              "Content-Length: " + std::to_string(body.size())},
                                             body),
                                 30s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == (overrides ? 400 : 200));
        CHECK(backend.requestCount() == (overrides ? 0U : 1U));
    }
}

TEST_CASE("request_buffering: a body_temp_dir where no file can be made stops start-up and names the setting")
{
    sluice::test::TempDir dir;
    ScriptedBackend backend(lengthAndHash());
    const GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)",
                                    spoolingHttp(dir.file("missing")));
    CHECK_THROWS_WITH_AS(SluicedProcess{spec}, doctest::Contains("/http/body_temp_dir"), std::runtime_error);
    // A directory on a file system kept in memory works, with a warning that it costs RAM.
    {
        SluicedProcess shm(
            oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp("/dev/shm")));
        CHECK(shm.waitForLog("is a file system kept in memory (tmpfs)", 0, 2s));
    }
    // Without request_buffering the directory is not needed.
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", spoolingHttp(dir.file("missing"))));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
}

TEST_CASE("request_buffering: a body whose file cannot be written is answered 500, and the backend never hears of it")
{
    // The gateway's file size limit (RLIMIT_FSIZE) stands in for a full disk: the write fails.
    sluice::test::TempDir spool;
    ScriptedBackend backend(lengthAndHash());
    SluicedProcess gw(
        oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp(spool.path())));
    const rlimit limit{512 * 1024, 512 * 1024};
    REQUIRE(::prlimit(gw.pid(), RLIMIT_FSIZE, &limit, nullptr) == 0);
    const std::size_t logFrom = gw.logSize();
    RawClient client(gw.port());
    const std::string body = pattern(2u << 20, 6);
    auto r = client.exchange(bodyRequest("PUT", "/svc/v1/up", body), 30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 500);
    CHECK(r->body.find("101500") != std::string::npos);
    CHECK(gw.waitForLog("cannot write a request body to its temporary file: File too large", logFrom, 5s));
    CHECK(backend.connectionCount() == 0U);
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
    // The gateway lives on: a short body (in memory) still goes through.
    RawClient next(gw.port());
    auto ok = next.exchange(bodyRequest("PUT", "/svc/v1/up", "short"));
    REQUIRE_MESSAGE(ok, next.error());
    CHECK(ok->body == lengthAndHashOf("short"));
}

TEST_CASE(
    "request_buffering: a backend that resets in the middle of a body in its file gets it again from its start "
    "elsewhere")
{
    // `resetting` reads 300 KiB of each request and resets the connection: a PUT may go again.
    std::atomic<int> resets{0};
    RawBackend resetting([&resets](int fd, int) {
        std::string in;
        const auto deadline = Clock::now() + 5s;
        while (in.size() < 300 * 1024 && readSome(fd, in, deadline) == ReadStatus::Data) {
        }
        ++resets;
        closeWithReset(fd);
    });
    ScriptedBackend answering(lengthAndHash());
    expectSentAgainWhole(resetting.url(), answering);
    CHECK(resets.load() >= 1);
}

TEST_CASE(
    "request_buffering: an answer that comes before the backend took all of a body in its file ends that backend "
    "connection only")
{
    // The backend answers after the head, reads no body, and holds the connection open: the
    // gateway stops sending, never pools the connection (the rest would be read as a request),
    // and the client's connection goes on.
    sluice::test::TempDir spool;
    std::atomic<int> stop{0};
    RawBackend early([&stop](int fd, int) {
        std::string in;
        if (!readHead(fd, in, 5s)) {
            return;
        }
        sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly");
        while (stop.load() == 0) {
            std::this_thread::sleep_for(10ms);
        }
    });
    SluicedProcess gw(
        oneApi("/svc", endpointList({early.url()}), R"("request_buffering": true)", spoolingHttp(spool.path())));
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/svc/v1/up", pattern(8u << 20, 3)), 30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "early");
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
    auto next = client.exchange(getRequest("/svc/v1/next"), 10s);  // same client connection
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->body == "early");
    CHECK(early.accepted() == 2);  // a new backend connection for it
    stop = 1;
}

TEST_CASE("request_buffering: no descriptor left for a body's file is a 503 (101508), and the gateway goes on")
{
    sluice::test::TempDir spool;
    ScriptedBackend backend(lengthAndHash());
    SluicedProcess gw(
        oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp(spool.path())));
    RawClient client(gw.port());
    const std::string body = pattern(1u << 20, 8);
    REQUIRE(client.send("PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 1000)));
    REQUIRE(client.read(300ms) == std::nullopt);  // the head is in: the connection has its descriptor
    rlimit saved{};
    REQUIRE(::prlimit(gw.pid(), RLIMIT_NOFILE, nullptr, &saved) == 0);
    const rlimit none{static_cast<rlim_t>(lowestFreeDescriptor(gw.pid())), saved.rlim_max};
    REQUIRE(::prlimit(gw.pid(), RLIMIT_NOFILE, &none, nullptr) == 0);
    REQUIRE(client.send(body.substr(1000)));
    auto r = client.read(10s);
    REQUIRE(::prlimit(gw.pid(), RLIMIT_NOFILE, &saved, nullptr) == 0);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 503);
    CHECK(r->body.find("101508") != std::string::npos);
    CHECK(backend.connectionCount() == 0U);

    RawClient next(gw.port());
    auto ok = next.exchange(bodyRequest("PUT", "/svc/v1/up", body), 30s);
    REQUIRE_MESSAGE(ok, next.error());
    CHECK(ok->body == lengthAndHashOf(body));
}

TEST_CASE("request_buffering: a request pipelined behind a body in its file is answered after it, in order")
{
    sluice::test::TempDir spool;
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.method + " " + r.target + " " + lengthAndHashOf(r.body));
        return reply;
    });
    SluicedProcess gw(
        oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp(spool.path())));
    const std::string body = pattern(300 * 1024, 4);
    std::string chunked;
    for (std::size_t at = 0; at < body.size(); at += 50000) {
        const std::string piece = body.substr(at, 50000);
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        chunked += size + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    RawClient client(gw.port());
    // Both framings, each followed by a GET in the same write.
    REQUIRE(client.send(bodyRequest("PUT", "/svc/v1/length", body) + getRequest("/svc/v1/after-length") +
                        "PUT /svc/v1/chunked HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
                        chunked + getRequest("/svc/v1/after-chunked")));
    const std::vector<std::string> expected = {
        "PUT /length " + lengthAndHashOf(body), "GET /after-length " + lengthAndHashOf(""),
        "PUT /chunked " + lengthAndHashOf(body), "GET /after-chunked " + lengthAndHashOf("")};
    for (const std::string& want : expected) {
        auto r = client.read(10s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->body == want);
    }
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
}

TEST_CASE("request_buffering: two hundred clients each in the middle of a long body cost little memory")
{
    // Each body goes to its file from the start (its Content-Length is past request_buffer_bytes):
    // no memory buffer is kept beside it.
    constexpr int kClients = 200;
    constexpr std::size_t kSent = 512 * 1024;
    sluice::test::TempDir spool;
    ScriptedBackend backend(lengthAndHash());
    SluicedProcess gw(
        oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp(spool.path())));
    {
        RawClient warm(gw.port());
        auto r = warm.exchange(bodyRequest("PUT", "/svc/v1/up", pattern(1u << 20, 1)), 30s);
        REQUIRE_MESSAGE(r, warm.error());
    }
    const long baseline = gw.statusValue("VmRSS");
    const std::string head = "PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 1048576\r\n\r\n";
    const std::string part = pattern(kSent, 2);
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<RawClient>(gw.port()));
        REQUIRE(clients.back()->send(head + part));
    }
    const auto deadline = Clock::now() + 10s;
    std::vector<long long> files = openFilesUnder(gw.pid(), spool.path());
    while (Clock::now() < deadline &&
           (files.size() < kClients || std::any_of(files.begin(), files.end(), [&](long long size) {
                return size < static_cast<long long>(kSent);
            }))) {
        std::this_thread::sleep_for(20ms);
        files = openFilesUnder(gw.pid(), spool.path());
    }
    REQUIRE(files.size() == kClients);
    const long held = gw.statusValue("VmRSS");
    INFO("VmRSS " << baseline << " kB, with " << kClients << " bodies of which 512 KiB each came " << held << " kB");
    if (kGlibcAllocator) {
        CHECK(held - baseline < 12 * 1024);  // 60 KiB a client at most, for 512 KiB of its body held
    }
    clients.clear();
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
}

TEST_CASE("request_buffering: a reload while a body is in its file finishes that exchange on the old configuration")
{
    sluice::test::TempDir spool;
    sluice::test::TempDir otherSpool;
    ScriptedBackend backend(lengthAndHash());
    GatewaySpec spec =
        oneApi("/svc", endpointList({backend.url()}), R"("request_buffering": true)", spoolingHttp(spool.path()));
    SluicedProcess gw(spec);
    const std::string body = pattern(4u << 20, 12);
    RawClient client(gw.port());
    REQUIRE(client.send("PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 1u << 20)));
    REQUIRE(waitForSpool(gw.pid(), spool.path(), 1 << 20));
    // The new configuration keeps bodies elsewhere; the body on its way stays where it is.
    spec.http = spoolingHttp(otherSpool.path());
    gw.writeGatewayConfig(spec);
    REQUIRE(gw.reload());
    REQUIRE(client.send(body.substr(1u << 20)));
    auto r = client.read(30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == lengthAndHashOf(body));
    CHECK(waitForNoSpool(gw.pid(), spool.path()));
    // The next long body goes to the new directory.
    REQUIRE(client.send("PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 1u << 20)));
    CHECK(waitForSpool(gw.pid(), otherSpool.path(), 1 << 20));
    REQUIRE(client.send(body.substr(1u << 20)));
    auto again = client.read(30s);
    REQUIRE_MESSAGE(again, client.error());
    CHECK(again->body == lengthAndHashOf(body));
}
