#pragma once

// Helpers for testing builder and formatter plugins through their real .so and the fake host:
// call a builder's or formatter's vtable as the runtime does, and print trees compactly so that
// a test can compare a whole tree with one string.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include <sluice/sdk.hpp>
#include <sluice/sdk/testing/FakeHost.hpp>

namespace sluice::test {

using sdk::ValueView;
using sdk::testing::FakeExchange;
using sdk::testing::FakeHost;
using sdk::testing::FakeInstance;

inline const sluice_builder_vtable& builderTable(const FakeInstance& b)
{
    REQUIRE(b.component().kind == SLUICE_KIND_BUILDER);
    return *static_cast<const sluice_builder_vtable*>(b.component().vtable);
}

inline const sluice_formatter_vtable& formatterTable(const FakeInstance& f)
{
    REQUIRE(f.component().kind == SLUICE_KIND_FORMATTER);
    return *static_cast<const sluice_formatter_vtable*>(f.component().vtable);
}

// Builds `bytes` as the runtime does (through build_message, the 1.1 slot; `contentType` is the
// whole field value and defaults to the media type); nullptr when the builder refuses.
inline const sluice_value* build(FakeInstance& b, FakeExchange& ex, std::string_view bytes,
                                 std::string_view mediaType = {}, std::string_view contentType = {})
{
    const sluice_builder_vtable& vt = builderTable(b);
    if (mediaType.empty()) {
        mediaType = vt.media_types[0];
    }
    const bool hasBuildMessage = vt.build_message != nullptr;
    REQUIRE(hasBuildMessage);
    const sluice_build_args args = sdk::testing::requestBuildArgs(mediaType, bytes, contentType);
    const sluice_value* out = nullptr;
    sluice_status st = vt.build_message(b.get(), ex.handle(), &args, &out);
    if (st != SLUICE_OK) {
        CHECK(out == nullptr);
        return nullptr;
    }
    REQUIRE(out != nullptr);
    return out;
}

// Formats `value` as the runtime does; nullopt when the formatter fails.
inline std::optional<std::string> format(FakeInstance& f, FakeExchange& ex, const sluice_value* value,
                                         std::string_view mediaType = {})
{
    const sluice_formatter_vtable& vt = formatterTable(f);
    if (mediaType.empty()) {
        mediaType = vt.media_types[0];
    }
    sluice_buffer buffer;
    sluice_status st = vt.format(f.get(), ex.handle(), sdk::str(mediaType), value, &buffer);
    if (st != SLUICE_OK) {
        return std::nullopt;
    }
    return buffer.bytes;
}

inline bool handles(const char* const* mediaTypes, std::string_view type)
{
    for (; *mediaTypes != nullptr; ++mediaTypes) {
        if (type == *mediaTypes) {
            return true;
        }
    }
    return false;
}

// A compact, JSON-like print of a tree that shows every detail a test may care about: numbers
// as their literal text (or "#<double>" without one), strings with control bytes and non-ASCII
// escaped as \xNN, keys in order.
inline void dumpTo(ValueView v, std::string& out)
{
    auto text = [&](std::string_view s) {
        out.push_back('"');
        for (unsigned char c : s) {
            if (c == '"' || c == '\\') {
                out.push_back('\\');
                out.push_back(static_cast<char>(c));
            } else if (c < 0x20 || c >= 0x7F) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02X", c);
                out += buf;
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
        out.push_back('"');
    };
    if (v.isMissing()) {
        out += "<missing>";
    } else if (v.isNull()) {
        out += "null";
    } else if (v.isBool()) {
        out += v.asBool() ? "true" : "false";
    } else if (v.isNumber()) {
        std::string_view literal = sdk::view(v.raw()->text);
        if (!literal.empty()) {
            out += literal;
        } else {
            out += "#" + std::to_string(v.asNumber());
        }
    } else if (v.isString()) {
        text(v.asString());
    } else if (v.isArray()) {
        out.push_back('[');
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i > 0) {
                out.push_back(',');
            }
            dumpTo(v[i], out);
        }
        out.push_back(']');
    } else if (v.isObject()) {
        out.push_back('{');
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i > 0) {
                out.push_back(',');
            }
            text(v.keyAt(i));
            out.push_back(':');
            dumpTo(v.valueAt(i), out);
        }
        out.push_back('}');
    } else {
        out += "<bad type>";
    }
}

inline std::string dump(const sluice_value* v)
{
    std::string out;
    dumpTo(ValueView{v}, out);
    return out;
}

inline std::string repeat(std::string_view s, std::size_t n)
{
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out.append(s);
    }
    return out;
}

// `s` printable in a test failure message: control bytes and non-ASCII as \xNN.
inline std::string shown(std::string_view s)
{
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

// True when some log line of `host` contains `needle`.
inline bool logged(const FakeHost& host, std::string_view needle)
{
    for (const auto& line : host.logs()) {
        if (line.message.find(needle) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace sluice::test
