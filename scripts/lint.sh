#!/usr/bin/env bash
# Static checks, run by CI after the tests:
#   - clang-format (.clang-format): every tracked C and C++ file, except sdk/include/sluice/abi.h,
#     whose bytes are pinned (AbiPinTest) so that only a deliberate ABI version bump changes them;
#   - clang-tidy (.clang-tidy): every translation unit of runtime/, plugins/ and sdk/, with
#     warnings as errors.
# Needs a configured and built tree for compile_commands.json and the generated headers:
#   SLUICE_BUILD_DIR   build directory (default: build); configured and built here when missing.
#   SLUICE_LINT_FIX=1  rewrite the files clang-format would change instead of failing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

missing=()
for tool in clang-format clang-tidy run-clang-tidy; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "lint: installing clang-format and clang-tidy (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends clang-format clang-tidy >/dev/null
fi

status=0

# --- clang-format ------------------------------------------------------------------------------
mapfile -t sources < <(git ls-files '*.c' '*.cpp' '*.h' '*.hpp' | grep -vx 'sdk/include/sluice/abi.h')
if [ "${SLUICE_LINT_FIX:-0}" = 1 ]; then
    clang-format -i "${sources[@]}"
    echo "lint: clang-format applied to ${#sources[@]} files"
else
    unformatted=()
    for f in "${sources[@]}"; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
    done
    if [ "${#unformatted[@]}" -gt 0 ]; then
        echo "lint: not formatted as .clang-format says (SLUICE_LINT_FIX=1 $0 rewrites them):"
        printf '  %s\n' "${unformatted[@]}"
        status=1
    else
        echo "lint: clang-format: ${#sources[@]} files formatted"
    fi
fi

# --- clang-tidy --------------------------------------------------------------------------------
build="${SLUICE_BUILD_DIR:-$root/build}"
if [ ! -f "$build/compile_commands.json" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSLUICE_WARNINGS_AS_ERRORS=ON >/dev/null
fi
cmake --build "$build" -j "$(nproc)" >/dev/null  # generated headers (schemas, version)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 - "$build/compile_commands.json" "$root" "$scratch/compile_commands.json" <<'EOF'
import json, sys
commands, root, out = sys.argv[1], sys.argv[2], sys.argv[3]
dirs = tuple(f"{root}/{d}/" for d in ("runtime", "plugins", "sdk"))
kept = [c for c in json.load(open(commands)) if c["file"].startswith(dirs)]
json.dump(kept, open(out, "w"))
print(f"lint: clang-tidy: {len(kept)} translation units")
EOF
if ! run-clang-tidy -p "$scratch" -j "$(nproc)" -quiet >"$scratch/tidy.log" 2>&1; then
    grep -E 'warning:|error:' "$scratch/tidy.log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u
    echo "lint: clang-tidy found the problems above"
    status=1
else
    echo "lint: clang-tidy: no findings"
fi
exit "$status"
