#!/usr/bin/env bash
# Installs the deb packages on this machine, uses them, removes and purges them.
# Opt-in, because it changes the machine: SLUICE_TEST_INSTALL_PACKAGES=1, as root.
# Otherwise it exits 77, which ctest reports as skipped.
#
#   install_deb.sh <build-dir> <source-dir>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${SLUICE_TEST_INSTALL_PACKAGES:-0}" != 1 ]; then
    echo "skipped: set SLUICE_TEST_INSTALL_PACKAGES=1 to install, use and purge the deb packages (root)"
    exit 77
fi
packaging_args "$@"
require_sluiced
[ "$(id -u)" -eq 0 ] || fail "installing packages needs root"
for pkg in sluice sluice-dev; do
    if dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null | grep -q -v -x not-installed; then
        fail "$pkg is already on this machine; remove it first (dpkg --purge sluice-dev sluice)"
    fi
done

work=$(mktemp -d)
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        dpkg --purge sluice-dev sluice >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

version=$(package_version)
arch=$(dpkg --print-architecture)
make_packages DEB "$work/deb"
deb=$work/deb/sluice_${version}_${arch}.deb
deb_dev=$work/deb/sluice-dev_${version}_${arch}.deb

note "dpkg -i $(basename "$deb") $(basename "$deb_dev")"
installed=1
run "$work/dpkg-install.log" dpkg -i "$deb" "$deb_dev"
# Again: the upgrade path of the maintainer scripts, with the account already there.
run "$work/dpkg-reinstall.log" dpkg -i "$deb" "$deb_dev"

[ -x /usr/bin/sluiced ] || fail "/usr/bin/sluiced is not installed"
id sluice || fail "postinst did not create the sluice user"
getent group sluice >/dev/null || fail "postinst did not create the sluice group"
[ -f /etc/sluice/sluice.json ] || fail "/etc/sluice/sluice.json is not installed"
for dir in /var/lib/sluice /var/log/sluice; do
    [ "$(stat -c %U:%G "$dir" 2>/dev/null)" = sluice:sluice ] || fail "postinst did not create $dir for sluice"
done

note "/usr/bin/sluiced --version"
/usr/bin/sluiced --version || fail "sluiced --version failed"

listing=$(/usr/bin/sluiced --list-plugins --config /etc/sluice/sluice.json 2>&1) ||
    { echo "$listing" >&2; fail "sluiced --list-plugins failed"; }
echo "$listing"
assert_listed "$listing" correlation_id handler /usr/lib/sluice/plugins/correlation_id.so

note "the packaged configuration passes --check-config as the service user (the unit's ExecStartPre)"
runuser -u sluice -- /usr/bin/sluiced --config /etc/sluice/sluice.json --check-config ||
    fail "the packaged /etc/sluice/sluice.json does not pass --check-config as user sluice"

note "the installed Lua examples compile in the installed lua_mediation plugin"
assert_listed "$listing" lua_mediation handler /usr/lib/sluice/plugins/lua_mediation.so
mkdir -p "$work/lua-conf/apis"
sed 's|"apis_directory": *"[^"]*"|"apis_directory": "apis"|' /etc/sluice/sluice.json >"$work/lua-conf/sluice.json"
handlers=""
for script in /usr/share/sluice/lua/*.lua; do
    component=lua_mediation_body
    handlers="$handlers${handlers:+, }{ \"component\": \"$component\", \"config\": { \"file\": \"$script\" } }"
done
[ -n "$handlers" ] || fail "no Lua examples in /usr/share/sluice/lua"
cat >"$work/lua-conf/apis/lua.json" <<JSON
{ "name": "LuaExamples", "context": "/lua", "version": "v1",
  "endpoints": [ { "url": "http://127.0.0.1:9" } ],
  "resources": [ { "uri_template": "/*", "methods": ["GET", "POST"] } ],
  "handlers": [ $handlers ] }
JSON
/usr/bin/sluiced --config "$work/lua-conf/sluice.json" --check-config ||
    fail "the installed Lua examples do not load in the installed runtime"

note "build the example against the installed SDK (/usr)"
cp -R /usr/share/sluice/examples/out_of_tree_plugin "$work/example"
run "$work/configure.log" "$CMAKE" -S "$work/example" -B "$work/example-build" -DCMAKE_BUILD_TYPE=Release
run "$work/build.log" "$CMAKE" --build "$work/example-build" -j2
sdk_dir=$(sed -n 's/^SluiceSDK_DIR:PATH=//p' "$work/example-build/CMakeCache.txt")
[[ $sdk_dir == /usr/* ]] || fail "find_package(SluiceSDK) used $sdk_dir instead of the installed SDK"
so=$work/example-build/hello_header.so
listing=$(/usr/bin/sluiced --config /etc/sluice/sluice.json --plugin-dir "$work/example-build" --list-plugins 2>&1) ||
    { echo "$listing" >&2; fail "sluiced --list-plugins --plugin-dir failed"; }
echo "$listing"
assert_listed "$listing" hello_header handler "$so"
assert_listed "$listing" correlation_id handler /usr/lib/sluice/plugins/correlation_id.so

note "dpkg --remove: binaries go, conffiles and the account stay"
run "$work/dpkg-remove.log" dpkg --remove sluice-dev sluice
[ ! -e /usr/bin/sluiced ] || fail "/usr/bin/sluiced is still there after remove"
[ ! -e /usr/include/sluice ] || fail "/usr/include/sluice is still there after remove"
[ -f /etc/sluice/sluice.json ] || fail "remove deleted the conffile /etc/sluice/sluice.json"
id sluice >/dev/null || fail "remove deleted the sluice user (only purge should)"

note "dpkg --purge: everything goes"
run "$work/dpkg-purge.log" dpkg --purge sluice-dev sluice
installed=0
for path in /usr/bin/sluiced /usr/lib/sluice /usr/share/sluice /usr/include/sluice /etc/sluice /var/lib/sluice \
            /var/log/sluice; do
    [ ! -e "$path" ] || fail "$path is still there after purge"
done
! getent passwd sluice >/dev/null || fail "purge did not remove the sluice user"
! getent group sluice >/dev/null || fail "purge did not remove the sluice group"

note "PASS: installed, used, removed and purged $(basename "$deb") and $(basename "$deb_dev")"
