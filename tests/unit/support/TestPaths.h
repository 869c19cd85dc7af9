#pragma once

// Paths of the build tree that tests use; the build passes them as compile definitions
// (sluice_test_paths() in tests/CMakeLists.txt).

#include <string>

#ifndef SLUICE_TEST_FIXTURE_DIR
#error "SLUICE_TEST_FIXTURE_DIR is not defined: use sluice_test_paths() on the test target"
#endif

namespace sluice::test {

// <build>/tests/fixtures/<case>
inline std::string fixtureDir(const std::string& testCase)
{
    return std::string(SLUICE_TEST_FIXTURE_DIR) + "/" + testCase;
}

// <build>/tests/fixtures/<case>/<file>
inline std::string fixtureFile(const std::string& testCase, const std::string& file)
{
    return fixtureDir(testCase) + "/" + file;
}

// <build>/lib/sluice/plugins: the bundled plugins (correlation_id, ...).
inline std::string bundledPluginDir() { return SLUICE_TEST_BUNDLED_PLUGIN_DIR; }

// The source tree (for conf/ and sdk/).
inline std::string sourceDir() { return SLUICE_TEST_SOURCE_DIR; }

}  // namespace sluice::test
