#!/usr/bin/env bash
# Builds Sluice with AddressSanitizer and UndefinedBehaviorSanitizer and runs the test suite
# against that build (the packaging tests excepted: they build packages of the normal build).
# Every sanitizer report fails the run, also one from a sluiced a test killed or one written after
# its test had passed: the reports go to files (log_path), which are checked after ctest.
#   SLUICE_SANITIZED_BUILD_DIR  build directory (default: build-asan)
# Arguments are passed to ctest (e.g. -R transport).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup-deps.sh"

build="${SLUICE_SANITIZED_BUILD_DIR:-$root/build-asan}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZERS=address,undefined \
    -DSLUICE_WARNINGS_AS_ERRORS=ON
cmake --build "$build" -j "$(nproc)"

reports="$build/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# abort_on_error: a report ends the process at once, so a test that drives it sees the failure too.
export ASAN_OPTIONS="log_path=$reports/asan:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizer/lsan.supp:print_suppressions=0"
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
    ip tcp_metrics flush 127.0.0.1 2>/dev/null || true  # see scripts/test.sh
fi

status=0
(cd "$build" && ctest --output-on-failure -j "$(nproc)" -LE packaging "$@") || status=$?

found=("$reports"/*)
if [ -e "${found[0]}" ]; then
    echo "test-sanitized: ${#found[@]} sanitizer report(s):" >&2
    for f in "${found[@]}"; do
        echo "==== $f" >&2
        cat "$f" >&2
    done
    status=1
fi
exit "$status"
