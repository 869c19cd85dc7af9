#!/usr/bin/env bash
# Builds Sluice with sanitizers and runs the test suite against that build (the packaging tests
# excepted: they build packages of the normal build). By default AddressSanitizer (leaks
# included) and UndefinedBehaviorSanitizer in build-asan; SLUICE_SANITIZERS=thread runs
# ThreadSanitizer in build-tsan. Every report fails the run, also one from a sluiced a test
# killed or one written after its test had passed: the reports go to files (log_path), which are
# checked after ctest.
#   SLUICE_SANITIZERS           -fsanitize= list (default: address,undefined)
#   SLUICE_SANITIZED_BUILD_DIR  build directory (default: build-asan, or build-tsan for thread)
# Arguments are passed to ctest (e.g. -R transport).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup-deps.sh"

sanitizers="${SLUICE_SANITIZERS:-address,undefined}"
case "$sanitizers" in
    *thread*) build="${SLUICE_SANITIZED_BUILD_DIR:-$root/build-tsan}" ;;
    *) build="${SLUICE_SANITIZED_BUILD_DIR:-$root/build-asan}" ;;
esac
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZERS="$sanitizers" \
    -DSLUICE_WARNINGS_AS_ERRORS=ON
cmake --build "$build" -j "$(nproc)"

reports="$build/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# abort_on_error: a report ends the process at once, so a test that drives it sees the failure too.
export ASAN_OPTIONS="log_path=$reports/asan:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1:second_deadlock_stack=1"
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
    ip tcp_metrics flush 127.0.0.1 2>/dev/null || true  # see scripts/test.sh
fi

# ThreadSanitizer holds an asynchronous signal back until the thread calls a function it
# intercepts, which a Lua script spinning in the VM never does: the tests in which the Lua
# watchdog's signal must end such a loop cannot pass under it.
skip=()
case "$sanitizers" in
    *thread*)
        skip=(-E "time limit: an endless loop without max_instructions|time limit: the watchdog reaches a thread|time limit: the watchdog sleeps while no call runs|create: a missing file, a bad main chunk|time limit: patterns that backtrack for ever|lua: a script that never returns")
        ;;
esac

status=0
(cd "$build" && ctest --output-on-failure -j "$(nproc)" -LE packaging "${skip[@]}" "$@") || status=$?

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
