#!/usr/bin/env bash
# Tryton 8.2 (the ERP peer) on 127.0.0.1:PORT: installs it into a venv (once),
# creates and seeds the database (once, then snapshots it), starts trytond,
# waits until a real login succeeds, then prints KEY=VALUE lines and saves
# them in DIR/tryton/env.
#
#   scripts/peers/tryton-up.sh DIR [PORT=8000]
#
# Idempotent: with the server already running it only prints the env; with the
# venv present it skips the install; with the seeded snapshot present it skips
# create + seed. A snapshot made by an older seed (SEED_VERSION below, kept in
# DIR/tryton/db/seed-version) is made again, with the server restarted, so a
# cached DIR (CI's) gets what a changed seed adds.
#
# Environment:
#   TRYTON_FRESH=1   put the database back to its seeded state before starting
#                    (~1 s: copies the SQLite snapshot). A running server is
#                    stopped first and started again.
#   TRYTON_DB        database name (default erp)
#   TRYTON_ADMIN_PASSWORD  admin password (default admin)
#   TRYTON_PYTHON    interpreter for the venv (default python3; 3.9+ works)
#   TRYTON_PG=postgresql://postgres@127.0.0.1:PGPORT/
#                    use that PostgreSQL server instead of SQLite (for example
#                    the CRM's private cluster, see crm-up.sh). SQLite does not
#                    enforce foreign keys; PostgreSQL does. The snapshot is then
#                    the database ${TRYTON_DB}_seed and a reset clones it (~3 s).
#   TRYTON_START_TIMEOUT  seconds to wait for the first login (default 60)
#
# Layout: DIR/tryton/{venv, db/erp.sqlite, db/erp.sqlite.seed, trytond.conf,
#   trytond.pid, server.log, admin.log, up.log, env}
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

[[ $# -ge 1 && $# -le 2 ]] || { sed -n '2,11p' "$0" >&2; exit 2; }
DIR=$(mkdir -p "$1" && cd "$1" && pwd)
PORT=${2:-8000}
DB=${TRYTON_DB:-erp}
PASS=${TRYTON_ADMIN_PASSWORD:-admin}
PYTHON=${TRYTON_PYTHON:-python3}
FRESH=${TRYTON_FRESH:-0}
T=$DIR/tryton
URL=http://127.0.0.1:$PORT
mkdir -p "$T/db"
# Bump when the modules or tryton_seed.py change what a seeded database holds.
# 2: module sale_discount (base price and discount on sale lines), tax "VAT 13%".
SEED_VERSION=2
seed_current() { [[ $(cat "$T/db/seed-version" 2>/dev/null) == "$SEED_VERSION" ]]; }
LOGFILE=$T/up.log
say() { log tryton-up "$@"; }
t0=$SECONDS

# 0. Already running? Then this call only prints the env (or, with
# TRYTON_FRESH=1, stops the server so the database can be reset under it).
if pid_alive "$T/trytond.pid" trytond && [[ ! -f $T/env ]]; then
    say "running without an env file (an interrupted start?): restarting it"
    stop_pidfile trytond "$T/trytond.pid" trytond
elif pid_alive "$T/trytond.pid" trytond; then
    running_url=$(env_value "$T/env" TRYTON_URL)
    running_db=$(env_value "$T/env" TRYTON_DB)
    if [[ $running_url != "$URL" || $running_db != "$DB" ]]; then
        die "tryton already runs at $running_url (database $running_db), not $URL ($DB); run peers-down.sh $DIR first"
    fi
    if [[ $FRESH == 1 ]]; then
        say "TRYTON_FRESH=1: stopping the running server to reset its database"
        stop_pidfile trytond "$T/trytond.pid" trytond
    elif ! seed_current; then
        say "the database comes from an older seed: stopping the server to seed it again"
        stop_pidfile trytond "$T/trytond.pid" trytond
    else
        say "already running (pid $(cat "$T/trytond.pid"))"
        cat "$T/env"
        exit 0
    fi
fi
rm -f "$T/trytond.pid"   # not ours any more: stale (crashed server or reused PID)
port_released "$PORT" || die "127.0.0.1:$PORT is already in use by another process; pick another PORT"

PG=${TRYTON_PG:-}
[[ -z $PG || $PG == */ ]] || PG=$PG/
pgsql() { PGOPTIONS='-c client_min_messages=warning' psql -d "${PG}postgres" -v ON_ERROR_STOP=1 -qtA "$@"; }
pgdb_exists() { [[ $(pgsql -c "select 1 from pg_database where datname='$1'") == 1 ]]; }

# 1. Install (pinned: the versions verified in shared/docs/peers.md §1.1;
# tryton-constraints.txt pins the dependencies too, as they were when these
# scripts were verified, so a new upstream release cannot change the peer).
if [[ ! -x $T/venv/bin/trytond ]]; then
    t1=$SECONDS
    say "installing trytond 8.2 into $T/venv"
    rm -rf "$T/venv"
    "$PYTHON" -m venv "$T/venv"
    "$T/venv/bin/pip" install -q --disable-pip-version-check -c "$HERE/tryton-constraints.txt" \
        trytond==8.2.1 proteus==8.2.0 \
        trytond-party==8.2.0 trytond-country==8.2.0 trytond-currency==8.2.0 \
        trytond-company==8.2.0 trytond-product==8.2.0 trytond-account==8.2.1 \
        trytond-account-product==8.2.0 trytond-account-invoice==8.2.0 \
        trytond-account-invoice-stock==8.2.0 trytond-stock==8.2.1 \
        trytond-sale==8.2.0 trytond-sale-opportunity==8.2.0 \
        trytond-product-price-list==8.2.0 trytond-sale-price-list==8.2.0 \
        trytond-sale-discount==8.2.0
    say "phase install: $((SECONDS - t1)) s"
fi
if ! "$T/venv/bin/python" -c 'import trytond.modules.sale_discount' 2>/dev/null; then
    # a venv installed before sale_discount joined the modules
    "$T/venv/bin/pip" install -q --disable-pip-version-check -c "$HERE/tryton-constraints.txt" \
        trytond-sale-discount==8.2.0
fi
if [[ -n $PG ]] && ! "$T/venv/bin/python" -c 'import psycopg, psycopg_pool' 2>/dev/null; then
    # trytond 8.2's PostgreSQL backend needs psycopg 3 + psycopg_pool (psycopg2 does not work)
    "$T/venv/bin/pip" install -q --disable-pip-version-check \
        'psycopg[binary]==3.3.9' psycopg-pool==3.3.3
fi

if [[ -n $PG ]]; then DBURI=$PG; else DBURI=sqlite://; fi
cat > "$T/trytond.conf" <<EOF
[database]
uri = $DBURI
path = $T/db
list = True
[web]
listen = 127.0.0.1:$PORT
[session]
authentications = password
# idle sessions last a day (default 300 s): a long test run keeps its session,
# and the pay wizard needs a "fresh" session
timeout = 86400
EOF

# 2. Create + seed the database once, and keep a snapshot for fast resets.
admin_and_seed() {
    printf '%s\n' "$PASS" > "$T/passfile"
    say "creating database $DB (modules sale, sale_opportunity, account_invoice_stock, sale_price_list, sale_discount)"
    TRYTONPASSFILE=$T/passfile "$T/venv/bin/trytond-admin" -c "$T/trytond.conf" -d "$DB" \
        --all -u sale sale_opportunity account_invoice_stock sale_price_list sale_discount \
        --activate-dependencies --email admin@example.com > "$T/admin.log" 2>&1 \
        || { rm -f "$T/passfile"; tail -20 "$T/admin.log" >&2; die "trytond-admin failed (see $T/admin.log)"; }
    rm -f "$T/passfile"
    say "seeding (tryton_seed.py)"
    "$T/venv/bin/python" -W ignore "$HERE/tryton_seed.py" "$T/trytond.conf" "$DB" >> "$T/admin.log" 2>&1 \
        || { tail -20 "$T/admin.log" >&2; die "seed failed (see $T/admin.log)"; }
}
if ! seed_current; then
    say "no snapshot of seed version $SEED_VERSION yet: creating and seeding the database"
    rm -f "$T/db/$DB.sqlite.seed"
    [[ -z $PG ]] || pgsql -c "drop database if exists ${DB}_seed"
fi
if [[ -n $PG ]]; then
    if ! pgdb_exists "${DB}_seed"; then
        t1=$SECONDS
        pgsql -c "drop database if exists $DB" -c "create database $DB"
        admin_and_seed
        pgsql -c "create database ${DB}_seed template $DB"
        echo "$SEED_VERSION" > "$T/db/seed-version"
        say "phase create+seed: $((SECONDS - t1)) s"
    elif [[ $FRESH == 1 ]] || ! pgdb_exists "$DB"; then
        t1=$SECONDS
        pgsql -c "drop database if exists $DB" -c "create database $DB template ${DB}_seed"
        say "phase reset: $DB recreated from template ${DB}_seed in $((SECONDS - t1)) s"
    fi
else
    SEED=$T/db/$DB.sqlite.seed
    # The seed's fiscal year is the calendar year it was made in: invoices dated
    # in a later year would find no fiscal year, so a snapshot from an earlier
    # year (a DIR kept across New Year) is made again.
    if [[ -f $SEED && $(date -r "$SEED" +%Y) != $(date +%Y) ]]; then
        say "the seeded snapshot is from $(date -r "$SEED" +%Y): creating it again for $(date +%Y)"
        rm -f "$SEED"
    fi
    if [[ ! -f $SEED ]]; then
        t1=$SECONDS
        rm -f "$T/db/$DB.sqlite" "$T/db/$DB.sqlite-wal" "$T/db/$DB.sqlite-shm"
        touch "$T/db/$DB.sqlite"   # trytond-admin wants the SQLite file to exist
        admin_and_seed
        # VACUUM INTO: one consistent file, without the -wal that trytond keeps open
        "$T/venv/bin/python" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("VACUUM INTO ?", (sys.argv[2],))' \
            "$T/db/$DB.sqlite" "$SEED.tmp"
        mv "$SEED.tmp" "$SEED"
        echo "$SEED_VERSION" > "$T/db/seed-version"
        say "phase create+seed: $((SECONDS - t1)) s"
    elif [[ $FRESH == 1 || ! -f $T/db/$DB.sqlite ]]; then
        # trytond opens SQLite in WAL mode: drop the -wal/-shm files too, or
        # SQLite replays the old log onto the restored copy (seen: a "reset"
        # database that still held the previous test's parties).
        rm -f "$T/db/$DB.sqlite-wal" "$T/db/$DB.sqlite-shm"
        cp "$SEED" "$T/db/$DB.sqlite"
        say "phase reset: database restored from the seeded snapshot"
    fi
fi

# 3. Start. `-d DB` preloads the database's pool: without it trytond 8.2.1
# answers every call on that database with KeyError 'res.user' (the lazy pool
# init is skipped). A database created after the start needs a restart.
t1=$SECONDS
nohup "$T/venv/bin/trytond" -c "$T/trytond.conf" -d "$DB" > "$T/server.log" 2>&1 < /dev/null &
echo $! > "$T/trytond.pid"
LOGIN="{\"id\":0,\"method\":\"common.db.login\",\"params\":[\"admin\",{\"password\":\"$PASS\"},\"en\"]}"
deadline=$((SECONDS + ${TRYTON_START_TIMEOUT:-60}))
until curl -sf -m 10 -X POST -H 'Content-Type: application/json' "$URL/$DB/rpc/" -d "$LOGIN" 2>/dev/null \
        | grep -Eq '"result": *\[[0-9]+,'; do
    if ! pid_alive "$T/trytond.pid" trytond; then
        tail -20 "$T/server.log" >&2; rm -f "$T/trytond.pid"; die "trytond died (see $T/server.log)"
    fi
    if (( SECONDS > deadline )); then
        tail -20 "$T/server.log" >&2; stop_pidfile trytond "$T/trytond.pid" trytond
        die "trytond did not accept a login within ${TRYTON_START_TIMEOUT:-60} s"
    fi
    sleep 0.1
done
say "phase start: $((SECONDS - t1)) s (total $((SECONDS - t0)) s)"

# 4. The env. Ids are looked up, not assumed: they can differ per backend
# (the admin user is 1 on SQLite but 3 on PostgreSQL, take it from the login).
first_id() {   # MODEL DOMAIN-JSON: first id of a search (HTTP Basic auth)
    curl -sf -u "admin:$PASS" -X POST -H 'Content-Type: application/json' "$URL/$DB/rpc/" \
        -d "{\"id\":0,\"method\":\"model.$1.search\",\"params\":[$2,0,1,null,{}]}" \
        | sed -E 's/.*"result": *\[([0-9]+).*/\1/'
}
cat > "$T/env.tmp" <<EOF
TRYTON_URL=$URL
TRYTON_RPC=$URL/$DB/rpc/
TRYTON_DB=$DB
TRYTON_USER=admin
TRYTON_PASSWORD=$PASS
TRYTON_COMPANY_ID=$(first_id company.company '[]')
TRYTON_WAREHOUSE_ID=$(first_id stock.location '[["code","=","WH"]]')
TRYTON_VAT_ID=$(first_id account.tax '[["name","=","VAT 13%"]]')
TRYTON_BACKEND=${DBURI%%:*}
TRYTON_PID=$(cat "$T/trytond.pid")
TRYTON_PID_FILE=$T/trytond.pid
TRYTON_LOG=$T/server.log
TRYTON_CONFIG=$T/trytond.conf
EOF
mv "$T/env.tmp" "$T/env"
cat "$T/env"
