// Runs the fuzz targets over their seed corpora, so every build checks the seeds (and the
// crashers found so far) without libFuzzer. Usage: http_fuzz_corpus_replay <request|response|path|form-method>
// <file-or-directory>...

#include "FuzzTarget.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using Target = int (*)(const std::uint8_t*, std::size_t);

bool replayFile(Target target, const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::cerr << "cannot read " << path << '\n';
        return false;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    target(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return true;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " <request|response|path|form-method> <file-or-directory>...\n";
        return 2;
    }
    const std::string which = argv[1];
    Target target = nullptr;
    if (which == "request") {
        target = sluice::fuzz::fuzzHttpRequest;
    } else if (which == "response") {
        target = sluice::fuzz::fuzzHttpResponse;
    } else if (which == "path") {
        target = sluice::fuzz::fuzzPath;
    } else if (which == "form-method") {
        target = sluice::fuzz::fuzzFormMethod;
    } else {
        std::cerr << "unknown target " << which << '\n';
        return 2;
    }
    std::size_t count = 0;
    for (int i = 2; i < argc; ++i) {
        std::vector<std::filesystem::path> files;
        const std::filesystem::path arg = argv[i];
        if (std::filesystem::is_directory(arg)) {
            for (const auto& entry : std::filesystem::directory_iterator(arg)) {
                if (entry.is_regular_file()) {
                    files.push_back(entry.path());
                }
            }
        } else {
            files.push_back(arg);
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            if (!replayFile(target, file)) {
                return 1;
            }
            ++count;
        }
    }
    if (count == 0) {
        std::cerr << "no corpus files found\n";
        return 1;
    }
    std::cout << "replayed " << count << " inputs through the " << which << " target\n";
    return 0;
}
