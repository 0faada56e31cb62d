#!/usr/bin/env bash
# Stops what tryton-up.sh and crm-up.sh started under DIR, by the PID files
# they wrote: trytond, the gunicorn master (TERM on the master stops its
# workers) and the CRM's private PostgreSQL cluster (pg_ctl stop -m fast).
# Keeps the venvs, databases and snapshots, so the next *-up.sh only starts.
# Safe to run when nothing runs.
#
#   scripts/peers/peers-down.sh DIR
#
# To throw everything away afterwards: rm -rf DIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

[[ $# -eq 1 ]] || { sed -n '2,10p' "$0" >&2; exit 2; }
DIR=$1

stop_pidfile trytond "$DIR/tryton/trytond.pid" trytond
stop_pidfile gunicorn "$DIR/crm/gunicorn.pid" gunicorn

PGDATA=$DIR/crm/pg/data
if [[ -f $PGDATA/postmaster.pid ]]; then
    PGBIN=$(pg_bindir)
    [[ -n $PGBIN ]] || die "PostgreSQL binaries not found; cannot stop the cluster in $PGDATA"
    if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
        echo "stopped postgresql ($PGDATA)" >&2
    fi
fi
