#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace sluice::runtime::transport {

// A byte queue: append at the back, consume from the front, read directly into spare capacity.
// Memory is kept between uses (one per connection direction), so steady-state traffic does not
// allocate.
class Buffer {
public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

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
            _data.reset();
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
            std::size_t cap = _capacity == 0 ? 4096 : _capacity;
            while (cap - used < n) {
                cap *= 2;
            }
            std::unique_ptr<char[]> bigger(new char[cap]);
            if (used > 0) {
                std::memcpy(bigger.get(), data(), used);
            }
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
