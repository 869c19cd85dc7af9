// HeaderList, request attributes, query parameters and percent-decoding.
#include "sluice/runtime/Exchange.h"

#include <cstring>
#include <limits>
#include <string>

#include <doctest/doctest.h>

using namespace sluice::runtime;

namespace {

// An enum value outside the declared enumerators, as a C plugin could pass one.
template <typename Enum>
Enum outOfRange(int value)
{
    static_assert(sizeof(Enum) == sizeof(int), "C enums are int-sized");
    Enum e;
    std::memcpy(&e, &value, sizeof e);
    return e;
}

}  // namespace

TEST_CASE("HeaderList: names compare case-insensitively and values keep wire order")
{
    HeaderList h;
    h.add("Accept", "text/plain");
    h.add("X-Trace", "a");
    h.add("x-trace", "b");
    CHECK(h.size() == 3);
    CHECK(h.get("accept") == std::optional<std::string_view>("text/plain"));
    CHECK(h.get("ACCEPT") == std::optional<std::string_view>("text/plain"));
    CHECK(h.get("X-TRACE", 0) == std::optional<std::string_view>("a"));
    CHECK(h.get("X-TRACE", 1) == std::optional<std::string_view>("b"));
    CHECK_FALSE(h.get("x-trace", 2).has_value());
    CHECK_FALSE(h.get("Missing").has_value());
    CHECK(h.entries()[1].first == "X-Trace");  // the name keeps its spelling
}

TEST_CASE("HeaderList: set replaces every value, remove drops every value")
{
    HeaderList h;
    h.add("Host", "example");
    h.add("X-A", "1");
    h.add("x-a", "2");
    h.set("X-a", "3");
    CHECK(h.size() == 2);
    CHECK(h.get("x-A") == std::optional<std::string_view>("3"));
    CHECK_FALSE(h.get("x-a", 1).has_value());
    CHECK(h.entries().back().first == "X-a");
    h.remove("X-A");
    CHECK(h.size() == 1);
    CHECK_FALSE(h.get("x-a").has_value());
    h.remove("not-there");
    CHECK(h.size() == 1);
    CHECK(h.get("host") == std::optional<std::string_view>("example"));
}

TEST_CASE("HeaderList: a request's list also reads, removes and replaces the '_' and '.' spellings of a name")
{
    // PHP, WSGI and Rack read X_Internal_User (PHP also X.Internal.User) as X-Internal-User: a
    // policy that strips or sets the field must leave no stand-in for it. A response's list, for
    // clients, which read names as spelt, matches them exactly (case aside).
    Arena arena(1024);
    HeaderList request(arena, HeaderList::Matching::Cgi);
    HeaderList response(arena);
    for (HeaderList* h : {&request, &response}) {
        h->add("X-Internal-User", "a");
        h->add("X_Internal_User", "b");
        h->add("x.internal.user", "c");
        h->add("X-Internal-Users", "d");
        h->add("X_Client_Address", "e");
    }
    request.remove("X-Internal-User");
    CHECK(request.size() == 2);
    CHECK(request.get("X-Internal-Users") == std::optional<std::string_view>("d"));
    request.set("X-Client-Address", "gateway");
    CHECK(request.size() == 2);
    CHECK(request.entries().back().first == "X-Client-Address");  // the client's spelling is gone
    CHECK(request.get("X-Client-Address") == std::optional<std::string_view>("gateway"));
    // get() reads them so too.
    CHECK(request.get("X_Internal_Users") == std::optional<std::string_view>("d"));
    CHECK(request.get("x.client.address") == std::optional<std::string_view>("gateway"));

    response.remove("X-Internal-User");
    CHECK(response.size() == 4);
    CHECK(response.get("X_Internal_User") == std::optional<std::string_view>("b"));
    CHECK_FALSE(response.get("X-Client-Address").has_value());
}

TEST_CASE("HeaderList: dropReceived takes away the peer's fields, rewritten or not, and keeps the ones added since")
{
    HeaderList h;
    h.add("Set-Cookie", "s=1");
    h.add("ETag", "\"v1\"");
    h.add("Cache-Control", "no-store");
    h.markReceived();
    h.add("X-Added", "1");
    h.set("Cache-Control", "private");  // rewritten, still the peer's
    h.set("X-Set", "2");                // a new name: the handler's
    h.remove("ETag");
    CHECK(h.get("Cache-Control") == std::optional<std::string_view>("private"));
    h.dropReceived();
    REQUIRE(h.size() == 2);
    CHECK(h.entries()[0] == HeaderList::Entry("X-Added", "1"));
    CHECK(h.entries()[1] == HeaderList::Entry("X-Set", "2"));
    h.dropReceived();  // nothing received any more
    CHECK(h.size() == 2);
    h.markReceived();
    h.clear();
    h.add("X-New", "1");
    h.dropReceived();  // clear() forgot the mark
    CHECK(h.size() == 1);
}

TEST_CASE("HeaderList: joinValues makes one field of several, in the first one's place, empty values left out")
{
    HeaderList h;
    h.add("Cookie", "a=1");
    h.add("Accept", "*/*");
    h.add("cookie", "");
    h.add("COOKIE", "b=2; c=3");
    h.add("X-After", "1");
    REQUIRE(h.joinValues("Cookie", "; "));
    REQUIRE(h.size() == 3);
    CHECK(h.entries()[0] == HeaderList::Entry("Cookie", "a=1; b=2; c=3"));
    CHECK(h.entries()[1] == HeaderList::Entry("Accept", "*/*"));
    CHECK(h.entries()[2] == HeaderList::Entry("X-After", "1"));

    HeaderList one;  // one value, in a later field than the first of the name
    one.add("Cookie", "");
    one.add("X", "1");
    one.add("Cookie", "b=2");
    REQUIRE(one.joinValues("cookie", "; "));
    REQUIRE(one.size() == 2);
    CHECK(one.entries()[0] == HeaderList::Entry("Cookie", "b=2"));

    HeaderList none;
    none.add("X", "1");
    REQUIRE(none.joinValues("Cookie", "; "));
    CHECK(none.size() == 1);

    HeaderList received;  // joined received fields stay received ones
    received.add("Warning", "199 - \"a\"");
    received.add("Warning", "199 - \"b\"");
    received.markReceived();
    received.add("X-Added", "1");
    REQUIRE(received.joinValues("Warning", ", "));
    CHECK(received.get("Warning") == std::optional<std::string_view>("199 - \"a\", 199 - \"b\""));
    received.dropReceived();
    REQUIRE(received.size() == 1);
    CHECK(received.entries()[0].first == "X-Added");
}

TEST_CASE("HeaderList: header names must be tokens and values must not carry CR, LF or NUL")
{
    CHECK(HeaderList::validName("X-Correlation-ID"));
    CHECK(HeaderList::validName("a!#$%&'*+-.^_`|~9"));
    CHECK_FALSE(HeaderList::validName(""));
    CHECK_FALSE(HeaderList::validName("Bad Name"));
    CHECK_FALSE(HeaderList::validName("Bad:Name"));
    CHECK_FALSE(HeaderList::validName("X-Inject\r\nEvil"));
    CHECK_FALSE(HeaderList::validName(std::string(257, 'a')));
    // tchar: 10 digits, 52 letters and 15 symbols, nothing at or above 0x80.
    int tokens = 0;
    for (int c = 0; c < 256; ++c) {
        const bool token = HeaderList::validName(std::string(1, static_cast<char>(c)));
        tokens += token ? 1 : 0;
        CHECK((c < 0x80 || !token));
    }
    CHECK(tokens == 77);
    // Field values: every byte but the controls (tab excepted) and DEL.
    int valueBytes = 0;
    for (int c = 0; c < 256; ++c) {
        valueBytes += HeaderList::validValue(std::string(1, static_cast<char>(c))) ? 1 : 0;
    }
    CHECK(valueBytes == 256 - 32 - 1 + 1);

    CHECK(HeaderList::validValue("text/html; charset=utf-8"));
    CHECK(HeaderList::validValue("tab\tseparated"));
    CHECK(HeaderList::validValue(""));
    CHECK_FALSE(HeaderList::validValue("a\r\nSet-Cookie: x"));
    CHECK_FALSE(HeaderList::validValue("a\rb"));
    CHECK_FALSE(HeaderList::validValue("a\nb"));
    CHECK_FALSE(HeaderList::validValue(std::string("a\0b", 3)));
    CHECK_FALSE(HeaderList::validValue("bell\x07"));
    CHECK_FALSE(HeaderList::validValue("del\x7f"));
}

TEST_CASE("Exchange: query parameters are percent-decoded, repeated and '+' means space")
{
    Exchange ex;
    ex.query = "a=1&name=J%C3%BCrgen+M%2B&a=2&flag&empty=&sp%20ace=x";
    CHECK(ex.queryParam("a", 0) == std::optional<std::string>("1"));
    CHECK(ex.queryParam("a", 1) == std::optional<std::string>("2"));
    CHECK_FALSE(ex.queryParam("a", 2).has_value());
    CHECK(ex.queryParam("name", 0) == std::optional<std::string>("J\xC3\xBCrgen M+"));
    CHECK(ex.queryParam("flag", 0) == std::optional<std::string>(""));
    CHECK(ex.queryParam("empty", 0) == std::optional<std::string>(""));
    CHECK(ex.queryParam("sp ace", 0) == std::optional<std::string>("x"));
    CHECK_FALSE(ex.queryParam("missing", 0).has_value());
}

TEST_CASE("Exchange: a query pair whose value does not decode is passed over, not the end of the search")
{
    // The transport refuses such queries (routing::queryProblem); this is the second line.
    Exchange ex;
    ex.query = "role=%&role=admin&role=%zz&role=x";
    CHECK(ex.queryParam("role", 0) == std::optional<std::string>("admin"));
    CHECK(ex.queryParam("role", 1) == std::optional<std::string>("x"));
    CHECK_FALSE(ex.queryParam("role", 2).has_value());
}

TEST_CASE("Exchange: percentDecode rejects malformed escapes")
{
    CHECK(percentDecode("%41%62c", false) == std::optional<std::string>("Abc"));
    CHECK(percentDecode("a+b", false) == std::optional<std::string>("a+b"));
    CHECK(percentDecode("a+b", true) == std::optional<std::string>("a b"));
    CHECK(percentDecode("%2f%2F", false) == std::optional<std::string>("//"));
    CHECK(percentDecode("", false) == std::optional<std::string>(""));
    CHECK_FALSE(percentDecode("%", false).has_value());
    CHECK_FALSE(percentDecode("%4", false).has_value());
    CHECK_FALSE(percentDecode("abc%4", false).has_value());
    CHECK_FALSE(percentDecode("%zz", false).has_value());
    CHECK_FALSE(percentDecode("%g1", false).has_value());
}

TEST_CASE("Exchange: attributes expose the request and every exchange gets its own id")
{
    Exchange a;
    Exchange b;
    a.method = "POST";
    a.path = "/pets/v1/pets/7";
    a.query = "x=1";
    a.apiName = "Pets";
    a.resource = "/pets/{id}";
    CHECK(a.attribute(SLUICE_ATTR_METHOD) == std::optional<std::string_view>("POST"));
    CHECK(a.attribute(SLUICE_ATTR_PATH) == std::optional<std::string_view>("/pets/v1/pets/7"));
    CHECK(a.attribute(SLUICE_ATTR_QUERY) == std::optional<std::string_view>("x=1"));
    CHECK(a.attribute(SLUICE_ATTR_API_NAME) == std::optional<std::string_view>("Pets"));
    CHECK(a.attribute(SLUICE_ATTR_RESOURCE) == std::optional<std::string_view>("/pets/{id}"));
    CHECK(a.attribute(SLUICE_ATTR_PROTOCOL) == std::optional<std::string_view>("HTTP/1.1"));
    CHECK_FALSE(a.attribute(outOfRange<sluice_attribute>(99)).has_value());
    CHECK_FALSE(a.requestId().empty());
    CHECK(a.requestId() != b.requestId());
    std::string first = a.requestId();
    CHECK(a.requestId() == first);  // stable within the exchange
    CHECK(first.size() == 16);
    a.reset();
    CHECK_FALSE(a.requestId().empty());
    CHECK(a.requestId() != first);  // the next exchange on the connection gets its own
}

TEST_CASE("Exchange: response fields removed early are remembered once each, until the next exchange")
{
    Exchange ex;
    ex.responseHeaders.add("Server", "gw");
    ex.responseHeaders.add("X-Keep", "1");
    std::string name = "Server";
    ex.removeResponseFieldEarly(name);
    name = "zzzzzz";  // the name is kept as a copy
    ex.removeResponseFieldEarly("server");
    ex.removeResponseFieldEarly("X-Gone");
    CHECK_FALSE(ex.responseHeaders.get("Server").has_value());
    CHECK(ex.responseHeaders.get("X-Keep") == std::optional<std::string_view>("1"));
    REQUIRE(ex.responseRemovedEarly.size() == 2);
    CHECK(ex.responseRemovedEarly[0] == "Server");
    CHECK(ex.responseRemovedEarly[1] == "X-Gone");
    ex.reset();
    CHECK(ex.responseRemovedEarly.empty());
}

TEST_CASE("Arena: reset keeps the first chunk for the next exchange, unless it was made for one large allocation")
{
    Arena arena(256);
    auto* first = static_cast<char*>(arena.allocate(100));
    REQUIRE(first != nullptr);
    std::memset(first, 'x', 100);
    REQUIRE(arena.allocate(200) != nullptr);  // a second chunk
    CHECK(arena.bytesHeld() == 512);
    arena.reset();
    CHECK(arena.bytesAllocated() == 0);
    CHECK(arena.bytesHeld() == 256);  // the first chunk only
    auto* again = static_cast<char*>(arena.allocate(100));
    CHECK(again == first);    // the first chunk, reused
    CHECK(again[0] == '\0');  // zeroed again
    CHECK(again[99] == '\0');

    Arena large(256);
    auto* big = static_cast<char*>(large.allocate(10000));  // the first chunk fits this one allocation
    REQUIRE(big != nullptr);
    CHECK(large.bytesHeld() >= 10000);
    large.reset();
    CHECK(large.bytesAllocated() == 0);
    CHECK(large.bytesHeld() == 0);  // the 10,000-byte chunk was given back
    auto* small = static_cast<char*>(large.allocate(16));
    REQUIRE(small != nullptr);
    CHECK(large.bytesHeld() == 256);  // chunks of the normal size again
    CHECK(large.allocate(300) != nullptr);
}

TEST_CASE("Arena: a size past the limit is refused, also one that would wrap when rounded up")
{
    Arena arena(256, 1024);
    CHECK(arena.allocate(std::numeric_limits<std::size_t>::max()) == nullptr);
    CHECK(arena.allocate(std::numeric_limits<std::size_t>::max() - 3) == nullptr);
    CHECK(arena.allocate(1025) == nullptr);
    REQUIRE(arena.allocate(1000) != nullptr);
    CHECK(arena.allocate(100) == nullptr);  // 1008 held of 1024
    CHECK(arena.allocate(16) != nullptr);
    CHECK(arena.bytesAllocated() == 1024);
}

TEST_CASE("PropertyList: exact names, values written over in place when they fit, growth in proportion")
{
    Arena arena;
    PropertyList properties(arena);
    CHECK_FALSE(properties.get("auth.subject"));
    REQUIRE(properties.set("auth.subject", "alice"));
    REQUIRE(properties.set("empty", ""));
    CHECK(properties.get("auth.subject") == "alice");
    CHECK(properties.get("empty") == "");
    CHECK_FALSE(properties.get("Auth.Subject"));  // names are compared exactly
    CHECK(properties.size() == 2);

    // A shorter value goes where the old one was; a longer one elsewhere.
    const char* where = properties.get("auth.subject")->data();
    REQUIRE(properties.set("auth.subject", "bob"));
    CHECK(properties.get("auth.subject") == "bob");
    CHECK(properties.get("auth.subject")->data() == where);
    REQUIRE(properties.set("auth.subject", "a much longer subject"));
    CHECK(properties.get("auth.subject") == "a much longer subject");
    // Set from a view of its own value (what a plugin may hand back).
    REQUIRE(properties.set("auth.subject", properties.get("auth.subject")->substr(7)));
    CHECK(properties.get("auth.subject") == "longer subject");
    CHECK(properties.size() == 2);

    // A value grown one byte at a time 20,000 times: the places double, so the arena holds a
    // small multiple of the final size, not the sum of every size (200 MB).
    std::string value;
    for (int i = 0; i < 20000; ++i) {
        value.push_back('x');
        REQUIRE(properties.set("grown", value));
    }
    CHECK(properties.get("grown") == value);
    CHECK(arena.bytesAllocated() < 5 * value.size());

    properties.clear();
    CHECK(properties.size() == 0);
    CHECK_FALSE(properties.get("grown"));
}
