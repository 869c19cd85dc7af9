// JsonMethodScanner: a top-level `_method` member of a JSON body, read as a JSON decoder reads
// it, in any split of the body.

#include "sluice/runtime/http/JsonMethodScanner.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "ScanInPieces.h"

using sluice::runtime::http::BodyMethodScanner;
using sluice::runtime::http::JsonMethodScanner;

namespace {

bool overrides(std::string_view body, std::string_view method = "POST")
{
    return sluice::http_test::overridesInAnyPieces(body, [method] { return std::make_unique<JsonMethodScanner>(method); });
}

}  // namespace

TEST_CASE("json method: a top-level _method member naming another method overrides")
{
    CHECK(overrides(R"({"_method":"DELETE"})"));
    CHECK(overrides(R"({"a": 1, "_method": "patch", "b": [1, 2]})"));
    CHECK(overrides(" \r\n\t{ \"_method\" : \"PUT\" } "));
    CHECK(overrides(R"({"_method":"PUT","_method":"POST"})"));  // decoders keep the last; every one counts
    CHECK(overrides(R"({"_method":"POST","_method":"PUT"})"));
    CHECK(overrides(R"({"_method":""})"));
    CHECK(overrides(R"({"_method":"POST "})"));
}

TEST_CASE("json method: the request's own method in any case does not override")
{
    CHECK_FALSE(overrides(R"({"_method":"POST"})"));
    CHECK_FALSE(overrides(R"({"_method":"post","a":"DELETE"})"));
    CHECK_FALSE(overrides(R"({"_method":"DELETE"})", "DELETE"));
}

TEST_CASE("json method: names and values are read with their escapes decoded")
{
    CHECK(overrides(R"({"\u005fmethod":"DELETE"})"));
    CHECK(overrides(R"({"\u005Fmeth\u006fd":"DELETE"})"));
    CHECK(overrides(R"({"_method":"DEL\u0045TE"})"));
    CHECK_FALSE(overrides(R"({"_method":"P\u004fST"})"));
    CHECK(overrides(R"({"_method":"P\u00d6ST"})"));  // not ASCII: no method this gateway saw
    CHECK(overrides(R"({"_method":"PO\/ST"})"));
    CHECK_FALSE(overrides(R"({"_method\u0000":"DELETE"})"));  // another name
    CHECK_FALSE(overrides(R"({"_Method":"DELETE"})"));        // names are case-sensitive
    CHECK_FALSE(overrides(R"({"_method_":"DELETE"})"));
}

TEST_CASE("json method: a _method member whose value is no string counts as naming another method")
{
    CHECK(overrides(R"({"_method":1})"));
    CHECK(overrides(R"({"_method":null})"));
    CHECK(overrides(R"({"_method":true})"));
    CHECK(overrides(R"({"_method":["DELETE"]})"));
    CHECK(overrides(R"({"_method":{"x":"POST"}})"));
}

TEST_CASE("json method: only the members of a top-level object are parameters")
{
    CHECK_FALSE(overrides(R"({"a":{"_method":"DELETE"}})"));
    CHECK_FALSE(overrides(R"([{"_method":"DELETE"}])"));
    CHECK_FALSE(overrides(R"(["_method","DELETE"])"));
    CHECK_FALSE(overrides(R"({"a":"_method","b":"DELETE"})"));   // a value, not a name
    CHECK_FALSE(overrides(R"({"a":["_method",":","DELETE"]})"));
    CHECK_FALSE(overrides(R"("_method")"));
    CHECK_FALSE(overrides(R"({"x":"{\"_method\":\"DELETE\"}"})"));  // a string holding JSON
    CHECK_FALSE(overrides(R"({"x":"\\","y":"_method"})"));
    CHECK(overrides(R"({"x":"\\\"}","_method":"DELETE"})"));  // an escaped quote does not end the string
    CHECK(overrides(R"({"a":{"b":[1,{"c":"}"}]},"_method":"DELETE"})"));
}

TEST_CASE("json method: content types that Laravel reads as JSON")
{
    CHECK(JsonMethodScanner::isJsonContentType("application/json"));
    CHECK(JsonMethodScanner::isJsonContentType("application/json; charset=utf-8"));
    CHECK(JsonMethodScanner::isJsonContentType("Application/JSON"));
    CHECK(JsonMethodScanner::isJsonContentType("application/merge-patch+json"));
    CHECK(JsonMethodScanner::isJsonContentType("text/json"));
    CHECK(JsonMethodScanner::isJsonContentType("application/vnd.api+json; ext=x"));
    CHECK(JsonMethodScanner::isJsonContentType("text/plain; x=/json"));
    CHECK(JsonMethodScanner::isJsonContentType("application/jsonp"));  // Laravel looks for the text anywhere
    CHECK_FALSE(JsonMethodScanner::isJsonContentType("application/octet-stream"));
    CHECK_FALSE(JsonMethodScanner::isJsonContentType("json"));
    CHECK_FALSE(JsonMethodScanner::isJsonContentType("application/x-json-stream"));

    auto scanner = BodyMethodScanner::forContentType("application/problem+json", "POST");
    REQUIRE(scanner != nullptr);
    scanner->feed(R"({"_method":"DELETE"})");
    scanner->finish();
    CHECK(scanner->overrides());
}
