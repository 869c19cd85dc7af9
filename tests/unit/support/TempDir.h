#pragma once

#include <string>
#include <string_view>

namespace sluice::test {

// A private directory under /tmp (mkdtemp), removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const noexcept { return _path; }
    // <path>/<relative>
    std::string file(std::string_view relative) const;
    // How many files and directories are directly in it.
    std::size_t entryCount() const;
    // Writes `content` to <path>/<relative>, creating parent directories; returns the full path.
    std::string write(std::string_view relative, std::string_view content) const;

private:
    std::string _path;
};

// The whole file; throws std::runtime_error when it cannot be read.
std::string readFile(const std::string& path);

}  // namespace sluice::test
