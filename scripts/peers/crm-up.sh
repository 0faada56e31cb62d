#!/usr/bin/env bash
# BottleCRM (the CRM peer: PyPI django-crm 1.35.0, a Django REST API) on
# 127.0.0.1:PORT, with its own private PostgreSQL cluster on 127.0.0.1:PGPORT.
# Installs it into a venv (once), migrates + seeds the database (once, then
# keeps it as a template), starts gunicorn, waits until an authenticated API
# call succeeds, then prints KEY=VALUE lines and saves them in DIR/crm/env.
#
#   scripts/peers/crm-up.sh DIR [PORT=8100]
#
# Idempotent: with the server already running it only prints the env; with the
# venv present it skips the install; with the seeded template present it skips
# migrate + seed.
#
# Environment:
#   CRM_FRESH=1    recreate crm_db from the seeded template crm_seed (~2 s).
#                  A running server is stopped first and started again.
#   CRM_PG_PORT    port of the private PostgreSQL (default PORT+10000, at most 65000)
#   CRM_PYTHON     a python >= 3.12 (default: found on PATH or in pyenv, see step 0)
#   CRM_WORKERS    gunicorn workers (default 2)
#   CRM_START_TIMEOUT  seconds to wait for the first API answer (default 90)
#
# Needs the Debian PostgreSQL server binaries (/usr/lib/postgresql/*/bin; as
# root it apt-get installs `postgresql` when they are missing). As root the
# cluster runs as the `postgres` user, so DIR must be reachable by that user
# (/tmp/..., /var/tmp/... are; /root/... is not).
#
# Layout: DIR/crm/{venv, pg/data, pg/pg.log, env.sh, gunicorn.pid,
#   gunicorn.log, server.log, migrate.log, seed.out, up.log, env}
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

[[ $# -ge 1 && $# -le 2 ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
DIR=$(mkdir -p "$1" && cd "$1" && pwd)
PORT=${2:-8100}
PGPORT=${CRM_PG_PORT:-$(( PORT + 10000 > 65000 ? 65000 : PORT + 10000 ))}
FRESH=${CRM_FRESH:-0}
C=$DIR/crm
URL=http://127.0.0.1:$PORT
# Fixed credentials, created by crm_seed.py (it reads the same variables).
export ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=admin-pass-123
export CRM_ORG_API_KEY=11111111-2222-4333-8444-555555555555
export CRM_PAT=bcrm_pat_hubtest_0123456789abcdefghijklmnopqrstuv
mkdir -p "$C"
LOGFILE=$C/up.log
say() { log crm-up "$@"; }
t0=$SECONDS

# 0. Already running? Then this call only prints the env (or, with
# CRM_FRESH=1, stops gunicorn so the database can be recreated under it).
if pid_alive "$C/gunicorn.pid" gunicorn && [[ ! -f $C/env ]]; then
    say "running without an env file (an interrupted start?): restarting it"
    stop_pidfile gunicorn "$C/gunicorn.pid" gunicorn
elif pid_alive "$C/gunicorn.pid" gunicorn; then
    running_url=$(env_value "$C/env" CRM_URL)
    [[ $running_url == "$URL" ]] \
        || die "crm already runs at $running_url, not $URL; run peers-down.sh $DIR first"
    if [[ $FRESH == 1 ]]; then
        say "CRM_FRESH=1: stopping the running server to reset its database"
        stop_pidfile gunicorn "$C/gunicorn.pid" gunicorn   # TERM on the master stops its workers
    else
        say "already running (pid $(cat "$C/gunicorn.pid"))"
        cat "$C/env"
        exit 0
    fi
fi
rm -f "$C/gunicorn.pid"   # not ours any more: stale (crashed server or reused PID)
port_released "$PORT" || die "127.0.0.1:$PORT is already in use by another process; pick another PORT"

# 1. A python >= 3.12. django-crm 1.x requires it, and on 3.11 (Debian 12's,
# and this machine's default) `pip install django-crm` does not fail: it
# quietly picks 0.9.0, a 2019 release with a different API. This machine has
# pyenv builds 3.12/3.13 that are not on PATH by default (the pyenv shims
# python3.12/python3.13 exist but refuse to run), so look there too.
PY=${CRM_PYTHON:-}
is_py312() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
if [[ -n $PY ]]; then
    is_py312 "$PY" || die "CRM_PYTHON=$PY is not a working python >= 3.12"
else
    PYENV_ROOT=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
    tried=()
    for cand in python3.14 python3.13 python3.12 \
                $(printf '%s\n' "$PYENV_ROOT"/versions/3.1[2-9]* | sort -rV | sed 's|$|/bin/python3|'); do
        tried+=("$cand")
        if is_py312 "$cand"; then PY=$(command -v "$cand"); break; fi
    done
    [[ -n $PY ]] || die "BottleCRM (django-crm 1.35.0) needs Python >= 3.12, and none was found.
  Tried on PATH and in $PYENV_ROOT/versions/3.12+: ${tried[*]}
  (python3 here is $(python3 --version 2>&1); on 3.11 pip would quietly install django-crm 0.9.0, a different API.)
  Install one, e.g. 'pyenv install 3.12', or point CRM_PYTHON at a python3.12+ binary."
fi

# 2. Install. `packaging` is missing from django-crm's dependencies, but kombu's
# redis transport imports it: without it every write that queues a Celery task
# answers HTTP 500 (the row is saved all the same). crm-constraints.txt pins the
# dependencies as they were when these scripts were verified.
if [[ ! -x $C/venv/bin/gunicorn ]]; then
    t1=$SECONDS
    say "installing django-crm 1.35.0 with $PY ($("$PY" --version 2>&1))"
    rm -rf "$C/venv"
    "$PY" -m venv "$C/venv"
    "$C/venv/bin/pip" install -q --disable-pip-version-check -c "$HERE/crm-constraints.txt" \
        django-crm==1.35.0 packaging
    say "phase install: $((SECONDS - t1)) s"
fi

# 3. A private PostgreSQL cluster: loopback only, its socket in DIR, and
# fsync/synchronous_commit/full_page_writes off (test data only; it makes the
# 1-2 minute migration noticeably faster).
PGBIN=$(pg_bindir)
if [[ -z $PGBIN || ! -x $PGBIN/initdb ]]; then
    [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql"
    say "installing postgresql from Debian"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PGBIN=$(pg_bindir)
fi
PGDATA=$C/pg/data
if [[ ! -f $PGDATA/PG_VERSION ]]; then
    mkdir -p "$C/pg"
    if [[ $EUID -eq 0 ]]; then chown postgres:postgres "$C/pg"; fi
    as_pg test -w "$C/pg" || die "the postgres user cannot write $C/pg: choose a DIR it can reach (e.g. under /tmp or /var/tmp)"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 > "$C/pg/initdb.log" 2>&1 \
        || { cat "$C/pg/initdb.log" >&2; die "initdb failed"; }
fi
if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    port_busy "$PGPORT" && die "127.0.0.1:$PGPORT (CRM_PG_PORT) is already in use by another process"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$C/pg/pg.log" -w start \
        -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $C/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
        || { tail -20 "$C/pg/pg.log" >&2; die "PostgreSQL did not start"; }
fi
psql_() { PGOPTIONS='-c client_min_messages=warning' psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
db_exists() { [[ $(psql_ -c "select 1 from pg_database where datname='$1'") == 1 ]]; }

# Settings come only from environment variables (there is no manage.py: use
# django-admin with DJANGO_SETTINGS_MODULE=crm.settings). `. DIR/crm/env.sh`
# gives a shell the same settings, e.g. to run django-admin by hand.
cat > "$C/env.sh" <<EOF
export DJANGO_SETTINGS_MODULE=crm.settings DBNAME=crm_db DBUSER=postgres DBPASSWORD=unused
export DBHOST=127.0.0.1 DBPORT=$PGPORT ENV_TYPE=dev DEBUG=False
export SECRET_KEY=hubtest-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz
export ALLOWED_HOSTS=127.0.0.1,localhost
# No Redis and no Celery worker: queued tasks (mails, webhook sends) stay in
# memory and never run; nothing the tests use needs them. The default broker
# redis://localhost:6379/0 would make those requests fail, or really queue
# them where a Redis happens to run.
export CELERY_BROKER_URL=memory:// CELERY_RESULT_BACKEND=cache+memory://
EOF
# shellcheck disable=SC1091
. "$C/env.sh"
cd "$C"   # the app writes server.log and security_audit.log into its working directory

# 4. Database: migrate + seed once, keep the result as template crm_seed, and
# reset by cloning it (the migration is the slow part: 1-2.5 min on 2 cores).
if ! db_exists crm_seed; then
    t1=$SECONDS
    psql_ -c "drop database if exists crm_db" -c "create database crm_db"
    say "migrating (about 1-2.5 min)"
    "$C/venv/bin/django-admin" migrate --no-input > "$C/migrate.log" 2>&1 \
        || { tail -20 "$C/migrate.log" >&2; die "migrate failed (see $C/migrate.log)"; }
    say "phase migrate: $((SECONDS - t1)) s"
    t2=$SECONDS
    "$C/venv/bin/python" "$HERE/crm_seed.py" > "$C/seed.out" 2>&1 \
        || { cat "$C/seed.out" >&2; die "seed failed"; }
    psql_ -c "create database crm_seed template crm_db"
    say "phase seed: $((SECONDS - t2)) s (migrate+seed $((SECONDS - t1)) s)"
elif [[ $FRESH == 1 ]] || ! db_exists crm_db; then
    t1=$SECONDS
    # WITH (FORCE): a connection left over by a killed worker must not block the reset
    psql_ -c "drop database if exists crm_db with (force)" -c "create database crm_db template crm_seed"
    say "phase reset: crm_db recreated from template crm_seed in $((SECONDS - t1)) s"
fi

# 5. Start gunicorn (sync workers). Ready = an authenticated API call answers
# 200: that proves Django, the database and the seeded token all work.
# --no-control-socket: gunicorn >= 25.1 otherwise opens a control socket at
# ~/.gunicorn/gunicorn.ctl, one path shared by every gunicorn of the user (two
# DIRs would take it from each other), and waits up to 2 s for it on shutdown.
t1=$SECONDS
# The PID file is this script's alone: gunicorn's own `--pid` rewrites it (temp file, rename)
# while starting, and a check that reads it at that moment thought gunicorn had died.
nohup "$C/venv/bin/gunicorn" crm.wsgi:application -b "127.0.0.1:$PORT" -w "${CRM_WORKERS:-2}" \
    --no-control-socket > "$C/gunicorn.log" 2>&1 < /dev/null &
echo $! > "$C/gunicorn.pid"
deadline=$((SECONDS + ${CRM_START_TIMEOUT:-90}))
until curl -sf -m 10 -H "Authorization: Bearer $CRM_PAT" "$URL/api/accounts/?limit=1" >/dev/null 2>&1; do
    if ! pid_alive "$C/gunicorn.pid" gunicorn; then
        tail -20 "$C/gunicorn.log" >&2; rm -f "$C/gunicorn.pid"; die "gunicorn died (see $C/gunicorn.log)"
    fi
    if (( SECONDS > deadline )); then
        tail -20 "$C/gunicorn.log" >&2; stop_pidfile gunicorn "$C/gunicorn.pid" gunicorn
        die "BottleCRM did not answer within ${CRM_START_TIMEOUT:-90} s"
    fi
    sleep 0.2
done
say "phase start: $((SECONDS - t1)) s (total $((SECONDS - t0)) s)"

cat > "$C/env.tmp" <<EOF
CRM_URL=$URL
CRM_API=$URL/api/
CRM_PAT=$CRM_PAT
CRM_ORG_API_KEY=$CRM_ORG_API_KEY
CRM_ORG_ID=$(env_value "$C/seed.out" CRM_ORG_ID)
CRM_ADMIN_EMAIL=$ADMIN_EMAIL
CRM_ADMIN_PASSWORD=$ADMIN_PASSWORD
CRM_PG=postgresql://postgres@127.0.0.1:$PGPORT/crm_db
CRM_PG_PORT=$PGPORT
CRM_PG_DATA=$PGDATA
CRM_PID=$(cat "$C/gunicorn.pid")
CRM_PID_FILE=$C/gunicorn.pid
CRM_LOG=$C/gunicorn.log
EOF
mv "$C/env.tmp" "$C/env"
cat "$C/env"
