// ChunkedDecoder: RFC 9112 §7.1 chunked transfer coding, strictly, in any split of the input.

#include "HttpTestSupport.h"

#include <string>

using namespace sluice::runtime::http;
using namespace sluice::runtime::http::testing;
using namespace std::string_literals;
using Status = ChunkedDecoder::Status;

namespace {

Status statusOf(std::string_view input) { return decodeChunked(input).status; }

// Decodes `input` whole, byte by byte, and split in two at every position: all must agree.
Decoded decodeEveryWay(std::string_view input)
{
    const Decoded whole = decodeChunked(input);
    const Decoded bytes = decodeChunked(input, 1);
    CHECK(bytes.status == whole.status);
    CHECK(bytes.body == whole.body);
    if (whole.status != Status::Error) {
        CHECK(bytes.consumed == whole.consumed);
    }
    for (std::size_t split = 1; split < input.size(); ++split) {
        ChunkedDecoder decoder;
        std::string body;
        std::size_t used = 0;
        auto sink = [&body](std::string_view data) { body.append(data); };
        Status s = decoder.feed(input.substr(0, split), used, sink);
        std::size_t consumed = used;
        if (s == Status::NeedMore) {
            REQUIRE(used == split);
            s = decoder.feed(input.substr(split), used, sink);
            consumed += used;
        }
        INFO("split at " << split);
        CHECK(s == whole.status);
        CHECK(body == whole.body);
        if (whole.status != Status::Error) {
            CHECK(consumed == whole.consumed);
        }
    }
    return whole;
}

}  // namespace

TEST_CASE("chunked: a body in several chunks followed by the next message")
{
    const std::string body = "5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n";
    const std::string wire = body + "GET / HTTP/1.1\r\n";
    const Decoded out = decodeEveryWay(wire);
    CHECK(out.status == Status::Done);
    CHECK(out.body == "hello 0123456789");
    CHECK(out.consumed == body.size());
}

TEST_CASE("chunked: hex digits in either case with leading zeros and any run of zeros as the last chunk")
{
    CHECK(decodeChunked("a\r\n0123456789\r\n0\r\n\r\n").body == "0123456789");
    CHECK(decodeChunked("0A\r\n0123456789\r\n000\r\n\r\n").body == "0123456789");
    CHECK(decodeChunked("000000000000000f\r\n0123456789abcde\r\n0\r\n\r\n").body == "0123456789abcde");
    CHECK(statusOf("0000000000000000\r\n\r\n") == Status::Done);
    CHECK(statusOf("0\r\n\r\n") == Status::Done);
}

TEST_CASE("chunked: feed() contract - NeedMore consumes all and Done stops at the end and stays")
{
    ChunkedDecoder decoder;
    std::string body;
    auto sink = [&body](std::string_view data) { body.append(data); };
    std::size_t used = 99;
    CHECK(decoder.feed("", used, sink) == Status::NeedMore);
    CHECK(used == 0);
    CHECK(decoder.feed("3\r\nab", used, sink) == Status::NeedMore);
    CHECK(used == 5);
    CHECK(body == "ab");
    CHECK(decoder.bodyBytes() == 2);
    CHECK(decoder.feed("c\r\n0\r\n\r\nrest", used, sink) == Status::Done);
    CHECK(used == 8);
    CHECK(body == "abc");
    CHECK(decoder.feed("more", used, sink) == Status::Done);
    CHECK(used == 0);
    CHECK_FALSE(decoder.tooLarge());
}

TEST_CASE("chunked: chunk-size is hex digits and nothing else")
{
    CHECK(statusOf("0x10\r\n0123456789abcdef\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("x10\r\n") == Status::Error);
    CHECK(statusOf("-1\r\n") == Status::Error);
    CHECK(statusOf("+5\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf(" 5\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("\t5\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5 \r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5 5\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5g\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5\0\r\nhello\r\n0\r\n\r\n"s) == Status::Error);
    CHECK(statusOf("\xef\xbc\x95\r\n") == Status::Error);  // FULLWIDTH DIGIT FIVE
    CHECK(statusOf("0.5\r\n") == Status::Error);
}

TEST_CASE("chunked: every line ends in CRLF - bare LF and stray bytes are refused")
{
    CHECK(statusOf("5\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5\r\nhello\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5\r\nhello\r\n0\n\r\n") == Status::Error);
    CHECK(statusOf("5\r\nhello\r\n0\r\n\n") == Status::Error);
    CHECK(statusOf("5\rhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5\r\nhello\r0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5\r\nhelloX\r\n0\r\n\r\n") == Status::Error);  // data longer than declared
    CHECK(statusOf("5\r\nhell\r\n0\r\n\r\n") == Status::Error);    // shorter: eats the CR, then '0'
    CHECK(statusOf("5\r\nhello0\r\n\r\n") == Status::Error);       // missing CRLF after data
}

TEST_CASE("chunked: extensions follow the grammar with BWS only around the separators")
{
    CHECK(decodeEveryWay("5;name\r\nhello\r\n0\r\n\r\n").body == "hello");
    CHECK(decodeEveryWay("5;a=b;c=\"quoted; \\\"str\\\\ing\"\r\nhello\r\n0;last=1\r\n\r\n").body == "hello");
    CHECK(decodeEveryWay("5 ; a = b ;c\r\nhello\r\n0\r\n\r\n").body == "hello");
    CHECK(decodeEveryWay("5\t;\ta\t=\t\"\"\r\nhello\r\n0\r\n\r\n").body == "hello");
    CHECK(decodeChunked("5;a=\"x\" ;b\r\nhello\r\n0\r\n\r\n").status == Status::Done);

    CHECK(statusOf("5;\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;=b\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a \r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=b \r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a b\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=b c\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=\"b\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=\"\0\"\r\nhello\r\n0\r\n\r\n"s) == Status::Error);
    CHECK(statusOf("5;a=\"\\\0\"\r\nhello\r\n0\r\n\r\n"s) == Status::Error);
    CHECK(statusOf("5;a@b\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=b;\r\nhello\r\n0\r\n\r\n") == Status::Error);
}

TEST_CASE("chunked: extension abuse - the size line is bounded")
{
    const std::string longExtension = "5;" + std::string(5000, 'a') + "\r\nhello\r\n0\r\n\r\n";
    const Decoded out = decodeChunked(longExtension);
    CHECK(out.status == Status::Error);
    CHECK_FALSE(out.tooLarge);
    // The bound applies to the whole line and is configurable.
    CHECK(decodeChunked("5;aaaa\r\nhello\r\n0\r\n\r\n", 0, UINT64_MAX, 6).status == Status::Done);
    CHECK(decodeChunked("5;aaaaa\r\nhello\r\n0\r\n\r\n", 0, UINT64_MAX, 6).status == Status::Error);
    // Many chunks with extensions are fine as long as each line is.
    std::string many;
    for (int i = 0; i < 1000; ++i) {
        many += "1;ext=" + std::to_string(i) + "\r\nx\r\n";
    }
    many += "0\r\n\r\n";
    const Decoded manyOut = decodeChunked(many);
    CHECK(manyOut.status == Status::Done);
    CHECK(manyOut.body == std::string(1000, 'x'));
}

TEST_CASE("chunked: huge sizes - more than 16 digits or 2^63 is an error and the body limit is tooLarge()")
{
    CHECK(statusOf("10000000000000000\r\n") == Status::Error);  // 17 digits
    CHECK(statusOf("00000000000000001\r\n") == Status::Error);  // 17 digits, small value
    CHECK(decodeChunked("10000000000000000\r\n").tooLarge == false);
    CHECK(statusOf("7fffffffffffffff\r\nabc") == Status::NeedMore);  // 2^63 - 1 fits, waits for data
    CHECK(statusOf("8000000000000000\r\n") == Status::Error);        // 2^63, as nginx
    CHECK(statusOf("ffffffffffffffff\r\nabc") == Status::Error);
    CHECK(decodeChunked("ffffffffffffffff\r\n").tooLarge == false);

    const Decoded over = decodeChunked("ffffffffffffffff\r\n", 0, 1024 * 1024);
    CHECK(over.status == Status::Error);
    CHECK(over.tooLarge);

    // The limit counts the whole body and is enforced before the offending chunk's data.
    const Decoded twoChunks = decodeChunked("6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", 0, 10);
    CHECK(twoChunks.status == Status::Error);
    CHECK(twoChunks.tooLarge);
    CHECK(twoChunks.body == "abcdef");
    const Decoded exact = decodeChunked("6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", 0, 10);
    CHECK(exact.status == Status::Done);
    CHECK(exact.body == "abcdefghij");
    CHECK(decodeChunked("0\r\n\r\n", 0, 0).status == Status::Done);
    CHECK(decodeChunked("1\r\nx\r\n0\r\n\r\n", 0, 0).tooLarge);
}

TEST_CASE("chunked: trailer fields are checked and bounded and dropped")
{
    const std::string body = "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other:\tv a l\xff\r\n\r\n";
    const Decoded out = decodeEveryWay(body + "NEXT");
    CHECK(out.status == Status::Done);
    CHECK(out.body == "abc");
    CHECK(out.consumed == body.size());

    CHECK(statusOf("0\r\nX: a\r\n folded\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\n X: a\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\nX : a\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\n: a\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\nno colon\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\nX: a\0\r\n\r\n"s) == Status::Error);
    CHECK(statusOf("0\r\nX: a\nY: b\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\nX: a\r\n\n") == Status::Error);
    CHECK(statusOf("0\r\nX: a\rb\r\n\r\n") == Status::Error);
    CHECK(statusOf("0\r\n\rX") == Status::Error);

    const std::string big = "0\r\nX: " + std::string(100, 'a') + "\r\n\r\n";  // 107 trailer bytes
    CHECK(decodeChunked(big, 0, UINT64_MAX, 4096, 107).status == Status::Done);
    const Decoded tooBig = decodeChunked(big, 0, UINT64_MAX, 4096, 106);
    CHECK(tooBig.status == Status::Error);
    CHECK_FALSE(tooBig.tooLarge);
}

TEST_CASE("chunked: byte-by-byte decoding equals one-shot decoding also for errors")
{
    decodeEveryWay("1\r\na\r\n2\r\nbc\r\n0\r\nT: x\r\n\r\n");
    decodeEveryWay("3;x=\"y\"\r\nabc\r\n0\r\n\r\n");
    decodeEveryWay("3\r\nabcd\r\n0\r\n\r\n");
    decodeEveryWay("3\r\nabc\r\n0\r\nbad trailer\r\n\r\n");
    decodeEveryWay("3\r\nabc");
}

TEST_CASE("chunked: trailer fields that would frame or route the message are refused")
{
    for (std::string_view name : {"Content-Length", "content-length", "CONTENT-LENGTH", "Transfer-Encoding",
                                  "transfer-encoding", "Host", "hOsT"}) {
        CAPTURE(name);
        const std::string body = "3\r\nabc\r\n0\r\n" + std::string(name) + ": 5\r\n\r\n";
        const Decoded out = decodeEveryWay(body);
        CHECK(out.status == Status::Error);
        CHECK_FALSE(out.tooLarge);
        // Also after an allowed field, and with an empty value.
        CHECK(statusOf("0\r\nX-Ok: 1\r\n" + std::string(name) + ":\r\n\r\n") == Status::Error);
    }
    ChunkedDecoder decoder;
    std::size_t used = 0;
    REQUIRE(decoder.feed("0\r\nTransfer-Encoding: chunked\r\n\r\n", used, [](std::string_view) {}) == Status::Error);
    CHECK(std::string_view(decoder.error()) == "framing or routing field in the chunked trailer");
    // Names that merely contain or extend a forbidden one are ordinary fields.
    for (std::string_view name : {"X-Content-Length", "Content-Length2", "Hosts", "Hos", "Transfer-Encodings",
                                  "Content-Lengthxxxxxxxxxxxxxxxxxxxx"}) {
        CAPTURE(name);
        const Decoded out = decodeEveryWay("0\r\n" + std::string(name) + ": 5\r\n\r\n");
        CHECK(out.status == Status::Done);
    }
}

TEST_CASE("chunked: the smuggling shapes of chunk-size lines")
{
    // uppercase and mixed-case hex are fine
    CHECK(decodeEveryWay("A\r\n0123456789\r\n0\r\n\r\n").body == "0123456789");
    CHECK(decodeEveryWay("b\r\n0123456789a\r\n0\r\n\r\n").body == "0123456789a");
    // a CR or LF inside a quoted extension value cannot end the line early
    CHECK(statusOf("5;a=\"x\r\n\"\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=\"x\n\"\r\nhello\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("5;a=\"x\\\r\n\"\r\nhello\r\n0\r\n\r\n") == Status::Error);
    // a size that a 32-bit parser would wrap is taken; one a signed 64-bit parser would make
    // negative is refused
    CHECK(statusOf("100000000\r\n") == Status::NeedMore);
    CHECK(statusOf("8000000000000000\r\n") == Status::Error);
    CHECK(decodeChunked("100000000\r\n", 0, 1 << 20).tooLarge);
    // the last chunk written as "00" and with an extension is still the last chunk
    CHECK(decodeEveryWay("000;x=1\r\n\r\n").status == Status::Done);
    // LF-only line endings and data without its CRLF
    CHECK(statusOf("3\nabc\n0\n\n") == Status::Error);
    CHECK(statusOf("3\r\nabc0\r\n\r\n") == Status::Error);
    CHECK(statusOf("3\r\nabc\n0\r\n\r\n") == Status::Error);
    // whitespace before the size, between the digits, or alone after them
    CHECK(statusOf(" 3\r\nabc\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("3\t\r\nabc\r\n0\r\n\r\n") == Status::Error);
    CHECK(statusOf("1 0\r\n") == Status::Error);
}
