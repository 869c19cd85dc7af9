// The README's five-minute tour, as scripts/quickstart.sh runs it: the shipped conf/sluice.json
// and conf/apis/petstore.json in front of the sample backend, with every curl call of the README
// answered as the README says. Only the ports differ (0, so that tests never collide).
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

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

}  // namespace

TEST_CASE("quickstart: the README's tour answers as it says, with the shipped configuration and the sample backend")
{
    Subprocess backend({SLUICE_TEST_SAMPLE_BACKEND, "--port", "0"});
    REQUIRE_MESSAGE(backend.waitForOutput("listening on ", 10s), backend.err());
    const int backendPort = portAfter(backend.out() + backend.err(), "listening on ");
    REQUIRE(backendPort > 0);

    // The shipped files, with port 0 for the gateway and the backend's port in the API.
    const std::string conf = std::string(SLUICE_TEST_SOURCE_DIR) + "/conf";
    TempDir dir;
    std::string gateway = readFile(conf + "/sluice.json");
    REQUIRE(gateway.find("\"port\": 8280") != std::string::npos);
    gateway.replace(gateway.find("\"port\": 8280"), 12, "\"port\": 0");
    std::string petstore = readFile(conf + "/apis/petstore.json");
    REQUIRE(petstore.find("127.0.0.1:8281") != std::string::npos);
    petstore.replace(petstore.find("127.0.0.1:8281"), 14, "127.0.0.1:" + std::to_string(backendPort));
    const std::string config = dir.write("sluice.json", gateway);
    dir.write("apis/petstore.json", petstore);

    Subprocess sluiced({SLUICE_TEST_SLUICED, "--config", config});
    REQUIRE_MESSAGE(sluiced.waitForOutput("started with", 20s), sluiced.err());
    const int port = portAfter(sluiced.err(), "listening on http://");
    REQUIRE(port > 0);

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
