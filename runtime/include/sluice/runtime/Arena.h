#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace sluice::runtime {

// A bump allocator: memory lives until the arena is destroyed; nothing is freed one by one.
// Used for exchange-scoped plugin memory (arena_alloc) and for sluice_value trees.
class Arena {
public:
    explicit Arena(std::size_t chunkSize = 4096, std::size_t limit = 64u << 20);
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // Returns zeroed memory aligned for any type, or nullptr past the limit.
    void* allocate(std::size_t size) noexcept;
    // The same without zeroing, for bytes the caller writes at once.
    void* allocateUninitialized(std::size_t size) noexcept;

    template <typename T>
    T* allocateArray(std::size_t n) noexcept
    {
        return static_cast<T*>(allocate(sizeof(T) * (n == 0 ? 1 : n)));
    }

    std::size_t bytesAllocated() const noexcept { return _total; }
    // Memory the arena holds (its chunks), allocated or not.
    std::size_t bytesHeld() const noexcept { return _held; }
    // Forgets every allocation but keeps the first chunk for reuse (unless it was made larger
    // than the chunk size for one large allocation).
    void reset() noexcept;
    // Forgets every allocation and returns all memory (an idle connection holds none).
    void release() noexcept;

private:
    std::vector<std::unique_ptr<std::byte[]>> _chunks;
    std::size_t _chunkSize;
    std::size_t _limit;
    std::size_t _used = 0;
    std::size_t _capacity = 0;
    std::size_t _firstCapacity = 0;
    std::size_t _held = 0;
    std::size_t _total = 0;
};

}  // namespace sluice::runtime
