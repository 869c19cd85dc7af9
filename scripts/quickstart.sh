#!/usr/bin/env bash
# Installs the dependencies, builds Sluice (Release) and starts sluiced in the foreground on the
# embedded default configuration (conf/sluice.json: a sample API, bundled plugins, no external
# service). Stop it with Ctrl-C; reload its configuration with `kill -HUP <pid>`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup-deps.sh"

build="${SLUICE_BUILD_DIR:-$root/build-release}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF
cmake --build "$build" -j "$(nproc)"

"$build/bin/sluiced" --check-config --config "$root/conf/sluice.json"
exec "$build/bin/sluiced" --config "$root/conf/sluice.json"
