"""How many models a CPU stack should hold: time per model-step against the stack size K.

    python benchmarks/stack_size.py                  # about 3 min on this CPU
    python benchmarks/stack_size.py --shapes 8x200 --ks 1,4

A stack of K same-shape models runs each layer as one batched matmul, so the per-operator
overhead of a step (dispatch, autograd, batch norm, the optimizer's bookkeeping) is paid
once for K models. Narrow nets, whose matmuls are small, gain from that; wide ones are
matmul-bound and gain nothing. For each MLP shape (ReLU + batch norm, MNIST, batch 128, one
thread, the engine's default fused Adam): whole training steps of stacks of each K, timed in
interleaved rounds (the order alternates, so load from other processes hits all alike); the
median round of each, divided by K. Saves ``benchmarks/results/stack_size_cpu.json``; the
grid's runner takes its CPU stack sizes from it (``helpers.grid.runner.CPU_MIN_STACK``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _shared import cpu_header, parse_sizes, save  # noqa: E402

from helpers import stack_run  # noqa: E402
from helpers.data import load_dataset  # noqa: E402
from helpers.engine import StackConfig  # noqa: E402

BATCH = 128


def make_run(data, depth: int, width: int, k: int) -> stack_run._StackRun:
    cfg = StackConfig(depth, width, ("relu",) * k, (True,) * k, tuple(range(k)),
                      (1e-3,) * k, batch_size=BATCH, max_epochs=1,
                      device=torch.device("cpu"))
    run = stack_run._StackRun(data, cfg)
    n = len(run.split["train"])
    run.idx.copy_(torch.randint(0, n, (k, BATCH), generator=torch.Generator().manual_seed(0)))
    return run


def compare(data, depth: int, width: int, ks: list[int], rounds: int) -> dict:
    runs = {k: make_run(data, depth, width, k) for k in ks}
    for run in runs.values():
        run._step()  # warm-up
    steps = min(100, max(2, int(2e7 / (width * width * depth))))  # ~0.5 s per K at K = 1
    per_model = {k: [] for k in ks}
    for r in range(rounds):
        for k in (ks if r % 2 == 0 else ks[::-1]):
            start = time.perf_counter()
            for _ in range(steps):
                runs[k]._step()
            per_model[k].append((time.perf_counter() - start) / steps / k)
    med = {k: statistics.median(v) for k, v in per_model.items()}
    return dict(depth=depth, width=width, steps_per_round=steps, rounds=rounds,
                model_step_ms={str(k): 1e3 * v for k, v in med.items()},
                model_step_ms_rounds={str(k): [1e3 * t for t in v]
                                      for k, v in per_model.items()},
                speedup_vs_k1={str(k): med[ks[0]] / v for k, v in med.items()})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="2x200,8x200,2x800,8x800",
                   help="comma-separated DEPTHxWIDTH")
    p.add_argument("--ks", default="1,2,4,8", help="comma-separated stack sizes")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args()
    shapes = parse_sizes(args.shapes, "--shapes", "comma-separated DEPTHxWIDTH with positive "
                   "integers, e.g. 8x200,8x800", 2)
    ks = sorted({k for (k,) in parse_sizes(args.ks, "--ks", "comma-separated positive "
                                           "integers, e.g. 1,2,4", 1)})
    if ks[0] != 1:
        raise SystemExit(f"--ks={args.ks!r}; accepted: a list that includes 1 (the baseline)")
    if args.rounds < 2:
        raise SystemExit(f"--rounds={args.rounds}; accepted: an integer >= 2")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset("mnist")
    result = cpu_header(data.source, "ReLU + batch norm, batch 128, fused Adam")
    for depth, width in shapes:
        r = compare(data, depth, width, ks, args.rounds)
        result["shapes"][f"{depth}x{width}"] = r
        print(f"{depth}x{width}: ms per model-step " + ", ".join(
            f"K={k} {r['model_step_ms'][str(k)]:.2f} (x{r['speedup_vs_k1'][str(k)]:.2f})"
            for k in ks), flush=True)
    save(result, args.out, "stack_size_cpu.json")


if __name__ == "__main__":
    main()
