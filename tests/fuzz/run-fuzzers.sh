#!/usr/bin/env bash
# Builds the HTTP parser and path normaliser fuzzers with clang (libFuzzer + ASan + UBSan) in a build directory of
# their own and runs each for a while, starting from the seed corpus in tests/fuzz/corpus/.
#
#   tests/fuzz/run-fuzzers.sh [seconds-per-fuzzer] [fuzzer...]
#     seconds   default 60
#     fuzzer    request, response and/or path (default: all three)
#   SLUICE_FUZZ_BUILD_DIR  build directory (default: build-fuzz/ in the source tree, so that two
#                          clones never share one CMake cache)
#
# New inputs go to <build>/corpus/<fuzzer>, crashes to <build>/artifacts/. A crasher, once fixed,
# belongs in tests/fuzz/corpus/<fuzzer>/ (with its mode byte kept), where the corpus replay ctest
# runs it in every build. Installs clang and the libFuzzer runtime with apt-get when missing.
set -euo pipefail

seconds="${1:-60}"
shift || true
fuzzers=("$@")
if [[ ${#fuzzers[@]} -eq 0 ]]; then
    fuzzers=(request response path)
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
build="${SLUICE_FUZZ_BUILD_DIR:-${root}/build-fuzz}"

libfuzzer_works() {
    command -v clang++ >/dev/null 2>&1 || return 1
    local probe
    probe="$(mktemp -d)"
    printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
        >"${probe}/probe.cpp"
    if clang++ -fsanitize=fuzzer,address,undefined "${probe}/probe.cpp" -o "${probe}/probe" >/dev/null 2>&1; then
        rm -rf "${probe}"
        return 0
    fi
    rm -rf "${probe}"
    return 1
}

if ! libfuzzer_works; then
    # Debian: clang is the default clang-N; libFuzzer and the sanitizer runtimes are in
    # libclang-rt-N-dev, which clang only recommends.
    echo "run-fuzzers: installing clang and the libFuzzer runtime" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clang cmake make >/dev/null
    major="$(clang++ -dumpversion | cut -d. -f1)"
    apt-get install -y -qq "libclang-rt-${major}-dev" >/dev/null
    libfuzzer_works || { echo "run-fuzzers: clang cannot build -fsanitize=fuzzer binaries" >&2; exit 1; }
fi

cmake -S "${here}" -B "${build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DSLUICE_BUILD_FUZZERS=ON >/dev/null
targets=()
for name in "${fuzzers[@]}"; do
    targets+=("http_${name}_fuzzer")
done
cmake --build "${build}" -j"$(nproc)" --target "${targets[@]}"

mkdir -p "${build}/artifacts"
status=0
for name in "${fuzzers[@]}"; do
    corpus="${build}/corpus/${name}"
    mkdir -p "${corpus}"
    log="${build}/http_${name}_fuzzer.log"
    echo "run-fuzzers: ${name} for ${seconds}s (log: ${log})"
    if "${build}/http_${name}_fuzzer" "${corpus}" "${here}/corpus/${name}" \
        -dict="${here}/http.dict" -max_total_time="${seconds}" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="${build}/artifacts/${name}-" \
        >"${log}" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)"
        echo "run-fuzzers: ${name} ok, ${runs:-?} executions, corpus $(find "${corpus}" -type f | wc -l) inputs"
    else
        status=1
        echo "run-fuzzers: ${name} FAILED; the end of its log:" >&2
        tail -40 "${log}" >&2
    fi
done
exit "${status}"
