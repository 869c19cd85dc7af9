// FormMethodScanner: `_method` parameters of a form body, read as the frameworks read them, in
// any split of the body.

#include "sluice/runtime/http/FormMethodScanner.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "ScanInPieces.h"

using sluice::runtime::http::BodyMethodScanner;
using sluice::runtime::http::FormMethodScanner;
using sluice::runtime::http::isMethodParameterName;
using sluice::runtime::http::MultipartMethodScanner;

namespace {

bool overrides(std::string_view body, std::string_view method = "POST")
{
    return sluice::http_test::overridesInAnyPieces(body,
                                                   [method] { return std::make_unique<FormMethodScanner>(method); });
}

}  // namespace

TEST_CASE("form method: a _method parameter naming another method overrides")
{
    CHECK(overrides("_method=DELETE"));
    CHECK(overrides("a=1&_method=DELETE&b=2"));
    CHECK(overrides("a=1&_method=patch"));
    CHECK(overrides("_method=PUT&_method=POST"));  // every one counts, whichever a backend takes
    CHECK(overrides("_method=POST&_method=PUT"));
}

TEST_CASE("form method: the request's own method, in any case, does not override")
{
    CHECK_FALSE(overrides("_method=POST"));
    CHECK_FALSE(overrides("_method=post&a=1"));
    CHECK_FALSE(overrides("_method=PoSt"));
    CHECK_FALSE(overrides("_method=DELETE", "DELETE"));
}

TEST_CASE("form method: a semicolon separates pairs as an ampersand does")
{
    // PHP with arg_separator.input "&;" and Rack 1 read these as a `_method` parameter.
    CHECK(overrides("a=1;_method=DELETE"));
    CHECK(overrides("a=1; _method=DELETE"));
    CHECK(overrides("_method=DELETE;a=1"));
    // Read with '&' alone, the value is "POST;a=1": no method either.
    CHECK_FALSE(overrides("_method=POST;a=1"));
    CHECK_FALSE(overrides("a=1;b=_method"));
}

TEST_CASE("form method: an empty or missing value counts as another method")
{
    CHECK(overrides("_method="));
    CHECK(overrides("_method"));
    CHECK(overrides("a=1&_method&b=2"));
}

TEST_CASE("form method: names and values are percent-decoded, with + as a space")
{
    CHECK(overrides("%5Fmethod=DELETE"));
    CHECK(overrides("%5fmethod=DELETE"));
    CHECK(overrides("%5F%6D%65%74%68%6F%64=DELETE"));
    CHECK(overrides("_method=%44ELETE"));
    CHECK_FALSE(overrides("_method=%50OST"));
    CHECK(overrides("_method=POST+"));    // "POST " is not POST
    CHECK(overrides("_method=PO%ZZST"));  // a bad escape stays as it is
    CHECK(overrides("_method=POST%"));
    CHECK(overrides("_method=POST%4"));
    CHECK_FALSE(overrides("a=%&_method=POST"));
    CHECK_FALSE(overrides("_method%3DDELETE=x"));  // an escaped '=' is part of the name
    CHECK_FALSE(overrides("x=_method%3DDELETE"));
    CHECK_FALSE(overrides("x=1%26_method=DELETE"));  // an escaped '&' splits nothing
}

TEST_CASE("form method: names as PHP registers them")
{
    CHECK(overrides(".method=DELETE"));
    CHECK(overrides("%2Emethod=DELETE"));
    CHECK_FALSE(overrides("+method=DELETE"));  // a leading space is dropped: "method"
    CHECK(overrides("++_method=DELETE"));      // leading spaces are dropped
    CHECK(overrides("_method[]=DELETE"));
    CHECK(overrides("_method[x=DELETE"));
    CHECK(overrides("%5Fmethod%5B0%5D=DELETE"));
}

TEST_CASE("form method: names as Rack 2 and PHP cut them")
{
    CHECK(overrides("[_method]=DELETE"));
    CHECK(overrides("_method]=DELETE"));
    CHECK(overrides("]_method=DELETE"));
    CHECK(overrides("%5B_method%5D=DELETE"));
    CHECK(overrides("[[[[[[[[[[[[[[[[[[[[_method=DELETE"));  // however many
    CHECK(overrides("_method%00=DELETE"));
    CHECK(overrides("_method%00junk=DELETE"));
    CHECK(overrides(std::string("_method\0=DELETE", 15)));
}

TEST_CASE("form method: decodeFormComponent keeps what is no escape")
{
    using sluice::runtime::http::decodeFormComponent;
    CHECK(decodeFormComponent("a%20b+c") == "a b c");
    CHECK(decodeFormComponent("%zz%4") == "%zz%4");
    CHECK(decodeFormComponent("_method%00%zz") == std::string("_method\0%zz", 11));
}

TEST_CASE("form method: other names and long values")
{
    CHECK_FALSE(overrides("method=DELETE"));
    CHECK_FALSE(overrides("_methods=DELETE"));
    CHECK_FALSE(overrides("x_method=DELETE"));
    CHECK_FALSE(overrides("_Method=DELETE"));
    CHECK_FALSE(overrides("_method_=DELETE"));
    CHECK_FALSE(overrides(std::string(40, 'a') + "_method=DELETE"));
    CHECK_FALSE(overrides(""));
    CHECK_FALSE(overrides("&&=&"));
    // The rest of a name that can no longer be `_method` is skipped up to its '=' (and no
    // further): the value that follows is still read.
    CHECK_FALSE(overrides("_method[x]=POST&a=1"));
    CHECK(overrides("_method[x]=DELETE;a=1"));
    CHECK(overrides("_method=" + std::string(40, 'P')));
    // A method longer than any value kept: every `_method` value differs from it.
    const std::string longMethod(20, 'X');
    CHECK(overrides("_method=" + longMethod, longMethod));
}

TEST_CASE("form method: isMethodParameterName")
{
    CHECK(isMethodParameterName("_method"));
    CHECK(isMethodParameterName(" .method"));
    CHECK(isMethodParameterName("_method[a][b]"));
    CHECK_FALSE(isMethodParameterName(""));
    CHECK_FALSE(isMethodParameterName("_metho"));
    CHECK(isMethodParameterName("[_method]"));  // Rack 2 drops leading and trailing brackets
    CHECK(isMethodParameterName("]]_method]"));
    CHECK(isMethodParameterName(std::string_view("_method\0x", 9)));  // PHP cuts a name at a NUL
    CHECK_FALSE(isMethodParameterName("x[_method]"));
    CHECK_FALSE(isMethodParameterName("_method "));
}

TEST_CASE("form method: the content type")
{
    CHECK(FormMethodScanner::isFormContentType("application/x-www-form-urlencoded"));
    CHECK(FormMethodScanner::isFormContentType("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
    CHECK(FormMethodScanner::isFormContentType(" application/x-www-form-urlencoded ;charset=utf-8"));
    CHECK_FALSE(FormMethodScanner::isFormContentType("application/json"));
    CHECK_FALSE(FormMethodScanner::isFormContentType("application/x-www-form-urlencodedx"));
    // Rack splits a media type at ',' and PHP at a space as well.
    CHECK(FormMethodScanner::isFormContentType("application/x-www-form-urlencoded, text/plain"));
    CHECK(FormMethodScanner::isFormContentType("application/x-www-form-urlencoded x"));
    CHECK(BodyMethodScanner::forContentType("multipart/form-data,x; boundary=XyZ", "POST") != nullptr);
    CHECK_FALSE(FormMethodScanner::isFormContentType(""));
}

namespace {

// Whether a multipart body with boundary "XyZ" overrides `method`, fed whole and split in two at
// every position: all must agree.
bool multipartOverrides(const std::string& body, std::string_view method = "POST")
{
    return sluice::http_test::overridesInAnyPieces(
        body, [method] { return std::make_unique<MultipartMethodScanner>("XyZ", method); });
}

std::string part(const std::string& disposition, const std::string& content)
{
    return "--XyZ\r\nContent-Disposition: " + disposition + "\r\n\r\n" + content + "\r\n";
}

const std::string kClose = "--XyZ--\r\n";

}  // namespace

TEST_CASE("form method: a multipart part whose headers name _method overrides, whatever it names")
{
    CHECK(multipartOverrides(part("form-data; name=\"_method\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"a\"", "1") + part("form-data; name=\"_method\"", "put") + kClose));
    CHECK(multipartOverrides(part("form-data; name=_method", "PATCH") + kClose));
    CHECK(multipartOverrides(part("form-data; name='_method'", "DELETE") + kClose));  // PHP takes ' too
    CHECK(multipartOverrides(part("form-data; name=\".method\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"_method[]\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"_method\"", "POST") + kClose));  // no client needs it
    // Folded (PHP, Tomcat), or anywhere in the header block (Rack), or a Content-ID (Rack).
    CHECK(
        multipartOverrides("--XyZ\r\nContent-Disposition: form-data;\r\n name=\"_method\"\r\n\r\nDELETE\r\n" + kClose));
    CHECK(multipartOverrides("--XyZ\r\nX-A: Content-Disposition: form-data; name=_method\r\n\r\nDELETE\r\n" + kClose));
    CHECK(multipartOverrides("--XyZ\r\nContent-ID: _method\r\n\r\nDELETE\r\n" + kClose));
    // A delimiter right after the headers' empty line (Rack 3), after a bare LF, mid-line
    // (Rack 2), or followed by anything on its line (PHP).
    CHECK(multipartOverrides(part("form-data; name=\"a\"", "") +
                             "--XyZ\r\nContent-Disposition: form-data; "
                             "name=\"_method\"\r\n\r\nDELETE\r\n" +
                             kClose));
    CHECK(
        multipartOverrides("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XyZ--\r\n"));
    CHECK(multipartOverrides("preamble\n--XyZ\nContent-Disposition: form-data; name=\"_method\"\n\nDELETE\n--XyZ--"));
    CHECK(multipartOverrides(part("form-data; name=\"f\"; filename=\"a.txt\"",
                                  "1--XyZ\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE") +
                             kClose));
    CHECK(multipartOverrides(part("form-data; name=\"f\"",
                                  "1\r\n--XyZX\r\n\r\n--XyZ\r\nContent-Disposition: "
                                  "form-data; name=\"_method\"\r\n\r\nDELETE") +
                             kClose));
    // What follows the closing delimiter is read as a part too.
    CHECK(multipartOverrides(kClose + "Content-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XyZ--"));
    // The rest of a delimiter's line counts as a header.
    CHECK(multipartOverrides("--XyZ name=_method\r\n\r\nDELETE\r\n" + kClose));
}

TEST_CASE("form method: a multipart name encoded as parsers decode it overrides")
{
    // Each of these up to the continuations is read as `_method` by Tomcat 10.1's multipart
    // parser (checked with it), except the lower-case 'q' and ".method", which are read loosely.
    CHECK(multipartOverrides(part("form-data; name*=UTF-8''%5Fmethod", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; NAME*=utf-8'en'%5F%6Dethod", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*=\"UTF-8''%5fmethod\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"x\"; name* = UTF-8''%5Fmethod", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"=?UTF-8?B?X21ldGhvZA==?=\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"=?UTF-8?B?X21ldGhvZA?=\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name==?UTF-8?Q?=5Fmethod?=", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"=?utf-8?q?=2Emethod?=\"", "DELETE") + kClose));
    // Adjacent encoded words are joined; base64 split anywhere.
    CHECK(multipartOverrides(part("form-data; name=\"=?UTF-8?B?X21l?= =?UTF-8?B?dGhvZA==?=\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"=?UTF-8?B?X20=?= =?UTF-8?Q?ethod?=\"", "DELETE") + kClose));
    // Charsets whose bytes for "_method" are others: Java decodes these.
    CHECK(multipartOverrides(part("form-data; name*=UTF-16BE''%00%5F%00m%00e%00t%00h%00o%00d", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"=?UTF-16BE?B?AF8AbQBlAHQAaABvAGQ=?=\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name=\"=?IBM037?Q?=6D=94=85=A3=88=96=84?=\"", "DELETE") + kClose));
    // An unfinished encoded word before the real one (Tomcat reads the first as it is).
    CHECK(multipartOverrides(part("form-data; x=\"=?UTF-8?Q?\";name=\"=?UTF-8?B?X21ldGhvZA==?=\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; x==?UTF-8?Q?a;name==?UTF-16BE?B?AF8AbQBlAHQAaABvAGQ=?=", "DELETE") +
                             kClose));
    CHECK(
        multipartOverrides("--XyZ\r\nX-A: =?UTF-8?Q?\r\nContent-Disposition: form-data; "
                           "name=\"=?UTF-16BE?B?AF8AbQBlAHQAaABvAGQ=?=\"\r\n\r\nDELETE\r\n" +
                           kClose));
    // White space Tomcat trims or unfolds around an extended name, and escapes it reads loosely
    // ('%' and any two characters, a non-ASCII one by its low 7 bits).
    const std::string wide = "UTF-16BE''%00%5F%00m%00e%00t%00h%00o%00d";
    CHECK(multipartOverrides(part("form-data; name*\r\n =" + wide, "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*=\r\n\t" + wide, "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*\x1f=" + wide, "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*\xe3\x80\x80=" + wide, "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*=UTF-8''%5\xc3\x86method", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*=UTF-8''%5\xc6method", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*=UTF-8''%\xb5"
                                  "Fmethod",
                                  "DELETE") +
                             kClose));
    CHECK(multipartOverrides(part("form-data; name*=UTF-8''%5", "DELETE") + kClose));
    // RFC 2231 continuations of the name, which Go joins.
    CHECK(multipartOverrides(part("form-data; name*0=\"_met\"; name*1=\"hod\"", "DELETE") + kClose));
    CHECK(multipartOverrides(part("form-data; name*0*=UTF-8''%5Fmet; name*1*=hod", "DELETE") + kClose));
}

TEST_CASE("form method: encoded multipart names that name something else pass")
{
    // .NET's MultipartFormDataContent sends both filename forms, encoded when not ASCII.
    CHECK_FALSE(
        multipartOverrides(part("form-data; name=file; filename=a.txt; filename*=utf-8''a.txt", "text") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=file; filename=\"=?utf-8?B?w6TDtsO8LnR4dA==?=\"; "
                                        "filename*=utf-8''%C3%A4%C3%B6%C3%BC.txt",
                                        "text") +
                                   kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name*=UTF-8''%5Fmetho", "DELETE") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=\"=?UTF-8?B?bWV0aG9k?=\"", "DELETE") + kClose));
    // A '*' or "=?" that starts no extended value or encoded word of the name.
    CHECK_FALSE(multipartOverrides(part("form-data; name=\"a*b\"; filename=\"x*=y\"", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=\"a\"; filename=\"=?x\"", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=f; filename=\"2*3=6.txt\"", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=f; filename=\"x*=it's.txt\"", "1") + kClose));
    // A filename's own RFC 2231 forms (Python's email package splits long ones), and charsets
    // Java names otherwise (Windows-31J is its Shift_JIS).
    CHECK_FALSE(multipartOverrides(
        part("form-data; name=f; filename*0*=utf-8''%C3%A4%C3%A4; filename*1*=%C3%A4.txt", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=f; filename*=UTF-16''%00a", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=f; filename=\"=?windows-31j?B?gqA=?=\"", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=f; filename=\"=?cp1252?Q?caf=E9?=\"", "1") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name*=UTF-8''caf%C3%A9", "1") + kClose));
}

TEST_CASE("form method: multipart bodies that do not override")
{
    CHECK_FALSE(multipartOverrides(part("form-data; name=\"method\"", "DELETE") + kClose));
    CHECK_FALSE(multipartOverrides(part("form-data; name=\"a\"", "_method=DELETE") + kClose));  // content
    CHECK_FALSE(multipartOverrides(part("form-data; name=\"f\"; filename=\"a.rb\"",
                                        "def get_method\r\n  obj.method(:x)\r\nend") +
                                   kClose));  // a file's text is content
    CHECK_FALSE(multipartOverrides("_method\r\n" + part("form-data; name=\"a\"", "1") + kClose));  // the preamble
    CHECK_FALSE(multipartOverrides(""));
    CHECK_FALSE(multipartOverrides(kClose));
    // Another boundary's delimiter is content.
    CHECK_FALSE(multipartOverrides("--Other\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n"));
}

TEST_CASE("form method: the scanner chosen by content type")
{
    CHECK(BodyMethodScanner::forContentType("application/x-www-form-urlencoded", "POST") != nullptr);
    CHECK(BodyMethodScanner::forContentType("multipart/form-data; boundary=XyZ", "POST") != nullptr);
    CHECK(BodyMethodScanner::forContentType("Multipart/Form-Data ; charset=utf-8; Boundary=\"a b\"", "POST") !=
          nullptr);
    CHECK(BodyMethodScanner::forContentType("multipart/mixed; boundary=XyZ", "POST") != nullptr);  // Rack parses it
    CHECK(BodyMethodScanner::forContentType("multipart/form-data", "POST") == nullptr);            // no boundary
    CHECK(BodyMethodScanner::forContentType("application/json", "POST") != nullptr);               // JsonMethodScanner
    CHECK(BodyMethodScanner::forContentType("application/octet-stream", "POST") == nullptr);
    CHECK(BodyMethodScanner::forContentType("text/plain", "POST") == nullptr);
    CHECK(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary=XyZ") == "XyZ");
    CHECK(MultipartMethodScanner::boundaryOf("multipart/form-data, boundary=XyZ") == "XyZ");
    CHECK(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary=\"a b\"; x=1") == "a b");
    CHECK(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary=XyZ; x=\"boundary=XyZ\"") == "XyZ");
    CHECK(MultipartMethodScanner::boundaryOf("multipart/form-data")->empty());
    // Parsers may read these differently: ambiguous.
    CHECK_FALSE(MultipartMethodScanner::boundaryOf("multipart/form-data; boundaryx=A; boundary=B"));
    CHECK_FALSE(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary=A; x=boundary=B"));
    CHECK_FALSE(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary="));
    CHECK_FALSE(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary=" + std::string(201, 'b')));
    CHECK(MultipartMethodScanner::boundaryOf("multipart/form-data; boundary=" + std::string(200, 'b')));
    auto scanner = BodyMethodScanner::forContentType("multipart/form-data; boundary=XyZ", "POST");
    REQUIRE(scanner != nullptr);
    scanner->feed(part("form-data; name=\"_method\"", "DELETE"));
    scanner->finish();
    CHECK(scanner->overrides());
}

TEST_CASE("form method: charsets in which the scanner reads what a framework reads")
{
    CHECK(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded"));
    CHECK(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded; charset=UTF-8"));
    CHECK(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded;charset=\"iso-8859-1\""));
    CHECK(BodyMethodScanner::asciiCompatibleCharset("multipart/form-data; boundary=a; charset=Shift_JIS"));
    CHECK_FALSE(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded; charset=utf-16le"));
    CHECK_FALSE(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded; charset=ibm037"));
    CHECK_FALSE(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded; CHARSET=utf-7"));
    // Two charsets (Tomcat keeps the last), or parameters that cannot be read strictly.
    CHECK_FALSE(BodyMethodScanner::asciiCompatibleCharset(
        "application/x-www-form-urlencoded; charset=utf-8; charset=utf-16le"));
    CHECK_FALSE(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded; charset=\"utf-8"));
    CHECK(BodyMethodScanner::asciiCompatibleCharset("application/x-www-form-urlencoded;"));
}
