#!/usr/bin/env python3
"""Prints bench/webhooks.sh's results (one JSON line per run) as markdown tables: medians over
runs, per engine and concurrency."""
import json
import statistics
import sys
from collections import defaultdict


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


rows = defaultdict(list)
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            r = json.loads(line)
            rows[(r["name"], r["conns"])].append(r)

print("| engine | conns | accepted/s | p50 ms | p99 ms | non-2xx | end-to-end rows/s | e2e p50 ms | e2e p99 ms "
      "| engine CPU % | engine RSS MiB | PG CPU % | load before |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (name, conns), runs in rows.items():
    w = [r["wrk"] for r in runs]
    proc = [r.get("proc", {}) for r in runs]
    engine = [next((v for k, v in p.items() if k != "postgres"), {}) for p in proc]
    pg = [p.get("postgres", {}) for p in proc]
    errors = sum(x.get("err_status", 0) + x.get("err_timeout", 0) + x.get("err_connect", 0) for x in w)
    if "e2e" in runs[0]:
        e = [r["e2e"] for r in runs]
        e2e = (med(x["throughput"] for x in e), med(x["p50_ms"] for x in e), med(x["p99_ms"] for x in e))
        missing = sum(x["missing"] for x in e)
        if missing:
            name += f" ({missing} not arrived)"
    else:
        # The peers answer after their upsert committed: the request is the end-to-end path.
        e2e = (med(x["rps"] for x in w), med(x["p50_ms"] for x in w), med(x["p99_ms"] for x in w))
    print(f"| {name} | {conns} | {fmt(med(x['rps'] for x in w))} | {fmt(med(x['p50_ms'] for x in w), 2)} "
          f"| {fmt(med(x['p99_ms'] for x in w), 2)} | {errors} | {fmt(e2e[0])} | {fmt(e2e[1], 1)} | {fmt(e2e[2], 1)} "
          f"| {fmt(med(x.get('cpu_pct') for x in engine))} | {fmt(med(x.get('rss_peak_mb') for x in engine))} "
          f"| {fmt(med(x.get('cpu_pct') for x in pg))} | {fmt(med(r['loadavg_before'] for r in runs), 1)} |")
