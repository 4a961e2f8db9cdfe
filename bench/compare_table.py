#!/usr/bin/env python3
"""Tables of bench/compare.sh results.

    python3 bench/compare_table.py RESULTS.jsonl        the comparison table (medians over rounds)
    python3 bench/compare_table.py --line JSON          one run, summarised on one line

Each line of RESULTS.jsonl is one run: scenario, target (direct, squid, slagboom), round,
the proxy's CPU clock ticks during the run, and the load generator's own JSON output (oha's
or examples/loadgen.rs's).
"""
import argparse
import json
import statistics
import sys

SCENARIOS = [
    ("tunnel", "a. new tunnel: CONNECT + TLS + GET + close"),
    ("keepalive", "b. keep-alive GET inside tunnels"),
    ("bulk", "c'. bulk GET through a tunnel, cleartext"),
    ("blocked", "d. blocked CONNECT -> 403, event written"),
    ("plain", "e. plain-HTTP proxied GET"),
    ("idle", "f. idle tunnels held"),
]
TARGETS = ["direct", "squid", "slagboom"]


def figures(run):
    """The figures of one run: ok operations, errors, rate, CPU per op (or per GB), memory."""
    tool = run.get("tool") or {}
    out = {}
    if "statusCodeDistribution" in tool:  # oha
        codes = tool["statusCodeDistribution"]
        ok = codes.get("200", 0)
        out["ok"] = ok
        out["errors"] = sum(v for k, v in codes.items() if k != "200") + sum(tool["errorDistribution"].values())
        out["rate"] = ok / tool["summary"]["total"] if tool["summary"]["total"] else 0.0
    else:
        out["ok"] = tool.get("ok", 0)
        out["errors"] = tool.get("errors", 0)
        if "rate" in tool:
            out["rate"] = tool["rate"]
        if "mb_per_s" in tool:
            out["rate"] = tool["mb_per_s"]
    cpu_s = run.get("cpu_ticks", 0) / run.get("clk_tck", 100)
    if run["target"] != "direct" and "cpu_ticks" in run:
        if run["scenario"] == "bulk" and tool.get("bytes"):
            out["cpu"] = cpu_s / (tool["bytes"] / 1e9)
        elif out["ok"]:
            out["cpu"] = cpu_s * 1e6 / out["ok"]
    if run["scenario"] == "idle" and out["ok"]:
        out["rate"] = None
        out["mem"] = (run["rss_held"] - run["rss_before"]) / out["ok"]
    return out


def line(run):
    f = figures(run)
    parts = [f"ok {f['ok']}", f"errors {f['errors']}"]
    if f.get("rate") is not None:
        parts.append(f"{f['rate']:,.1f} {'MB/s' if run['scenario'] == 'bulk' else '/s'}")
    if "cpu" in f:
        parts.append(f"{f['cpu']:,.2f} {'CPU s/GB' if run['scenario'] == 'bulk' else 'CPU µs/op'}")
    if "mem" in f:
        parts.append(f"{f['mem']:,.1f} KiB/tunnel")
    first = (run.get("tool") or {}).get("first_error")
    if first:
        parts.append(f"first error: {first}")
    return ", ".join(parts)


def fmt(v, digits=1):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(ours, theirs):
    if ours is None or theirs in (None, 0):
        return "—"
    return f"{ours / theirs:.2f}×"


def table(runs, args):
    med = {}
    errors = {}
    for scenario, _ in SCENARIOS:
        for target in TARGETS:
            rs = [figures(r) for r in runs if r["scenario"] == scenario and r["target"] == target]
            if not rs:
                continue
            errors[(scenario, target)] = sum(r["errors"] for r in rs)
            for key in ("rate", "cpu", "mem"):
                vals = [r[key] for r in rs if r.get(key) is not None]
                med[(scenario, target, key)] = statistics.median(vals) if vals else None

    rows = []
    for scenario, title in SCENARIOS:
        if not any((scenario, t) in errors for t in TARGETS):
            continue
        unit_rate = "MB/s" if scenario == "bulk" else ("tunnels/s" if scenario == "tunnel" else "per s")
        unit_cpu = "proxy CPU s/GB" if scenario == "bulk" else "proxy CPU µs/op"
        metrics = [("mem", "KiB per tunnel", "lower")] if scenario == "idle" else [
            ("rate", unit_rate, "higher"),
            ("cpu", unit_cpu, "lower"),
        ]
        for i, (key, unit, better) in enumerate(metrics):
            vals = [med.get((scenario, t, key)) for t in TARGETS]
            rows.append([
                title if i == 0 else "",
                f"{unit} ({better} is better)",
                *[fmt(v, 2 if key == "cpu" and scenario == "bulk" else 1) for v in vals],
                ratio(vals[2], vals[1]),
                ratio(vals[2], vals[0]) if key == "rate" else "",
            ])

    header = ["scenario", "figure", "direct", "Squid", "slagboom", "slagboom ÷ Squid", "slagboom ÷ direct"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    pin = "proxy pinned to CPU 1, clients and origin on CPU 0" if args.pin == "1" else "not pinned"
    print(f"slagboom beside {args.squid_version or 'Squid'} and the direct limit")
    print(f"{args.rounds} round(s) of {args.duration} s per run (medians), {pin}.")
    print("slagboom authenticates every request with a device token and writes an ECS event for each;")
    print("Squid has no authentication and writes its access log.\n")
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    bad = {k: v for k, v in errors.items() if v}
    if bad:
        print("\nerrors (failed operations, all rounds): " + ", ".join(f"{s}/{t}: {n}" for (s, t), n in bad.items()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="?")
    p.add_argument("--line")
    p.add_argument("--squid-version", default="")
    p.add_argument("--pin", default="1")
    p.add_argument("--duration", default="?")
    p.add_argument("--rounds", default="?")
    args = p.parse_args()
    if args.line:
        print(line(json.loads(args.line)))
        return
    if not args.results:
        p.error("a results file is needed")
    with open(args.results) as f:
        runs = [json.loads(l) for l in f if l.strip()]
    table(runs, args)


if __name__ == "__main__":
    sys.exit(main())
