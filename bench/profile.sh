#!/usr/bin/env bash
# Profiles slagboom (perf record, call graphs) under one scenario of the reference
# harness's load generator, pinned like the harness (proxy on CPU1, client and origin
# on CPU0), and prints the hottest symbols.
#
#   bench/profile.sh plain|blocked|keepalive|tunnel|bulk_clear [seconds]
#
# Needs the harness set-up (../shared/bench/scripts/install.sh) and `perf`
# (Debian: linux-perf). Uses the configuration bench/reference.sh writes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
HARNESS="${HARNESS:-$ROOT/../shared/bench}"
SCENARIO="${1:-plain}"
SECS="${2:-8}"
export BENCH_RUN="${BENCH_RUN:-/tmp/proxybench}"
# shellcheck source=/dev/null
source "$HARNESS/scripts/lib.sh"
# shellcheck source=/dev/null
source "$HARNESS/scripts/peers.sh"
PORT=9300
CONF="$BENCH_RUN/slagboom/slagboom.toml"
[ -f "$CONF" ] || { echo "run bench/reference.sh once first (it writes $CONF)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --locked -q)
ensure_limits
STARTED=()
trap 'for n in "${STARTED[@]}"; do stop_bg "$n"; done' EXIT
STARTED+=(origin); start_origin
STARTED+=(slagboom); start_custom slagboom "$PORT" "$ROOT/target/release/slagboom run -c $CONF"
PID=$(pid_of_port "$PORT")
case "$SCENARIO" in
    plain) ARGS="--mode plain --no-tls --target $ORIGIN_HOST:$ORIGIN_HTTP_PORT --path /small -c 50" ;;
    blocked) ARGS="--mode blocked --target $BLOCKED_HOST:443 -c 50" ;;
    keepalive) ARGS="--mode keepalive --target $ORIGIN_HOST:$ORIGIN_TLS_PORT --path /small -c 50" ;;
    tunnel) ARGS="--mode tunnel --target $ORIGIN_HOST:$ORIGIN_TLS_PORT --path /small -c 50" ;;
    bulk_clear) ARGS="--mode bulk --no-tls --target $ORIGIN_HOST:$ORIGIN_HTTP_PORT --path /big -c 1 --requests 1 --timeout 120" ;;
    *) echo "unknown scenario $SCENARIO" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086
timeout $((SECS + 30)) $(pin_client) "$LOADGEN" --proxy "127.0.0.1:$PORT" --proxy-auth bench-device:bench-token \
    --cacert "$BENCH_RUN/tls/ca.crt" $ARGS --duration "$SECS" --warmup 1 > "$BENCH_RUN/profile-loadgen.json" &
LG=$!
sleep 1
perf record -F 999 -g -p "$PID" -o "$BENCH_RUN/perf.data" -- sleep $((SECS - 1)) 2> /dev/null
wait "$LG" || true
jq -c '{rate, ok, errors}' "$BENCH_RUN/profile-loadgen.json" 2>/dev/null || tail -1 "$BENCH_RUN/profile-loadgen.json"
perf report -i "$BENCH_RUN/perf.data" --no-children --sort symbol --stdio 2> /dev/null | grep -v '^#' | grep '%' | head -40
