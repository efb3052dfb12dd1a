#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent GPU machine (no network there: the
# dependencies travel as wheels in .whl/, see docs/benchmarks.md "On a GPU"). Usage:
#   bash scripts/device_check.sh [cuda|cpu] [seeds]
# Logs go to $OUT (or /tmp/device_check). Each part has its own time limit and the script goes
# on after a failure, so a partial run still reports what it reached.
set -u
DEVICE=${1:-cuda}
SEEDS=${2:-1}
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
# run from the checkout without installing: rlrun.conf is the top-level conf/ folder
[ -e rlrun/conf ] || ln -s ../conf rlrun/conf
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo no GPU), $(nproc) cores"
python3 -c "import torch, gymnasium; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'gymnasium', gymnasium.__version__)" 2>&1 | tee -a "$OUT/summary.txt"

log "1. every algorithm on device=$DEVICE (short runs)"
i=0
for args in "algo=ppo env=CartPole" "algo=ppo env=Pendulum algo.normalize_reward=true" "algo=pg env=CartPole" \
            "algo=ac env=Acrobot" "algo=fqi env=CartPole" "algo=vi env=FrozenLake" "algo=pi env=Taxi" \
            "algo=ppo env=CartPole env.backend=torch env.num_envs=64" "algo=fqi env=CartPole env.backend=torch" \
            "algo=ac env=Pendulum env.backend=torch +env.randomize.m=[0.8,1.2]" "algo=pg env=FrozenLake"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    timeout 120 python3 -m rlrun train $args device=$DEVICE total_steps=4096 eval.episodes=2 \
        hydra.run.dir=/tmp/device_runs/$i >"$OUT/run$i.log" 2>&1
    rc=$?
    echo "rc=$rc $args :: $(grep -h 'rlrun: device\|rlrun: done\|rlrun: error' "$OUT/run$i.log" | tr '\n' ' ')" | tee -a "$OUT/summary.txt"
done

log "2. raw batched env steps/s on $DEVICE"
timeout 120 python3 scripts/bench_envs.py --device "$DEVICE" --num-envs 4096,65536,1048576 2>&1 | tee -a "$OUT/summary.txt"

log "3. scripts/bench.py on $DEVICE, $SEEDS seed(s)"
timeout 300 python3 scripts/bench.py --device "$DEVICE" --seeds "$SEEDS" --parts ppo,fqi 2>&1 | tee -a "$OUT/summary.txt"
log "done"
