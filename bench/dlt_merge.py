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
data = os.path.join(work, f"customers_{rows}.jsonl")
cities = ["上海", "北京", "Berlin", "Madrid", "深圳"]
if not os.path.exists(data):
    with open(data, "w") as f:
        for i in range(1, rows + 1):
            f.write(json.dumps({
                "code": f"C{i:08}", "name": f"客户 {i} Trading Co.".strip(), "email": f"buyer{i}@example.com",
                "city": cities[i % 5], "credit_limit": f"{1000 + i % 90000}.{i % 100:02}",
            }, ensure_ascii=False) + "\n")


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
