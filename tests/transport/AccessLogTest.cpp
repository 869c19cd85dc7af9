// The access log (sluice.json "access_log"): one line per request, whether proxied, answered by
// the gateway, refused before it could be read, or left by the client (status 0); never the query string
// (it may carry credentials); written in batches; reopened by a reload, for logrotate.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

std::vector<std::string> linesOf(const std::string& path)
{
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

// Waits until the file has `count` lines (the workers write in batches).
std::vector<std::string> waitForLines(const std::string& path, std::size_t count)
{
    const auto deadline = Clock::now() + 5s;
    std::vector<std::string> lines = linesOf(path);
    while (lines.size() < count && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        lines = linesOf(path);
    }
    return lines;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("access log: a line per request, proxied, answered by the gateway, refused or abandoned, without the query")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "hello");
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    const std::string file = gw.directory() + "/access.log";

    RawClient client(gw.port());
    auto ok = client.exchange(getRequest("/svc/v1/a?apikey=SECRET-KEY"));
    REQUIRE_MESSAGE(ok, client.error());
    auto missing = client.exchange(getRequest("/nowhere"));
    REQUIRE_MESSAGE(missing, client.error());
    RawClient bad(gw.port());
    auto refused = bad.exchange("GET /x HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n");
    REQUIRE_MESSAGE(refused, bad.error());
    CHECK(refused->status == 400);
    {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send("POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"));
        std::this_thread::sleep_for(100ms);
    }  // gone in the middle of its body: no answer

    const auto lines = waitForLines(file, 4);
    REQUIRE(lines.size() == 4);
    INFO(lines[0] << "\n" << lines[1] << "\n" << lines[2] << "\n" << lines[3]);
    const std::string upstream = backend.hostPort();
    CHECK(contains(lines[0], "127.0.0.1 - - ["));
    CHECK(contains(lines[0], "] \"GET /svc/v1/a HTTP/1.1\" 200 " + std::to_string(ok->raw.size()) + " "));
    CHECK(contains(lines[0], " \"Api_svc:v1\" " + upstream));
    CHECK(contains(lines[1], "\"GET /nowhere HTTP/1.1\" 404 "));
    CHECK(contains(lines[1], " \"-\" -"));
    CHECK(contains(lines[2], "\"-\" 400 "));  // no request line to show
    CHECK(contains(lines[3], "\"POST /svc/v1/upload HTTP/1.1\" 0 0 "));
    CHECK(contains(lines[3], " \"Api_svc:v1\" -"));  // the body never came: no backend was contacted
    for (const auto& line : lines) {
        CHECK_FALSE(contains(line, "SECRET"));
        CHECK_FALSE(contains(line, "apikey"));
    }
}

TEST_CASE("access log: JSON lines")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.json", "format": "json", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/a%22b?q=1"));
    REQUIRE_MESSAGE(r, client.error());
    const auto lines = waitForLines(gw.directory() + "/access.json", 1);
    REQUIRE(lines.size() == 1);
    const std::string& line = lines[0];
    CHECK(line.rfind("{\"time\":\"20", 0) == 0);
    CHECK(contains(line, R"("client":"127.0.0.1","method":"GET","path":"/svc/v1/a%22b",)"));
    CHECK(contains(line, R"("protocol":"HTTP/1.1","status":200,)"));
    CHECK(contains(line, R"("api":"Api_svc:v1","upstream":")" + backend.hostPort() + "\"}"));
    CHECK(contains(line, R"("duration_ms":)"));
}

TEST_CASE("access log: a reload opens the file again, so that it can be rotated")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    const std::string file = gw.directory() + "/access.log";
    RawClient client(gw.port());
    REQUIRE(client.exchange(getRequest("/svc/v1/before")));
    REQUIRE(waitForLines(file, 1).size() == 1);

    std::filesystem::rename(file, file + ".1");  // what logrotate does before it signals
    REQUIRE(gw.reload());
    RawClient fresh(gw.port());
    REQUIRE(fresh.exchange(getRequest("/svc/v1/after")));
    const auto now = waitForLines(file, 1);
    REQUIRE(now.size() == 1);
    CHECK(contains(now[0], "/svc/v1/after"));
    const auto rotated = linesOf(file + ".1");
    REQUIRE(rotated.size() == 1);
    CHECK(contains(rotated[0], "/svc/v1/before"));
}

TEST_CASE("access log: a file that cannot be opened is a configuration error")
{
    GatewaySpec spec = oneApi("/svc", endpointList({"http://127.0.0.1:9"}));
    spec.accessLog = R"({"path": "no-such-directory/access.log"})";
    CHECK_THROWS_WITH_AS(SluicedProcess{spec}, doctest::Contains("cannot open the access log"), std::runtime_error);
}
