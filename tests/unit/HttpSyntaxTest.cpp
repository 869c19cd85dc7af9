// sdk::mediaTypeParameter (RFC 9110 §8.3.1 parameters, read strictly) and sdk::takesOneValue.
#include "sluice/sdk/HttpSyntax.hpp"

#include <string>

#include <doctest/doctest.h>

using sluice::sdk::mediaTypeParameter;
using sluice::sdk::ParameterLookup;

namespace {

// "absent", "malformed", or the value found.
std::string lookup(std::string_view contentType, std::string_view name = "charset")
{
    std::string value = "untouched";
    switch (mediaTypeParameter(contentType, name, value)) {
        case ParameterLookup::Absent: return value == "untouched" ? "absent" : "absent, but wrote " + value;
        case ParameterLookup::Malformed: return "malformed";
        case ParameterLookup::Found: return value;
    }
    return "?";
}

}  // namespace

TEST_CASE("HttpSyntax: media type parameters, token or quoted, found case-insensitively")
{
    CHECK(lookup("application/xml") == "absent");
    CHECK(lookup("application/xml;") == "absent");
    CHECK(lookup("application/xml; version=1") == "absent");
    CHECK(lookup("application/xml;charset=utf-8") == "utf-8");
    CHECK(lookup("application/xml ; CHARSET=UTF-8") == "UTF-8");
    CHECK(lookup("application/xml; q=1;\tcharset=latin1 ;x=y") == "latin1");
    CHECK(lookup("application/xml; charset=\"iso-8859-1\"") == "iso-8859-1");
    CHECK(lookup(R"(text/plain; title="a \"b\" \\ c; d=e"; charset=x)") == "x");
    CHECK(lookup(R"(text/plain; title="a \"b\" \\ c; d=e"; charset=x)", "title") == R"(a "b" \ c; d=e)");
    CHECK(lookup("text/plain; ; ;charset=x;") == "x");  // empty parameters are allowed
    CHECK(lookup("text/plain; charset=\"\"") == "");
    CHECK(lookup("text/plain; charsets=x") == "absent");
    CHECK(lookup("text/plain; charset=x", "charse") == "absent");
}

TEST_CASE("HttpSyntax: a parameter list that cannot be read, or a repeated name, is Malformed")
{
    for (const char* bad : {
             "text/plain; charset",            // no '='
             "text/plain; charset=",           // no value
             "text/plain; charset =x",         // space before '='
             "text/plain; charset= x",         // space after '='
             "text/plain; charset=a b",        // two words
             "text/plain; charset=\"x",        // unterminated quote
             "text/plain; charset=\"x\\",      // escape at the end
             "text/plain; charset=\"x\"y",     // text after the quote
             "text/plain; charset=x\"y\"",     // quote inside a token
             "text/plain; =x",                 // no name
             "text/plain; ch@rset=x",          // not a token
             "text/plain; charset=\"a\x01\"",  // control character in a quoted value
             "text/plain; charset=\"a\x7f\"",
             "text/plain; charset=a; CharSet=b",  // the same name twice
         }) {
        CAPTURE(bad);
        CHECK(lookup(bad) == "malformed");
    }
    // Malformed anywhere, even in a parameter of another name.
    CHECK(lookup("text/plain; charset=x; title=\"open") == "malformed");
    CHECK(lookup("text/plain; title=a b; charset=x") == "malformed");
}

TEST_CASE("HttpSyntax: takesOneValue knows one-value fields in any case, and not list fields or look-alikes")
{
    using sluice::sdk::takesOneValue;
    for (std::string_view name : {"Authorization", "content-type", "LOCATION", "Origin", "X-Frame-Options",
                                  "access-control-allow-origin", "User-Agent", "Host"}) {
        CHECK_MESSAGE(takesOneValue(name), name);
    }
    for (std::string_view name : {"Accept", "Set-Cookie", "Cookie", "X-Forwarded-For", "Via", "Cache-Control",
                                  "Content-Type-X", "Authorizatio", "User_Agent", ""}) {
        CHECK_FALSE_MESSAGE(takesOneValue(name), name);
    }
}
