#!/usr/bin/env bash
# slurm_up.sh - a throw-away one-host Slurm cluster on loopback for the glidein test suite.
#
# Debian (slurm-wlm 22.05 + munge), run as root, no systemd, no cgroups. Everything (munge key,
# slurm.conf, state, spool, logs, pid files; with SLURM_ACCOUNTING=1 the MariaDB data directory and
# slurmdbd.conf) lives under $SLURM_PREFIX; nothing under /etc is written. Start order: munged ->
# mariadbd -> slurmdbd -> slurmctld -> slurmd(s). Idempotent: when our daemons are already up it
# only re-checks them. Stop it with slurm_down.sh (same SLURM_PREFIX). Packages come from
# scripts/system_deps.sh.
#
#   SLURM_PREFIX      base directory                           [/tmp/glidein-slurm]
#   SLURM_CLUSTER     ClusterName                              [glidein]
#   SLURM_NODES       emulated nodes n1..nN, one slurmd each    [1]
#   SLURM_CPUS        CPUs per node (may exceed the real count) [8]
#   SLURM_CTLD_PORT   slurmctld port                            [17817]
#   SLURM_SLURMD_PORT port of n1; node i listens on port+i-1    [17818]
#   SLURM_ACCOUNTING  1 = real accounting: MariaDB + slurmdbd, full 'sacct' [0]
#   SLURM_DBD_PORT    slurmdbd port (accounting only)            [17816]
#   SLURM_MYSQL_PORT  mariadbd port on 127.0.0.1 (accounting only) [17815]
#   SLURM_KEEP_STATE  1 = keep jobs and job ids (and the database) of a previous run [0]
#   SLURM_SMOKE       1 = run one job and wait for it at the end  [1]
#
# Clients: export SLURM_CONF=$SLURM_PREFIX/etc/slurm.conf  (or: source $SLURM_PREFIX/env.sh)
set -euo pipefail

PREFIX=${SLURM_PREFIX:-/tmp/glidein-slurm}
CLUSTER=${SLURM_CLUSTER:-glidein}
NODES=${SLURM_NODES:-1}
CPUS=${SLURM_CPUS:-8}
CTLD_PORT=${SLURM_CTLD_PORT:-17817}
SLURMD_PORT=${SLURM_SLURMD_PORT:-17818}
ACCOUNTING=${SLURM_ACCOUNTING:-0}
DBD_PORT=${SLURM_DBD_PORT:-17816}
MYSQL_PORT=${SLURM_MYSQL_PORT:-17815}
KEEP_STATE=${SLURM_KEEP_STATE:-0}
SMOKE=${SLURM_SMOKE:-1}
case $NODES in ''|*[!0-9]*|0) echo "slurm_up.sh: SLURM_NODES must be a positive integer" >&2; exit 1;; esac
MEM_MB=$(( $(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo) / NODES ))

CONF=$PREFIX/etc/slurm.conf
MUNGE_SOCK=$PREFIX/munge-run/munge.socket.2
MUNGE_PID=$PREFIX/munge-run/munged.pid
CTLD_PID=$PREFIX/run/slurmctld.pid
DBD_CONF=$PREFIX/etc/slurmdbd.conf
DBD_PID=$PREFIX/run/slurmdbd.pid
MYSQL_PID=$PREFIX/run/mariadbd.pid
MYSQL_SOCK=$PREFIX/run/mariadbd.sock
export SLURM_CONF=$CONF   # slurmdbd (no -f option) also finds $PREFIX/etc/slurmdbd.conf through it

log() { echo "[slurm_up] $*"; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PIDFILE: print the pid when the file names a live process of ours (its command
# line or environment mentions $PREFIX/), so a stale file or a reused pid is never trusted.
pid_alive() {
    local f=$1 pid c
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    c=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline"; tr '\0' ' ' 2>/dev/null < "/proc/$pid/environ") || true
    [[ $c == *"$PREFIX/"* ]] || return 1
    echo "$pid"
}

wait_for() {   # wait_for SECONDS COMMAND...: poll every 0.1 s
    local end=$(( $(date +%s) + $1 )); shift
    until "$@" > /dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

command -v slurmctld > /dev/null && command -v munged > /dev/null \
    || die "slurmctld/munged not installed (run scripts/system_deps.sh as root)"
if [ "$ACCOUNTING" = 1 ]; then
    for tool in slurmdbd mariadbd mariadb-install-db mariadb sacctmgr; do
        command -v "$tool" > /dev/null || die "$tool not installed (run scripts/system_deps.sh as root)"
    done
fi

# ---------------------------------------------------------------- directories and munge
mkdir -p "$PREFIX"/{etc,state,spool,log,run,munge,munge-run}
chmod 755 "$PREFIX" "$PREFIX/munge-run"   # munged needs o+x on its socket directory
chmod 700 "$PREFIX/munge"
for i in $(seq 1 "$NODES"); do mkdir -p "$PREFIX/spool/n$i"; done   # slurmd needs its spool dir

[ -s "$PREFIX/munge/munge.key" ] || mungekey --create --keyfile="$PREFIX/munge/munge.key"
if pid=$(pid_alive "$MUNGE_PID"); then
    log "munged already running (pid $pid)"
else
    rm -f "$MUNGE_PID"
    munged --key-file="$PREFIX/munge/munge.key" --socket="$MUNGE_SOCK" --pid-file="$MUNGE_PID" \
           --log-file="$PREFIX/log/munged.log" --seed-file="$PREFIX/munge/munged.seed" \
        || die "munged failed to start"
    wait_for 10 sh -c "munge -n -S '$MUNGE_SOCK' | unmunge -S '$MUNGE_SOCK'" || die "munged not answering"
    log "munged up"
fi

# ---------------------------------------------------------------- slurm.conf
if [ "$NODES" -eq 1 ]; then nodes=n1; ports=$SLURMD_PORT
else nodes="n[1-$NODES]"; ports="[$SLURMD_PORT-$(( SLURMD_PORT + NODES - 1 ))]"; fi
if [ "$ACCOUNTING" = 1 ]; then
    acct_conf="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# the slurmctld->slurmdbd connection ignores AuthInfo: it takes our munge socket from here
AccountingStoragePass=$MUNGE_SOCK
JobAcctGatherType=jobacct_gather/linux"
else
    acct_conf="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
cat > "$CONF.new" <<CONF
# generated by scripts/slurm_up.sh - run slurm_down.sh before changing it
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$PREFIX/state
SlurmdSpoolDir=$PREFIX/spool/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$PREFIX/run/slurmd-%n.pid
SlurmctldLogFile=$PREFIX/log/slurmctld.log
SlurmdLogFile=$PREFIX/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$acct_conf
JobCompType=jobcomp/filetxt
JobCompLoc=$PREFIX/log/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# schedule at every 1-s background pass instead of 3-s batches
SchedulerParameters=batch_sched_delay=0
# accept CPUs/RealMemory above the hardware's
SlurmdParameters=config_overrides
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# finished jobs stay visible to 'squeue -t all' for an hour
MinJobAge=3600
KillWait=5
InactiveLimit=0
TmpFS=/tmp
NodeName=$nodes NodeHostname=localhost NodeAddr=127.0.0.1 Port=$ports CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
if [ "$ACCOUNTING" = 1 ]; then
    [ -s "$PREFIX/etc/dbpass" ] || (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PREFIX/etc/dbpass")
    DBPASS=$(cat "$PREFIX/etc/dbpass")
    (umask 077; cat > "$DBD_CONF.new" <<DBD
# generated by scripts/slurm_up.sh (slurmdbd wants mode 600, owned by SlurmUser)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$PREFIX/log/slurmdbd.log
PidFile=$DBD_PID
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
DBD
    )
fi
running=0
for f in "$CTLD_PID" "$DBD_PID" "$PREFIX"/run/slurmd-*.pid; do
    if [ -e "$f" ] && pid_alive "$f" > /dev/null; then running=1; fi
done
for f in "$CONF" "$DBD_CONF"; do
    if [ -e "$f.new" ] && [ -f "$f" ] && ! cmp -s "$f" "$f.new" && [ $running = 1 ]; then
        rm -f "$CONF.new" "$DBD_CONF.new"; die "cluster runs with another $(basename "$f"); run slurm_down.sh first"
    fi
done
mv -f "$CONF.new" "$CONF"
if [ -e "$DBD_CONF.new" ]; then mv -f "$DBD_CONF.new" "$DBD_CONF"; chmod 600 "$DBD_CONF"; fi

# ---------------------------------------------------------------- accounting: mariadbd, then slurmdbd
# (slurmctld started with accounting before slurmdbd answers dies: "we have no TRES from it")
sql() { mariadb --no-defaults -S "$MYSQL_SOCK" -u root -N <<< "$1"; }
start_mariadb() {
    if [ "$KEEP_STATE" != 1 ] || [ ! -d "$PREFIX/mysql/mysql" ]; then
        rm -rf "$PREFIX/mysql"   # a fresh database with fresh job ids
        mariadb-install-db --no-defaults --datadir="$PREFIX/mysql" --user=root \
            --auth-root-authentication-method=normal --skip-test-db > "$PREFIX/log/mariadb-install-db.log" 2>&1 \
            || { tail "$PREFIX/log/mariadb-install-db.log"; die "mariadb-install-db failed"; }
    fi
    rm -f "$MYSQL_PID"
    setsid -f mariadbd --no-defaults --datadir="$PREFIX/mysql" --user=root --bind-address=127.0.0.1 \
        --port="$MYSQL_PORT" --socket="$MYSQL_SOCK" --pid-file="$MYSQL_PID" --log-error="$PREFIX/log/mariadbd.log" \
        --skip-log-bin --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 \
        < /dev/null > "$PREFIX/log/mariadbd.start.log" 2>&1
    wait_for 30 sql 'select 1' || { tail "$PREFIX/log/mariadbd.log"; die "mariadbd not answering"; }
    wait_for 10 test -s "$MYSQL_PID" || die "mariadbd wrote no pid file"
    log "mariadbd up (pid $(cat "$MYSQL_PID"))"
}
start_slurmdbd() {
    sql "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DBPASS';
         ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DBPASS';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "cannot create the database user"
    rm -f "$DBD_PID"
    slurmdbd > "$PREFIX/log/slurmdbd.start.log" 2>&1 \
        || { cat "$PREFIX/log/slurmdbd.start.log"; die "slurmdbd failed to start"; }
    wait_for 30 sh -c 'timeout 5 sacctmgr -n list cluster' \
        || { tail "$PREFIX/log/slurmdbd.log"; die "slurmdbd not answering"; }
    log "slurmdbd up (pid $(cat "$DBD_PID"))"
}
if [ "$ACCOUNTING" = 1 ]; then
    if pid=$(pid_alive "$MYSQL_PID"); then
        log "mariadbd already running (pid $pid)"
    else
        port_busy "$MYSQL_PORT" && die "port $MYSQL_PORT in use (set SLURM_MYSQL_PORT)"
        start_mariadb
    fi
    if pid=$(pid_alive "$DBD_PID"); then
        log "slurmdbd already running (pid $pid)"
    else
        port_busy "$DBD_PORT" && die "port $DBD_PORT in use (set SLURM_DBD_PORT)"
        start_slurmdbd
    fi
fi

# ---------------------------------------------------------------- slurmctld, then slurmd(s)
if pid=$(pid_alive "$CTLD_PID"); then
    log "slurmctld already running (pid $pid)"
else
    port_busy "$CTLD_PORT" && die "port $CTLD_PORT in use (set SLURM_CTLD_PORT)"
    if [ "$KEEP_STATE" != 1 ]; then rm -rf "$PREFIX/state"; mkdir -p "$PREFIX/state"; fi
    rm -f "$CTLD_PID"
    slurmctld -f "$CONF" > "$PREFIX/log/slurmctld.start.log" 2>&1 || die "slurmctld failed to start"
    wait_for 30 sh -c "scontrol ping | grep -q 'is UP'" || { tail -20 "$PREFIX/log/slurmctld.log"; die "slurmctld not answering"; }
    log "slurmctld up"
fi
# a slurmd that cannot reach slurmctld ignores SIGTERM for minutes: start them only now
for i in $(seq 1 "$NODES"); do
    pid_alive "$PREFIX/run/slurmd-n$i.pid" > /dev/null && continue
    port=$(( SLURMD_PORT + i - 1 ))
    port_busy "$port" && die "port $port in use (set SLURM_SLURMD_PORT)"
    rm -f "$PREFIX/run/slurmd-n$i.pid"
    slurmd -f "$CONF" -N "n$i" > "$PREFIX/log/slurmd-n$i.start.log" 2>&1 || die "slurmd n$i failed to start"
done
nodes_ready() {
    local states
    states=$(timeout 5 sinfo -h -N -o '%T' 2>/dev/null | sort -u) || return 1
    [ -n "$states" ] && ! grep -qvE '^(idle|mixed|allocated|completing)$' <<< "$states"
}
wait_for 60 nodes_ready || { sinfo -N -l; die "nodes not ready"; }
echo "export SLURM_CONF=$CONF" > "$PREFIX/env.sh"

if [ "$SMOKE" = 1 ]; then
    out=$PREFIX/log/smoke-%j.out
    jid=$(sbatch --parsable -J smoke -o "$out" --wrap 'echo smoke ok') || die "smoke job: sbatch failed"
    wait_for 60 sh -c "[ \"\$(squeue -h -t all -j $jid -o %T)\" = COMPLETED ]" || die "smoke job $jid did not complete"
fi
log "cluster '$CLUSTER' ready: export SLURM_CONF=$CONF"
