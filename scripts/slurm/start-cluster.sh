#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine (for tests and trying `attune sweep --backend slurm`).
# Needs root and Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge). Idempotent: a cluster already
# up is left running; a node left down by an earlier run is resumed. Exits non-zero, with the reason, if Slurm
# cannot start here.
set -uo pipefail
fail() { echo "slurm: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (writes /etc/slurm and starts daemons)"
for b in munged slurmctld slurmd sbatch sinfo scontrol; do command -v "$b" >/dev/null || fail "$b not found (apt-get install -y slurm-wlm munge)"; done

up() { sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)'; }
if up; then echo "slurm: already up ($(sinfo -h -o '%N %c CPUs %m MB %T' | head -1))"; exit 0; fi

# munge: a key and a running daemon
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key; chmod 0700 /etc/munge
if ! munge -n >/dev/null 2>&1; then
  if id munge >/dev/null 2>&1; then su -s /bin/sh munge -c munged 2>/dev/null || munged --force; else munged --force; fi
  sleep 1
  munge -n >/dev/null 2>&1 || fail "munged did not start"
fi

# slurm.conf from this machine: slurmd -C reports its CPUs, sockets, cores and memory
host=$(hostname -s)
node=$(slurmd -C 2>/dev/null | grep '^NodeName=' | sed -E 's/ UpTime=.*//')
[ -n "$node" ] || fail "slurmd -C could not describe this machine"
mem=$(echo "$node" | sed -nE 's/.*RealMemory=([0-9]+).*/\1/p')
node=$(echo "$node" | sed -E "s/RealMemory=[0-9]+/RealMemory=$(( mem * 9 / 10 ))/")
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
conf=/etc/slurm/slurm.conf
new=$(cat <<CONF
# one-node cluster written by attune scripts/slurm/start-cluster.sh
ClusterName=attune
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
MaxArraySize=10001
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
)
changed=0
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$new" ]; then echo "$new" > "$conf"; changed=1; fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running /run/slurmctld.pid; then [ $changed = 1 ] && scontrol reconfigure >/dev/null 2>&1; else slurmctld || fail "slurmctld did not start (see /var/log/slurm/slurmctld.log)"; fi
running /run/slurmd.pid || slurmd || fail "slurmd did not start (see /var/log/slurm/slurmd.log)"

for _ in $(seq 1 30); do
  up && { echo "slurm: up ($(sinfo -h -o '%N %c CPUs %m MB %T' | head -1))"; exit 0; }
  state=$(sinfo -h -o '%T' 2>/dev/null | head -1)
  case "$state" in down*|drain*|fail*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 ;; esac
  sleep 1
done
fail "the node did not become idle (state: $(sinfo -h -o '%T %E' 2>/dev/null | head -1); see /var/log/slurm/)"
