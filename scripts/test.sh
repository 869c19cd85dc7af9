#!/usr/bin/env bash
# Installs the dependencies, builds Sluice and runs the whole test suite with ctest.
#   SLUICE_BUILD_DIR   build directory (default: build)
#   SLUICE_BUILD_TYPE  CMake build type (default: Debug)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup-deps.sh"

build="${SLUICE_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${SLUICE_BUILD_TYPE:-Debug}" -DSLUICE_WARNINGS_AS_ERRORS=ON
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" "$@"
