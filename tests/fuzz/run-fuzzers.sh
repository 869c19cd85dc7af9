#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) and runs each for a while, starting
# from its seed corpus.
#
#   tests/fuzz/run-fuzzers.sh [seconds-per-fuzzer] [fuzzer...]
#     seconds   default 60
#     fuzzer    request, response, path, form-method (the HTTP parsers, the path normaliser and
#               the form and JSON body `_method` scanners, seeds in tests/fuzz/corpus/), json, xml, form
#               (the message builders, seeds in
#               tests/plugins/builders/fuzz/corpus/) and lua-pattern (the Lua sandbox's pattern
#               functions against Lua's own, seeds in tests/plugins/lua_mediation/fuzz/corpus/);
#               default: all eight
#   SLUICE_FUZZ_BUILD_DIR         build directory of the parser fuzzers (default: build-fuzz/ in the
#                                 source tree, so that two clones never share one CMake cache); they
#                                 need nothing but the standard library
#   SLUICE_FUZZ_PLUGIN_BUILD_DIR  build directory of the plugin fuzzers (default: build-fuzz-plugins/),
#                                 a clang configuration of the whole project of which only the fuzz
#                                 targets are built; it needs the project's dependencies
#                                 (scripts/setup-deps.sh)
#
# New inputs go to <build>/corpus/<fuzzer>, crashes to <build>/artifacts/. A crasher, once fixed,
# belongs in the seed corpus (for the parsers with its mode byte kept), where the corpus replay
# ctests run it in every build. Installs clang and the libFuzzer runtime with apt-get when missing.
set -euo pipefail

seconds="${1:-60}"
shift || true
fuzzers=("$@")
if [[ ${#fuzzers[@]} -eq 0 ]]; then
    fuzzers=(request response path form-method json xml form lua-pattern)
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

parser_targets=()
builder_targets=()
for name in "${fuzzers[@]}"; do
    case "${name}" in
        request | response | path | form-method) parser_targets+=("http_${name}_fuzzer") ;;
        json | xml | form) builder_targets+=("${name}_builder_fuzz") ;;
        lua-pattern) builder_targets+=(lua_pattern_fuzz) ;;
        *) echo "run-fuzzers: unknown fuzzer '${name}' (request, response, path, form-method, json, xml, form, lua-pattern)" >&2; exit 2 ;;
    esac
done
plugin_build="${SLUICE_FUZZ_PLUGIN_BUILD_DIR:-${root}/build-fuzz-plugins}"
if [[ ${#parser_targets[@]} -gt 0 ]]; then
    cmake -S "${here}" -B "${build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER=clang++ -DSLUICE_BUILD_FUZZERS=ON >/dev/null
    cmake --build "${build}" -j"$(nproc)" --target "${parser_targets[@]}"
fi
if [[ ${#builder_targets[@]} -gt 0 ]]; then
    launcher=()
    if command -v ccache >/dev/null 2>&1; then
        launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    fi
    cmake -S "${root}" -B "${plugin_build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DCMAKE_CXX_COMPILER=clang++ -DSLUICE_BUILD_FUZZERS=ON "${launcher[@]}" >/dev/null
    cmake --build "${plugin_build}" -j"$(nproc)" --target "${builder_targets[@]}"
fi

status=0
for name in "${fuzzers[@]}"; do
    case "${name}" in
        request | response | path | form-method)
            out="${build}"
            binary="${build}/http_${name}_fuzzer"
            seeds="${here}/corpus/${name}"
            options=(-dict="${here}/http.dict" -max_len=4096)
            ;;
        lua-pattern)
            out="${plugin_build}"
            binary="${plugin_build}/bin/lua_pattern_fuzz"
            seeds="${root}/tests/plugins/lua_mediation/fuzz/corpus"
            options=(-max_len=1024)
            ;;
        *)
            out="${plugin_build}"
            binary="${plugin_build}/bin/${name}_builder_fuzz"
            seeds="${root}/tests/plugins/builders/fuzz/corpus/${name}"
            options=(-max_len=8192)
            ;;
    esac
    corpus="${out}/corpus/${name}"
    mkdir -p "${corpus}" "${out}/artifacts"
    log="${out}/${name}_fuzzer.log"
    echo "run-fuzzers: ${name} for ${seconds}s (log: ${log})"
    if "${binary}" "${corpus}" "${seeds}" "${options[@]}" -max_total_time="${seconds}" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="${out}/artifacts/${name}-" \
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
