#pragma once

// Allocation of sluice_value trees in the exchange's arena (ctx.allocate), so a built or converted
// message lives exactly as long as the exchange. Every function returns nullptr / false when the
// arena refuses (its per-exchange limit) or a size would overflow; memory comes back zeroed, so a
// fresh sluice_value is a NULL value.

#include <cstddef>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins::codec {

class ArenaTree {
public:
    explicit ArenaTree(const sdk::MessageContext& ctx) noexcept : _ctx(ctx) {}

    sluice_value* values(std::size_t count) const noexcept;
    sluice_member* members(std::size_t count) const noexcept;
    char* bytes(std::size_t count) const noexcept;

    // Copies `text` into the arena; the empty string needs no memory.
    bool copy(std::string_view text, sluice_str& out) const noexcept;

    // One value node of each kind, or nullptr.
    sluice_value* string(std::string_view text) const noexcept;
    // An object node whose members are copied from `members` (count may be 0).
    sluice_value* object(const sluice_member* members, std::size_t count) const noexcept;

private:
    void* allocate(std::size_t count, std::size_t size) const noexcept;

    const sdk::MessageContext& _ctx;
};

// A value that borrows `text` as a STRING (no copy).
inline sluice_value stringValue(sluice_str text) noexcept
{
    sluice_value v{};
    v.type = SLUICE_VALUE_STRING;
    v.text = text;
    return v;
}

}  // namespace sluice::plugins::codec
