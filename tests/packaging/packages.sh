#!/usr/bin/env bash
# The deb and rpm packages: file names, metadata (Provides, Depends/Requires), configuration
# files, the expected contents, and the same set of files in both formats.
#
#   packages.sh <build-dir> <source-dir>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
packaging_args "$@"
require_sluiced
for tool in dpkg-deb rpm; do
    command -v "$tool" >/dev/null || fail "$tool is needed (apt-get install dpkg rpm)"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

version=$(package_version)
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"
provides="sluice-plugin-abi-$(abi_major)"
abi_version="$(abi_major).$(abi_minor)"
deb_arch=$(dpkg --print-architecture)
rpm_arch=$(uname -m)

make_packages DEB "$work/deb"
make_packages RPM "$work/rpm"

deb=$work/deb/sluice_${version}_${deb_arch}.deb
deb_dev=$work/deb/sluice-dev_${version}_${deb_arch}.deb
rpm=$work/rpm/sluice-${version}.${rpm_arch}.rpm
rpm_dev=$work/rpm/sluice-dev-${version}.${rpm_arch}.rpm
produced=$(cd "$work" && find deb rpm -maxdepth 1 -type f \( -name '*.deb' -o -name '*.ddeb' -o -name '*.rpm' \) | sort)
expected_names=$(printf '%s\n' "${deb#"$work"/}" "${deb_dev#"$work"/}" "${rpm#"$work"/}" "${rpm_dev#"$work"/}" | sort)
[ "$produced" = "$expected_names" ] || fail "cpack produced:"$'\n'"$produced"$'\n'"expected:"$'\n'"$expected_names"

# --- helpers ---------------------------------------------------------------------------------
# File lists leave directories out: the formats differ in which directories they record.
deb_files() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print substr($6, 2) }' | sort; }
rpm_q() { rpm -qp --nosignature --nodigest "$@" 2>/dev/null; }
rpm_paths() { rpm_q --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$@"; }
rpm_files() { rpm_paths "$1" | awk '$1 !~ /^d/ { print $2 }' | sort; }
deb_field() { dpkg-deb -f "$1" "$2"; }

# assert_contains <what> <list> <regex>...: every regex matches a whole line of the list.
assert_contains() {
    local what=$1 list=$2 expected
    shift 2
    for expected in "$@"; do
        grep -q -x -E -- "$expected" <<<"$list" || { echo "$list" >&2; fail "$what lacks $expected"; }
    done
}

# assert_same <what> <left> <right>
assert_same() {
    if [ "$2" != "$3" ]; then
        diff <(echo "$2") <(echo "$3") >&2 || true
        fail "$1"
    fi
}

# --- contents --------------------------------------------------------------------------------
runtime_expected=(
    '/usr/bin/sluiced'
    '/usr/lib/sluice/plugins/correlation_id\.so'
    '/usr/lib/sluice/plugins/lua_mediation\.so'
    '/usr/share/sluice/lua/security_headers\.lua'
    '/usr/share/sluice/lua/rewrite_request\.lua'
    '/usr/share/sluice/lua/mock_response\.lua'
    '/usr/share/sluice/lua/redact_body\.lua'
    '/etc/sluice/sluice\.json'
    '/usr/share/sluice/schema/.+\.json'
    '/(usr/)?lib/systemd/system/sluiced\.service'
)
sdk_expected=(
    '/usr/include/sluice/abi\.h'
    '/usr/include/sluice/abi_version\.h'
    '/usr/include/sluice/sdk\.hpp'
    '/usr/lib/cmake/SluiceSDK/SluiceSDKConfig\.cmake'
    '/usr/lib/cmake/SluiceSDK/SluiceSDKConfigVersion\.cmake'
    '/usr/lib/cmake/SluiceSDK/SluicePlugin\.cmake'
    '/usr/share/sluice/examples/out_of_tree_plugin/CMakeLists\.txt'
    '/usr/share/sluice/examples/out_of_tree_plugin/HelloHeader\.cpp'
)
for name in sluice sluice-dev; do
    if [ "$name" = sluice ]; then
        d=$deb r=$rpm expected=("${runtime_expected[@]}")
    else
        d=$deb_dev r=$rpm_dev expected=("${sdk_expected[@]}")
    fi
    deb_list=$(deb_files "$d")
    rpm_list=$(rpm_files "$r")
    assert_contains "$(basename "$d")" "$deb_list" "${expected[@]}"
    assert_contains "$(basename "$r")" "$rpm_list" "${expected[@]}"
    assert_same "$name: the deb (<) and the rpm (>) carry different files" "$deb_list" "$rpm_list"
    note "$name: $(wc -l <<<"$deb_list") files, the same in the deb and the rpm"
done
if deb_files "$deb_dev" | grep -E '^/usr/bin/|\.so$|^/etc/|\.service$'; then
    fail "sluice-dev carries runtime files"
fi
if deb_files "$deb" | grep -E '^/usr/include/|/cmake/'; then
    fail "sluice carries SDK files"
fi

# --- deb metadata ----------------------------------------------------------------------------
[ "$(deb_field "$deb" Package)" = sluice ] || fail "sluice deb: Package is $(deb_field "$deb" Package)"
[ "$(deb_field "$deb_dev" Package)" = sluice-dev ] || fail "sluice-dev deb: Package is $(deb_field "$deb_dev" Package)"
[ "$(deb_field "$deb" Version)" = "$version" ] || fail "sluice deb: Version is $(deb_field "$deb" Version)"
grep -q -F "$provides (= $abi_version)" <<<"$(deb_field "$deb" Provides)" ||
    fail "sluice deb does not provide $provides (= $abi_version): $(deb_field "$deb" Provides)"
depends=$(deb_field "$deb" Depends)
grep -q -w adduser <<<"$depends" || fail "sluice deb must depend on adduser (postinst uses it): $depends"
grep -q -w libc6 <<<"$depends" || fail "sluice deb lacks shared-library dependencies (dpkg-shlibdeps): $depends"
depends=$(deb_field "$deb_dev" Depends)
grep -q -F "sluice (= $version)" <<<"$depends" || fail "sluice-dev deb must depend on sluice (= $version): $depends"

dpkg-deb -e "$deb" "$work/control"
[ -f "$work/control/conffiles" ] || fail "sluice deb has no conffiles: /etc/sluice would be handled as plain files"
conffiles=$(sort "$work/control/conffiles")
assert_contains "sluice deb conffiles" "$conffiles" '/etc/sluice/sluice\.json'
etc_files=$(deb_files "$deb" | grep '^/etc/')
assert_same "sluice deb: the conffiles (<) are not the files in /etc (>)" "$conffiles" "$etc_files"
for script in postinst prerm postrm; do
    [ -x "$work/control/$script" ] || fail "sluice deb has no executable $script"
    sh -n "$work/control/$script" || fail "sluice deb: $script is not valid sh"
done

# --- the systemd unit: the packaged binary, configuration and service user ------------------
dpkg-deb -x "$deb" "$work/root"
unit=$(find "$work/root" -path '*/systemd/system/sluiced.service')
# shellcheck disable=SC2016 # $MAINPID is unit text, not a shell expansion
for line in 'ExecStart=/usr/bin/sluiced --config /etc/sluice/sluice.json' 'User=sluice' \
            'ExecReload=/bin/kill -HUP $MAINPID' 'StateDirectory=sluice' 'ProtectSystem=strict'; do
    grep -q -x -F -- "$line" "$unit" || { cat "$unit" >&2; fail "sluiced.service lacks: $line"; }
done
if command -v systemd-analyze >/dev/null; then
    # Only the unit's own parse errors count: the extracted tree has no sysinit.target etc.
    parse_errors=$(systemd-analyze verify --root="$work/root" "$unit" 2>&1 | grep -F "sluiced.service:" |
                   grep -E 'sluiced\.service:[0-9]+:' || true)
    [ -z "$parse_errors" ] || fail "systemd-analyze verify: $parse_errors"
fi

# --- rpm metadata ----------------------------------------------------------------------------
for pair in "sluice:$rpm" "sluice-dev:$rpm_dev"; do
    actual=$(rpm_q --qf '%{NAME} %{VERSION}' "${pair#*:}")
    [ "$actual" = "${pair%%:*} $version" ] || fail "$(basename "${pair#*:}") is $actual, not ${pair%%:*} $version"
done
grep -q -x -F "$provides = $abi_version" <<<"$(rpm_q --provides "$rpm")" ||
    fail "sluice rpm does not provide $provides = $abi_version: $(rpm_q --provides "$rpm" | tr '\n' ' ')"
grep -q -x -F "sluice = $version" <<<"$(rpm_q --requires "$rpm_dev")" ||
    fail "sluice-dev rpm must require sluice = $version"
rpm_config=$(rpm_q -c "$rpm" | sort)
assert_same "sluice rpm: the deb conffiles (<) are not the rpm %config files (>)" "$conffiles" "$rpm_config"
[ -z "$(rpm_q -c "$rpm_dev")" ] || fail "sluice-dev rpm should have no configuration files"
scripts=$(rpm_q --scripts "$rpm")
for scriptlet in preinstall postinstall preuninstall postuninstall; do
    grep -q "^$scriptlet scriptlet" <<<"$scripts" || fail "sluice rpm has no $scriptlet scriptlet"
done
grep -q useradd <<<"$scripts" || fail "sluice rpm does not create the sluice user"
# Directories of the filesystem, systemd and cmake packages are not claimed.
system_dirs='/etc|/usr|/usr/(bin|lib|lib64|include|share)|/usr/lib/(systemd|systemd/system|cmake)'
claimed=$(rpm_paths "$rpm" "$rpm_dev" | awk '$1 ~ /^d/ { print $2 }' | grep -x -E "$system_dirs" || true)
[ -z "$claimed" ] || fail "the rpms claim system directories: $claimed"

note "PASS: $(tr '\n' ' ' <<<"$expected_names")"
