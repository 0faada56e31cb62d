#!/usr/bin/env python3
"""The same job as `ferry bench --backend postgres`, done by dlt: merge N customer records
into a PostgreSQL table by primary key, first into an empty table, then again with nothing
changed. Prints one line per pass: rows, seconds, rows/s, peak RSS.

The records are the ones `ferry bench` generates (same ids, names, e-mails, cities, credit
limits), written to a JSONL file first (not timed), which is how dlt is usually fed.
Usage: dlt_merge.py ROWS WORKDIR   (credentials from DESTINATION__POSTGRES__CREDENTIALS)
"""
import json, os, resource, sys, time

import dlt

rows, work = int(sys.argv[1]), sys.argv[2]
os.makedirs(work, exist_ok=True)
data = os.path.join(work, f"customers_v2_{rows}.jsonl")
CITIES = [("上海", "上海市", "200000", "cn"), ("北京", "北京市", "100000", "cn"), ("Berlin", "Berlin", "10115", "de"),
          ("Madrid", "Madrid", "28001", "es"), ("深圳", "广东省", "518000", "cn")]


def record(i):
    """The mapped customer Ferry writes for source row i (see `ferry bench`): dlt is given
    the finished record, so it does less work than Ferry, which reads and maps it."""
    city, region, postal, country = CITIES[i % 5]
    return {
        "code": f"C{i:08}", "name": f"客户 {i} Trading Co.", "legal_name": f"客户{i}贸易有限公司",
        "email": f"buyer{i}@example.com", "phone": f"+86 138 {i % 10000:04} {(i // 10000) % 10000:04}",
        "website": f"https://customer{i}.example.com",
        "industry": ["manufacturing", "retail", "logistics", "software"][i % 4],
        "status": ["prospect", "active", "active", "blocked"][i % 4], "currency": "CNY",
        "credit_limit": f"{1000 + i % 90000}.{i % 100:02}",
        "street": f"{i % 900 + 1} 号 Industrial Park Road {i % 97}", "city": city, "region": region,
        "postal_code": postal, "country": country.upper(), "owner": f"sales-rep-{i % 250:03}",
        "notes": f"客户备注 {i}: prefers delivery before noon; invoices by e-mail; reviewed 2026-01.",
    }


if not os.path.exists(data):
    with open(data, "w") as f:
        for i in range(1, rows + 1):
            f.write(json.dumps(record(i), ensure_ascii=False) + "\n")


@dlt.resource(name="customers", write_disposition="merge", primary_key="code")
def customers():
    page = []
    with open(data) as f:
        for line in f:
            page.append(json.loads(line))
            if len(page) == 10000:
                yield page
                page = []
    if page:
        yield page


pipeline = dlt.pipeline(pipeline_name="ferry_vs_dlt", destination="postgres", dataset_name="dlt_bench",
                        pipelines_dir=os.path.join(work, "pipelines"))
for label in ["dlt: first merge (all new)", "dlt: second merge (no changes)"]:
    t = time.perf_counter()
    pipeline.run(customers())
    secs = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<46} {rows:>8} {secs:>8.1f} {rows / secs:>8.0f} {rss:>8.0f}", flush=True)
