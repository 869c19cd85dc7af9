// Builders and formatters through the real transport: a handler asks for the structured body
// (json_xml), the runtime builds it with the builder for its Content-Type, the handler replaces
// it, and the formatter writes it back before it leaves — both directions.
#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

GatewaySpec convertingGateway(const ScriptedBackend& backend)
{
    GatewaySpec spec;
    std::string endpoints = endpointList({backend.url()});
    spec.apis.emplace_back(
        "conv", apiJson("/conv", endpoints,
                        R"("handlers": [{"component": "json_xml_request", "config": {"to": "xml", "root": "order"}},
                                        {"component": "json_xml_response", "config": {"to": "json"}}])"));
    return spec;
}

BackendReply echoXml(const ReceivedRequest& r)
{
    BackendReply reply;
    std::string type = r.header("Content-Type").value_or("none");
    reply.bytes = httpResponse(200, "<reply><type>" + type + "</type><bytes>" + std::to_string(r.body.size()) +
                                        "</bytes></reply>",
                               {}, "application/xml");
    return reply;
}

}  // namespace

TEST_CASE("messages: a JSON request reaches the backend as XML and its XML answer returns as JSON")
{
    ScriptedBackend backend(echoXml);
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/conv/v1/orders", R"({"id":7,"items":[{"sku":"a"},{"sku":"b"}]})",
                                         {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("Content-Type") == "application/json");

    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest& sent = backend.request(0);
    CHECK(sent.header("Content-Type") == "application/xml");
    CHECK(sent.body.find("<order>") != std::string::npos);
    CHECK(sent.body.find("<id>7</id>") != std::string::npos);
    CHECK(sent.body.find("<items><sku>a</sku></items><items><sku>b</sku></items>") != std::string::npos);
    // Content-Length is the formatted body's, not the client's.
    CHECK(sent.header("Content-Length") == std::to_string(sent.body.size()));

    CHECK(r->body.find(R"("type":"application/xml")") != std::string::npos);
    CHECK(r->body.find(R"("bytes":")" + std::to_string(sent.body.size()) + "\"") != std::string::npos);
}

TEST_CASE("messages: a request body that does not parse is refused with 400 before the backend")
{
    ScriptedBackend backend(echoXml);
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/conv/v1/orders", R"({"id":7,)", {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 400);
    CHECK(r->body.find("\"code\":900950") != std::string::npos);
    CHECK(backend.requestCount() == 0);
}
