#pragma once

// Memory the allocator holds free goes back to the system. glibc keeps what is freed in its
// arenas for reuse, so after a spike (a thousand clients each holding a 64 KiB body, slow
// readers with full output buffers) a gateway's RSS would stay at its peak for good. The main
// thread asks a FreeMemoryReturner between signals (every kFreeMemoryCheck).

#include <chrono>
#include <cstddef>

namespace sluice::runtime {

inline constexpr auto kFreeMemoryCheck = std::chrono::seconds(5);
// Less than this free in the arenas is kept for the next requests; and a trim is repeated only
// once the process's RSS has grown by this much since the last one.
inline constexpr std::size_t kFreeMemoryKept = 8u << 20;

// Bytes the allocator holds free in its arenas (mallinfo2's fordblks, over every arena).
std::size_t allocatorFreeBytes();
// The process's resident set in bytes (/proc/self/statm); 0 when unreadable.
std::size_t residentBytes();

class FreeMemoryReturner {
public:
    explicit FreeMemoryReturner(std::size_t keep = kFreeMemoryKept) : _keep(keep) {}

    // Gives the free pages of every arena back (malloc_trim) when at least `keep` bytes are free
    // and the RSS grew by `keep` since the last time (a trim leaves the freed chunks in the
    // arenas, free; until requests use them again, another would find nothing to give); true
    // when it did.
    bool check();

private:
    std::size_t _keep;
    std::size_t _rssAfterLast = 0;  // 0: no trim yet
};

}  // namespace sluice::runtime
