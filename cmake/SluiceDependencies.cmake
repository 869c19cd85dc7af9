# Every dependency comes from a Debian package (scripts/setup-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Poco REQUIRED COMPONENTS Foundation Net NetSSL Util JSON JWT Crypto Data DataSQLite Redis XML)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(XercesC REQUIRED IMPORTED_TARGET xerces-c)
pkg_check_modules(Lua REQUIRED IMPORTED_TARGET lua5.4)

# valijson is header-only; Debian ships no CMake package for it.
find_path(VALIJSON_INCLUDE_DIR valijson/validator.hpp REQUIRED)
add_library(sluice_valijson INTERFACE)
target_include_directories(sluice_valijson SYSTEM INTERFACE "${VALIJSON_INCLUDE_DIR}")
# Without this valijson prints and calls abort() on a malformed schema instead of throwing.
target_compile_definitions(sluice_valijson INTERFACE VALIJSON_USE_EXCEPTIONS=1)
add_library(Sluice::valijson ALIAS sluice_valijson)

if(SLUICE_BUILD_TESTS)
    find_package(doctest REQUIRED)
endif()
