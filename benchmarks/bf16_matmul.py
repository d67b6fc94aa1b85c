"""Is bf16 worth it for the grid on this CPU? Matmul throughput, float32 vs bfloat16.

The grid's hot loop is batched matmuls (``torch.baddbmm``/``bmm``) of K models at batch 128.
This times them in float32 and in bfloat16 (and the single-model ``mm`` for comparison), at
the grid's shapes, one torch thread, and writes ``benchmarks/results/bf16_matmul_<device>.json``.
bf16 autocast would only be adopted after a fidelity A/B (test accuracy within 0.15 points);
it is not worth running that A/B where bf16 is not faster.

    python benchmarks/bf16_matmul.py [--device cpu|cuda] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from helpers.runtime import device_name, git_commit, resolve_device, torch_threads

SHAPES = [  # (label, K, batch, in, out)
    ("MNIST layer 1, width 200, K=24", 24, 128, 784, 200),
    ("hidden 200x200, K=24", 24, 128, 200, 200),
    ("MNIST layer 1, width 800, K=8", 8, 128, 784, 800),
    ("hidden 800x800, K=8", 8, 128, 800, 800),
]


def gflops(fn, flop: float, repeats: int, sync) -> float:
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return flop * repeats / (time.perf_counter() - t0) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    dev = resolve_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows = []
    with torch_threads(None, dev):
        for label, k, b, i, o in SHAPES:
            row = {"shape": label}
            for dtype in (torch.float32, torch.bfloat16):
                x = torch.randn(k, b, i, device=dev, dtype=dtype)
                w = torch.randn(k, o, i, device=dev, dtype=dtype)
                flop = 2.0 * k * b * i * o
                name = str(dtype).split(".")[1]
                row[f"bmm {name} GFLOP/s"] = round(gflops(
                    lambda x=x, w=w: torch.bmm(x, w.transpose(1, 2)), flop, args.repeats,
                    sync), 1)
                row[f"mm {name} GFLOP/s"] = round(gflops(
                    lambda x=x, w=w, k=k: [x[j] @ w[j].t() for j in range(k)], flop,
                    args.repeats,
                    sync), 1)
            rows.append(row)
            print(row, flush=True)
    out = Path(__file__).parent / "results" / f"bf16_matmul_{dev.type}.json"
    out.write_text(json.dumps(dict(
        device=device_name(dev), torch=torch.__version__, git_commit=git_commit(),
        threads=1 if dev.type == "cpu" else None, repeats=args.repeats,
        note="measured while other jobs may share the machine; compare columns, not runs",
        results=rows), indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
