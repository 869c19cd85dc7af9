// JsonMethodScanner: a top-level `_method` member of a JSON body, read as a JSON decoder reads
// it, in any split of the body.

#include "sluice/runtime/http/JsonMethodScanner.h"

#include <doctest/doctest.h>

#include <memory>
#include <random>
#include <string>

#include "ScanInPieces.h"

using sluice::runtime::http::BodyMethodScanner;
using sluice::runtime::http::JsonMethodScanner;

namespace {

bool overrides(std::string_view body, std::string_view method = "POST")
{
    return sluice::http_test::overridesInAnyPieces(body,
                                                   [method] { return std::make_unique<JsonMethodScanner>(method); });
}

// Random valid JSON for the tests below: nested values long enough to span the scanner's 64-byte
// blocks, with strings that hold brackets, quotes and backslashes (escaped) and unicode escapes.
class JsonGenerator {
public:
    explicit JsonGenerator(unsigned seed) : _random(seed) {}

    std::string value(int depth)
    {
        const unsigned kind = pick(depth >= 6 ? 3 : 5);
        if (kind == 0) {
            return string();
        }
        if (kind == 1) {
            return std::to_string(pick(100000));
        }
        if (kind == 2) {
            return pick(2) == 0 ? "true" : "null";
        }
        std::string out(1, kind == 3 ? '[' : '{');
        const unsigned count = pick(6);
        for (unsigned i = 0; i < count; ++i) {
            out += i == 0 ? "" : ",";
            out += pick(3) == 0 ? "\n " : "";
            if (kind == 4) {
                out += (pick(4) == 0 ? std::string("\"_method\"") : string()) + ":";
            }
            out += value(depth + 1);
        }
        return out + (kind == 3 ? ']' : '}');
    }

    std::string string()
    {
        static const std::string_view pieces[] = {"a",    "xyz",  "{",       "}", "[", "]",
                                                  "\\\"", "\\\\", "\\u005b", ":", ",", " "};
        std::string out = "\"";
        const unsigned count = pick(4) == 0 ? 40 + pick(80) : pick(8);
        for (unsigned i = 0; i < count; ++i) {
            out += pieces[pick(std::size(pieces))];
        }
        return out + "\"";
    }

    unsigned pick(std::size_t bound) { return static_cast<unsigned>(_random() % bound); }

private:
    std::mt19937 _random;
};

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
    CHECK_FALSE(overrides(R"({"a":"_method","b":"DELETE"})"));  // a value, not a name
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

TEST_CASE("json method: a nested value ends at any byte of a block, with or without backslashes")
{
    // The scanner skips nested values 64 bytes at a time where it can; the top-level member after
    // one must be read wherever it ends. overridesInAnyPieces also feeds byte by byte, which
    // takes the scanner's byte-wise path, and compares.
    for (std::size_t fill = 0; fill < 140; ++fill) {
        const std::string text(fill, 'x');
        const std::string inString = R"({"a":[")" + text + R"(]}"],"_method":"DELETE"})";
        CHECK(overrides(inString));
        const std::string nested = R"({"a":{"b":[)" + std::string(fill % 7, '[') + '"' + text + '"' +
                                   std::string(fill % 7, ']') + R"(],"_method":"PUT"},"_method":"POST"})";
        CHECK_FALSE(overrides(nested));
        const std::string escaped = R"({"a":[")" + text + R"(\"],\\"],"_method":1})";
        CHECK(overrides(escaped));
        const std::string topArray = R"([[")" + text + R"("],{"_method":"DELETE"}])";
        CHECK_FALSE(overrides(topArray));
    }
}

TEST_CASE("json method: random nested JSON is read alike whole, byte by byte and in two pieces")
{
    JsonGenerator generate(20261129);
    int overriding = 0;
    for (int round = 0; round < 60; ++round) {
        // A top-level object whose members' values nest; some are `_method` members, whose
        // values are strings naming a method or nested values.
        std::string body = "{";
        bool expected = false;
        const unsigned members = 1 + generate.pick(4);
        for (unsigned i = 0; i < members; ++i) {
            body += i == 0 ? "" : ",";
            if (generate.pick(3) != 0) {
                body += generate.string() + ":" + generate.value(1);
                continue;
            }
            const unsigned kind = generate.pick(3);
            body += R"("_method":)";
            body += kind == 0 ? R"("post")" : kind == 1 ? R"("DELETE")" : generate.value(1);
            expected = expected || kind != 0;  // a random value is never a string naming POST
        }
        body += "}";
        INFO(body);
        CHECK(overrides(body) == expected);
        overriding += expected ? 1 : 0;
    }
    CHECK(overriding > 10);  // both answers were exercised
    CHECK(overriding < 50);
}
