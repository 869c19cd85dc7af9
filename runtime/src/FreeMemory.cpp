#include "sluice/runtime/FreeMemory.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sluice::runtime {

std::size_t allocatorFreeBytes() { return mallinfo2().fordblks; }

std::size_t residentBytes()
{
    // "size resident shared ..." in pages.
    std::ifstream statm("/proc/self/statm");
    std::string size;
    std::string resident;
    if (!(statm >> size >> resident)) {
        return 0;
    }
    return std::strtoul(resident.c_str(), nullptr, 10) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// malloc_trim(0) releases the whole free pages inside free chunks of every arena (madvise), not
// only the top of the main heap; the chunks stay free for reuse, so a later request pays at most
// a page fault. It locks each arena in turn: measured here (FreeMemoryTest), 7 ms to give back
// 60 MB in 1,000 free blocks.
bool FreeMemoryReturner::check()
{
    if (allocatorFreeBytes() < _keep) {
        return false;
    }
    const std::size_t rss = residentBytes();
    if (_rssAfterLast != 0 && rss < _rssAfterLast + _keep) {
        return false;
    }
    ::malloc_trim(0);
    _rssAfterLast = residentBytes();
    return true;
}

}  // namespace sluice::runtime
