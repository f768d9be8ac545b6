#!/usr/bin/env bash
# Queues a sharded audit on Slurm: an array of SHARDS shard tasks, then the merge, which starts
# once every task has ended well (--dependency=afterok). Run from the repository root:
#
#   deploy/slurm/submit.sh SHARDS OUT [audit flags: --model M --data D ...]
#
# Prints the two job ids. Extra sbatch options for both jobs: SBATCH_EXTRA (e.g. "--gres=none
# --partition=debug"). Needs OUT on a filesystem every node sees.
set -euo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: deploy/slurm/submit.sh SHARDS OUT [audit flags]" >&2
  exit 2
fi
shards=$1 out=$2
shift 2
here=$(dirname "$0")
# shellcheck disable=SC2086 # SBATCH_EXTRA holds several options
array=$(sbatch --parsable ${SBATCH_EXTRA:-} --array=0-$((shards - 1)) "$here/audit.sbatch" --out "$out" "$@")
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_EXTRA:-} --dependency=afterok:"$array" "$here/merge.sbatch" --out "$out")
echo "array $array merge $merge"
