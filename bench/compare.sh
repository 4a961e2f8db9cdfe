#!/usr/bin/env bash
# slagboom beside Squid and the direct limit, on this machine, in one run:
#
#   bench/compare.sh                       # every scenario, 10 s each, one round
#   bench/compare.sh --rounds 3 --only tunnel,blocked --duration 5
#
# What it does, every step printed as it goes:
#   - installs Squid, nginx and openssl from Debian when they are missing (needs root then),
#     and the load generator oha from crates.io into target/bench-tools when it is not on PATH;
#   - builds slagboom and its own load generator (examples/loadgen.rs) in release mode;
#   - starts a local nginx origin (TLS and cleartext, loopback only) with a throw-away CA,
#     Squid with an equivalent configuration (the TikTok ruleset as dstdomain, access log
#     on, no cache) and slagboom (the same ruleset, token authentication, the ECS file sink);
#   - pins each proxy to CPU 1 and the clients and the origin to CPU 0;
#   - runs every scenario against direct, Squid and slagboom, reads the proxies' CPU time
#     from /proc, and prints a table with the ratios; raw figures go to $RUN/results.jsonl.
#
# Everything it starts listens on 127.0.0.1 and is stopped by PID when it ends. No system
# file is changed: names resolve through Squid's hosts_file and slagboom's dns_overrides.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RUN="${RUN_DIR:-/tmp/slagboom-compare}"
DURATION=10
ROUNDS=1
CONC=50
IDLE=5000
BIG="${BIG_SIZE:-1G}"
ONLY="tunnel,keepalive,bulk,blocked,plain,idle"
PIN=1
PROFILE=0
BUILD=release
TARGETS=(direct squid slagboom)
OHA_VERSION=1.16.0

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

Options:
  --duration S     seconds of load per run (default $DURATION)
  --rounds N       repeat every run N times, order rotated; the table shows medians (default $ROUNDS)
  --only LIST      scenarios, comma-separated: tunnel,keepalive,bulk,blocked,plain,idle;
                   `--only transparent` runs bench/transparent.sh instead (slagboom's CPU
                   per new tunnel, explicit beside transparent through a REDIRECT, in
                   network namespaces; root)
  -c N             concurrent clients (default $CONC)
  --idle N         tunnels held for the idle-memory scenario (default $IDLE)
  --targets LIST   of direct,squid,slagboom (default all three)
  --profile        record slagboom's runs with perf (Debian: linux-perf) and print the hottest symbols
  --no-pin         let everything float over all cores
  --build debug    measure a debug build (only to check the script itself: \`make check\` does)
Environment: RUN_DIR (default /tmp/slagboom-compare), BIG_SIZE (bulk body, default 1G), OHA (path to oha)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --only) ONLY="$2"; shift 2 ;;
        -c) CONC="$2"; shift 2 ;;
        --idle) IDLE="$2"; shift 2 ;;
        --targets) IFS=, read -r -a TARGETS <<< "$2"; shift 2 ;;
        --profile) PROFILE=1; shift ;;
        --no-pin) PIN=0; shift ;;
        --build) BUILD="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$ONLY" = transparent ]; then
    exec "$(dirname "$0")/transparent.sh" --duration "$DURATION" --rounds "$ROUNDS" -c "$CONC"
fi

ORIGIN=origin.test
BLOCKED=www.tiktok.com
TLS_PORT=28443
HTTP_PORT=28080
SQUID_PORT=23128
SB_PORT=23129
SB_ADMIN=23130
DEVICE=bench-laptop
TOKEN=bench-token
AUTH_HEADER="Proxy-Authorization: Basic $(printf '%s:%s' "$DEVICE" "$TOKEN" | base64 -w0)"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
client() { if [ "$PIN" = 1 ]; then taskset -c 0 "$@"; else "$@"; fi; }
proxy_pin() { if [ "$PIN" = 1 ]; then echo "taskset -c 1"; fi; }

# ---------------------------------------------------------------- processes, by PID
declare -A PIDS=()
start() { # NAME CMD...: in the background, output to $RUN/NAME.out
    local name="$1"; shift
    "$@" > "$RUN/$name.out" 2>&1 &
    PIDS[$name]=$!
    log "started $name (pid ${PIDS[$name]})"
}
stop() { # NAME: TERM, then KILL after 5 s
    local name="$1" pid i
    pid="${PIDS[$name]:-}"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$name]"
    log "stopped $name (pid $pid)"
}
cleanup() { local n; for n in "${!PIDS[@]}"; do stop "$n"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # PORT: up to 20 s
    local i
    for ((i = 0; i < 200; i++)); do
        if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

tree() { # PID and its children
    echo "$1"
    pgrep -P "$1" || true
}
cpu_ticks() { # utime+stime of a process and its children, live and reaped
    local total=0 p v
    for p in $(tree "$1"); do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        total=$((total + v))
    done
    echo "$total"
}
rss_kib() {
    local total=0 p v
    for p in $(tree "$1"); do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# ---------------------------------------------------------------- what it needs
install_packages() {
    local missing=() added_policy=0
    command -v squid > /dev/null || [ -x /usr/sbin/squid ] || missing+=(squid)
    command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    command -v openssl > /dev/null || missing+=(openssl)
    command -v python3 > /dev/null || missing+=(python3)
    command -v taskset > /dev/null || missing+=(util-linux)
    command -v pgrep > /dev/null || missing+=(procps)
    [ ${#missing[@]} -gt 0 ] || return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo > /dev/null || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
        sudo=sudo
    fi
    log "installing ${missing[*]} (Debian)"
    # Keep the packages' own services from starting: this script runs its own instances.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d > /dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d && added_policy=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null
    [ "$added_policy" = 0 ] || $sudo rm -f /usr/sbin/policy-rc.d
}

find_oha() {
    case ",$ONLY," in *,tunnel,*|*,keepalive,*|*,plain,*) ;; *) return 0 ;; esac
    OHA="${OHA:-$(command -v oha || true)}"
    if [ -z "$OHA" ]; then
        OHA="$ROOT/target/bench-tools/bin/oha"
        if [ ! -x "$OHA" ]; then
            log "installing oha $OHA_VERSION from crates.io into target/bench-tools (once; a few minutes)"
            cargo install oha --locked --version "$OHA_VERSION" --root "$ROOT/target/bench-tools" -q
        fi
    fi
}

# ---------------------------------------------------------------- origin, Squid, slagboom
make_certs() {
    local d="$RUN/tls"
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
        -subj "/CN=slagboom bench CA" -keyout "$d/ca.key" -out "$d/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ORIGIN" \
        -keyout "$d/origin.key" -out "$d/origin.csr" 2> /dev/null
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$ORIGIN" > "$d/ext"
    openssl x509 -req -in "$d/origin.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 7 \
        -extfile "$d/ext" -out "$d/origin.crt" 2> /dev/null
}

start_origin() {
    local d="$RUN/origin"
    mkdir -p "$d/tmp"
    truncate -s "$BIG" "$d/big.bin"
    cat "$d/big.bin" > /dev/null # into the page cache, so that no run pays for filling it
    cat > "$d/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/error.log warn;
daemon off;
events { worker_connections 19000; multi_accept on; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $RUN/tls/origin.crt;
    ssl_certificate_key $RUN/tls/origin.key;
    ssl_session_cache shared:BENCH:20m;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$TLS_PORT ssl;
        listen 127.0.0.1:$HTTP_PORT;
        location = /small { default_type text/plain; return 200 "hello from the benchmark origin\n"; }
        location = /blocked { default_type text/plain; return 403 "blocked\n"; }
        location = /big { default_type application/octet-stream; alias $d/big.bin; }
        location / { return 404; }
    }
}
EOF
    local nginx
    nginx="$(command -v nginx || echo /usr/sbin/nginx)"
    if [ "$PIN" = 1 ]; then start origin taskset -c 0 "$nginx" -c "$d/nginx.conf" -p "$d"
    else start origin "$nginx" -c "$d/nginx.conf" -p "$d"; fi
    wait_port "$TLS_PORT" || die "nginx did not start: $d/error.log"
}

# The TikTok ruleset as Squid ACLs: domains as .dstdomain (covered subdomains dropped, Squid
# refuses overlaps), exact hosts as dstdomain, patterns as anchored dstdom_regex.
squid_lists() {
    python3 - "$ROOT/rules/tiktok.toml" "$1" <<'EOF'
import sys, tomllib
rules = tomllib.load(open(sys.argv[1], "rb"))
out = sys.argv[2]
domains = sorted(set(d.lower().rstrip(".") for d in rules.get("domains", [])))
covered = lambda h: any(h.endswith("." + d) for d in domains)
keep = [d for d in domains if not covered(d)]
exact = [h.lower() for h in rules.get("exact", []) if not covered(h.lower()) and h.lower() not in keep]
with open(out + "/tiktok.dstdomain", "w") as f:
    f.writelines("." + d + "\n" for d in keep)
    f.writelines(h + "\n" for h in exact)
with open(out + "/tiktok.regex", "w") as f:
    f.writelines("^" + p + "$\n" for p in rules.get("patterns", []))
print(f"{len(keep)} domains, {len(exact)} hosts, {len(rules.get('patterns', []))} patterns")
EOF
}

start_squid() {
    local d="$RUN/squid" squid
    mkdir -p "$d"
    log "Squid ruleset: $(squid_lists "$d")"
    printf '127.0.0.1 %s\n' "$ORIGIN" > "$RUN/hosts"
    cat > "$d/squid.conf" <<EOF
http_port 127.0.0.1:$SQUID_PORT
visible_hostname slagboom-compare
pid_filename $d/squid.pid
cache_log $d/cache.log
access_log daemon:$d/access.log squid
cache_store_log none
coredump_dir $d
logfile_rotate 0
hosts_file $RUN/hosts
cache deny all
cache_mem 8 MB
max_filedescriptors 20000
client_db off
shutdown_lifetime 1 seconds
acl localnet src 127.0.0.0/8
acl tunnel_ports port 443 $TLS_PORT $HTTP_PORT
acl CONNECT method CONNECT
acl tiktok dstdomain "$d/tiktok.dstdomain"
acl tiktok_patterns dstdom_regex -i "$d/tiktok.regex"
http_access deny tiktok
http_access deny tiktok_patterns
http_access deny CONNECT !tunnel_ports
http_access allow localnet
http_access deny all
EOF
    chmod 755 "$RUN"
    chown -R proxy:proxy "$d" 2> /dev/null || chmod -R a+rwX "$d"
    squid="$(command -v squid || echo /usr/sbin/squid)"
    "$squid" -k parse -f "$d/squid.conf" > "$d/parse.log" 2>&1 || die "Squid refuses its configuration: $d/parse.log"
    # shellcheck disable=SC2046
    start squid $(proxy_pin) "$squid" -N -f "$d/squid.conf"
    wait_port "$SQUID_PORT" || die "Squid did not start: $d/cache.log"
}

start_slagboom() {
    local d="$RUN/slagboom" hash
    rm -rf "$d" && mkdir -p "$d/registry"
    hash=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
    cat > "$d/registry/devices.csv" <<EOF
device_id,authority,organisation,owner,purchase,subscription,usage,professional_use,token_sha256,cert_sha256,addresses,status
$DEVICE,federal,FOD BOSA,bench-owner,full,none,none,false,$hash,,,active
EOF
    cat > "$d/slagboom.toml" <<EOF
[proxy]
name = "slagboom-compare"
listen = "127.0.0.1:$SB_PORT"
connect_ports = [443, $TLS_PORT, $HTTP_PORT]
allow_destinations = ["127.0.0.0/8"]
dns_overrides = { "$ORIGIN" = "127.0.0.1" }
# The bulk scenario sends cleartext HTTP inside a CONNECT tunnel.
allow_non_tls_tunnels = true

[proxy.limits]
max_connections = 50000

[admin]
listen = "127.0.0.1:$SB_ADMIN"

[registry]
source = "registry/devices.csv"

[auth]
methods = ["token"]
unknown_device = "deny"

[rules]
dir = "$ROOT/rules"

[[policy]]
id = "be-federal-tiktok"
title = "Federal ban on TikTok on government-funded devices"
authorities = ["federal"]
rulesets = ["tiktok"]
covered = "block"
advisory = "warn"
private = "allow"
effective_from = "2023-03-10T00:00:00+01:00"
reference = "benchmark"

[log]
spool_dir = "spool"

[[log.sink]]
type = "file"
format = "ecs"
path = "events.jsonl"
EOF
    "$BIN" check -c "$d/slagboom.toml" > /dev/null
    # shellcheck disable=SC2046
    start slagboom $(proxy_pin) "$BIN" run -c "$d/slagboom.toml"
    wait_port "$SB_PORT" || die "slagboom did not start: $RUN/slagboom.out"
}

# ---------------------------------------------------------------- scenarios

# run_oha TARGET URL [oha options]: prints oha's JSON
run_oha() {
    local target="$1" url="$2"; shift 2
    local via=()
    case "$target" in
        direct) via=(--connect-to "$ORIGIN:$TLS_PORT:127.0.0.1:$TLS_PORT" --connect-to "$ORIGIN:$HTTP_PORT:127.0.0.1:$HTTP_PORT") ;;
        # oha would resolve the origin's name itself first; through a proxy, the proxy does.
        squid) via=(--no-pre-lookup -x "http://127.0.0.1:$SQUID_PORT") ;;
        slagboom) via=(--no-pre-lookup -x "http://127.0.0.1:$SB_PORT" --proxy-header "$AUTH_HEADER") ;;
    esac
    # -w: requests still running at the deadline finish instead of counting as errors.
    client timeout $((DURATION + 60)) "$OHA" --no-tui --output-format json -c "$CONC" -z "${DURATION}s" -w \
        --cacert "$RUN/tls/ca.crt" "${via[@]}" "$@" "$url"
}

# run_loadgen TARGET [loadgen options]: prints the loadgen's JSON
run_loadgen() {
    local target="$1"; shift
    local via=()
    case "$target" in
        direct) via=(--connect "127.0.0.1:$HTTP_PORT") ;;
        squid) via=(--proxy "127.0.0.1:$SQUID_PORT") ;;
        slagboom) via=(--proxy "127.0.0.1:$SB_PORT" --auth "$DEVICE:$TOKEN") ;;
    esac
    client timeout $((DURATION + 300)) "$LOADGEN" "${via[@]}" "$@"
}

proxy_pid() { case "$1" in squid|slagboom) echo "${PIDS[$1]}" ;; *) echo "" ;; esac; }

# measure SCENARIO TARGET ROUND: one run, one line of results.jsonl
measure() {
    local scenario="$1" target="$2" round="$3" pid t0=0 t1=0 out
    pid=$(proxy_pid "$target")
    if [ "$scenario" = idle ]; then
        [ "$target" != direct ] || return 0
        measure_idle "$target" "$round"
        return 0
    fi
    [ -z "$pid" ] || t0=$(cpu_ticks "$pid")
    local perf=""
    if [ "$PROFILE" = 1 ] && [ "$target" = slagboom ]; then
        perf record -F 999 -g -p "$pid" -o "$RUN/perf-$scenario.data" > "$RUN/perf-$scenario.out" 2>&1 &
        perf=$!
    fi
    case "$scenario" in
        tunnel) out=$(run_oha "$target" "https://$ORIGIN:$TLS_PORT/small" --disable-keepalive) ;;
        keepalive) out=$(run_oha "$target" "https://$ORIGIN:$TLS_PORT/small") ;;
        plain) out=$(run_oha "$target" "http://$ORIGIN:$HTTP_PORT/small") ;;
        blocked)
            if [ "$target" = direct ]; then out=$(run_loadgen direct --mode blocked --target "$ORIGIN:$HTTP_PORT" -c "$CONC" --duration "$DURATION")
            else out=$(run_loadgen "$target" --mode blocked --target "$BLOCKED:443" -c "$CONC" --duration "$DURATION"); fi ;;
        bulk) out=$(run_loadgen "$target" --mode bulk --target "$ORIGIN:$HTTP_PORT" --path /big) ;;
        *) die "unknown scenario $scenario" ;;
    esac
    [ -z "$pid" ] || t1=$(cpu_ticks "$pid")
    if [ -n "$perf" ]; then
        kill -INT "$perf" 2>/dev/null || true
        wait "$perf" || true
        echo "== $scenario: slagboom's hottest symbols (perf, self time)" >> "$RUN/profile.txt"
        { perf report -i "$RUN/perf-$scenario.data" --no-children -g none --sort dso,symbol --stdio 2> /dev/null \
            | grep -v '^#' | grep '%' | head -30 || true; } >> "$RUN/profile.txt"
    fi
    printf '{"scenario":"%s","target":"%s","round":%s,"cpu_ticks":%s,"clk_tck":%s,"tool":%s}\n' \
        "$scenario" "$target" "$round" "$((t1 - t0))" "$(getconf CLK_TCK)" "$(echo "$out" | tr -d '\n')" \
        >> "$RUN/results.jsonl"
    log "$scenario $target: $(summary_line "$(tail -1 "$RUN/results.jsonl")")"
}

measure_idle() {
    local target="$1" round="$2" pid before held after i lg
    # A fresh process: memory freed by earlier runs stays with the process (its high-water
    # mark), and would hide what the tunnels cost.
    stop "$target"
    "start_$target"
    pid=$(proxy_pid "$target")
    before=$(rss_kib "$pid")
    run_loadgen "$target" --mode idle --target "$ORIGIN:$TLS_PORT" --cacert "$RUN/tls/ca.crt" \
        --count "$IDLE" -c 100 --hold 5 > "$RUN/idle.json" 2> "$RUN/idle.err" &
    lg=$!
    for ((i = 0; i < 1200; i++)); do
        grep -q held "$RUN/idle.err" 2>/dev/null && break
        kill -0 "$lg" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    held=$(rss_kib "$pid")
    wait "$lg" || log "idle $target: the load generator failed: $(tail -1 "$RUN/idle.err")"
    sleep 2
    after=$(rss_kib "$pid")
    printf '{"scenario":"idle","target":"%s","round":%s,"rss_before":%s,"rss_held":%s,"rss_after":%s,"tool":%s}\n' \
        "$target" "$round" "$before" "$held" "$after" "$(tr -d '\n' < "$RUN/idle.json" || echo '{}')" >> "$RUN/results.jsonl"
    log "idle $target: $(summary_line "$(tail -1 "$RUN/results.jsonl")")"
}

summary_line() { python3 "$HERE/compare_table.py" --line "$1"; }

# ---------------------------------------------------------------- main
install_packages
find_oha
[ "$PROFILE" = 0 ] || command -v perf > /dev/null || die "--profile needs perf (Debian: linux-perf)"
log "building slagboom and the load generator ($BUILD)"
case "$BUILD" in
    release) (cd "$ROOT" && cargo build --release --locked -q --bin slagboom --example loadgen) ;;
    debug) (cd "$ROOT" && cargo build --locked -q --bin slagboom --example loadgen) ;;
    *) die "--build is release or debug" ;;
esac
BIN="$ROOT/target/$BUILD/slagboom"
LOADGEN="$ROOT/target/$BUILD/examples/loadgen"
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
[ "$(ulimit -n)" -ge $((IDLE * 3 + 1000)) ] || log "note: ulimit -n is $(ulimit -n); $IDLE idle tunnels may run out of descriptors"

rm -rf "$RUN" && mkdir -p "$RUN"
make_certs
start_origin
[[ " ${TARGETS[*]} " != *" squid "* ]] || start_squid
start_slagboom

# Sanity: each proxy blocks TikTok and carries a request before anything is measured.
for t in "${TARGETS[@]}"; do
    [ "$t" != direct ] || continue
    run_loadgen "$t" --mode blocked --target "$BLOCKED:443" -c 1 --duration 0.2 > "$RUN/sanity.json" \
        || die "$t did not refuse CONNECT $BLOCKED:443 with 403"
done

IFS=, read -r -a SCENARIOS <<< "$ONLY"
for ((round = 1; round <= ROUNDS; round++)); do
    for scenario in "${SCENARIOS[@]}"; do
        if [ "$scenario" = bulk ]; then
            # The first bulk transfer after other load runs slow, whoever makes it: one
            # unmeasured transfer first, so the order of the targets does not decide.
            run_loadgen direct --mode bulk --target "$ORIGIN:$HTTP_PORT" --path /big > /dev/null
        fi
        # rotate the order of the targets every round
        for ((k = 0; k < ${#TARGETS[@]}; k++)); do
            measure "$scenario" "${TARGETS[$(((k + round - 1) % ${#TARGETS[@]}))]}" "$round"
        done
    done
done

echo
[ "$BUILD" = release ] || echo "(a $BUILD build: these figures only show that the script works)"
python3 "$HERE/compare_table.py" --squid-version "$( (squid -v 2>/dev/null || /usr/sbin/squid -v) | head -1)" \
    --pin "$PIN" --duration "$DURATION" --rounds "$ROUNDS" "$RUN/results.jsonl"
[ "$PROFILE" = 0 ] || { echo; cat "$RUN/profile.txt"; }
