#!/bin/bash
# The GPU items of the open issues, as one prepared device call (see the developers' guide:
# 15 min of device time a session, 10 min a call, 64 MiB of tree, 8 files of <= 16 MiB back).
#
#   bash benchmarks/device_session.sh prepare          # here: fill the git-ignored .carry/
#   run(command="bash benchmarks/device_session.sh run $(git rev-parse HEAD)",
#       carry=[".carry"], timeout_s=600)               # there, through the device tool
#
# `run` does, within LIMIT seconds (default 535) from its start:
#   0. the engine's CUDA tests (tests/test_engine.py -k cuda): if they pass, the grid and
#      grid_speed use one CUDA graph per step (--cuda-graph; CUDA_GRAPH=0 turns it off)
#   1. benchmarks/cnn_epoch_time.py on the carried CIFAR-10 (JPEG copy) subset -> $OUT
#   2. benchmarks/grid_speed.py --device cuda (MNIST only: CIFAR shapes scaled by FLOPs) -> $OUT
#   3. the paper grid on MNIST (DATASET=...; GRID=paper|activations) until the budget; then
#      $OUT/results.tgz holds that dataset's results folder. Here, merge it (safe beside a
#      local grid on the same dataset):
#        mkdir -p /tmp/dev && tar xzf <files_at>/results.tgz -C /tmp/dev && \
#        .venv/bin/python -m helpers.grid merge /tmp/dev/data/results --dataset mnist
# Learned on an H200 (2026-11-26, benchmarks/results/grid_speed_cuda_h200.log): a stack of
# 11 full-length 6x200 runs takes ~3.1 s per epoch without a CUDA graph (launch-bound), so
# 300 epochs do not fit one call; its paused snapshot (62 MB) cannot come back (16 MiB a
# file): so the graph. CIFAR-10 cannot travel whole (decoded: 184 MB; its JPEG files:
# 236 MB), so its grids stay on the CPU; only chapter 10's 21 MB subset goes. Set SKIP=12
# to skip the benchmarks.
set -u -o pipefail
case "${1:-}" in
prepare)
    mkdir -p .carry
    tar czf .carry/mnist.tgz -C ../shared/datasets MNIST            # 11 MB (raw is 53 MB)
    .venv/bin/python benchmarks/cnn_epoch_time.py export .carry/cifar_subset.pt  # 21 MB
    du -sh .carry ;;
run)
    T0=$(date +%s); LIMIT=${LIMIT:-535}; DATASET=${DATASET:-mnist}; GRID=${GRID:-paper}
    export PYTHONUNBUFFERED=1 ACTFN_OFFLINE=1 ACTFN_GIT_COMMIT=${2:?commit}
    el() { echo $(( $(date +%s) - T0 )); }
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
    mkdir -p /tmp/ds && tar xzf .carry/mnist.tgz -C /tmp/ds
    GRAPH=""
    if [[ "${CUDA_GRAPH:-1}" == 1 ]]; then
        echo "== CUDA tests at $(el) s"
        if ACTFN_DATA=/tmp/ds timeout 150 python3 -m pytest -q -p no:cacheprovider \
                tests/test_engine.py -k cuda 2>&1 | tail -15; then
            GRAPH=--cuda-graph
        fi
        echo "CUDA graph: ${GRAPH:-off}"
    fi
    if [[ "${SKIP:-}" != *1* ]]; then
        echo "== cnn_epoch_time at $(el) s"
        timeout 140 python3 benchmarks/cnn_epoch_time.py run --data .carry/cifar_subset.pt \
            --device cuda --out "$OUT/cnn_epoch_time_cuda.json" 2>&1 | grep -v Warning | tail -12
    fi
    if [[ "${SKIP:-}" != *2* ]]; then
        echo "== grid_speed at $(el) s"
        ACTFN_DATA=/tmp/ds timeout 150 python3 benchmarks/grid_speed.py --device cuda \
            $GRAPH --out "$OUT/grid_speed_cuda.json" 2>&1 | tail -25
    fi
    B=$(python3 -c "print(max(0.5, ($LIMIT - $(el) - 25) / 60))")
    echo "== grid at $(el) s, budget $B min"
    ACTFN_DATA=/tmp/ds python3 -m helpers.grid run --profile paper --grid "$GRID" \
        --dataset "$DATASET" --device cuda --time-budget "$B" --no-progress \
        $GRAPH 2>&1 | grep -v Warning | tail -40
    folder=$(python3 -c "from helpers.grid import store; print(store.results_dir('paper', \
'$DATASET', grid='$GRID').relative_to(store.PROJECT_ROOT))")
    tar czf "$OUT/results.tgz" "$folder"
    ls -la "$OUT"; echo "== done at $(el) s" ;;
*)
    echo "usage: $0 prepare | run COMMIT   (accepted: prepare, run)" >&2; exit 2 ;;
esac
