#!/usr/bin/env bash
# slagboom's CPU per new tunnel, explicit beside transparent, on a network of its own:
#
#   client 10.77.1.2 --veth-- 10.77.1.1 gateway 10.77.2.1 --veth-- 10.77.2.2 origin
#   (the load generator)      slagboom; nat PREROUTING        (nginx, TLS)
#                             REDIRECT of TCP 443 to :3130
#
# Each operation is a new connection, a TLS handshake with SNI, `GET /small`, and close:
# through the explicit proxy (CONNECT with a token), and straight to the origin's address
# (redirected to the transparent listener, the device known by its address). slagboom
# and the load generator are pinned to one core each; the figure is slagboom's CPU time
# (user + system) per operation. Needs root, iproute2, iptables and nginx.
#
#   bench/transparent.sh [--duration 10] [--rounds 3] [-c 20]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=10
ROUNDS=3
CONC=20
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        -c) CONC="$2"; shift 2 ;;
        *) echo "usage: $0 [--duration S] [--rounds N] [-c N]" >&2; exit 1 ;;
    esac
done
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root (network namespaces, iptables)"; exit 1; }
for tool in ip iptables nginx openssl taskset; do
    command -v "$tool" > /dev/null || [ -x "/usr/sbin/$tool" ] || { log "missing $tool"; exit 1; }
done

P="sbb$$"
RUN="$(mktemp -d)"
PIDS=()
cleanup() {
    # Every process started here, then anything else still inside the namespaces.
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for n in client gw origin; do
        for pid in $(ip netns pids "$P-$n" 2> /dev/null); do kill "$pid" 2> /dev/null || true; done
    done
    sleep 0.5
    for n in client gw origin; do
        for pid in $(ip netns pids "$P-$n" 2> /dev/null); do kill -9 "$pid" 2> /dev/null || true; done
        ip netns del "$P-$n" 2> /dev/null || true
    done
    rm -rf "$RUN"
}
trap cleanup EXIT
in_ns() { local n="$1"; shift; ip netns exec "$P-$n" "$@"; }

log "building (release)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin slagboom --example loadgen
SB="$ROOT/target/release/slagboom"
LOADGEN="$ROOT/target/release/examples/loadgen"

log "network: client, gateway, origin"
for n in client gw origin; do ip netns add "$P-$n"; done
ip link add sbbc0 netns "$P-client" type veth peer name sbbg0 netns "$P-gw"
ip link add sbbg1 netns "$P-gw" type veth peer name sbbo0 netns "$P-origin"
in_ns client ip addr add 10.77.1.2/24 dev sbbc0
in_ns gw ip addr add 10.77.1.1/24 dev sbbg0
in_ns gw ip addr add 10.77.2.1/24 dev sbbg1
in_ns origin ip addr add 10.77.2.2/24 dev sbbo0
for pair in client:sbbc0 gw:sbbg0 gw:sbbg1 origin:sbbo0; do in_ns "${pair%%:*}" ip link set "${pair#*:}" up; done
for n in client gw origin; do in_ns "$n" ip link set lo up; done
in_ns client ip route add default via 10.77.1.1
in_ns origin ip route add default via 10.77.2.1
in_ns gw sysctl -q -w net.ipv4.ip_forward=1
in_ns gw iptables -t nat -A PREROUTING -i sbbg0 -p tcp --dport 443 -j REDIRECT --to-ports 3130

log "origin: nginx with TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$RUN/ca.key" -out "$RUN/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=origin.bench" \
    -keyout "$RUN/origin.key" -out "$RUN/origin.csr" 2> /dev/null
printf 'subjectAltName=DNS:origin.bench\nextendedKeyUsage=serverAuth\n' > "$RUN/ext"
openssl x509 -req -in "$RUN/origin.csr" -CA "$RUN/ca.crt" -CAkey "$RUN/ca.key" -CAcreateserial -days 2 \
    -extfile "$RUN/ext" -out "$RUN/origin.crt" 2> /dev/null
mkdir -p "$RUN/nginx"
cat > "$RUN/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $RUN/nginx; proxy_temp_path $RUN/nginx; fastcgi_temp_path $RUN/nginx;
    uwsgi_temp_path $RUN/nginx; scgi_temp_path $RUN/nginx;
    server {
        listen 10.77.2.2:443 ssl;
        ssl_certificate $RUN/origin.crt;
        ssl_certificate_key $RUN/origin.key;
        location /small { return 200 "small\n"; }
    }
}
EOF
# Started with `ip netns exec` itself (not a shell function) so that $! is the process.
ip netns exec "$P-origin" nginx -c "$RUN/nginx.conf" -e "$RUN/nginx/error.log" > "$RUN/nginx.out" 2>&1 &
PIDS+=($!)

log "slagboom in the gateway"
mkdir -p "$RUN/sb/rules"
cp "$ROOT/rules/tiktok.toml" "$RUN/sb/rules/"
TOKEN=bench-token
HASH=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
cat > "$RUN/sb/devices.csv" <<EOF
device_id,authority,purchase,subscription,usage,token_sha256,addresses,status
bench-1,federal,none,none,none,$HASH,10.77.1.2,active
EOF
cat > "$RUN/sb/slagboom.toml" <<EOF
[proxy]
name = "bench"
listen = "10.77.1.1:3128"
transparent_listen = "0.0.0.0:3130"
dns_overrides = { "origin.bench" = "10.77.2.2" }
[admin]
listen = "127.0.0.1:9090"
[registry]
source = "devices.csv"
[auth]
methods = ["token", "source-ip"]
[rules]
dir = "rules"
[[policy]]
id = "be-federal-tiktok"
title = "t"
authorities = ["federal"]
rulesets = ["tiktok"]
covered = "block"
advisory = "warn"
private = "allow"
effective_from = "2023-03-10T00:00:00+01:00"
reference = "r"
[log]
spool_dir = "spool"
[[log.sink]]
type = "file"
path = "events.jsonl"
EOF
ip netns exec "$P-gw" taskset -c 1 "$SB" run -c "$RUN/sb/slagboom.toml" > "$RUN/sb.out" 2>&1 &
SBPID=$!
PIDS+=("$SBPID")
for _ in $(seq 100); do
    in_ns client bash -c 'exec 3<>/dev/tcp/10.77.1.1/3128' 2> /dev/null && break
    sleep 0.1
done

ticks() { awk '{ print $14 + $15 }' "/proc/$SBPID/stat"; }
run() { # MODE: one round, prints "ops cpu_us_per_op"
    local via=()
    case "$1" in
        explicit) via=(--proxy 10.77.1.1:3128 --auth "bench-1:$TOKEN") ;;
        transparent) via=(--connect 10.77.2.2:443) ;;
    esac
    local t0 t1 out ok
    t0=$(ticks)
    out=$(in_ns client taskset -c 0 "$LOADGEN" --mode tunnel --target origin.bench:443 --cacert "$RUN/ca.crt" \
        -c "$CONC" --duration "$DURATION" "${via[@]}")
    t1=$(ticks)
    ok=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
    python3 -c "import os; t=os.sysconf('SC_CLK_TCK'); print($ok, round(($t1-$t0)/t*1e6/max($ok,1), 1))"
}

echo "| round | explicit ops | explicit µs/op | transparent ops | transparent µs/op |"
echo "| --- | --- | --- | --- | --- |"
for r in $(seq "$ROUNDS"); do
    read -r e_ops e_us <<< "$(run explicit)"
    read -r t_ops t_us <<< "$(run transparent)"
    echo "| $r | $e_ops | $e_us | $t_ops | $t_us |"
done
n_explicit=$(grep -c '"listener":"explicit"' "$RUN/sb/events.jsonl" || true)
n_transparent=$(grep -c '"listener":"transparent"' "$RUN/sb/events.jsonl" || true)
log "events: $n_explicit explicit, $n_transparent transparent"
