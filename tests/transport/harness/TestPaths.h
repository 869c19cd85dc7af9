#pragma once

// Paths the build passes in (tests/transport/CMakeLists.txt).

namespace sluice::transport_test {

inline constexpr const char* kSluicedPath = SLUICE_TRANSPORT_SLUICED;
inline constexpr const char* kTestPluginDir = SLUICE_TRANSPORT_TEST_PLUGIN_DIR;
inline constexpr const char* kBundledPluginDir = SLUICE_TRANSPORT_BUNDLED_PLUGIN_DIR;

}  // namespace sluice::transport_test
