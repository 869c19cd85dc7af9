# Helpers shared by the packaging tests (sourced, bash).

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

note() {
    echo "-- $*"
}

# run <log> <command...>: run quietly into <log>; on failure show the log and fail.
run() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "command failed: $*"
    fi
}

# packaging_args <build-dir> <source-dir>: sets BUILD, SRC, SLUICED (overridable), CMAKE, CPACK.
packaging_args() {
    if [ $# -ne 2 ]; then
        echo "usage: $0 <build-dir> <source-dir>" >&2
        exit 2
    fi
    BUILD=$(realpath "$1")
    SRC=$(realpath "$2")
    [ -f "$BUILD/CMakeCache.txt" ] || fail "$BUILD is not a configured build directory"
    CMAKE=$(sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$BUILD/CMakeCache.txt")
    CPACK=$(sed -n 's/^CMAKE_CPACK_COMMAND:INTERNAL=//p' "$BUILD/CMakeCache.txt")
    CMAKE=${CMAKE:-cmake}
    CPACK=${CPACK:-cpack}
}

require_sluiced() {
    SLUICED=${SLUICED:-$BUILD/bin/sluiced}
    [ -x "$SLUICED" ] || fail "$SLUICED is not built; build the project before running this test"
}

abi_major() {
    sed -n 's/^#define[[:space:]]*SLUICE_ABI_MAJOR[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
        "$SRC/sdk/include/sluice/abi_version.h"
}

abi_minor() {
    sed -n 's/^#define[[:space:]]*SLUICE_ABI_MINOR[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
        "$SRC/sdk/include/sluice/abi_version.h"
}

# The package version, as CPack sees it.
package_version() {
    sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake"
}

# make_packages <generator> <output-dir>: cpack from the build directory into <output-dir>.
make_packages() {
    local generator=$1 out=$2 log
    mkdir -p "$out"
    note "cpack -G $generator -> $out"
    if ! (cd "$BUILD" && "$CPACK" -G "$generator" -B "$out" >"$out/cpack.log" 2>&1); then
        cat "$out/cpack.log" >&2
        # cpack first builds the project (target preinstall), then runs the package tool.
        for log in "$out"/_CPack_Packages/*/"$generator"/*.log "$out"/_CPack_Packages/*/"$generator"/*.err; do
            [ -s "$log" ] || continue
            echo "--- $log (first errors, then the end)" >&2
            grep -m 10 -E 'error|Error' "$log" >&2 || true
            echo "..." >&2
            tail -n 20 "$log" >&2
        done
        fail "cpack -G $generator failed in $BUILD"
    fi
}

# assert_listed <listing> <plugin> <kind> <file>: one line of `sluiced --list-plugins` has the
# plugin name, its kind and the file it was loaded from, each as a field of its own (separated by
# blanks, commas, colons, "=", or in brackets or quotes).
assert_listed() {
    local listing=$1 plugin=$2 kind=$3 file=$4
    if ! awk -F '[][[:space:],:=()"\047]+' -v p="$plugin" -v k="$kind" -v f="$file" '
            { hp = hk = hf = 0
              for (i = 1; i <= NF; i++) { hp = hp || $i == p; hk = hk || $i == k; hf = hf || $i == f } }
            hp && hk && hf { found = 1 }
            END { exit !found }' <<<"$listing"; then
        echo "$listing" >&2
        fail "sluiced --list-plugins does not list $plugin ($kind) from $file"
    fi
}
