#!/usr/bin/env bash
# Stop the test cluster of slurm_up.sh: slurmd, slurmctld and munged, by the PIDs in their PID
# files. Safe to run when nothing is up. --quiet says nothing about daemons not running.
set -uo pipefail

DIR=${HUME_SLURM_DIR:-/tmp/hume-slurm}
QUIET=${1:-}

stop() {  # stop NAME PIDFILE: SIGTERM, then SIGKILL after 10 s
    local name=$1 pidfile=$2 pid
    if [[ ! -s $pidfile ]] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        [[ $QUIET == --quiet ]] || echo "slurm_down: $name not running"
        return 0
    fi
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { echo "slurm_down: stopped $name ($pid)"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    echo "slurm_down: killed $name ($pid) after 10 s"
}

stop slurmd "$DIR/slurmd.pid"
stop slurmctld "$DIR/slurmctld.pid"
[[ $QUIET == --quiet ]] || stop munged /run/munge/munged.pid
