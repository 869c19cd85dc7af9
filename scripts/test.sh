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
# The kernel caches TCP metrics per destination (cwnd, reordering) from earlier connections. After
# heavy loopback traffic (a benchmark) those of 127.0.0.1 give new connections large send buffers
# from the start, and the tests that need an answer to stay queued inside the gateway (a client
# with a small window) then see the kernel take all of it. Flushing a cache is harmless; it needs
# root and iproute2, and is skipped without them.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
    ip tcp_metrics flush 127.0.0.1 2>/dev/null || true
fi
ctest --output-on-failure -j "$(nproc)" "$@"
