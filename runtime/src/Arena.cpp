#include "sluice/runtime/Arena.h"

#include <cstring>
#include <new>

namespace sluice::runtime {

namespace {
constexpr std::size_t kAlign = alignof(std::max_align_t);

std::size_t roundUp(std::size_t n) noexcept { return (n + kAlign - 1) & ~(kAlign - 1); }
}  // namespace

Arena::Arena(std::size_t chunkSize, std::size_t limit) : _chunkSize(roundUp(chunkSize)), _limit(limit) {}

void* Arena::allocate(std::size_t size) noexcept
{
    void* p = allocateUninitialized(size);
    if (p != nullptr) {
        std::memset(p, 0, size == 0 ? 1 : size);
    }
    return p;
}

void* Arena::allocateUninitialized(std::size_t size) noexcept
{
    if (size > _limit) {
        return nullptr;  // before rounding up, which wraps a size near SIZE_MAX to 0
    }
    std::size_t need = roundUp(size == 0 ? 1 : size);
    if (need > _limit - _total) {
        return nullptr;
    }
    if (_chunks.empty() || _used + need > _capacity) {
        std::size_t cap = need > _chunkSize ? need : _chunkSize;
        std::unique_ptr<std::byte[]> chunk(new (std::nothrow) std::byte[cap]);
        if (!chunk) {
            return nullptr;
        }
        _chunks.push_back(std::move(chunk));
        if (_chunks.size() == 1) {
            _firstCapacity = cap;
        }
        _held += cap;
        _used = 0;
        _capacity = cap;
    }
    std::byte* p = _chunks.back().get() + _used;
    _used += need;
    _total += need;
    return p;
}

void Arena::release() noexcept
{
    _chunks.clear();
    _chunks.shrink_to_fit();
    _held = 0;
    _used = 0;
    _capacity = 0;
    _total = 0;
}

void Arena::reset() noexcept
{
    if (!_chunks.empty() && _firstCapacity != _chunkSize) {
        release();  // a first chunk made for one large allocation is not kept
        return;
    }
    if (_chunks.size() > 1) {
        _chunks.erase(_chunks.begin() + 1, _chunks.end());
    }
    _held = _chunks.empty() ? 0 : _firstCapacity;
    _used = 0;
    _capacity = _chunks.empty() ? 0 : _chunkSize;
    _total = 0;
}

}  // namespace sluice::runtime
