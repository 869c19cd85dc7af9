// The README's five-minute tour, as scripts/quickstart.sh runs it: the shipped conf/sluice.json
// and conf/apis/petstore.json in front of the sample backend, with every curl call of the README
// answered as the README says, and the README's own API and Lua examples run as written. Only the
// ports differ (0, so that tests never collide).
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <doctest/doctest.h>

#include "Subprocess.h"
#include "support/TempDir.h"

using namespace std::chrono_literals;
using sluice::test::Subprocess;
using sluice::test::TempDir;

namespace {

std::string readFile(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The port in the first "<prefix>127.0.0.1:<port>" of `output`, or 0.
int portAfter(const std::string& output, const std::string& prefix)
{
    std::smatch m;
    if (std::regex_search(output, m, std::regex(prefix + "127\\.0\\.0\\.1:([0-9]+)"))) {
        return std::stoi(m[1].str());
    }
    return 0;
}

struct Answer {
    int status = 0;
    std::string reason;
    std::string body;
    Poco::Net::HTTPResponse head;
};

Answer call(int port, const std::string& method, const std::string& path, const std::string& json = "")
{
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!json.empty()) {
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(json.size()));
    }
    session.sendRequest(request) << json;
    Answer answer;
    std::istream& body = session.receiveResponse(answer.head);
    Poco::StreamCopier::copyToString(body, answer.body);
    answer.status = static_cast<int>(answer.head.getStatus());
    answer.reason = answer.head.getReason();
    return answer;
}

// `text` with the sample backend's quick-start address (127.0.0.1:8281) replaced by 127.0.0.1:`port`.
std::string toBackend(std::string text, int port)
{
    const auto at = text.find("127.0.0.1:8281");
    REQUIRE(at != std::string::npos);
    return text.replace(at, 14, "127.0.0.1:" + std::to_string(port));
}

// The shipped conf/sluice.json and conf/apis/petstore.json in `dir`/conf, with port 0 for the
// gateway and `backendPort` in the API; returns the configuration's path.
std::string shippedConfig(const TempDir& dir, int backendPort)
{
    const std::string conf = std::string(SLUICE_TEST_SOURCE_DIR) + "/conf";
    std::string gateway = readFile(conf + "/sluice.json");
    REQUIRE(gateway.find("\"port\": 8280") != std::string::npos);
    gateway.replace(gateway.find("\"port\": 8280"), 12, "\"port\": 0");
    dir.write("conf/apis/petstore.json", toBackend(readFile(conf + "/apis/petstore.json"), backendPort));
    return dir.write("conf/sluice.json", gateway);
}

int startedBackend(Subprocess& backend)
{
    REQUIRE_MESSAGE(backend.waitForOutput("listening on ", 10s), backend.err());
    const int port = portAfter(backend.out() + backend.err(), "listening on ");
    REQUIRE(port > 0);
    return port;
}

int startedGateway(Subprocess& sluiced)
{
    REQUIRE_MESSAGE(sluiced.waitForOutput("started with", 20s), sluiced.err());
    const int port = portAfter(sluiced.err(), "listening on http://");
    REQUIRE(port > 0);
    return port;
}

// The first ```json block of the README after the line `heading`, without its fences.
std::string readmeJson(const std::string& heading)
{
    const std::string readme = readFile(std::string(SLUICE_TEST_SOURCE_DIR) + "/README.md");
    const auto section = readme.find("\n" + heading + "\n");
    REQUIRE_MESSAGE(section != std::string::npos, heading);
    const auto open = readme.find("```json\n", section);
    REQUIRE(open != std::string::npos);
    const auto start = open + 8;
    const auto close = readme.find("\n```", start);
    REQUIRE(close != std::string::npos);
    return readme.substr(start, close + 1 - start);
}

}  // namespace

TEST_CASE("quickstart: the README's tour answers as it says, with the shipped configuration and the sample backend")
{
    Subprocess backend({SLUICE_TEST_SAMPLE_BACKEND, "--port", "0"});
    const int backendPort = startedBackend(backend);
    TempDir dir;
    const std::string config = shippedConfig(dir, backendPort);

    Subprocess sluiced({SLUICE_TEST_SLUICED, "--config", config});
    const int port = startedGateway(sluiced);

    Answer pets = call(port, "GET", "/petstore/v1/pets");
    CHECK(pets.status == 200);
    CHECK(pets.head.has("X-Correlation-ID"));
    CHECK(pets.body.front() == '[');
    Answer one = call(port, "GET", "/petstore/pets/1");  // the default version
    CHECK(one.status == 200);
    Answer created = call(port, "POST", "/petstore/v1/pets", R"({"name":"Fido"})");
    CHECK(created.status == 201);
    CHECK(created.reason == "Created");
    CHECK(created.body.find("Fido") != std::string::npos);
    Answer nowhere = call(port, "GET", "/nowhere");
    CHECK(nowhere.status == 404);
    CHECK(nowhere.body.find("900906") != std::string::npos);
    Answer patch = call(port, "PATCH", "/petstore/v1/pets");
    CHECK(patch.status == 405);
    CHECK(patch.head.get("Allow", "") == "GET, HEAD, POST");
}

TEST_CASE("quickstart: the README's own API and Lua examples run as written beside the shipped API")
{
    Subprocess backend({SLUICE_TEST_SAMPLE_BACKEND, "--port", "0"});
    const int backendPort = startedBackend(backend);
    TempDir dir;
    const std::string config = shippedConfig(dir, backendPort);

    // "Define an API", saved as the README says, with the README's Lua handlers ("Add a Lua
    // step") after its own; the Lua example's relative path reaches scripts/lua/ from conf/.
    Poco::JSON::Parser parser;
    auto api = parser.parse(toBackend(readmeJson("### Define an API"), backendPort)).extract<Poco::JSON::Object::Ptr>();
    auto lua = parser.parse("{" + readmeJson("### Add a Lua step") + "}").extract<Poco::JSON::Object::Ptr>();
    auto handlers = api->getArray("handlers");
    for (const auto& handler : *lua->getArray("handlers")) {
        handlers->add(handler);
    }
    std::ostringstream apiText;
    api->stringify(apiText);
    dir.write("conf/apis/petstore-v2.json", apiText.str());
    dir.write("scripts/lua/security_headers.lua",
              readFile(std::string(SLUICE_TEST_SOURCE_DIR) + "/scripts/lua/security_headers.lua"));

    Subprocess sluiced({SLUICE_TEST_SLUICED, "--config", config});
    const int port = startedGateway(sluiced);

    Answer v2 = call(port, "GET", "/petstore/v2/pets/1");
    CHECK(v2.status == 200);
    CHECK(v2.head.has("X-Request-ID"));                   // the API's correlation_id
    CHECK(v2.head.get("X-Frame-Options", "") == "DENY");  // security_headers.lua
    CHECK(v2.body.find("REX") != std::string::npos);      // the response-body step
    Answer v1 = call(port, "GET", "/petstore/pets/1");    // the default version is still v1
    CHECK(v1.status == 200);
    CHECK(v1.body.find("Rex") != std::string::npos);
    CHECK_FALSE(v1.head.has("X-Request-ID"));
}
