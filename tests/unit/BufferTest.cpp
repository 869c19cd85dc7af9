#include "sluice/runtime/transport/Buffer.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>

using sluice::runtime::transport::BlockCache;
using sluice::runtime::transport::Buffer;

TEST_CASE("buffer: bytes appended at the back come out at the front, across growth and sliding")
{
    Buffer b;
    std::string expected;
    for (int i = 0; i < 2000; ++i) {
        std::string piece = std::to_string(i) + ",";
        b.append(piece);
        expected += piece;
        if (i % 7 == 0) {
            std::size_t n = std::min<std::size_t>(5, b.size());
            CHECK(b.view().substr(0, n) == std::string_view(expected).substr(0, n));
            b.consume(n);
            expected.erase(0, n);
        }
    }
    CHECK(b.view() == expected);
    b.consume(b.size());
    CHECK(b.empty());
}

TEST_CASE("buffer: the memory of an emptied buffer is reused by the next one on the same thread")
{
    // A fresh thread has an empty cache, whatever other tests did on this one.
    std::thread([] {
        REQUIRE(BlockCache::cachedBytes() == 0);
        const char* first = nullptr;
        {
            Buffer a;
            a.append(std::string(100 * 1024, 'a'));  // grows to a 128 KiB block
            first = a.data();
            a.consume(a.size());
            a.shrinkIfEmpty(0);
            CHECK(BlockCache::cachedBytes() == 128 * 1024);
        }
        Buffer b;
        b.append(std::string(70 * 1024, 'b'));  // needs 128 KiB again: the cached block
        CHECK(b.data() == first);
        CHECK(BlockCache::cachedBytes() == 0);
        CHECK(b.view() == std::string(70 * 1024, 'b'));
    }).join();
}

TEST_CASE("buffer: the cache keeps a bounded number of bytes, the rest is freed")
{
    std::thread([] {
        {
            Buffer buffers[8];
            for (auto& buffer : buffers) {
                buffer.append(std::string(600 * 1024, 'x'));  // a 1 MiB block each
            }
        }  // eight blocks released at once, only four fit
        CHECK(BlockCache::cachedBytes() == BlockCache::kMaxBytes);
        {
            Buffer huge;
            huge.append(std::string(3 * 1024 * 1024, 'y'));  // above the largest cached size
            CHECK(huge.size() == 3 * 1024 * 1024);
        }
        CHECK(BlockCache::cachedBytes() == BlockCache::kMaxBytes);
    }).join();
}
