#!/usr/bin/env bash
# slurm_down.sh - stop the cluster slurm_up.sh started (same SLURM_PREFIX).
# Only processes named by our pid files whose command line or environment mentions
# $SLURM_PREFIX/ are signalled (never by name). Order: cancel jobs -> slurmd(s) ->
# left-over job steps -> slurmctld -> slurmdbd -> mariadbd (SLURM_ACCOUNTING=1 only) -> munged.
# SLURM_PURGE=1 also deletes the prefix.
set -uo pipefail
PREFIX=${SLURM_PREFIX:-/tmp/glidein-slurm}
export SLURM_CONF=$PREFIX/etc/slurm.conf
log() { echo "[slurm_down] $*"; }

pid_alive() {
    local f=$1 pid c
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    c=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline"; tr '\0' ' ' 2>/dev/null < "/proc/$pid/environ") || true
    [[ $c == *"$PREFIX/"* ]] || return 1
    echo "$pid"
}
gone() { [ ! -d "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
stop_pid() {   # NAME PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS
    local secs=${3:-15}
    kill -TERM "$2" 2>/dev/null || return 0
    for _ in $(seq $(( secs * 10 ))); do gone "$2" && { log "stopped $1"; return 0; }; sleep 0.1; done
    kill -KILL "$2" 2>/dev/null && log "killed $1 after $secs s"
}
stop_pidfile() {
    local pid
    if pid=$(pid_alive "$2"); then stop_pid "$1" "$pid" "${3:-15}"; fi
    rm -f "$2"
}

[ -d "$PREFIX" ] || { log "nothing under $PREFIX"; exit 0; }
if pid_alive "$PREFIX/run/slurmctld.pid" > /dev/null; then
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null
        for _ in $(seq 200); do [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
    fi
fi
for f in "$PREFIX"/run/slurmd-*.pid; do
    [ -e "$f" ] && stop_pidfile "slurmd $(basename "$f" .pid)" "$f"
done
# job steps that outlived their slurmd: ask them through the sockets in OUR spool dir
for d in "$PREFIX"/spool/*/; do
    [ -d "$d" ] || continue
    pids=$(timeout 10 scontrol listpids '*' "$(basename "$d")" 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {print $1}' | tr '\n' ' ')
    [ -n "${pids// /}" ] || continue
    stepds=""
    for p in $pids; do
        pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        case "$(tr '\0' ' ' < "/proc/$pp/cmdline" 2>/dev/null)" in slurmstepd:*) stepds="$stepds $pp";; esac
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    for p in $(tr ' ' '\n' <<< "$stepds" | sort -u); do stop_pid slurmstepd "$p" 2; done
done
stop_pidfile slurmctld "$PREFIX/run/slurmctld.pid"
# accounting (present only when slurm_up.sh ran with SLURM_ACCOUNTING=1): slurmctld has flushed to it
[ -e "$PREFIX/run/slurmdbd.pid" ] && stop_pidfile slurmdbd "$PREFIX/run/slurmdbd.pid"
[ -e "$PREFIX/run/mariadbd.pid" ] && stop_pidfile mariadbd "$PREFIX/run/mariadbd.pid" 60
stop_pidfile munged "$PREFIX/munge-run/munged.pid"
if [ "${SLURM_PURGE:-0}" = 1 ]; then rm -rf "$PREFIX"; log "removed $PREFIX"; fi
log "done"
