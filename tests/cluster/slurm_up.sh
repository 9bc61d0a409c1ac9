#!/usr/bin/env bash
# Stand up a real single-node SLURM on this machine (Debian's slurm-wlm and munge), for the
# `slurm` tests: one node with this machine's CPUs and memory, no cgroups, no accounting
# database (jobs are checked with squeue; every finished job is also written to a job
# completion file). Needs root. Idempotent: a second call with the cluster up does nothing.
# Time-bounded: fails with a clear message if the node is not idle within 60 s.
#
#   tests/cluster/slurm_up.sh          # install if needed, configure, start, wait for idle
#   tests/cluster/slurm_down.sh        # stop the daemons by their PIDs
#
# State, logs and PID files live under $HUME_SLURM_DIR (default /tmp/hume-slurm); the config
# is written to /etc/slurm/slurm.conf, where Debian's daemons and clients look for it.
set -euo pipefail

DIR=${HUME_SLURM_DIR:-/tmp/hume-slurm}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname)
say() { echo "slurm_up: $*"; }
die() { echo "slurm_up: error: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (starts slurmctld, slurmd and munged)"

node_state() { sinfo --noheader --nodes="$HOST" --format=%t 2>/dev/null | head -n1 | tr -d '*'; }
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && [[ $(node_state) == idle ]]; then
    say "already up: node $HOST idle"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurmctld slurmd slurm-client munge from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

mkdir -p "$DIR"/{state,spool} /etc/slurm /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
[[ -f /var/log/munge/munged.log ]] && chown munge:munge /var/log/munge/munged.log
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --force
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 600 /etc/munge/munge.key

CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
REAL_MB=$((MEM_MB - 1024))  # leave the OS some room
cat >"$CONF" <<CONF
# Written by tests/cluster/slurm_up.sh: a one-node test cluster.
ClusterName=hume-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A job without --mem would otherwise hold the whole node and jobs would run one at a time.
DefMemPerCPU=$((REAL_MB / CPUS))
# Finished jobs stay visible to squeue for 10 min: the executor plugin polls with squeue here.
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

# Restart whatever is left of an earlier bring-up, so the daemons read this config.
"$(dirname "$0")/slurm_down.sh" --quiet

alive /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
slurmctld
slurmd

for _ in $(seq 60); do
    if [[ $(node_state) == idle ]]; then
        say "up: node $HOST idle with $CPUS CPUs and $REAL_MB MB (config $CONF, logs in $DIR)"
        exit 0
    fi
    sleep 1
done
tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
die "node $HOST not idle within 60 s (state: '$(node_state)'); logs above"
