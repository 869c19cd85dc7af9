#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace sluice::runtime::transport {

// Memory blocks of released buffers, kept per thread for the next buffer that grows: a connection
// that goes idle gives its memory back, and the next busy one takes it without malloc, fresh
// pages and their zeroing. Blocks are powers of two from 4 KiB to 1 MiB; at most kMaxBytes are
// kept per thread, the rest is freed. Buffers live on one worker thread, so no locking.
class BlockCache {
public:
    static constexpr std::size_t kMinBlock = 4096;
    static constexpr std::size_t kMaxBlock = std::size_t{1} << 20;
    static constexpr std::size_t kMaxBytes = std::size_t{4} << 20;

    // A block of exactly `capacity` bytes (a power of two), reused when one is cached.
    static std::unique_ptr<char[]> take(std::size_t capacity)
    {
        Shelf* shelf = shelfFor(capacity);
        if (shelf != nullptr && !shelf->blocks.empty()) {
            std::unique_ptr<char[]> block = std::move(shelf->blocks.back());
            shelf->blocks.pop_back();
            state().bytes -= capacity;
            return block;
        }
        return std::unique_ptr<char[]>(new char[capacity]);
    }

    static void give(std::unique_ptr<char[]> block, std::size_t capacity) noexcept
    {
        Shelf* shelf = shelfFor(capacity);
        State& st = state();
        if (shelf == nullptr || st.bytes + capacity > kMaxBytes) {
            return;  // freed here
        }
        try {
            shelf->blocks.push_back(std::move(block));
            st.bytes += capacity;
        } catch (...) {
            // No room to remember it: the block is freed.
        }
    }

    // Bytes held by the calling thread's cache.
    static std::size_t cachedBytes() noexcept { return state().bytes; }

private:
    static constexpr std::size_t kShelves = 9;  // 4 KiB .. 1 MiB
    struct Shelf {
        std::vector<std::unique_ptr<char[]>> blocks;
    };
    struct State {
        Shelf shelves[kShelves];
        std::size_t bytes = 0;
    };
    static State& state() noexcept
    {
        thread_local State st;
        return st;
    }
    static Shelf* shelfFor(std::size_t capacity) noexcept
    {
        std::size_t size = kMinBlock;
        for (std::size_t i = 0; i < kShelves; ++i, size <<= 1) {
            if (size == capacity) {
                return &state().shelves[i];
            }
        }
        return nullptr;
    }
};

// A byte queue: append at the back, consume from the front, read directly into spare capacity.
// Memory is kept between uses (one per connection direction), so steady-state traffic does not
// allocate.
class Buffer {
public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { BlockCache::give(std::move(_data), _capacity); }

    std::size_t size() const noexcept { return _end - _begin; }
    bool empty() const noexcept { return _end == _begin; }
    const char* data() const noexcept { return _data.get() + _begin; }
    std::string_view view() const noexcept { return {data(), size()}; }

    void consume(std::size_t n) noexcept
    {
        _begin += n < size() ? n : size();
        if (_begin == _end) {
            _begin = _end = 0;
        }
    }
    void clear() noexcept { _begin = _end = 0; }
    // Keeps the first `n` bytes and drops the rest (bytes appended but not yet sent).
    void truncate(std::size_t n) noexcept
    {
        if (n < size()) {
            _end = _begin + n;
        }
    }

    // Returns space for at least `n` more bytes at the back; call commit() with what was used.
    char* prepare(std::size_t n)
    {
        if (_capacity - _end < n) {
            makeRoom(n);
        }
        return _data.get() + _end;
    }
    std::size_t spare() const noexcept { return _capacity - _end; }
    void commit(std::size_t n) noexcept { _end += n; }

    void append(const char* p, std::size_t n)
    {
        if (n == 0) {
            return;
        }
        std::memcpy(prepare(n), p, n);
        _end += n;
    }
    void append(std::string_view s) { append(s.data(), s.size()); }

    // Releases memory when a buffer grew large (after a big body) and is empty again.
    void shrinkIfEmpty(std::size_t keep)
    {
        if (empty() && _capacity > keep) {
            BlockCache::give(std::move(_data), _capacity);
            _capacity = 0;
        }
    }

private:
    void makeRoom(std::size_t n)
    {
        std::size_t used = size();
        if (_begin > 0 && _capacity - used >= n && used <= _capacity / 2) {
            std::memmove(_data.get(), data(), used);  // slide to the front
        } else {
            std::size_t cap = _capacity == 0 ? BlockCache::kMinBlock : _capacity;
            while (cap - used < n) {
                cap *= 2;
            }
            std::unique_ptr<char[]> bigger = BlockCache::take(cap);
            if (used > 0) {
                std::memcpy(bigger.get(), data(), used);
            }
            BlockCache::give(std::move(_data), _capacity);
            _data = std::move(bigger);
            _capacity = cap;
        }
        _begin = 0;
        _end = used;
    }

    std::unique_ptr<char[]> _data;
    std::size_t _capacity = 0;
    std::size_t _begin = 0;
    std::size_t _end = 0;
};

}  // namespace sluice::runtime::transport
