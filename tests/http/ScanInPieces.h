#pragma once

// The answer of a body scanner (FormMethodScanner.h, JsonMethodScanner.h) must not depend on how
// the body is cut into pieces: fed whole, byte by byte and split in two at every position, all
// must agree (REQUIREd). Returns that answer.

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string_view>

#include "sluice/runtime/http/FormMethodScanner.h"

namespace sluice::http_test {

using MakeScanner = std::function<std::unique_ptr<runtime::http::BodyMethodScanner>()>;

inline bool overridesInAnyPieces(std::string_view body, const MakeScanner& make)
{
    auto whole = make();
    whole->feed(body);
    whole->finish();
    auto bytewise = make();
    for (char c : body) {
        bytewise->feed(std::string_view(&c, 1));
    }
    bytewise->finish();
    REQUIRE_MESSAGE(bytewise->overrides() == whole->overrides(), body);
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        auto split = make();
        split->feed(body.substr(0, cut));
        split->feed(body.substr(cut));
        split->finish();
        REQUIRE_MESSAGE(split->overrides() == whole->overrides(), body, " cut at ", cut);
    }
    return whole->overrides();
}

}  // namespace sluice::http_test
