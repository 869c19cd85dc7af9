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

// One API "/x2j" whose requests go to the backend converted from XML to JSON.
GatewaySpec xmlToJsonGateway(const ScriptedBackend& backend)
{
    GatewaySpec spec;
    spec.apis.emplace_back("x2j",
                           apiJson("/x2j", endpointList({backend.url()}),
                                   R"("handlers": [{"component": "json_xml_request", "config": {"to": "json"}}])"));
    return spec;
}

BackendReply echoXml(const ReceivedRequest& r)
{
    BackendReply reply;
    std::string type = r.header("Content-Type").value_or("none");
    reply.bytes = httpResponse(
        200, "<reply><type>" + type + "</type><bytes>" + std::to_string(r.body.size()) + "</bytes></reply>", {},
        "application/xml");
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

// A converted body is bounded by http.max_body_bytes as received ones are: the conversion may
// grow it (JSON to XML, several times), and the backend or the client would otherwise get more
// than the gateway accepts from anyone.
TEST_CASE("messages: a body that a conversion grows past http.max_body_bytes is 413 (request) or 502 (response)")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        std::string items = "[";
        for (int i = 0; i < 400; ++i) {
            items += (i ? "," : "") + std::string("1");
        }
        reply.bytes = httpResponse(200, R"({"items":)" + items + "]}", {}, "application/json");
        (void)r;
        return reply;
    });
    GatewaySpec spec;
    spec.http = R"({"max_body_bytes": 4096})";
    spec.apis.emplace_back(
        "req", apiJson("/req", endpointList({backend.url()}),
                       R"("handlers": [{"component": "json_xml_request", "config": {"to": "xml", "root": "o"}}])"));
    spec.apis.emplace_back(
        "resp", apiJson("/resp", endpointList({backend.url()}),
                        R"("handlers": [{"component": "json_xml_response", "config": {"to": "xml", "root": "o"}}])"));
    SluicedProcess gw(spec);
    std::string items = "[";
    for (int i = 0; i < 400; ++i) {
        items += (i ? "," : "") + std::string("1");
    }
    const std::string json = R"({"items":)" + items + "]}";  // 811 bytes; as XML, about 6 KB
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/req/v1/x", json, {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 413);
    CHECK(r->errorCode() == 101413);
    CHECK(backend.requestCount() == 0);

    RawClient other(gw.port());
    auto answer = other.exchange(getRequest("/resp/v1/x"));
    REQUIRE_MESSAGE(answer, other.error());
    CHECK(answer->status == 502);
    CHECK(answer->errorCode() == 101502);

    // Within the limit it passes.
    RawClient small(gw.port());
    auto fine = small.exchange(bodyRequest("POST", "/req/v1/x", R"({"a":1})", {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(fine, small.error());
    CHECK(fine->status == 200);
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

TEST_CASE("messages: a gzip request body is refused with 415, neither parsed nor forwarded")
{
    ScriptedBackend backend(echoXml);
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    const std::string gzip("\x1F\x8B\x08\x00\x00\x00\x00\x00\x00\x03\xAB\xAE\x05\x00\x43\xBF\xA6\xA3\x02\x00\x00\x00",
                           22);
    auto r = client.exchange(
        bodyRequest("POST", "/conv/v1/orders", gzip, {"Content-Type: application/json", "Content-Encoding: gzip"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 415);
    CHECK(r->errorCode() == 900952);
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("messages: a +json type without a builder of its own is converted like application/json")
{
    ScriptedBackend backend(echoXml);
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    auto r = client.exchange(
        bodyRequest("POST", "/conv/v1/orders", R"({"id":7})", {"Content-Type: application/vnd.acme.order+json"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("Content-Type") == "application/xml");
    CHECK(backend.request(0).body == R"(<?xml version="1.0" encoding="UTF-8"?><order><id>7</id></order>)");
}

TEST_CASE("messages: json_xml_response asks the backend for identity, so a gzip-accepting client still gets JSON")
{
    // A backend that compresses whenever the request allows it (as most do for Accept-Encoding: gzip).
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        const std::string accept = r.header("Accept-Encoding").value_or("");
        if (accept.find("gzip") != std::string::npos) {
            reply.bytes = httpResponse(200, std::string("\x1F\x8B\x08\x00", 4), {{"Content-Encoding", "gzip"}},
                                       "application/xml");
        } else {
            reply.bytes = httpResponse(200, "<reply><accept>" + accept + "</accept></reply>", {}, "application/xml");
        }
        return reply;
    });
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/conv/v1/orders", {"Accept-Encoding: gzip, deflate, br"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->body == R"({"reply":{"accept":"identity"}})");
}

TEST_CASE("messages: JSON whose XML would be gigabytes is refused quickly, the gateway's memory stays flat")
{
    ScriptedBackend backend(echoXml);
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    // 16 KiB of key repeated in each of 20 000 items: 56 KiB of JSON, 640 MiB of XML.
    std::string body = "{\"" + std::string(16u << 10, 'k') + "\":[";
    for (int i = 0; i < 20000; ++i) {
        body += i == 0 ? "1" : ",1";
    }
    body += "]}";
    const long before = gw.statusValue("VmHWM");
    auto start = Clock::now();
    auto r = client.exchange(bodyRequest("POST", "/conv/v1/orders", body, {"Content-Type: application/json"}),
                             std::chrono::milliseconds(60000));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(millisSince(start) < 3000);
    CHECK(r->status == 400);
    CHECK(r->errorCode() == 900951);
    CHECK(backend.requestCount() == 0);
    CHECK(gw.statusValue("VmHWM") - before < 100 * 1024);  // kB
}

TEST_CASE("messages: a GET with a JSON Content-Type and a HEAD of an XML resource pass, not 500")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        if (r.method != "HEAD") {
            return echoXml(r);
        }
        BackendReply reply;  // the head a GET would have, without the body
        reply.bytes = "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 20\r\n\r\n";
        return reply;
    });
    SluicedProcess gw(convertingGateway(backend));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/conv/v1/orders", {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("Content-Type") == "application/json");  // the XML answer, converted
    auto head = client.exchange(getRequest("/conv/v1/orders", {}, "HEAD"));
    REQUIRE_MESSAGE(head, client.error());
    CHECK(head->status == 200);
    CHECK(backend.requestCount() == 2);
}

TEST_CASE("messages: a converted answer reaches a client that closes after it, HTTP/1.1 or HTTP/1.0")
{
    // The converted body is written with the head; the exchange then ends and the connection
    // closes, so nothing may be left to write after that.
    ScriptedBackend backend(echoXml);
    SluicedProcess gw(convertingGateway(backend));
    for (const std::string& request :
         {std::string("GET /conv/v1/orders HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
          std::string("GET /conv/v1/orders HTTP/1.0\r\n\r\n")}) {
        CAPTURE(request);
        RawClient client(gw.port());
        auto r = client.exchange(request);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->header("Content-Type") == "application/json");
        CHECK(r->body.find(R"("type":"none")") != std::string::npos);
        CHECK(r->header("Content-Length") == std::to_string(r->body.size()));
        CHECK(client.waitClosed(3s));
    }
}

TEST_CASE("messages: a changed response that cannot be formatted is a 500 without the backend's fields")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, R"({"ok":true})", {{"Set-Cookie", "session=abc"}, {"ETag", "\"v1\""}},
                                   "application/json");
        return reply;
    });
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("odd", apiJson("/odd", endpointList({backend.url()}),
                                          R"("handlers": [{"component": "test_unformattable", "config": {}}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/odd/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 500);
    CHECK(r->errorCode() == 101500);
    CHECK_FALSE(r->header("Set-Cookie"));
    CHECK_FALSE(r->header("ETag"));
    CHECK(r->header("X-Unformattable") == "set");  // added by the handler, not the backend's
}

TEST_CASE("messages: a body step after a conversion works on the converted bytes, and its own change wins")
{
    // json_xml replaces the structured message; a Lua step after it reads the body as bytes and
    // writes new ones. It must see the XML (not the client's JSON), and its bytes must be what
    // leaves (not overwritten by the conversion at the end of the chain). Both directions; on the
    // response the chain runs in reverse, so the Lua step written first runs last.
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, R"({"b":2})", {}, "application/json");
        return reply;
    });
    GatewaySpec spec;
    spec.apis.emplace_back("conv", apiJson("/conv", endpointList({backend.url()}),
                                           R"("handlers": [
          {"component": "lua_mediation_response_body", "config": {"source": "function on_response(ctx) ctx.response.set_body('LUA:' .. ctx.response.get_body()) end"}},
          {"component": "json_xml_request", "config": {"to": "xml", "root": "order"}},
          {"component": "lua_mediation_request_body", "config": {"source": "function on_request(ctx) ctx.request.set_body('LUA:' .. ctx.request.get_body()) end"}},
          {"component": "json_xml_response", "config": {"to": "xml", "root": "reply"}}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/conv/v1/orders", R"({"a":1})", {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest& sent = backend.request(0);
    INFO("backend got: " << sent.body);
    CHECK(sent.body.rfind("LUA:<?xml", 0) == 0);
    CHECK(sent.body.find("<order><a>1</a></order>") != std::string::npos);
    CHECK(sent.header("Content-Type") == "application/xml");
    CHECK(sent.header("Content-Length") == std::to_string(sent.body.size()));
    INFO("client got: " << r->body);
    CHECK(r->body.rfind("LUA:<?xml", 0) == 0);
    CHECK(r->body.find("<reply><b>2</b></reply>") != std::string::npos);
    CHECK(r->header("Content-Type") == "application/xml");
}

TEST_CASE("messages: a +xml body without a builder of its own keeps its charset while it is built")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = xmlToJsonGateway(backend);
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/x2j/v1/doc", std::string("<root><a>\xE9</a></root>"),
                                         {"Content-Type: application/vnd.acme+xml; charset=iso-8859-1"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).body == "{\"a\":\"\xC3\xA9\"}");  // é, read as Latin-1, sent as UTF-8
    CHECK(backend.request(0).header("Content-Type") == "application/json");
}

TEST_CASE(
    "messages: a converted answer loses the fields that described the backend's bytes, and a part is not converted")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/part") {
            reply.bytes =
                "HTTP/1.1 206 Partial Content\r\nContent-Type: application/xml\r\nContent-Range: bytes 0-6/100\r\n"
                "Content-Length: 7\r\n\r\n<reply>";
            return reply;
        }
        const std::string body = "<reply><b>2</b></reply>";
        reply.bytes =
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nETag: \"v1\"\r\nLast-Modified: Tue, 01 Sep 2026 "
            "10:00:00 GMT\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\nDigest: sha-256=abc\r\nAccept-Ranges: "
            "bytes\r\nSet-Cookie: s=1\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + (r.method == "HEAD" ? "" : body);
        return reply;
    });
    GatewaySpec spec;
    spec.apis.emplace_back("rx",
                           apiJson("/rx", endpointList({backend.url()}),
                                   R"("handlers": [{"component": "json_xml_response", "config": {"to": "json"}}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/rx/v1/doc", {"Range: bytes=0-3", "If-Range: \"v1\""}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == R"({"reply":{"b":"2"}})");
    for (const char* gone : {"ETag", "Last-Modified", "Content-MD5", "Digest", "Accept-Ranges"}) {
        CAPTURE(gone);
        CHECK_FALSE(r->header(gone));
    }
    CHECK(r->header("Set-Cookie") == "s=1");
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK_FALSE(backend.request(0).header("Range"));  // the whole document is asked for
    CHECK_FALSE(backend.request(0).header("If-Range"));
    // A backend that sends a part anyway: passed on as it is.
    auto part = client.exchange(getRequest("/rx/v1/part"));
    REQUIRE_MESSAGE(part, client.error());
    CHECK(part->status == 206);
    CHECK(part->body == "<reply>");
    CHECK(part->header("Content-Range") == "bytes 0-6/100");
    // HEAD: the fields say what a GET gets (JSON, no validators), and no length of the XML.
    REQUIRE(client.send("HEAD /rx/v1/doc HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto head = client.read(5s, "HEAD");
    REQUIRE_MESSAGE(head, client.error());
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    CHECK(head->header("Content-Type") == "application/json");
    CHECK_FALSE(head->header("Content-Length"));
    CHECK_FALSE(head->header("ETag"));
    CHECK(head->header("Set-Cookie") == "s=1");
    auto after = client.exchange(getRequest("/rx/v1/doc"));  // the connection is still in step
    REQUIRE_MESSAGE(after, client.error());
    CHECK(after->body == R"({"reply":{"b":"2"}})");
}

TEST_CASE("messages: builders and formatters take their configuration from sluice.json's messages")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = xmlToJsonGateway(backend);
    spec.messages =
        R"({"xml_builder": {"config": {"max_depth": 3}}, "json_formatter": {"config": {"ascii_only": true}}})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto deep = client.exchange(
        bodyRequest("POST", "/x2j/v1/doc", "<a><b><c><d>1</d></c></b></a>", {"Content-Type: application/xml"}));
    REQUIRE_MESSAGE(deep, client.error());
    CHECK(deep->status == 400);
    CHECK(deep->errorCode() == 900950);
    auto fine = client.exchange(
        bodyRequest("POST", "/x2j/v1/doc", "<a><b><c>\xC3\xA9</c></b></a>", {"Content-Type: application/xml"}));
    REQUIRE_MESSAGE(fine, client.error());
    CHECK(fine->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).body == R"({"a":{"b":{"c":"\u00e9"}}})");  // ascii_only

    // What is refused, with the file and the pointer.
    auto whyNotStarted = [&](const std::string& messages) {
        GatewaySpec bad = spec;
        bad.messages = messages;
        try {
            SluicedProcess refused(bad);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    const std::string outOfBounds = whyNotStarted(R"({"xml_builder": {"config": {"max_depth": 0}}})");
    CHECK_MESSAGE(contains(outOfBounds, "/messages/xml_builder/config"), outOfBounds);
    const std::string unknown = whyNotStarted(R"({"yaml_builder": {"config": {}}})");
    CHECK_MESSAGE(contains(unknown, "/messages/yaml_builder: no loaded builder or formatter is named 'yaml_builder'"),
                  unknown);
    const std::string handler = whyNotStarted(R"({"json_xml_request": {"config": {}}})");
    CHECK_MESSAGE(contains(handler, "is a handler, not a builder or formatter"), handler);
    const std::string shape = whyNotStarted(R"({"xml_builder": {"max_depth": 3}})");
    CHECK_MESSAGE(contains(shape, "/messages/xml_builder"), shape);
}

TEST_CASE("messages: a text body a formatter wrote is labelled UTF-8, the formatters' encoding")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "old", {}, "text/plain; charset=iso-8859-1");
        return reply;
    });
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("txt", apiJson("/txt", endpointList({backend.url()}),
                                          R"("handlers": [{"component": "test_unformattable",
                                                           "config": {"media_type": "text/plain", "text": "h\u00e9"}}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/txt/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "h\xC3\xA9");
    CHECK(r->header("Content-Type") == "text/plain; charset=utf-8");
}
