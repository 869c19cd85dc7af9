#!/usr/bin/env bash
# The SDK works out of tree: install only the sdk component into a private prefix, build the
# example it ships against that prefix, and load the plugin into the in-tree sluiced.
#
#   sdk_out_of_tree.sh <build-dir> <source-dir>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
packaging_args "$@"
require_sluiced

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

note "install the sdk component into $prefix"
run "$work/install.log" "$CMAKE" --install "$BUILD" --component sdk --prefix "$prefix"
[ -f "$prefix/include/sluice/sdk.hpp" ] || fail "the sdk component does not install include/sluice/sdk.hpp"
stray=$(find "$prefix" -type f \( -path '*/bin/*' -o -name '*.so' -o -name '*.service' -o -path '*/etc/*' \))
[ -z "$stray" ] || fail "the sdk component installs runtime files:"$'\n'"$stray"

example=$(find "$prefix" -path '*/examples/out_of_tree_plugin/CMakeLists.txt' -print -quit)
[ -n "$example" ] || fail "the sdk component does not install examples/out_of_tree_plugin"

# Build a copy of the installed example, as a plugin author would.
cp -R "$(dirname "$example")" "$work/example"
note "configure and build the example against $prefix"
run "$work/configure.log" "$CMAKE" -S "$work/example" -B "$work/example-build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
run "$work/build.log" "$CMAKE" --build "$work/example-build" -j2

sdk_dir=$(sed -n 's/^SluiceSDK_DIR:PATH=//p' "$work/example-build/CMakeCache.txt")
[[ $sdk_dir == "$prefix"/* ]] || fail "find_package(SluiceSDK) used $sdk_dir instead of the SDK in $prefix"

so=$work/example-build/hello_header.so
[ -f "$so" ] || fail "the example did not produce $so"

# Everything but the versioned entry point is hidden.
entry="sluice_plugin_entry_v$(abi_major)"
exported=$(nm -D --defined-only "$so" | awk '$3 ~ /^sluice_/ { print $3 }')
if [ "$exported" != "$entry" ]; then
    nm -D --defined-only "$so" >&2
    fail "$so must export exactly one sluice_ symbol, $entry; it exports: ${exported:-nothing}"
fi

note "$SLUICED --plugin-dir $work/example-build --list-plugins"
listing=$("$SLUICED" --plugin-dir "$work/example-build" --list-plugins 2>&1) ||
    { echo "$listing" >&2; fail "sluiced --list-plugins failed"; }
echo "$listing"
assert_listed "$listing" hello_header handler "$so"

note "PASS: the SDK builds a plugin out of tree and the runtime loads it"
