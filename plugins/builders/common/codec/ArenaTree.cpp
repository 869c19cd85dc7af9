#include "codec/ArenaTree.h"

#include <cstdint>
#include <cstring>

namespace sluice::plugins::codec {

void* ArenaTree::allocate(std::size_t count, std::size_t size) const noexcept
{
    if (count == 0 || count > SIZE_MAX / size) {
        return nullptr;
    }
    return _ctx.allocate(count * size);
}

sluice_value* ArenaTree::values(std::size_t count) const noexcept
{
    return static_cast<sluice_value*>(allocate(count, sizeof(sluice_value)));
}

sluice_member* ArenaTree::members(std::size_t count) const noexcept
{
    return static_cast<sluice_member*>(allocate(count, sizeof(sluice_member)));
}

char* ArenaTree::bytes(std::size_t count) const noexcept { return static_cast<char*>(allocate(count, 1)); }

bool ArenaTree::copy(std::string_view text, sluice_str& out) const noexcept
{
    if (text.empty()) {
        out = sluice_str{"", 0};
        return true;
    }
    char* p = bytes(text.size());
    if (p == nullptr) {
        return false;
    }
    std::memcpy(p, text.data(), text.size());
    out = sluice_str{p, text.size()};
    return true;
}

sluice_value* ArenaTree::string(std::string_view text) const noexcept
{
    sluice_value* v = values(1);
    if (v == nullptr || !copy(text, v->text)) {
        return nullptr;
    }
    v->type = SLUICE_VALUE_STRING;
    return v;
}

sluice_value* ArenaTree::object(const sluice_member* members, std::size_t count) const noexcept
{
    sluice_value* v = values(1);
    if (v == nullptr) {
        return nullptr;
    }
    v->type = SLUICE_VALUE_OBJECT;
    if (count > 0) {
        sluice_member* copy = this->members(count);
        if (copy == nullptr) {
            return nullptr;
        }
        std::memcpy(static_cast<void*>(copy), members, count * sizeof(sluice_member));
        v->members = copy;
        v->count = count;
    }
    return v;
}

}  // namespace sluice::plugins::codec
