"""Adam's two kernels in the grid's engine: the single-tensor formula and torch's fused one.

    python benchmarks/adam_kernel.py                 # about 2 min on this CPU
    python benchmarks/adam_kernel.py --shapes 8x800 --rounds 4

Both compute the same update (``tests/test_engine.py`` checks each against
``torch.optim.Adam``). The formula makes about twenty passes over the ``[K, P]`` parameter
and state matrices per step, the fused kernel one, which matters on a CPU whose memory
bandwidth, not its arithmetic, limits the optimiser.

For each MLP shape (ReLU + batch norm, MNIST, one model per stack as the CPU grid's long
runs use, one thread): whole training steps (forward, backward, Adam) of two stacks that
differ only in the kernel, timed in interleaved rounds (the order alternates, so load from
other processes hits both alike); the median round of each. Also the Adam step alone, and
how far apart the two kernels' updates are, in units of the learning rate, after one step
from the same state and gradient (float rounding). Saves
``benchmarks/results/adam_kernel_cpu.json``.
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
from helpers.engine import StackConfig, StackedAdam  # noqa: E402

BATCH = 128


def make_run(data, depth: int, width: int, fused: bool) -> stack_run._StackRun:
    cfg = StackConfig(depth, width, ("relu",), (True,), (0,), (1e-3,), batch_size=BATCH,
                      max_epochs=1, device=torch.device("cpu"), fused=fused)
    run = stack_run._StackRun(data, cfg)
    n = len(run.split["train"])
    run.idx.copy_(torch.randint(0, n, (1, BATCH), generator=torch.Generator().manual_seed(0)))
    return run


def time_steps(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def compare(data, depth: int, width: int, rounds: int, steps: int) -> dict:
    runs = {kernel: make_run(data, depth, width, kernel == "fused")
            for kernel in ("formula", "fused")}
    for run in runs.values():
        run._step()  # warm-up (the same first step for both)
    step = {"formula": [], "fused": []}
    adam = {"formula": [], "fused": []}
    for r in range(rounds):
        order = ("formula", "fused") if r % 2 == 0 else ("fused", "formula")
        for kernel in order:
            step[kernel].append(time_steps(runs[kernel]._step, steps))
        for kernel in order:
            adam[kernel].append(time_steps(runs[kernel].opt.step, steps))
    # rounding: one step of each kernel from the formula run's state (same gradient)
    src, ups = runs["formula"].opt, {}
    for kernel in runs:
        opt = StackedAdam(src.param.clone(), src.grad.clone(), src.lr.tolist(),
                          fused=kernel == "fused")
        opt.exp_avg.copy_(src.exp_avg), opt.exp_avg_sq.copy_(src.exp_avg_sq)
        opt.steps = src.steps
        opt.step_t.fill_(float(src.steps))
        opt.step()
        ups[kernel] = opt.param - src.param
    gap = float((ups["formula"] - ups["fused"]).abs().max() / src.lr.max())
    med = {k: statistics.median(v) for k, v in step.items()}
    med_adam = {k: statistics.median(v) for k, v in adam.items()}
    return dict(
        depth=depth, width=width, n_params=runs["fused"].net.flat.shape[1],
        step_ms={k: 1e3 * v for k, v in med.items()},
        step_ms_rounds={k: [1e3 * t for t in v] for k, v in step.items()},
        adam_ms={k: 1e3 * v for k, v in med_adam.items()},
        step_speedup=med["formula"] / med["fused"],
        adam_share_of_formula_step=med_adam["formula"] / med["formula"],
        one_step_update_gap_in_lr=gap,
        steps_per_round=steps, rounds=rounds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="2x200,4x200,8x200,2x800,8x800",
                   help="comma-separated DEPTHxWIDTH")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args()
    shapes = parse_sizes(args.shapes, "--shapes", "comma-separated DEPTHxWIDTH with "
                         "positive integers, e.g. 4x200,8x800", 2)
    if args.rounds < 2:
        raise SystemExit(f"--rounds={args.rounds}; accepted: an integer >= 2")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset("mnist")
    result = cpu_header(data.source, "ReLU + batch norm, one model per stack, batch 128")
    for depth, width in shapes:
        steps = min(200, max(3, int(4e7 / (width * width * depth))))  # <= 1 s per round
        r = compare(data, depth, width, args.rounds, steps)
        result["shapes"][f"{depth}x{width}"] = r
        print(f"{depth}x{width}: step {r['step_ms']['formula']:.2f} ms (formula) -> "
              f"{r['step_ms']['fused']:.2f} ms (fused), x{r['step_speedup']:.2f}; Adam alone "
              f"{r['adam_ms']['formula']:.2f} -> {r['adam_ms']['fused']:.2f} ms "
              f"({100 * r['adam_share_of_formula_step']:.0f} % of the formula step); "
              f"one update apart by {r['one_step_update_gap_in_lr']:.1e} lr", flush=True)
    save(result, args.out, "adam_kernel_cpu.json")


if __name__ == "__main__":
    main()
