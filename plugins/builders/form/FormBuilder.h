#pragma once

#include <cstddef>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Builds application/x-www-form-urlencoded bodies into an object of name -> string, or name ->
// array of strings when a name repeats (in the order the values came), members in the order of
// each name's first appearance. Decoding is the WHATWG URL standard's, made strict: '+' is a
// space, '%' must start two hex digits, and every decoded name and value must be UTF-8.
class FormBuilder final : public sdk::MessageBuilder {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {"application/x-www-form-urlencoded", nullptr};

    explicit FormBuilder(const sdk::ComponentInit& init);

    const sluice_value* build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes) override;

private:
    std::size_t _maxBytes;
    std::size_t _maxFields;
    std::size_t _maxStringBytes;
};

}  // namespace sluice::plugins
