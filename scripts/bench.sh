#!/usr/bin/env bash
# Sluice vs nginx, side by side in one run (the method: the README's Performance section).
#
#   scripts/bench.sh            full run: 7 scenarios x {1,2} workers x {c50,c200}, 5 A/B pairs of 8 s
#   QUICK=1 scripts/bench.sh    smoke run: plain GET, 1 worker, c50, 1 pair of 2 s (about a minute)
#
# A backend (nginx, 1 worker, fixed small JSON body), the reference proxy (nginx-light, same number
# of workers as Sluice, upstream keep-alive pool of 1024) and sluiced all run on loopback ports from a
# temporary directory. For every scenario and worker count both proxies are (re)started, warmed up,
# then measured alternately nginx, Sluice, nginx, Sluice ... with `wrk -t1 --latency`. Per run: the
# requests wrk completed, req/s, p50/p99, and the proxy's CPU time (utime+stime from /proc/PID/stat,
# master + workers for nginx) per request -- the headline figure. Peak RSS is VmHWM. Also per run, to
# see where the machine's time went: the backend's and wrk's CPU per request, the whole machine's busy CPU
# time per request (proxy + backend + wrk + anything else, from /proc/stat) and its idle share, and
# how busy the proxy kept its workers' cores (its CPU time over the run's time and worker count), and
# the proxy's context switches per request: voluntary (it slept, in epoll_wait) and involuntary (the
# scheduler took its core for another task, such as the backend or wrk it had just woken).
#
# Scenarios: plain (GET, small JSON answer), post10k / post100k (POST with a 10 KiB / 100 KiB body,
# application/octet-stream, passed through to the backend), form10k (as post10k with an
# application/x-www-form-urlencoded body of two fields, which Sluice scans for `_method` on the
# way: the cost of the method-override check), json10k (as post10k with an application/json body of
# a title and a hundred small objects, which Sluice scans for a top-level `_method`), idle10k (plain, while IDLE_CONNS idle keep-alive connections are
# held open to each proxy; they come from 127.0.0.2 / 127.0.0.3 so that they take no ephemeral ports
# from 127.0.0.1, where wrk and the proxies' upstream connections live), mediated (plain with the
# request carrying an API key, and Sluice's API running the correlation_id and lua_mediation
# handlers with scripts/bench/policy.lua: key check, rate-limit count, header rewrites both ways;
# nginx still only proxies, so the figure is the cost of those policies against a bare nginx).
#
# Environment (all optional):
#   QUICK=1                 smoke-run defaults (PAIRS=1 DURATION=2 CONNS=50 WORKERS=1 SCENARIOS=plain)
#   PAIRS=5                 A/B pairs per scenario, worker count and connection count
#   DURATION=8              seconds per wrk run
#   WARMUP=2                seconds of warm-up per proxy after each start
#   CONNS="50 200"          wrk connection counts (-c)
#   WORKERS="1 2"           worker counts (both proxies get the same)
#   SCENARIOS="plain post10k form10k json10k post100k idle10k mediated"
#   IDLE_CONNS=10000        idle keep-alive connections per proxy in idle10k
#   NGINX_REQUEST_BUFFERING=on   nginx's proxy_request_buffering (on = nginx default, off = streaming)
#   SLUICE_BIN=path         use this sluiced instead of building build-release/
#   SLUICE_PLUGIN_DIR=path  plugins for the mediated scenario (default: lib/sluice/plugins beside
#                           the bin/ directory of sluiced, where the build puts them)
#   BENCH_OUT=path          per-run CSV (default build-release/bench-results.csv); the medians go to
#                           the same name with -summary.csv
#   PROXY_CPUS=list         run the proxies (nginx and Sluice alike) on these CPUs, and wrk, the
#   OTHER_CPUS=list         backend and the idle-connection holder on those (taskset -c lists, e.g.
#                           PROXY_CPUS=1 OTHER_CPUS=0); both or neither; default: the scheduler places all
#   KEEP_TMP=1              keep the temporary directory (configs, logs, raw wrk output); it is
#                           always kept when the run failed or saw errors
#
# Exit status: 0 when Sluice served every run cleanly, 3 when Sluice returned non-2xx responses, had
# socket errors or crashed (all reported in detail; errors of the reference nginx are reported but do
# not change the status), 1 on a set-up failure. Numbers never fail the script.
set -Eeuo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/scripts/bench"

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -Eeuo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi

if [ "${QUICK:-0}" = "1" ]; then
    PAIRS="${PAIRS:-1}"; DURATION="${DURATION:-2}"; CONNS="${CONNS:-50}"; WORKERS="${WORKERS:-1}"
    SCENARIOS="${SCENARIOS:-plain}"
fi
PAIRS="${PAIRS:-5}"
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-50 200}"
WORKERS="${WORKERS:-1 2}"
SCENARIOS="${SCENARIOS:-plain post10k form10k json10k post100k idle10k mediated}"
PROXY_CPUS="${PROXY_CPUS:-}"
OTHER_CPUS="${OTHER_CPUS:-}"
PROXY_PIN=(); OTHER_PIN=()
if [ -n "$PROXY_CPUS$OTHER_CPUS" ]; then
    if [ -z "$PROXY_CPUS" ] || [ -z "$OTHER_CPUS" ]; then
        echo "bench: set both PROXY_CPUS and OTHER_CPUS, or neither" >&2; exit 1
    fi
    PROXY_PIN=(taskset -c "$PROXY_CPUS"); OTHER_PIN=(taskset -c "$OTHER_CPUS")
fi
IDLE_CONNS="${IDLE_CONNS:-10000}"
NGINX_REQUEST_BUFFERING="${NGINX_REQUEST_BUFFERING:-on}"
BENCH_OUT="${BENCH_OUT:-$root/build-release/bench-results.csv}"

log() { printf '%s\n' "$*"; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

for v in PAIRS DURATION WARMUP IDLE_CONNS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
done
for s in $SCENARIOS; do
    case "$s" in plain|post10k|form10k|json10k|post100k|idle10k|mediated) ;; *) die "unknown scenario '$s'";; esac
done
for c in $CONNS $WORKERS; do [[ "$c" =~ ^[0-9]+$ ]] || die "CONNS/WORKERS must be integers"; done
case "$NGINX_REQUEST_BUFFERING" in on|off) ;; *) die "NGINX_REQUEST_BUFFERING must be on or off";; esac

# ---------------------------------------------------------------------------------------------------
# Dependencies (Debian packages) and the Release build.
need_pkgs=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
command -v pgrep >/dev/null 2>&1 || need_pkgs+=(procps)
command -v timeout >/dev/null 2>&1 || need_pkgs+=(coreutils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    log "bench: installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -z "${SLUICE_BIN:-}" ]; then
    "$root/scripts/setup-deps.sh"
    log "bench: building Release in build-release/"
    cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF >/dev/null
    cmake --build "$root/build-release" -j2
    SLUICE_BIN="$root/build-release/bin/sluiced"
fi
[ -x "$SLUICE_BIN" ] || die "sluiced not found or not executable: $SLUICE_BIN"
SLUICE_PLUGIN_DIR="${SLUICE_PLUGIN_DIR:-$(cd "$(dirname "$SLUICE_BIN")/.." && pwd)/lib/sluice/plugins}"
if [[ " $SCENARIOS " == *" mediated "* ]]; then
    for so in correlation_id lua_mediation; do
        [ -f "$SLUICE_PLUGIN_DIR/$so.so" ] || die "$so.so not found in $SLUICE_PLUGIN_DIR (set SLUICE_PLUGIN_DIR)"
    done
fi
mkdir -p "$(dirname "$BENCH_OUT")"
SUMMARY_OUT="${BENCH_OUT%.csv}-summary.csv"

# File descriptors: idle connections, wrk, upstream pools. The hard limit may not be raisable.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE="$(ulimit -n)"
if [[ " $SCENARIOS " == *" idle10k "* ]] && [ "$NOFILE" != unlimited ] && [ $((IDLE_CONNS + 1024)) -gt "$NOFILE" ]; then
    log "bench: WARNING: open-file limit is $NOFILE (hard limit $(ulimit -Hn)); IDLE_CONNS lowered from $IDLE_CONNS to $((NOFILE - 1024))"
    IDLE_CONNS=$((NOFILE - 1024))
fi
[ "$NOFILE" = unlimited ] && NOFILE=65536
CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is killed on exit, failure or Ctrl-C.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")"
PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do stop_wait "$p" 5 || true; done
    if [ "${KEEP_TMP:-0}" = "1" ] || [ "$rc" -ne 0 ]; then
        log "bench: temporary files kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

alive() {  # pid: running (not a zombie)
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st="$(cut -d')' -f2- "/proc/$1/stat" 2>/dev/null | awk '{print $1}')" || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stop_wait() {  # pid seconds: wait for a TERM'ed child to end, KILL it after `seconds`, reap it
    local pid=$1 n=$(( $2 * 10 ))
    while alive "$pid" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}
forget() {  # pid: drop from PIDS
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
stop_proc() {  # pid [seconds]
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    stop_wait "$1" "${2:-5}"
    forget "$1"
}
proc_pids() {  # master pid -> master and its children (nginx workers)
    local p=$1
    alive "$p" || return 0
    echo "$p"
    pgrep -P "$p" 2>/dev/null || true
}
cpu_ticks() {  # pids...: sum of utime+stime (fields 14, 15 of /proc/PID/stat; threads included)
    local t=0 p f
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        read -ra f < <(cut -d')' -f2- "/proc/$p/stat") || continue
        t=$(( t + f[11] + f[12] ))
    done
    echo "$t"
}
ctx_switches() {  # pids...: -> "voluntary nonvoluntary", summed over every thread (/proc/PID/task/*/status)
    local p st v=0 n=0 key val
    for p in "$@"; do
        for st in /proc/"$p"/task/*/status; do
            [ -r "$st" ] || continue
            while read -r key val; do
                case "$key" in
                    voluntary_ctxt_switches:) v=$(( v + val ));;
                    nonvoluntary_ctxt_switches:) n=$(( n + val ));;
                esac
            done <"$st" || true
        done
    done
    echo "$v $n"
}
machine_ticks() {  # -> "busy idle": ticks of all CPUs together, from the first line of /proc/stat
    local f                  # (steal, the hypervisor's time for other guests, is neither)
    read -ra f </proc/stat   # cpu user nice system idle iowait irq softirq steal ...
    echo "$(( f[1] + f[2] + f[3] + f[6] + f[7] )) $(( f[4] + f[5] ))"
}
mem_kb() {  # field pids...: sum of VmHWM or VmRSS (kB)
    local field=$1 t=0 p v; shift
    for p in "$@"; do
        v="$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)"
        t=$(( t + ${v:-0} ))
    done
    echo "$t"
}
free_ports() {  # n: n distinct free loopback TCP ports
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
render() {  # template output key=value...
    local tpl=$1 out=$2; shift 2
    local args=() kv
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$tpl" > "$out"
    if grep -q '@[A-Z][A-Z_]*@' "$out"; then die "unrendered placeholder in $out"; fi
}
USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user root root;"

# ---------------------------------------------------------------------------------------------------
# Backend, proxies.
BACKEND_PID=""; NGINX_PID=""; SLUICE_PID=""; NGINX_PORT=""; SLUICE_PORT=""; BACKEND_PORT=""
BACKEND_BODY='{"status":"ok","service":"sluice-bench-backend","items":[1,2,3]}'
API_KEY=bench-key-1  # known to scripts/bench/policy.lua

http_code() {  # url [curl args...]: the HTTP status code, 000 when none
    local url=$1; shift
    curl -s -o "$TMP/curl.body" -w '%{http_code}' --max-time 5 "$@" "$url" 2>/dev/null || true
}
wait_200() {  # name url pid logfile [curl args...]: poll until 200 or fail loudly with the log
    local name=$1 url=$2 pid=$3 logf=$4 i code=000
    shift 4
    for i in $(seq 1 100); do
        alive "$pid" || break
        code="$(http_code "$url" "$@")"
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    log "bench: $name did not answer 200 on $url (last status $code, process $(alive "$pid" && echo alive || echo dead))"
    log "---- $logf"; tail -n 40 "$logf" 2>/dev/null || true; log "----"
    die "$name is not serving"
}

start_backend() {
    BACKEND_PORT="$(free_ports 1)"
    mkdir -p "$TMP/backend-tmp"
    render "$here/nginx-backend.conf.in" "$TMP/backend.conf" DIR="$TMP" PORT="$BACKEND_PORT" \
        NOFILE="$NOFILE" USER_LINE="$USER_LINE"
    "${OTHER_PIN[@]}" "$NGINX" -p "$TMP" -c "$TMP/backend.conf" -e "$TMP/backend-error.log" >>"$TMP/backend-error.log" 2>&1 &
    BACKEND_PID=$!; PIDS+=("$BACKEND_PID")
    wait_200 backend "http://127.0.0.1:$BACKEND_PORT/ping" "$BACKEND_PID" "$TMP/backend-error.log"
    grep -qF "$BACKEND_BODY" "$TMP/curl.body" || die "backend answered an unexpected body: $(cat "$TMP/curl.body")"
}

start_nginx() {  # workers
    local w=$1
    NGINX_PORT="$(free_ports 1)"
    mkdir -p "$TMP/nginx-proxy-tmp"
    render "$here/nginx-proxy.conf.in" "$TMP/nginx-proxy.conf" DIR="$TMP" PORT="$NGINX_PORT" WORKERS="$w" \
        BACKEND_PORT="$BACKEND_PORT" NOFILE="$NOFILE" WORKER_CONNECTIONS="$((NOFILE - 64))" \
        REQUEST_BUFFERING="$NGINX_REQUEST_BUFFERING" USER_LINE="$USER_LINE"
    : >"$TMP/nginx-proxy-error.log"
    "${PROXY_PIN[@]}" "$NGINX" -p "$TMP" -c "$TMP/nginx-proxy.conf" -e "$TMP/nginx-proxy-error.log" >>"$TMP/nginx-proxy-error.log" 2>&1 &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    wait_200 "nginx proxy" "http://127.0.0.1:$NGINX_PORT/bench/ping" "$NGINX_PID" "$TMP/nginx-proxy-error.log"
}

SLUICE_LOG="$TMP/sluice.log"
SLUICE_WARN_RE='^[0-9TZ:.-]+ +(warn|warning|error|err|critical|crit)\b|"level": *"(warn|warning|error|critical)"|terminate|abort|Assertion|Segmentation'
start_sluice() {  # workers scenario
    local w=$1 s=$2 plugins=""
    SLUICE_PORT="$(free_ports 1)"
    mkdir -p "$TMP/sluice/apis"
    if [ "$s" = mediated ]; then
        # Only here: loading the plugins maps their libraries (Xerces-C ...), which would change
        # the other scenarios' RSS.
        plugins="\"plugins\": { \"directories\": [\"$SLUICE_PLUGIN_DIR\"] },"
        render "$here/api-bench-mediated.json.in" "$TMP/sluice/apis/bench.json" BACKEND_PORT="$BACKEND_PORT" \
            POLICY="$here/policy.lua"
    else
        render "$here/api-bench.json.in" "$TMP/sluice/apis/bench.json" BACKEND_PORT="$BACKEND_PORT"
    fi
    # The same connection capacity as nginx's worker_connections: by default sluiced admits only
    # half of the open-file limit (each client may need a backend connection), and at that limit
    # it closes idle connections to make room, which idle10k would see.
    render "$here/sluice.json.in" "$TMP/sluice/sluice.json" WORKERS="$w" PORT="$SLUICE_PORT" PLUGINS="$plugins" \
        MAX_CONNECTIONS="$((NOFILE - 64))"
    echo "==== start: workers=$w port=$SLUICE_PORT $(date '+%T')" >>"$SLUICE_LOG"
    "${PROXY_PIN[@]}" "$SLUICE_BIN" --config "$TMP/sluice/sluice.json" >>"$SLUICE_LOG" 2>&1 &
    SLUICE_PID=$!; PIDS+=("$SLUICE_PID")
    wait_200 sluiced "http://127.0.0.1:$SLUICE_PORT/bench/ping" "$SLUICE_PID" "$SLUICE_LOG" -H "X-Api-Key: $API_KEY"
    grep -qF "$BACKEND_BODY" "$TMP/curl.body" || die "sluiced answered an unexpected body: $(cat "$TMP/curl.body")"
}

proxy_port() { if [ "$1" = nginx ]; then echo "$NGINX_PORT"; else echo "$SLUICE_PORT"; fi; }
proxy_pid() { if [ "$1" = nginx ]; then echo "$NGINX_PID"; else echo "$SLUICE_PID"; fi; }
proxy_log() { if [ "$1" = nginx ]; then echo "$TMP/nginx-proxy-error.log"; else echo "$SLUICE_LOG"; fi; }

# ---------------------------------------------------------------------------------------------------
# Scenarios.
scenario_body() { case "$1" in post10k|form10k|json10k) echo 10240;; post100k) echo 102400;; *) echo 0;; esac; }
scenario_type() {
    case "$1" in
        form10k) echo application/x-www-form-urlencoded;;
        json10k) echo application/json;;
        *) echo application/octet-stream;;
    esac
}
scenario_body_file() {  # scenario -> a file holding its request body (as wrk.lua.in builds it)
    local s=$1 bytes f
    bytes="$(scenario_body "$s")"; f="$TMP/body-$s"
    if [ ! -f "$f" ]; then
        if [ "$s" = form10k ]; then
            { printf 'title='; head -c 200 /dev/zero | tr '\0' x; printf '&text=';
              head -c $((bytes - 212)) /dev/zero | tr '\0' y; } >"$f"
        elif [ "$s" = json10k ]; then
            local items="" i
            for i in $(seq 1 100); do items+="{\"id\":$i,\"name\":\"item $i\",\"tags\":[\"a\",\"b\"]},"; done
            items="${items%,}"
            { printf '{"title":"'; head -c $((bytes - 23 - ${#items})) /dev/zero | tr '\0' x
              printf '","items":[%s]}' "$items"; } >"$f"
        else
            head -c "$bytes" /dev/zero | tr '\0' x >"$f"
        fi
    fi
    echo "$f"
}
scenario_lua() {  # scenario -> path of its wrk script
    local s=$1 bytes method=GET key=""
    bytes="$(scenario_body "$s")"
    [ "$bytes" -gt 0 ] && method=POST
    [ "$s" = mediated ] && key="$API_KEY"
    [ -f "$TMP/wrk-$s.lua" ] || render "$here/wrk.lua.in" "$TMP/wrk-$s.lua" SCENARIO="$s" METHOD="$method" \
        BODY_BYTES="$bytes" CONTENT_TYPE="$(scenario_type "$s")" API_KEY="$key" BODY_FILE="$(scenario_body_file "$s")"
    echo "$TMP/wrk-$s.lua"
}
check_scenario() {  # scenario proxy: one request of this scenario must answer 200
    local s=$1 p=$2 bytes code
    bytes="$(scenario_body "$s")"
    if [ "$bytes" -gt 0 ]; then
        code="$(http_code "http://127.0.0.1:$(proxy_port "$p")/bench/upload" -X POST \
            -H "Content-Type: $(scenario_type "$s")" --data-binary "@$(scenario_body_file "$s")")"
    else
        code="$(http_code "http://127.0.0.1:$(proxy_port "$p")/bench/ping" -H "X-Api-Key: $API_KEY")"
    fi
    if [ "$code" != 200 ]; then
        log "bench: $p answered $code to a $s request"; log "---- $(proxy_log "$p")"
        tail -n 40 "$(proxy_log "$p")"; die "$p fails the $s scenario"
    fi
    if [ "$s" = mediated ] && [ "$p" = sluice ]; then  # both policies run, both ways
        curl -s -o /dev/null -D "$TMP/mediated.head" --max-time 5 -H "X-Api-Key: $API_KEY" \
            "http://127.0.0.1:$(proxy_port "$p")/bench/ping" || true
        grep -qi '^X-Tier: Gold' "$TMP/mediated.head" || die "sluiced's mediated answer lacks X-Tier (on_response)"
        grep -qi '^X-Correlation-ID: ' "$TMP/mediated.head" || die "sluiced's mediated answer lacks X-Correlation-ID"
        code="$(http_code "http://127.0.0.1:$(proxy_port "$p")/bench/ping")"
        [ "$code" = 401 ] || die "sluiced answered $code, not 401, to a mediated request without an API key"
    fi
}
scenario_path() { if [ "$(scenario_body "$1")" -gt 0 ]; then echo /bench/upload; else echo /bench/ping; fi; }

RUNS="$TMP/runs.txt"; RSS="$TMP/rss.txt"; : >"$RUNS"; : >"$RSS"; : >"$SLUICE_LOG"
RUN_SEQ=0
SLUICE_CRASHES=0

run_wrk() {  # proxy scenario conns seconds outfile -> wrk's exit status
    local p=$1 s=$2 c=$3 d=$4 out=$5 wp rc=0
    # In the background + wait, so that Ctrl-C/TERM reach the trap (and wrk) at once.
    # wrk's own CPU time goes to $out.cpu: the `times` of a shell whose only child it is (its second
    # line, the children's user and system time).
    timeout -k 5 $((d + 30)) "${OTHER_PIN[@]}" bash -c 'wrk "$@"; rc=$?; times >&3; exit $rc' wrk \
        -t1 -c"$c" -d"${d}s" --latency -s "$(scenario_lua "$s")" \
        "http://127.0.0.1:$(proxy_port "$p")$(scenario_path "$s")" >"$out" 2>&1 3>"$out.cpu" &
    wp=$!; PIDS+=("$wp")
    wait "$wp" || rc=$?
    forget "$wp"
    return "$rc"
}

CRASHED=0; EXITINFO=""
check_alive() {  # proxy when: report a dead proxy (exit status, log tail, reproduction) and restart it
    local p=$1 when=$2 pid
    pid="$(proxy_pid "$p")"
    alive "$pid" && return 0
    CRASHED=1
    wait "$pid" 2>/dev/null && EXITINFO=0 || EXITINFO=$?
    [ "$EXITINFO" -gt 128 ] 2>/dev/null && EXITINFO="signal$((EXITINFO - 128))"
    forget "$pid"
    local why=""
    [ "$EXITINFO" = 0 ] && why=" = a clean exit, which sluiced only does after SIGTERM/SIGINT: a signal from outside?"
    log "bench: !!! $p (pid $pid) DIED $when (exit $EXITINFO$why); log tail:"
    grep -v 'loaded plugin' "$(proxy_log "$p")" | tail -n 30 | sed 's/^/    /'
    log "    reproduce: $(proxy_repro "$p" "$CUR_S" "$CUR_C")"
    if [ "$p" = sluice ]; then
        SLUICE_CRASHES=$((SLUICE_CRASHES + 1))
        log "bench: restarting sluiced"; start_sluice "$CUR_W" "$CUR_S"
    else
        log "bench: restarting nginx"; start_nginx "$CUR_W"
    fi
}

measure() {  # proxy scenario workers conns pair
    local p=$1 s=$2 w=$3 c=$4 pair=$5 pid pids bpids t0 t1 b0 b1 mb0 mb1 mi0 mi1 v0 v1 n0 n1 out rc=0 line
    CUR_S=$s; CUR_W=$w; CUR_C=$c; CRASHED=0; EXITINFO=""
    RUN_SEQ=$((RUN_SEQ + 1))
    out="$TMP/wrk-$RUN_SEQ-$p-$s-w$w-c$c-p$pair.txt"
    check_alive "$p" "before $s w$w c$c pair $pair"
    pid="$(proxy_pid "$p")"
    mapfile -t pids < <(proc_pids "$pid")
    mapfile -t bpids < <(proc_pids "$BACKEND_PID")
    read -r v0 n0 < <(ctx_switches "${pids[@]}")
    t0="$(cpu_ticks "${pids[@]}")"; b0="$(cpu_ticks "${bpids[@]}")"; read -r mb0 mi0 < <(machine_ticks)
    run_wrk "$p" "$s" "$c" "$DURATION" "$out" || rc=$?
    mapfile -t pids < <(proc_pids "$pid")   # a process that died meanwhile takes its CPU time along
    t1="$(cpu_ticks "${pids[@]}")"; b1="$(cpu_ticks "${bpids[@]}")"; read -r mb1 mi1 < <(machine_ticks)
    read -r v1 n1 < <(ctx_switches "${pids[@]}")
    line="$(grep '^@@BENCH' "$out" | tail -n 1 | sed 's/^@@BENCH //' || true)"
    if [ -z "$line" ]; then
        line="requests=0 duration_us=0 bytes=0 p50_us=0 p90_us=0 p99_us=0 max_us=0 err_connect=0 err_read=0 err_write=0 err_status=0 err_timeout=0"
        log "bench: wrk produced no result for $p $s w$w c$c pair $pair (rc=$rc):"; sed 's/^/    /' "$out"
    fi
    local rss hwm
    rss="$(mem_kb VmRSS "${pids[@]}")"; hwm="$(mem_kb VmHWM "${pids[@]}")"
    if grep -q 'Non-2xx\|Socket errors' "$out"; then
        log "bench: $p $s w$w c$c pair $pair: $(grep -h 'Non-2xx\|Socket errors' "$out" | tr -s ' ' | paste -sd';')"
        log "    reproduce: $(proxy_repro "$p" "$s" "$c")"
    fi
    check_alive "$p" "during $s w$w c$c pair $pair"
    echo "scenario=$s workers=$w conns=$c pair=$pair proxy=$p $line cpu_ticks=$((t1 - t0)) clk_tck=$CLK_TCK" \
         "backend_ticks=$((b1 - b0)) machine_busy_ticks=$((mb1 - mb0)) machine_idle_ticks=$((mi1 - mi0))" \
         "rss_kb=$rss hwm_kb=$hwm crashed=$CRASHED exit=${EXITINFO:-none} wrk_rc=$rc" \
         "vol_switches=$((v1 - v0)) invol_switches=$((n1 - n0)) wrk_cpu_us=$(wrk_cpu_us "$out.cpu")" >>"$RUNS"
}
wrk_cpu_us() {  # file with `times` output, children last ("0m1.234s 0m5.678s") -> user+system in µs, -1 if none
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } ok = 1 }
         END { if (ok) printf "%d", t * 1e6; else printf "-1" }' "$1" 2>/dev/null || echo -1
}
proxy_repro() {  # proxy scenario conns: commands that reproduce the run (the temp dir is kept on errors)
    local start
    if [ "$1" = nginx ]; then
        start="$NGINX -p $TMP -c $TMP/nginx-proxy.conf"
    else
        start="$SLUICE_BIN --config $TMP/sluice/sluice.json"
    fi
    echo "$start & wrk -t1 -c$3 -d${DURATION}s --latency -s $(scenario_lua "$2") http://127.0.0.1:$(proxy_port "$1")$(scenario_path "$2")"
}

IDLE_PIDS=()
start_idle() {  # proxy src-ip -> starts the helper, waits for READY
    local p=$1 src=$2 ready max
    max=$(( PAIRS * $(wc -w <<<"$CONNS") * 2 * (DURATION + 10) + 600 ))
    "${OTHER_PIN[@]}" python3 "$here/idle_conns.py" --port "$(proxy_port "$p")" --count "$IDLE_CONNS" --src "$src" \
        --path /bench/ping --status-file "$TMP/idle-$p.status" --max-seconds "$max" \
        >"$TMP/idle-$p.out" 2>&1 &
    IDLE_PIDS+=("$!"); PIDS+=("$!")
}
wait_idle_ready() {  # proxy: prints the READY line
    local p=$1 i
    for i in $(seq 1 900); do
        grep -q '^READY' "$TMP/idle-$p.out" 2>/dev/null && break
        sleep 0.1
    done
    grep '^READY' "$TMP/idle-$p.out" || { cat "$TMP/idle-$p.out"; die "idle helper for $p did not become ready"; }
}
stop_idle() {
    local p
    for p in "${IDLE_PIDS[@]}"; do stop_proc "$p" 10; done
    IDLE_PIDS=()
}
idle_field() {  # proxy key
    sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$TMP/idle-$1.status" 2>/dev/null | head -n 1
}

# ---------------------------------------------------------------------------------------------------
ncon=$(wc -w <<<"$CONNS"); nwork=$(wc -w <<<"$WORKERS"); nscen=$(wc -w <<<"$SCENARIOS")
est=$(( nwork * nscen * (2 * (WARMUP + 2) + 4 + PAIRS * ncon * 2 * (DURATION + 1)) ))
[[ " $SCENARIOS " == *" idle10k "* ]] && est=$(( est + nwork * 30 ))
log "== Sluice vs nginx: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), $(nproc) CPU(s): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
log "   sluiced: $SLUICE_BIN ($("$SLUICE_BIN" --version 2>&1 | head -n 1)), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (work tree modified)')"
log "   nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'); wrk: $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'); open files: $NOFILE; nginx proxy_request_buffering $NGINX_REQUEST_BUFFERING"
log "   scenarios: $SCENARIOS; workers: $WORKERS; wrk -t1 -c{$CONNS} -d${DURATION}s; $PAIRS pair(s) each, warm-up ${WARMUP}s; idle conns: $IDLE_CONNS"
if [ -n "$PROXY_CPUS" ]; then
    log "   placement: proxies on CPU(s) $PROXY_CPUS; wrk, backend and idle connections on CPU(s) $OTHER_CPUS"
fi
log "   estimated time: ~$(( (est + 59) / 60 )) min; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
log "   other busy processes (ps %CPU): $(ps -eo pcpu=,comm= --sort=-pcpu | awk '$2 != "ps" && $1 >= 5 {printf "%s %s%%; ", $2, $1}' | cut -c1-200)"
log "   columns: CPU µs/request (proxy utime+stime / requests), nginx/sluice > 1 means Sluice spends less CPU;"
log "            req/s sluice/nginx > 1 means Sluice is faster; p50/p99 given as nginx/sluice"
T_START=$(date +%s)

start_backend
log "   backend: nginx on 127.0.0.1:$BACKEND_PORT (pid $BACKEND_PID); temp dir $TMP"

for w in $WORKERS; do
    for s in $SCENARIOS; do
        log ""
        log "-- $s, $w worker(s)   [$(date '+%T'), load $(cut -d' ' -f1-3 /proc/loadavg)]"
        scenario_lua "$s" >/dev/null   # render the wrk script here, not in a subshell
        start_nginx "$w"
        sl0=$(wc -l <"$SLUICE_LOG" 2>/dev/null || echo 0)
        start_sluice "$w" "$s"
        check_scenario "$s" nginx
        check_scenario "$s" sluice
        for p in nginx sluice; do run_wrk "$p" "$s" 50 "$WARMUP" "$TMP/warmup-$p-$s-w$w.txt" || true; done
        if [ "$s" = idle10k ]; then
            start_idle nginx 127.0.0.2
            start_idle sluice 127.0.0.3
            for p in nginx sluice; do
                r="$(wait_idle_ready "$p")"
                rss_idle="$(mem_kb VmRSS $(proc_pids "$(proxy_pid "$p")"))"
                log "   idle connections to $p: $r; $p RSS with them: $((rss_idle / 1024)) MiB"
                echo "scenario=$s workers=$w proxy=$p idle_rss_kb=$rss_idle" >>"$RSS"
            done
        fi
        for c in $CONNS; do
            for pair in $(seq 1 "$PAIRS"); do
                measure nginx "$s" "$w" "$c" "$pair"
                measure sluice "$s" "$w" "$c" "$pair"
                python3 "$here/report.py" pair "$RUNS" "$s" "$w" "$c" "$pair"
            done
        done
        for p in nginx sluice; do
            pids=$(proc_pids "$(proxy_pid "$p")")
            extra=""
            if [ "$s" = idle10k ]; then
                extra="idle_open=$(idle_field "$p" open) idle_closed=$(idle_field "$p" closed_by_peer)"
                log "   idle connections to $p at the end: $(cat "$TMP/idle-$p.status" 2>/dev/null)"
                if [ -s "$TMP/idle-$p.status.unexpected" ]; then
                    log "   !!! $p sent bytes on idle keep-alive connections; first ones:"
                    sed 's/^/    /' "$TMP/idle-$p.status.unexpected"
                fi
            fi
            echo "scenario=$s workers=$w proxy=$p hwm_kb=$(mem_kb VmHWM $pids) rss_kb=$(mem_kb VmRSS $pids) $extra" >>"$RSS"
        done
        stop_idle
        if grep -qiE 'alert|emerg|crit' "$TMP/nginx-proxy-error.log"; then
            log "   nginx error log:"; grep -iE 'alert|emerg|crit' "$TMP/nginx-proxy-error.log" | tail -n 5 | sed 's/^/    /'
        fi
        # sluiced runs at level warn, its runtime logger at info (start, signals, shutdown); the loader
        # logs a few info lines before the level applies.
        n=$(tail -n +$((sl0 + 1)) "$SLUICE_LOG" | grep -Eic "$SLUICE_WARN_RE" || true)
        if [ "$n" -gt 0 ]; then
            log "   sluiced logged $n line(s) at warn or above in this phase, the last ones:"
            tail -n +$((sl0 + 1)) "$SLUICE_LOG" | grep -Ei "$SLUICE_WARN_RE" | tail -n 5 | sed 's/^/    /'
        fi
        stop_proc "$NGINX_PID"; NGINX_PID=""
        stop_proc "$SLUICE_PID"; SLUICE_PID=""
    done
done

rc=0
python3 "$here/report.py" final "$RUNS" "$RSS" "$BENCH_OUT" "$SUMMARY_OUT" || rc=3
[ "$SLUICE_CRASHES" -gt 0 ] && { log "bench: sluiced died $SLUICE_CRASHES time(s) during the run (see !!! above)"; rc=3; }
cp "$SLUICE_LOG" "${BENCH_OUT%.csv}-sluice.log" 2>/dev/null || true
log ""
log "bench: done in $(( ($(date +%s) - T_START) / 60 )) min $(( ($(date +%s) - T_START) % 60 )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
log "bench: per-run CSV $BENCH_OUT; medians $SUMMARY_OUT; sluiced log ${BENCH_OUT%.csv}-sluice.log"
exit "$rc"
