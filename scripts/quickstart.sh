#!/usr/bin/env bash
# Installs the dependencies, builds Sluice (Release) and starts, in the foreground, the sample
# backend (127.0.0.1:8281) and sluiced on the embedded default configuration (conf/sluice.json:
# the PetStore API on 127.0.0.1:8280, bundled plugins, no external service).
# Stop both with Ctrl-C; reload sluiced's configuration with `kill -HUP <pid>` (the pid it prints).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup-deps.sh"

build="${SLUICE_BUILD_DIR:-$root/build-release}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF
cmake --build "$build" -j "$(nproc)"

"$build/bin/sluiced" --check-config --config "$root/conf/sluice.json"

"$build/bin/sluice-sample-backend" --port 8281 &
backend=$!
trap 'kill "$backend" 2>/dev/null || true' EXIT
echo "sample backend: pid $backend on 127.0.0.1:8281"
echo "try: curl -i http://127.0.0.1:8280/petstore/v1/pets"
# A subshell that prints its own pid and then becomes sluiced: the pid to send SIGHUP to.
(
    echo "sluiced: pid $BASHPID on 127.0.0.1:8280 (reload: kill -HUP $BASHPID; stop: Ctrl-C)"
    exec "$build/bin/sluiced" --config "$root/conf/sluice.json"
)
