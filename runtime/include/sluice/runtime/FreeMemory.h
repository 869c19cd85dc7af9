#pragma once

// Memory the allocator holds free goes back to the system. glibc keeps what is freed in its
// arenas for reuse, so after a spike (a thousand clients each holding a 64 KiB body, slow
// readers with full output buffers) a gateway's RSS would stay at its peak for good. The main
// thread calls returnFreeMemory() between signals (every kFreeMemoryCheck).

#include <chrono>
#include <cstddef>

namespace sluice::runtime {

inline constexpr auto kFreeMemoryCheck = std::chrono::seconds(5);
// Less than this free in the arenas is kept for the next requests.
inline constexpr std::size_t kFreeMemoryKept = 8u << 20;

// Bytes the allocator holds free in its arenas (mallinfo2's fordblks, over every arena).
std::size_t allocatorFreeBytes();

// Gives the free pages of every arena back (malloc_trim) when at least `keep` bytes are free;
// true when it did.
bool returnFreeMemory(std::size_t keep = kFreeMemoryKept);

}  // namespace sluice::runtime
