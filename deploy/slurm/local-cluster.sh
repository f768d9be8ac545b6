#!/usr/bin/env bash
# A one-node, CPU-only Slurm cluster on this machine, for trying the sbatch scripts (and for the
# tests): writes /etc/slurm/slurm.conf for this host, creates a munge key when there is none,
# and starts munged, slurmctld and slurmd as root. Does nothing when the cluster already answers.
# Needs Debian's slurm-wlm and munge, and root.
set -euo pipefail
up() { case "$(sinfo -h -o %t 2>/dev/null | head -n 1)" in idle | mix | alloc) return 0 ;; *) return 1 ;; esac; }
if up; then exit 0; fi
host=$(hostname -s)
cpus=$(nproc)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups in a container: track processes by their parent ids.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# A finished job's record stays 5 minutes (sacct is not set up): the tests read its state.
MinJobAge=300
NodeName=${host} CPUs=${cpus} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 60); do
  if up; then exit 0; fi
  state=$(sinfo -h -o %t 2>/dev/null | head -n 1 || true)
  # A node left down by an earlier run comes back once it answers.
  if [ "$state" = down ] || [ "$state" = "down*" ] || [ "$state" = drain ]; then
    scontrol update nodename="${host}" state=resume 2>/dev/null || true
  fi
  sleep 1
done
echo "local-cluster: the node did not come up (see /var/log/slurm/)" >&2
exit 1
