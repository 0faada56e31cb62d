#!/usr/bin/env bash
# Ferry beside its ceilings and beside dlt, in one run, on this machine.
#   bench/compare.sh            # 1,000,000 customers; ROWS=100000 for a quick look
# Needs PostgreSQL at PG_URL (default: the development machines' server) and PyPI access
# for dlt (installed once into $WORK/venv). Prints the figures recorded in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=${WORK:-/tmp/ferry-compare}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ferry-target}"
mkdir -p "$WORK"

echo "== building ferry (release)"
cargo build --release -p ferry --locked
FERRY="$CARGO_TARGET_DIR/release/ferry"
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

"$FERRY" bench --rows "$ROWS" --backend sqlite --dir "$WORK/sqlite"
"$FERRY" bench --rows "$ROWS" --backend postgres --pg-url "$PG_URL"

echo
echo "== dlt (merge into PostgreSQL, same records)"
if [ ! -x "$WORK/venv/bin/python" ] || ! "$WORK/venv/bin/python" -c "import dlt" 2>/dev/null; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q "dlt[postgres]"
fi
# dlt wants a password in the URL even where the server trusts the connection.
export DESTINATION__POSTGRES__CREDENTIALS="$(echo "$PG_URL" | sed -E 's#^postgres(ql)?://([^:@/]+)@#postgresql://\2:unused@#')"
export RUNTIME__LOG_LEVEL=WARNING
rm -rf "$WORK/dlt/pipelines"
psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS dlt_bench CASCADE; DROP SCHEMA IF EXISTS dlt_bench_staging CASCADE" >/dev/null
printf '%-46s %8s %8s %8s %8s\n' phase rows seconds rows/s "RSS MiB"
"$WORK/venv/bin/python" bench/dlt_merge.py "$ROWS" "$WORK/dlt"
