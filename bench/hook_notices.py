#!/usr/bin/env python3
"""Helpers of bench/webhooks.sh (standard library only).

  hook_notices.py gen DIR SECRET FIRST COUNT THREADS
      Writes DIR/t0.txt … one file per wrk thread, COUNT signed change notices each, for the
      source ids H<FIRST> … (one new record per notice). A line is `timestamp|signature|body`,
      signed as a CRM would sign it: HMAC-SHA256 over `timestamp + "." + body`.

  hook_notices.py e2e STORE PG_URL FIRST LAST
      End-to-end figures for the notices of ids H<FIRST> … H<LAST-1>: when each was accepted
      (the store's ferry_sync_requests.requested_at; STORE is the SQLite file or a postgres://
      URL) against when its row arrived in the target table (synced_at, a clock_timestamp()
      default). Prints one JSON line: notices, arrived, throughput, latency percentiles.
"""

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
import time


def gen(out_dir, secret, first, count, threads):
    os.makedirs(out_dir, exist_ok=True)
    key = secret.encode()
    n = first
    for t in range(threads):
        # The timestamp is taken now; wrk starts right after, well inside the 5-minute window.
        ts = str(int(time.time()))
        with open(os.path.join(out_dir, f"t{t}.txt"), "w") as f:
            for _ in range(count):
                body = json.dumps({"flow": "customers", "id": f"H{n}"}, separators=(",", ":"))
                sig = hmac.new(key, f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
                f.write(f"{ts}|sha256={sig}|{body}\n")
                n += 1


def psql_rows(url, sql):
    out = subprocess.run(["psql", url, "-AtF", "\t", "-c", sql], check=True,
                         capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def pct(sorted_values, p):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


def e2e(store, pg_url, first, last):
    # Ids are H<n>: compare numerically so the range is exact.
    where = f"substr(source_id, 2) ~ '^[0-9]+$' AND substr(source_id, 2)::bigint >= {first} " \
            f"AND substr(source_id, 2)::bigint < {last}"
    if store.startswith("postgres"):
        rows = psql_rows(store, "SELECT source_id, requested_at FROM ferry_sync_requests "
                                f"WHERE flow = 'customers' AND {where}")
        requested = {r[0]: int(r[1]) for r in rows}
    else:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        requested = {}
        for sid, at in db.execute("SELECT source_id, requested_at FROM ferry_sync_requests "
                                  "WHERE flow = 'customers'"):
            if sid.startswith("H") and sid[1:].isdigit() and first <= int(sid[1:]) < last:
                requested[sid] = int(at)
    target_where = where.replace("source_id", "id")
    rows = psql_rows(pg_url, "SELECT id, (extract(epoch FROM synced_at) * 1000)::bigint "
                             f"FROM hook_customers WHERE {target_where}")
    arrived = {r[0]: int(r[1]) for r in rows}
    lat = sorted(arrived[k] - requested[k] for k in requested if k in arrived)
    span_ms = (max(arrived.values()) - min(requested.values())) if arrived and requested else 0
    print(json.dumps({
        "notices": len(requested),
        "arrived": len(lat),
        "missing": len(requested) - len(lat),
        "throughput": round(len(lat) / (span_ms / 1000), 1) if span_ms > 0 else None,
        "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
    }))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "gen" and len(sys.argv) == 7:
        gen(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif cmd == "e2e" and len(sys.argv) == 6:
        e2e(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
