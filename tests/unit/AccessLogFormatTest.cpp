// Access log lines: a request line that tries to end the quote, start a new line or drive a
// terminal is escaped; JSON lines are JSON.
#include <chrono>
#include <string>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <doctest/doctest.h>

#include "sluice/runtime/transport/AccessLog.h"

using sluice::runtime::transport::AccessLogWriter;
using sluice::runtime::transport::AccessRecord;

namespace {

// 2026-11-27T07:52:03.045Z
std::chrono::system_clock::time_point when()
{
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1795765923045LL));
}

AccessRecord hostile()
{
    AccessRecord r;
    r.client = "10.0.0.7";
    r.method = "GET";
    r.path = "/a\"b\\c\n127.0.0.1 - - fake\x1b[31m\xff";
    r.versionMinor = 1;
    r.status = 200;
    r.bytes = 1234;
    r.duration = std::chrono::microseconds(2500);
    r.api = "Pets:v1";
    r.upstream = "10.0.0.9:8080";
    return r;
}

}  // namespace

TEST_CASE("access log text lines: one line, the request line escaped, the rest in fixed places")
{
    const std::string line = AccessLogWriter::format(hostile(), false, when());
    CHECK(line ==
          "10.0.0.7 - - [27/Nov/2026:07:52:03.045 +0000] \"GET /a\\x22b\\x5cc\\x0a127.0.0.1 - - fake\\x1b[31m\\xff "
          "HTTP/1.1\" 200 1234 2.500 \"Pets:v1\" 10.0.0.9:8080\n");

    AccessRecord unread;
    unread.client = "10.0.0.7";
    unread.status = 400;
    unread.bytes = 99;
    CHECK(AccessLogWriter::format(unread, false, when()) ==
          "10.0.0.7 - - [27/Nov/2026:07:52:03.045 +0000] \"-\" 400 99 0.000 \"-\" -\n");
}

TEST_CASE("access log JSON lines parse, with the hostile path intact and null for what is unknown")
{
    // (A request target is printable ASCII, the parser sees to that; API names are UTF-8.)
    AccessRecord r = hostile();
    r.path = "/a\"b\\c\n127.0.0.1 - - fake\x1b[31m";
    const std::string line = AccessLogWriter::format(r, true, when());
    REQUIRE(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    Poco::JSON::Parser parser;
    auto object = parser.parse(line.substr(0, line.size() - 1)).extract<Poco::JSON::Object::Ptr>();
    CHECK(object->getValue<std::string>("time") == "2026-11-27T07:52:03.045Z");
    CHECK(object->getValue<std::string>("path").substr(0, 7) == "/a\"b\\c\n");
    CHECK(object->getValue<int>("status") == 200);
    CHECK(object->getValue<double>("duration_ms") == doctest::Approx(2.5));
    CHECK(object->getValue<std::string>("upstream") == "10.0.0.9:8080");

    AccessRecord unread;
    unread.client = "10.0.0.7";
    const std::string bare = AccessLogWriter::format(unread, true, when());
    auto empty = parser.parse(bare.substr(0, bare.size() - 1)).extract<Poco::JSON::Object::Ptr>();
    CHECK(empty->isNull("method"));
    CHECK(empty->isNull("api"));
    CHECK(empty->isNull("upstream"));
    CHECK(empty->getValue<int>("status") == 0);
}
