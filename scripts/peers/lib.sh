# shellcheck shell=bash
# Helpers shared by the peer scripts (sourced, not run).
#
# Every script keeps its state under DIR/<peer>/ and talks about processes only
# through the PID files it wrote there: nothing here looks processes up by name.

# log TAG MESSAGE...: a timestamped line on stderr (stdout is kept for the
# KEY=VALUE lines), also appended to $LOGFILE when set, so the phase timings of
# every run stay readable afterwards.
log() {
    local tag=$1; shift
    printf '[%s %(%H:%M:%S)T] %s\n' "$tag" -1 "$*" >&2
    if [[ -n ${LOGFILE:-} ]]; then printf '%(%F %T)T %s\n' -1 "$*" >> "$LOGFILE"; fi
}

die() { echo "error: $*" >&2; exit 1; }

# proc_running PID: the process exists and is not a zombie. A server started
# with nohup ... & is re-parented to PID 1 once its *-up.sh exits; an exited
# server stays a zombie until PID 1 reaps it (seen: about a second here, for
# ever under an init that does not reap), and `kill -0` succeeds on a zombie.
proc_running() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# pid_alive PIDFILE PATTERN: the PID in PIDFILE is running AND its command line
# contains PATTERN (a PID file left by a crash may name a PID that the system
# has since given to an unrelated process).
pid_alive() {
    local f=$1 pattern=$2 pid
    [[ -f $f ]] || return 1
    pid=$(cat "$f" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    proc_running "$pid" || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# stop_pidfile NAME PIDFILE PATTERN: TERM, wait up to 10 s, then KILL; removes
# the PID file. Does nothing when the PID is not (or no longer) ours.
stop_pidfile() {
    local name=$1 f=$2 pattern=$3 pid
    [[ -f $f ]] || return 0
    if pid_alive "$f" "$pattern"; then
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do proc_running "$pid" || break; sleep 0.1; done
        if proc_running "$pid"; then
            kill -9 "$pid" 2>/dev/null || true
            echo "killed $name (pid $pid, did not stop on TERM within 10 s)" >&2
        else
            echo "stopped $name (pid $pid)" >&2
        fi
    fi
    rm -f "$f"
}

# port_busy PORT: something already accepts connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_released PORT [SECONDS=10]: waits until nothing answers on PORT. A server just
# stopped (a reset) can keep its socket a moment after its PID is gone; fails if PORT is
# still taken after SECONDS.
port_released() {
    local i
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        port_busy "$1" || return 0
        sleep 0.1
    done
    return 1
}

# env_value FILE KEY: the value of KEY=... in a saved env file.
env_value() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -1; }

# pg_bindir: the newest Debian PostgreSQL bin directory (initdb, pg_ctl), or "".
# shellcheck disable=SC2012  # Debian's version directories: plain names
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true; }

# as_pg CMD...: PostgreSQL refuses to run as root, so as root the private
# cluster runs as the 'postgres' system user; otherwise as the caller.
as_pg() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
