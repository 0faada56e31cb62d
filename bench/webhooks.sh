#!/usr/bin/env bash
# Webhook intake and notice → PostgreSQL upsert: Ferry beside Node-RED and n8n, in one run.
#
#   bench/webhooks.sh                     # Ferry, then Node-RED and n8n if installed
#   PEERS="nodered" CONNS="8 32" bench/webhooks.sh
#
# Ferry: `ferry run` with a signed webhook for system `crm` and one flow, crm_customers →
# hook_customers, both PostgreSQL tables (the CRM's table holds the records; a notice names
# the record, the worker reads it, maps 10 fields, validates, upserts by key, and writes
# xref + ledger). wrk POSTs pre-signed notices (bench/hook_notice.lua), one new record each:
#   - intake: notices/s answered 202 and their latency; a 202 means the notice is committed
#     to the durable queue (the SQLite store's WAL, or PostgreSQL with STORE=postgres);
#   - end-to-end: from each notice's acceptance to its row's arrival in the target
#     (`synced_at DEFAULT clock_timestamp()`), and rows/s over the run.
# Node-RED and n8n: the flows of ../shared/bench (the CRM posts the whole record; map 10
# fields; upsert into wh_customers; answer after the commit; no queue: a notice that arrives
# while PostgreSQL is down is lost). Installed with `../shared/bench/nodered.sh install` and
# `n8n.sh install` (PERF_DIR, default /var/tmp/perf).
#
# Needs: wrk, psql, python3, PostgreSQL at PG_URL (database created if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/ferry_hooks}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-"1 8 32"}
RUNS=${RUNS:-1}
PER_THREAD=${PER_THREAD:-300000}
STORE=${STORE:-sqlite}
PEERS=${PEERS:-"nodered n8n"}
WORK=${WORK:-/var/tmp/ferry-hooks-bench}
export PERF_DIR=${PERF_DIR:-/var/tmp/perf}
SHARED_BENCH=${SHARED_BENCH:-$ROOT/../shared/bench}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ferry-target}"
PORT=17878
SECRET=bench-hook-secret-0123456789
RESULTS="$WORK/results.jsonl"
mkdir -p "$WORK"
: > "$RESULTS"

if [ -z "${FERRY:-}" ]; then
  echo "== building ferry (release)"
  cargo build --release -p ferry --locked
  FERRY="$CARGO_TARGET_DIR/release/ferry"
fi

# The database and its tables: the CRM's records, Ferry's target, the peers' target.
PG_ADMIN=$(echo "$PG_URL" | sed -E 's#/[^/?]+(\?.*)?$#/postgres#')
DB=$(echo "$PG_URL" | sed -E 's#^.*/([^/?]+)(\?.*)?$#\1#')
psql "$PG_ADMIN" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
  psql "$PG_ADMIN" -qc "CREATE DATABASE $DB"
psql "$PG_URL" -q <<'SQL'
DROP TABLE IF EXISTS crm_customers, hook_customers;
CREATE TABLE crm_customers (
  id text PRIMARY KEY, full_name text, email_address text, phone_number text, street text,
  zip text, city text, country_code text, lifecycle_status text, tier text,
  credit_limit numeric(14,2), owner_name text, notes text, updated_at timestamptz DEFAULT now());
CREATE TABLE hook_customers (
  id text PRIMARY KEY, name text, email text, phone text, city text, country text, status text,
  segment text, credit_limit numeric(14,2), owner text,
  synced_at timestamptz DEFAULT clock_timestamp());
SQL
psql "$PG_URL" -q -f "$SHARED_BENCH/schema.sql"

# The CRM's records H<first> … H<first+count-1>, shaped like ../shared/bench/post.lua's body.
seed() {
  psql "$PG_URL" -qc "INSERT INTO crm_customers
    SELECT 'H' || n, 'Customer H' || n, 'C' || n || '@Example.com', '+4930' || lpad((n % 10000000)::text, 7, '0'),
           (n % 999) || ' Main Street', lpad((n % 100000)::text, 5, '0'), 'City' || (n % 5000), 'de',
           'ACTIVE', 'SMB', (n % 100000) + 0.5, 'Owner ' || (n % 500), repeat('n', 160), now()
    FROM generate_series($1, $1 + $2 - 1) AS n"
}

# CPU and RSS are sampled with ../shared/bench/procmon.py (psutil, in this venv), for Ferry
# as for the peers; PostgreSQL's postmaster pid is read from PGDATA.
VENV=${VENV:-$PERF_DIR/venv}
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import psutil' 2>/dev/null ||
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q psutil; }
export VENV PGDATA=${PGDATA:-$(psql "$PG_URL" -Atc 'SHOW data_directory')}
PG_PID=$(head -1 "$PGDATA/postmaster.pid")

# Ferry's workspace.
FW="$WORK/ferry"
rm -rf "$FW"; mkdir -p "$FW"
if [ "$STORE" = postgres ]; then
  STORE_URL="$PG_URL"
  psql "$PG_URL" -qc "DROP TABLE IF EXISTS ferry_xref, ferry_ledger, ferry_cursors, ferry_dead_letters,
    ferry_queue, ferry_runs, ferry_meta, ferry_api_keys, ferry_audit, ferry_webhook_signatures,
    ferry_sync_requests CASCADE"
else
  STORE_URL="sqlite://$FW/.ferry/ferry.db"
fi
cat > "$FW/ferry.yaml" <<YAML
store: { url: "$STORE_URL" }
systems:
  crm: { kind: sql, url: "$PG_URL" }
  warehouse: { kind: sql, url: "$PG_URL" }
server:
  listen: 127.0.0.1:$PORT
  hooks:
    crm: { secret: "\${HOOK_SECRET}", rate_limit: { per_second: 1000000, burst: 1000000 } }
flows:
  customers:
    entity: customer
    source: { system: crm, table: crm_customers }
    target:
      system: warehouse
      table: hook_customers
      columns: { code: id, industry: segment }
    mapping:
      code: id
      name: full_name
      email: { from: email_address, case: lower }
      phone: phone_number
      city: city
      country: { from: country_code, case: upper }
      status: { from: lifecycle_status, case: lower }
      industry: { from: tier, case: lower }
      credit_limit: { from: credit_limit, scale: 2 }
      owner: owner_name
    validate:
      email: [required, email]
YAML

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); duration $DURATION, connections $CONNS, runs $RUNS"
HOOK_SECRET=$SECRET RUST_LOG=warn "$FERRY" run "$FW/ferry.yaml" > "$FW/ferry.log" 2>&1 &
FERRY_PID=$!
trap 'kill $FERRY_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" || { cat "$FW/ferry.log"; exit 1; }

store_file() { [ "$STORE" = postgres ] && echo "$PG_URL" || echo "$FW/.ferry/ferry.db"; }

next=1
for run in $(seq "$RUNS"); do
  for c in $CONNS; do
    t=$(( c < 2 ? 1 : 2 ))
    first=$next; count=$(( PER_THREAD * t )); next=$(( next + count ))
    seed "$first" "$count"
    rm -rf "$WORK/notices"
    python3 bench/hook_notices.py gen "$WORK/notices" "$SECRET" "$first" "$PER_THREAD" "$t"
    la=$(cut -d' ' -f1 /proc/loadavg)
    mf=$(mktemp); "$VENV/bin/python" "$SHARED_BENCH/procmon.py" ferry=$FERRY_PID postgres=$PG_PID > "$mf" & mp=$!
    w=$(wrk -t$t -c$c -d"$DURATION" --timeout 10s -s bench/hook_notice.lua \
          "http://127.0.0.1:$PORT/hooks/crm" -- "$WORK/notices" 2>&1) || true
    intake=$(grep '^JSON ' <<<"$w" | sed 's/^JSON //') || { echo "wrk failed: $w" >&2; exit 1; }
    accepted=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$intake")
    # The run is over when every accepted notice's row is in the target (or 120 s passed).
    for _ in $(seq 600); do
      arrived=$(psql "$PG_URL" -Atc "SELECT count(*) FROM hook_customers WHERE substr(id, 2)::bigint >= $first")
      [ "$arrived" -ge "$accepted" ] && break; sleep 0.2
    done
    kill -TERM $mp; wait $mp || true
    e2e=$(python3 bench/hook_notices.py e2e "$(store_file)" "$PG_URL" "$first" "$next")
    printf '{"name":"ferry-%s","conns":%d,"threads":%d,"run":%d,"loadavg_before":%s,"wrk":%s,"e2e":%s,"proc":%s}\n' \
      "$STORE" "$c" "$t" "$run" "$la" "$intake" "$e2e" "$(cat "$mf")" | tee -a "$RESULTS"
    rm -f "$mf"
  done
done
kill $FERRY_PID; wait $FERRY_PID 2>/dev/null || true
trap - EXIT

# The peers, through ../shared/bench's own scripts, against the same PostgreSQL.
export PGHOST=127.0.0.1 PGPORT=$(echo "$PG_URL" | sed -E 's#^.*:([0-9]+)/.*$#\1#') PGUSER=postgres PGDATABASE=$DB
export PGDATA CONNS RUNS DURATION OUTDIR="$WORK/peers"
rm -rf "$OUTDIR"; mkdir -p "$OUTDIR"
for peer in $PEERS; do
  script="$SHARED_BENCH/$peer.sh"
  case $peer in
    nodered) [ -d "$PERF_DIR/nodered/node_modules/node-red" ] || { echo "Node-RED not installed: $script install"; continue; } ;;
    n8n) [ -d "$PERF_DIR/n8n/node_modules/n8n" ] || { echo "n8n not installed: $script install"; continue; } ;;
  esac
  echo "== $peer"
  "$script" start
  VARIANTS=pg "$script" bench || true
  "$script" stop || true
done
[ -f "$OUTDIR/load.jsonl" ] && cat "$OUTDIR/load.jsonl" >> "$RESULTS"

echo
python3 bench/webhooks_table.py "$RESULTS"
