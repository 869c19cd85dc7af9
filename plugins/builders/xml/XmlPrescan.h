#pragma once

// A look at an XML body's bytes before Xerces-C parses it.
//
// Xerces builds the attribute list of a start tag, and checks it for duplicates, before any
// handler sees the element, in time that grows with the square of the attributes on that one tag
// (20,000 namespace declarations with prefixed attributes take seconds of CPU). The
// max_attributes limit is therefore checked here first, on the undecoded text, where it can be
// checked soundly only for encodings in which '<', '=', '>' and the quotes are single, unambiguous
// code units: UTF-8 and the ASCII-compatible single-byte encodings, and UTF-16/UTF-32 with a byte
// order mark. Other encodings (EBCDIC, stateful ones like ISO-2022-JP, UTF-7, UTF-16 without a
// byte order mark) are refused.
//
// The encoding is taken as RFC 7303 §3 orders it: a byte order mark, else the charset parameter
// of the Content-Type, else the XML declaration, else UTF-8. A charset and a declaration that
// name different encodings are refused: a backend that reads the declaration would see another
// document.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::plugins {

struct XmlPrescan {
    std::string refused;   // "" when the body may be parsed, else why it is refused
    std::string encoding;  // the charset the parser must use, lower case; "" to let the body decide
};

// `charset` is the Content-Type's charset parameter (any case), "" when it has none. It is the
// encoding to use unless a byte order mark outranks it.
XmlPrescan prescanXml(std::string_view bytes, std::size_t maxAttributes, std::string_view charset = {});

}  // namespace sluice::plugins
