#!/usr/bin/env bash
# slagboom diff on a million recorded events (SPEC §14): wall time and peak resident
# memory of one replay of the demo configuration against a copy where the federal ban
# is `report`. The events are ECS lines as the file sink writes them (about 700 bytes
# each, a mix of devices and hosts), made here; nothing leaves this machine.
#
#   bench/diff.sh [EVENTS]        # default 1000000; needs GNU time (/usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -q --bin slagboom
mkdir -p "$work/b"
cp -r rules registry "$work/b/"
python3 - "$work/b/slagboom.toml" <<'PY'
import sys, re
text = open("slagboom.toml").read()
i = text.index('id = "be-federal-tiktok"')
j = text.index('covered = "block"', i)
open(sys.argv[1], "w").write(text[:j] + 'covered = "report"' + text[j + len('covered = "block"'):])
PY
python3 - "$work/events.jsonl" "$n" <<'PY'
import json, sys
devices = ["fin-laptop-001", "vl-phone-017", "bru-tablet-003", "wal-laptop-042", "fwb-phone-008",
           "fed-byod-101", "fed-home-202", "pol-desk-branch", "def-laptop-777", "unknown-9"]
hosts = ["www.tiktok.com", "api16-normal-c-useast1a.tiktokv.com", "www.belgium.be", "nottiktok.com",
         "p16-tiktokcdn-com.akamaized.net", "www.bytedance.com", "mail.example.org", "m.tiktok.com"]
with open(sys.argv[1], "w") as out:
    for i in range(int(sys.argv[2])):
        d, h = devices[i % len(devices)], hosts[(i // 3) % len(hosts)]
        e = {"@timestamp": "2024-01-%02dT10:%02d:%02d.000Z" % (1 + i % 28, i % 60, i % 59),
             "ecs": {"version": "8.11.0"},
             "event": {"id": "019ab8f1-6c00-7a3e-9d1f-%012d" % i, "kind": "event",
                       "category": ["network", "web"], "type": ["connection", "allowed"],
                       "action": "allowed", "outcome": "success", "duration": 48212000},
             "source": {"ip": "10.20.30.%d" % (i % 250), "port": 40000 + i % 20000, "bytes": 2317},
             "destination": {"domain": h, "ip": "192.0.2.80", "port": 443, "bytes": 181532},
             "tls": {"client": {"server_name": h}},
             "device": {"id": d}, "organization": {"name": "FPS Finance"}, "user": {"id": "staff-10231"},
             "observer": {"name": "slagboom-1", "type": "proxy", "product": "slagboom"},
             "labels": {"coverage": "covered", "identity": "token", "listener": "explicit",
                        "policy_version": "5c1e0f3a9b27d846"}}
        out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
size=$(du -h "$work/events.jsonl" | cut -f1)
echo "events: $n ($size)"
/usr/bin/time -f "wall %e s, user %U s, sys %S s, peak RSS %M KiB" \
  target/release/slagboom diff --from slagboom.toml --to "$work/b/slagboom.toml" --events "$work/events.jsonl" \
  | head -3
