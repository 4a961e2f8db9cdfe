#!/usr/bin/env bash
# Runs slagboom in the reference harness (../shared/bench) side by side with its peers
# (Squid, tinyproxy, privoxy; g3proxy when G3PROXY_BIN is set) and the direct limit.
#
#   bench/reference.sh [harness options]          e.g. --rounds 1 --duration 5 --peers squid
#
# It builds slagboom (release), writes a configuration equivalent to the peers' (the
# harness's 200-domain deny list as a ruleset, a policy that blocks it for one covered
# device with a token, the ECS file sink, token authentication on), and starts
# scripts/run.sh with slagboom added. The harness itself needs its one-time setup as
# root first: ../shared/bench/scripts/install.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
HARNESS="${HARNESS:-$ROOT/../shared/bench}"
RUN="${BENCH_RUN:-/tmp/proxybench}"
PORT="${SLAGBOOM_BENCH_PORT:-9300}"
ADMIN_PORT="${SLAGBOOM_BENCH_ADMIN_PORT:-9301}"
DEVICE="bench-device"
TOKEN="bench-token"

[ -x "$HARNESS/scripts/run.sh" ] || { echo "no harness at $HARNESS" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --locked -q)
BIN="$ROOT/target/release/slagboom"

CONF="$RUN/slagboom"
rm -rf "$CONF" && mkdir -p "$CONF/rules" "$CONF/registry"
{
    echo 'id = "denylist"'
    echo 'title = "Reference harness deny list"'
    echo 'domains = ['
    grep -v '^\s*\(#\|$\)' "$HARNESS/conf/denylist.txt" | sed 's/.*/  "&",/'
    echo ']'
} > "$CONF/rules/denylist.toml"
hash=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
cat > "$CONF/registry/devices.csv" <<CSV
device_id,authority,organisation,owner,purchase,subscription,usage,professional_use,token_sha256,cert_sha256,addresses,status
$DEVICE,bench,Benchmark,bench-owner,full,none,none,false,$hash,,,active
CSV
cat > "$CONF/slagboom.toml" <<TOML
[proxy]
name = "slagboom-bench"
listen = "127.0.0.1:$PORT"
connect_ports = [443, 8443, 8080]
allow_destinations = ["127.0.0.0/8"]
# bulk_clear sends cleartext HTTP inside a CONNECT tunnel.
allow_non_tls_tunnels = true

[proxy.limits]
max_connections = 50000

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[registry]
source = "registry/devices.csv"

[auth]
methods = ["token"]
unknown_device = "deny"

[rules]
dir = "rules"

[[policy]]
id = "bench-deny"
title = "Reference deny list"
authorities = ["bench"]
rulesets = ["denylist"]
covered = "block"
advisory = "warn"
private = "allow"
effective_from = "2020-01-01T00:00:00Z"
reference = "benchmark"

[log]
spool_dir = "spool"

[[log.sink]]
type = "file"
format = "ecs"
path = "events.jsonl"
TOML
"$BIN" check -c "$CONF/slagboom.toml" > /dev/null

cd "$HARNESS"
exec scripts/run.sh --add slagboom "127.0.0.1:$PORT" "$BIN run -c $CONF/slagboom.toml" \
    --add-auth slagboom "$DEVICE:$TOKEN" "$@"
