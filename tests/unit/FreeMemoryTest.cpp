// Free memory the allocator holds goes back to the system once there is enough of it.
#include "sluice/runtime/FreeMemory.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The process's RSS in KiB, read as the runtime reads it.
long rssKb() { return static_cast<long>(sluice::runtime::residentBytes() / 1024); }

// A sanitizer's allocator replaces glibc's: there is nothing of glibc's to trim.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcAllocator = false;
#else
constexpr bool kGlibcAllocator = true;
#endif

}  // namespace

TEST_CASE("FreeMemory: freed blocks between blocks in use go back to the system, and little free is kept" *
          doctest::skip(!kGlibcAllocator))
{
    // 64 KiB blocks (below the mmap threshold: from the heap), every other one freed: the free
    // ones cannot merge into the heap's top, so free() alone gives nothing back.
    constexpr std::size_t kBlock = 64 * 1024;
    constexpr std::size_t kBlocks = 2000;
    std::vector<char*> blocks;
    for (std::size_t i = 0; i < kBlocks; ++i) {
        auto* b = static_cast<char*>(std::malloc(kBlock));
        REQUIRE(b != nullptr);
        std::memset(b, 1, kBlock);
        blocks.push_back(b);
    }
    for (std::size_t i = 0; i < kBlocks; i += 2) {
        std::free(blocks[i]);
        blocks[i] = nullptr;
    }
    const long before = rssKb();
    CHECK(sluice::runtime::allocatorFreeBytes() >= kBlocks / 2 * kBlock);
    sluice::runtime::FreeMemoryReturner picky(sluice::runtime::allocatorFreeBytes() + 1);
    CHECK_FALSE(picky.check());
    CHECK(rssKb() > before - 8 * 1024);  // too little free for it: nothing went back

    sluice::runtime::FreeMemoryReturner returner;
    const auto start = std::chrono::steady_clock::now();
    CHECK(returner.check());
    const auto took = std::chrono::steady_clock::now() - start;
    const long after = rssKb();
    MESSAGE("RSS " << before << " kB -> " << after << " kB; malloc_trim took "
                   << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us");
    // 1000 free blocks of 64 KiB: each gives back its whole pages (60 KiB of 64).
    CHECK(before - after >= 50 * 1024);
    CHECK_FALSE(returner.check());  // still free, but given back already: nothing to do

    // The free blocks used again (their pages come back) and freed again: worth another trim.
    for (std::size_t i = 0; i < kBlocks; i += 2) {
        blocks[i] = static_cast<char*>(std::malloc(kBlock));
        REQUIRE(blocks[i] != nullptr);
        std::memset(blocks[i], 2, kBlock);
    }
    for (std::size_t i = 0; i < kBlocks; i += 2) {
        std::free(blocks[i]);
        blocks[i] = nullptr;
    }
    const long reused = rssKb();
    CHECK(reused - after >= 50 * 1024);
    CHECK(returner.check());
    CHECK(reused - rssKb() >= 50 * 1024);
    for (char* b : blocks) {
        std::free(b);
    }
}
