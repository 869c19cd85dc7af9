// The json_xml plugin (its real .so) with the real builder and formatter plugins around it, the
// way the runtime chains them: the builder for the message's Content-Type builds the tree that
// message_get returns, the handler converts it and calls message_set, and the formatter for the
// media type it set writes the new body.
//
// The fake host's message_get cannot report a builder's refusal and its message_set does not
// keep the media type, so the handler is created here with a copy of the fake's host table
// whose two message slots do both (everything else is the fake's).
#include <doctest/doctest.h>
#include <algorithm>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "CodecTesting.hpp"

using namespace sluice::test;
using sluice::sdk::testing::JsonTree;

namespace {

constexpr const char* kXsi = "http://www.w3.org/2001/XMLSchema-instance";

struct Outcome {
    sluice_action action = SLUICE_ACTION_CONTINUE;
    std::optional<std::string> mediaType;  // what the handler passed to message_set
    std::string body;                      // the body the formatter wrote (when set)
    std::optional<int> status;             // a local response
    std::string response;
    std::string contentType;  // the message's Content-Type header afterwards
    std::optional<std::string> contentEncoding;
};

class Gateway {
public:
    Gateway()
    {
        for (const char* path : {SLUICE_JSON_XML_PATH, SLUICE_JSON_BUILDER_PATH, SLUICE_XML_BUILDER_PATH,
                                 SLUICE_JSON_FORMATTER_PATH, SLUICE_XML_FORMATTER_PATH}) {
            host.open(path);
        }
        jsonBuilder = host.create("json_builder");
        xmlBuilder = host.create("xml_builder");
        jsonFormatter = host.create("json_formatter");
        xmlFormatter = host.create("xml_formatter", R"({"xml_declaration": false})");
        _api = *host.api();
        _api.message_get = &messageGet;
        _api.message_set = &messageSet;
        current() = this;
    }
    ~Gateway() { current() = nullptr; }

    // Creates json_xml_request or json_xml_response against the patched host table.
    std::unique_ptr<FakeInstance> handler(const char* component, std::string_view config)
    {
        const sluice_component* c = host.find(component);
        REQUIRE(c != nullptr);
        JsonTree tree(config);
        auto logger = std::make_unique<sluice_logger>();
        logger->name = std::string("plugin.") + component;
        logger->host = &host;
        char error[512] = {};
        sluice_create_args args{};
        args.struct_size = sizeof args;
        args.host = &_api;
        args.logger = logger.get();
        args.instance_name = component;
        args.config = tree.root();
        args.error = error;
        args.error_capacity = sizeof error;
        void* instance = nullptr;
        if (c->create(&args, &instance) != SLUICE_OK) {
            lastError = error;
            return nullptr;
        }
        return std::make_unique<FakeInstance>(c, instance, std::move(logger));
    }

    // Runs one conversion: a message with this Content-Type and body through the handler.
    Outcome run(const char* component, std::string_view config, std::string_view contentType, std::string_view body,
                const std::vector<std::pair<std::string, std::string>>& extraHeaders = {})
    {
        const bool request = std::string_view(component) == "json_xml_request";
        auto h = handler(component, config);
        REQUIRE(h != nullptr);
        FakeExchange ex = host.exchange();
        ex.phase = request ? SLUICE_PHASE_REQUEST : SLUICE_PHASE_RESPONSE;
        auto& headers = request ? ex.requestHeaders : ex.responseHeaders;
        if (!contentType.empty()) {
            headers.emplace_back("Content-Type", std::string(contentType));
        }
        for (const auto& field : extraHeaders) {
            headers.push_back(field);
        }
        (request ? ex.requestBody : ex.responseBody) = std::string(body);

        // the runtime: the builder registered for the media type builds the message
        std::string type = contentType.empty() ? "" : std::string(contentType.substr(0, contentType.find(';')));
        FakeInstance* builder = handles(builderTable(*jsonBuilder).media_types, type)  ? jsonBuilder.get()
                                : handles(builderTable(*xmlBuilder).media_types, type) ? xmlBuilder.get()
                                                                                       : nullptr;
        _built = builder == nullptr ? nullptr : build(*builder, ex, body, type);
        _buildStatus = builder == nullptr ? SLUICE_E_NOT_FOUND : _built != nullptr ? SLUICE_OK : SLUICE_E_INVALID;
        _setType.reset();
        _set = nullptr;

        Outcome out;
        out.action = request ? host.request(*h, ex) : host.response(*h, ex);
        out.mediaType = _setType;
        if (_setType) {
            FakeInstance& formatter = *_setType == "application/xml" ? *xmlFormatter : *jsonFormatter;
            out.body = format(formatter, ex, _set, *_setType).value_or("<formatter failed>");
            CHECK((request ? ex.requestMessage : ex.responseMessage) == _set);
        }
        out.status = ex.respondedStatus;
        out.response = ex.respondedBody;
        out.contentType = ex.header(headers, "Content-Type").value_or("");
        out.contentEncoding = ex.header(headers, "Content-Encoding");
        return out;
    }

    FakeHost host;
    std::unique_ptr<FakeInstance> jsonBuilder, xmlBuilder, jsonFormatter, xmlFormatter;
    std::string lastError;

private:
    static Gateway*& current()
    {
        static Gateway* g = nullptr;
        return g;
    }
    static sluice_status messageGet(sluice_exchange*, sluice_message_kind, const sluice_value** out)
    {
        *out = current()->_built;
        return current()->_buildStatus;
    }
    static sluice_status messageSet(sluice_exchange* ex, sluice_message_kind msg, const sluice_value* value,
                                    sluice_str mediaType)
    {
        Gateway& g = *current();
        g._set = value;
        g._setType = std::string(sluice::sdk::view(mediaType));
        return g.host.api()->message_set(ex, msg, value, mediaType);
    }

    sluice_host_api _api{};
    const sluice_value* _built = nullptr;
    sluice_status _buildStatus = SLUICE_E_NOT_FOUND;
    const sluice_value* _set = nullptr;
    std::optional<std::string> _setType;
};

constexpr const char* kToXml = R"({"to": "xml"})";
constexpr const char* kToJson = R"({"to": "json"})";

}  // namespace

TEST_CASE("manifest: one component per direction, each buffering only its own body")
{
    FakeHost host;
    host.open(SLUICE_JSON_XML_PATH);
    const sluice_component* req = host.find("json_xml_request");
    const sluice_component* res = host.find("json_xml_response");
    REQUIRE(req != nullptr);
    REQUIRE(res != nullptr);
    CHECK(req->kind == SLUICE_KIND_HANDLER);
    CHECK(req->flags == SLUICE_COMPONENT_NEEDS_REQUEST_BODY);
    CHECK(res->flags == SLUICE_COMPONENT_NEEDS_RESPONSE_BODY);
    REQUIRE(req->config_schema != nullptr);
    CHECK(std::string(req->config_schema).find("\"root\"") != std::string::npos);
}

TEST_CASE_FIXTURE(Gateway, "request JSON -> XML: wrapped in <root>, per the mapping")
{
    Outcome o = run("json_xml_request", kToXml, "application/json",
                    R"({"order":{"@id":"7","item":["a","b"],"qty":2,"paid":true,"note":null,"memo":""}})");
    CHECK(o.action == SLUICE_ACTION_CONTINUE);
    CHECK(o.mediaType == std::string("application/xml"));
    CHECK(o.contentType == "application/xml");
    CHECK(o.body == std::string(R"(<root><order id="7"><item>a</item><item>b</item><qty>2</qty><paid>true</paid>)") +
                        "<note xmlns:xsi=\"" + kXsi + "\" xsi:nil=\"true\"/><memo/></order></root>");
}

TEST_CASE_FIXTURE(Gateway, "request JSON -> XML: top-level arrays, scalars, empty objects")
{
    CHECK(run("json_xml_request", kToXml, "application/json", R"([1,"x",{"a":"b"}])").body ==
          "<root><item>1</item><item>x</item><item><a>b</a></item></root>");
    CHECK(run("json_xml_request", kToXml, "application/json", R"("text")").body == "<root>text</root>");
    CHECK(run("json_xml_request", kToXml, "application/json", "{}").body == "<root/>");
    CHECK(run("json_xml_request", kToXml, "application/json", "[]").body == "<root/>");
    CHECK(run("json_xml_request", kToXml, "application/problem+json; charset=utf-8", R"({"title":"t"})").body ==
          "<root><title>t</title></root>");
}

TEST_CASE_FIXTURE(Gateway, "the root element is configurable")
{
    CHECK(run("json_xml_request", R"({"to":"xml","root":"Request"})", "application/json", R"({"a":1})").body ==
          "<Request><a>1</a></Request>");
}

TEST_CASE_FIXTURE(Gateway, "response XML -> JSON: the configured root is unwrapped, any other kept")
{
    Outcome o = run("json_xml_response", kToJson, "application/xml",
                    R"(<root><order id="7"><item>a</item><item>b</item><qty>2</qty></order></root>)");
    CHECK(o.action == SLUICE_ACTION_CONTINUE);
    CHECK(o.mediaType == std::string("application/json"));
    CHECK(o.contentType == "application/json");
    CHECK(o.body == R"({"order":{"@id":"7","item":["a","b"],"qty":"2"}})");
    CHECK(run("json_xml_response", kToJson, "text/xml", "<order><id>7</id></order>").body == R"({"order":{"id":"7"}})");
    CHECK(run("json_xml_response", kToJson, "application/soap+xml", "<root>plain</root>").body == R"("plain")");
    CHECK(run("json_xml_response", R"({"to":"json","root":"order"})", "application/xml", "<order><id>7</id></order>")
              .body == R"({"id":"7"})");
}

TEST_CASE_FIXTURE(Gateway, "messages that are already the target type, of other types, or empty, pass unchanged")
{
    for (auto [component, config, type, body] : {
             std::tuple{"json_xml_request", kToXml, "application/xml", "<a/>"},
             std::tuple{"json_xml_request", kToXml, "text/plain", "hello"},
             std::tuple{"json_xml_request", kToXml, "", "{}"},
             std::tuple{"json_xml_request", kToXml, "application/json", ""},
             std::tuple{"json_xml_response", kToJson, "application/json", "{}"},
             std::tuple{"json_xml_response", kToJson, "application/x-www-form-urlencoded", "a=1"},
             std::tuple{"json_xml_response", kToJson, "application/xml", ""},
         }) {
        const std::string shown_type = shown(type);
        CAPTURE(shown_type);
        const std::string shown_body = shown(body);
        CAPTURE(shown_body);
        Outcome o = run(component, config, type, body);
        CHECK(o.action == SLUICE_ACTION_CONTINUE);
        CHECK_FALSE(o.mediaType);
        CHECK_FALSE(o.status);
        CHECK(o.contentType == type);
    }
}

TEST_CASE_FIXTURE(Gateway, "a request body that does not parse: 400, code 900950")
{
    for (const char* body : {R"({"a":)", R"({"a":1,"a":2})", "[\"\xC3\x28\"]"}) {
        const std::string shown_body = shown(body);
        CAPTURE(shown_body);
        Outcome o = run("json_xml_request", kToXml, "application/json", body);
        CHECK(o.action == SLUICE_ACTION_RESPOND);
        CHECK(o.status == 400);
        CHECK(o.response.find("\"code\":900950") != std::string::npos);
        CHECK_FALSE(o.mediaType);
    }
    Outcome o = run("json_xml_request", kToJson, "application/xml", "<!DOCTYPE a><a/>");
    CHECK(o.status == 400);
    CHECK(o.response.find("\"code\":900950") != std::string::npos);
}

TEST_CASE_FIXTURE(Gateway, "a backend response that does not parse: 502, code 101510")
{
    Outcome o = run("json_xml_response", kToJson, "application/xml", "<a><b></a>");
    CHECK(o.action == SLUICE_ACTION_RESPOND);
    CHECK(o.status == 502);
    CHECK(o.response.find("\"code\":101510") != std::string::npos);
    o = run("json_xml_response", kToXml, "application/json", "[1,]");
    CHECK(o.status == 502);
}

TEST_CASE_FIXTURE(Gateway, "JSON without an XML form: 400/900951 on requests, 502/101511 on responses")
{
    for (const char* body : {R"({"first name":"x"})", R"({"a":[[1,2]]})", R"({"1st":"x"})", R"({"a":"\u0001"})",
                             R"({"p:a":"unbound prefix"})", R"({"@a":{"b":1}})"}) {
        const std::string shown_body = shown(body);
        CAPTURE(shown_body);
        Outcome o = run("json_xml_request", kToXml, "application/json", body);
        CHECK(o.action == SLUICE_ACTION_RESPOND);
        CHECK(o.status == 400);
        CHECK(o.response.find("\"code\":900951") != std::string::npos);
        CHECK_FALSE(o.mediaType);
    }
    Outcome o = run("json_xml_request", kToXml, "application/json", R"({"first name":"x"})");
    CHECK(o.response.find("first name") != std::string::npos);  // the description names the key
    o = run("json_xml_response", kToXml, "application/json", R"({"a b":1})");
    CHECK(o.status == 502);
    CHECK(o.response.find("\"code\":101511") != std::string::npos);
}

TEST_CASE_FIXTURE(Gateway, "no builder for the message: a handler error, logged")
{
    auto h = handler("json_xml_request", kToXml);
    FakeExchange ex = host.exchange();
    ex.requestHeaders.emplace_back("Content-Type", "application/json");
    ex.requestBody = "{}";
    // nothing built: the patched message_get says NOT_FOUND, as for a media type without builder
    CHECK(host.request(*h, ex) == SLUICE_ACTION_ERROR);
    CHECK(logged(host, "is its builder loaded?"));
}

TEST_CASE_FIXTURE(Gateway, "configuration is checked at create")
{
    CHECK(handler("json_xml_request", "{}") == nullptr);
    CHECK(handler("json_xml_request", R"({"to":"yaml"})") == nullptr);
    CHECK(handler("json_xml_request", R"({"to":"xml","root":"1x"})") == nullptr);
    CHECK(handler("json_xml_request", R"({"to":"xml","root":"p:root"})") == nullptr);
    CHECK(handler("json_xml_request", R"({"to":"xml","root":""})") == nullptr);
    CHECK(handler("json_xml_request", R"({"to":"xml","direction":"response"})") == nullptr);
    CHECK(lastError.find("json_xml_response") != std::string::npos);
    CHECK(handler("json_xml_response", R"({"to":"xml","direction":"request"})") == nullptr);
    CHECK(handler("json_xml_request", R"({"to":"xml","direction":"request"})") != nullptr);
    CHECK(handler("json_xml_response", R"({"to":"json","direction":"response","root":"Envelope"})") != nullptr);
}

TEST_CASE_FIXTURE(Gateway, "round trip JSON -> XML -> JSON: exact for strings, objects, arrays of 2+, null")
{
    const char* documents[] = {
        R"({"order":{"id":"7","items":["a","b","c"],"note":null,"nested":{"x":"y","deep":[{"k":"1"},{"k":"2"}]}}})",
        R"({"@version":"2","#text":"mixed","child":"c"})",
        R"({"s:Envelope":{"@xmlns:s":"urn:s","s:Body":"b"}})",
        R"({"text":"a & b < c > d \" ' \t\n\r \ud83d\ude00"})",
        R"(["a","b"])",
        R"("scalar")",
        "null",
    };
    for (const char* doc : documents) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        Outcome xml = run("json_xml_request", kToXml, "application/json", doc);
        REQUIRE(xml.mediaType);
        Outcome json = run("json_xml_response", kToJson, "application/xml", xml.body);
        REQUIRE(json.mediaType);
        std::string expected = doc;
        if (expected == R"(["a","b"])") {
            expected = R"({"item":["a","b"]})";  // a top-level array comes back under "item"
        }
        JsonTree want(expected);
        FakeExchange ex = host.exchange();
        CHECK(json.body == format(*jsonFormatter, ex, want.root()));
    }
}

TEST_CASE_FIXTURE(Gateway, "round trip JSON -> XML -> JSON: the documented losses")
{
    auto trip = [&](const char* json) {
        Outcome xml = run("json_xml_request", kToXml, "application/json", json);
        return run("json_xml_response", kToJson, "application/xml", xml.body).body;
    };
    CHECK(trip(R"({"n":1.50,"b":true})") == R"({"n":"1.50","b":"true"})");  // XML text has no types
    CHECK(trip(R"({"one":["a"]})") == R"({"one":"a"})");                    // one item is one element
    CHECK(trip(R"({"none":[],"k":"v"})") == R"({"k":"v"})");                // no items, no element
    CHECK(trip(R"({"empty":{}})") == R"({"empty":""})");                    // an empty element
    CHECK(trip(R"({"t":{"#text":"x"}})") == R"({"t":"x"})");                // text alone is the value
}

TEST_CASE_FIXTURE(Gateway, "round trip XML -> JSON -> XML: exact for canonical documents")
{
    const std::string documents[] = {
        R"(<order id="7"><item sku="a">one</item><item sku="b">two</item><note/></order>)",
        "<order><p>Hello <b>big</b><c>x</c></p></order>",
        std::string("<order xmlns:xsi=\"") + kXsi + "\"><a xsi:nil=\"true\"/><b>x</b></order>",
        R"(<order xmlns="urn:d" xmlns:m="urn:m"><m:op m:x="1">v &amp; &lt;w&gt;</m:op></order>)",
        "<order>plain</order>",
    };
    for (const std::string& doc : documents) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        Outcome json = run("json_xml_response", R"({"to":"json","root":"order"})", "application/xml", doc);
        REQUIRE(json.mediaType);
        Outcome xml = run("json_xml_request", R"({"to":"xml","root":"order"})", "application/json", json.body);
        CHECK(xml.body == doc);
    }
}

TEST_CASE_FIXTURE(Gateway, "JSON whose XML would be far larger is refused, not expanded: max_xml_bytes")
{
    // Each item repeats the 16 KiB key twice: 48 KiB of JSON would be 96 MiB of XML.
    const std::string key(16u << 10, 'k');
    const std::string body = "{\"" + key + "\":[" + repeat("1,", 2999) + "1]}";
    auto start = std::chrono::steady_clock::now();
    Outcome o = run("json_xml_request", R"({"to":"xml","max_expansion":1048576})", "application/json", body);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    CHECK(o.status == 400);
    CHECK(o.response.find("\"code\":900951") != std::string::npos);
    CHECK(o.response.find("larger than 33554432 bytes") != std::string::npos);
    CHECK_FALSE(o.mediaType);

    const char* small = R"({"to":"xml","max_xml_bytes":40})";
    CHECK(run("json_xml_request", small, "application/json", R"({"a":["x","y"]})").body ==
          "<root><a>x</a><a>y</a></root>");  // 29 bytes
    o = run("json_xml_response", small, "application/json", R"({"a":["x","y","z","w"]})");
    CHECK(o.status == 502);
    CHECK(o.response.find("\"code\":101511") != std::string::npos);
    CHECK(handler("json_xml_request", R"({"to":"xml","max_xml_bytes":0})") == nullptr);
}

TEST_CASE_FIXTURE(Gateway, "JSON whose XML would be over max_expansion times its size is refused beyond 1 MiB")
{
    // 13 KB of JSON, a 10,000-character key over 1,600 items: 32 MB of XML (2,400 times).
    const std::string key(10000, 'k');
    const std::string body = "{\"" + key + "\":[" + repeat("1,", 1599) + "1]}";
    Outcome o = run("json_xml_request", kToXml, "application/json", body);
    CHECK(o.status == 400);
    CHECK(o.response.find("\"code\":900951") != std::string::npos);
    CHECK(o.response.find("max_expansion: at most 32 times") != std::string::npos);
    o = run("json_xml_response", kToXml, "application/json", body);
    CHECK(o.status == 502);
    CHECK(o.response.find("\"code\":101511") != std::string::npos);
    // Allowed when the ratio is raised: the same document within max_xml_bytes.
    o = run("json_xml_request", R"({"to":"xml","max_expansion":4096})", "application/json", body);
    CHECK_FALSE(o.status);
    CHECK(o.body.size() > 32000000);
    // Up to 1 MiB of XML is allowed whatever the ratio: 200 items of a 1,000-character key,
    // about 400 KB from 1.4 KB (about 280 times).
    const std::string shortBody = "{\"" + std::string(1000, 'k') + "\":[" + repeat("1,", 199) + "1]}";
    o = run("json_xml_request", kToXml, "application/json", shortBody);
    CHECK_FALSE(o.status);
    CHECK(o.body.size() > 32 * shortBody.size());
    CHECK(handler("json_xml_request", R"({"to":"xml","max_expansion":0})") == nullptr);
}

TEST_CASE_FIXTURE(Gateway, "a content-coded body is never parsed: 415/900952 on requests, 502/101510 on responses")
{
    const std::string gzip("\x1F\x8B\x08\x00\x00\x00\x00\x00\x00\x03\xAB\xAE\x05\x00", 14);
    Outcome o = run("json_xml_request", kToXml, "application/json", gzip, {{"Content-Encoding", "gzip"}});
    CHECK(o.action == SLUICE_ACTION_RESPOND);
    CHECK(o.status == 415);
    CHECK(o.response.find("\"code\":900952") != std::string::npos);
    CHECK_FALSE(o.mediaType);
    // Even a body that happens to parse: converted, it would go on labelled gzip.
    o = run("json_xml_request", kToXml, "application/json", "{}", {{"Content-Encoding", "GZIP"}});
    CHECK(o.status == 415);
    o = run("json_xml_response", kToJson, "application/xml", "<a/>", {{"Content-Encoding", "br"}});
    CHECK(o.status == 502);
    CHECK(o.response.find("\"code\":101510") != std::string::npos);
    CHECK_FALSE(o.contentEncoding);  // the JSON error is not labelled br
    // A second line adds to the list: identity then br is coded (either direction), and so is an
    // empty line before gzip.
    o = run("json_xml_response", kToXml, "application/json", R"({"a":1})",
            {{"Content-Encoding", "identity"}, {"Content-Encoding", "br"}});
    CHECK(o.status == 502);
    CHECK(o.response.find("\"code\":101510") != std::string::npos);
    CHECK_FALSE(o.mediaType);
    o = run("json_xml_request", kToXml, "application/json", gzip,
            {{"Content-Encoding", ""}, {"Content-Encoding", "gzip"}});
    CHECK(o.status == 415);
    // identity is no coding at all, on one line or several
    o = run("json_xml_request", kToXml, "application/json", R"({"a":1})",
            {{"Content-Encoding", "identity"}, {"Content-Encoding", "IDENTITY"}});
    CHECK_FALSE(o.status);
    CHECK(o.body == "<root><a>1</a></root>");
    o = run("json_xml_request", kToXml, "application/json", R"({"a":1})", {{"Content-Encoding", " Identity "}});
    CHECK_FALSE(o.status);
    CHECK(o.body == "<root><a>1</a></root>");
}

TEST_CASE_FIXTURE(Gateway,
                  "json_xml_response labels a HEAD answer as a GET's would be: converted type, no length or validators")
{
    auto headAnswer = [&](const std::string& config, const FakeExchange::Headers& fields,
                          const FakeExchange::Headers& request = {}) {
        auto h = handler("json_xml_response", config);
        REQUIRE(h != nullptr);
        FakeExchange ex = host.exchange();
        ex.phase = SLUICE_PHASE_RESPONSE;
        ex.attributes[SLUICE_ATTR_METHOD] = "HEAD";
        ex.requestHeaders = request;
        ex.responseHeaders = fields;
        ex.responseBody = std::string();  // a HEAD answer has no body
        CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
        CHECK(ex.responseMessage == nullptr);  // nothing was built or set
        return ex;
    };
    auto has = [](const FakeExchange& ex, const std::string& name) {
        return std::any_of(ex.responseHeaders.begin(), ex.responseHeaders.end(),
                           [&](const auto& f) { return f.first == name; });
    };
    auto value = [](const FakeExchange& ex, const std::string& name) {
        for (const auto& f : ex.responseHeaders) {
            if (f.first == name) {
                return f.second;
            }
        }
        return std::string();
    };
    const FakeExchange::Headers json = {{"Content-Type", "application/json"},
                                        {"Content-Length", "31"},
                                        {"ETag", "\"a\""},
                                        {"Cache-Control", "max-age=60"}};
    FakeExchange toXml = headAnswer(kToXml, json);
    CHECK(value(toXml, "Content-Type") == "application/xml");
    CHECK_FALSE(has(toXml, "Content-Length"));
    CHECK_FALSE(has(toXml, "ETag"));
    CHECK(value(toXml, "Cache-Control") == "max-age=60");
    FakeExchange toJson = headAnswer(kToJson, {{"Content-Type", "text/xml"}, {"Content-Length", "9"}});
    CHECK(value(toJson, "Content-Type") == "application/json");
    CHECK_FALSE(has(toJson, "Content-Length"));
    // What a GET would get unconverted stays as it came: another type, a coded body, a part.
    FakeExchange other = headAnswer(kToXml, {{"Content-Type", "text/plain"}, {"Content-Length", "5"}});
    CHECK(value(other, "Content-Length") == "5");
    FakeExchange coded = headAnswer(
        kToXml, {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}, {"Content-Length", "20"}});
    CHECK(value(coded, "Content-Type") == "application/json");
    CHECK(value(coded, "Content-Length") == "20");
    FakeExchange part = headAnswer(kToXml, {{"Content-Type", "application/json"}, {"Content-Range", "bytes 0-9/31"}});
    CHECK(value(part, "Content-Type") == "application/json");
    FakeExchange empty = headAnswer(kToXml, {{"Content-Type", "application/json"}, {"Content-Length", "0"}});
    CHECK(value(empty, "Content-Type") == "application/json");
    // A conditional HEAD may be answered 304, whose validators the client asked about.
    FakeExchange conditional = headAnswer(kToXml, json, {{"If-None-Match", "\"a\""}});
    CHECK(value(conditional, "Content-Type") == "application/json");
    CHECK(value(conditional, "ETag") == "\"a\"");
}

TEST_CASE_FIXTURE(Gateway, "json_xml_response asks the backend for an identity response")
{
    auto h = handler("json_xml_response", kToJson);
    REQUIRE(h != nullptr);
    FakeExchange ex = host.exchange();
    ex.phase = SLUICE_PHASE_REQUEST;
    ex.requestHeaders.emplace_back("Accept-Encoding", "gzip, br");
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.header(ex.requestHeaders, "Accept-Encoding") == "identity");
}

TEST_CASE_FIXTURE(Gateway, "a message without a body (GET, HEAD, 304) passes unchanged, whatever its Content-Type")
{
    for (const char* component : {"json_xml_request", "json_xml_response"}) {
        const std::string shown_component = component;
        CAPTURE(shown_component);
        const bool request = shown_component == "json_xml_request";
        auto h = handler(component, request ? kToXml : kToJson);
        REQUIRE(h != nullptr);
        FakeExchange ex = host.exchange();
        ex.phase = request ? SLUICE_PHASE_REQUEST : SLUICE_PHASE_RESPONSE;
        (request ? ex.requestHeaders : ex.responseHeaders)
            .emplace_back("Content-Type", request ? "application/json" : "application/xml");
        // no body: nothing was buffered, as for a GET or for the response to a HEAD
        CHECK((request ? host.request(*h, ex) : host.response(*h, ex)) == SLUICE_ACTION_CONTINUE);
        CHECK_FALSE(ex.respondedStatus);
    }
}
