"""Time the textbook training loop against the stacked engine on one device.

    python benchmarks/grid_speed.py --device cpu            # about 1 min on 2 CPU cores
    python benchmarks/grid_speed.py --device cuda --models 48

Same work per model-epoch for both methods, the paper's: one training pass over the
50 000 MNIST training images (batch 128, Adam), then an evaluation pass over training and
validation sets (the per-epoch history the paper tracks). Nets are ReLU with batch norm.

* ``textbook``: torchvision ``MNIST`` (PIL images, ``ToTensor``/``Normalize``/flatten
  transforms) + ``DataLoader(shuffle=True)``, one :class:`helpers.models.MLP` at a time,
  ``torch.optim.Adam``, ``loss.item()`` per step.
* ``engine``: :mod:`helpers.engine`, K models per stack, data resident on the device
  (fused Adam and, with ``--cuda-graph``, one CUDA graph per step on CUDA). Results saved
  before the engine used the fused kernel on CPU say ``fused_adam: false``.

Each method's epoch time is extrapolated from timed training steps and a timed evaluation
slice: ``t_epoch = n_batches * t_step + (n_train + n_val) * t_eval_per_sample`` (plus the
per-epoch batch-order cost for the engine). The JSON says how many steps/samples were
timed. On CUDA, ``--real-epochs N`` also times N real :func:`train_stacked` epochs.

Also measured (fastest of several calls, so other load on the machine lowers them less):
batched-matmul throughput (peak: large square ``bmm``; and at the config's own layer
shapes) and memory bandwidth (large copy), giving the step roofline
``max(step matmul FLOPs / matmul throughput, step bytes / bandwidth)`` where step bytes =
Adam's 7 fp32 reads/writes per parameter + activation traffic (8 fp32 accesses per hidden
unit per sample). Finally an estimate of the full paper grid (2 datasets x 16 shapes,
LR search 4+2 rates x 3 seeds x 20 epochs, final 3 seeds x 300 epochs, worst case: no
early stopping) from the measured per-model-epoch times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers import engine  # noqa: E402
from helpers import stack_run as stack_loop  # noqa: E402
from helpers.data import SPLIT_SEED, Split, load_dataset  # noqa: E402
from helpers.engine import Layout  # noqa: E402
from helpers.grid import device_name, get_spec  # noqa: E402
from helpers.grid.plan import epoch_flops as model_epoch_flops  # noqa: E402
from helpers.models import make_model  # noqa: E402
from helpers.training_steps import batch_order  # noqa: E402

BATCH = 128
SHAPES = {"mnist": (784, 50_000, 10_000), "cifar10": (3072, 40_000, 10_000)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int) -> float:
    """Mean seconds per call of ``fn`` (after one warm-up call)."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeat


def fastest(fn, device: torch.device, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls: device limits, robust to other load."""
    return min(timed(fn, device, 1) for _ in range(repeat))


# --------------------------------------------------------------------------- textbook
def textbook(data, depth: int, width: int, device: torch.device, steps: int,
             eval_samples: int, workers: int) -> dict:
    """The loop from a tutorial: PIL dataset + DataLoader, one model at a time."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms
    from torchvision.datasets import MNIST

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(data.mean, data.std),
                             transforms.Lambda(torch.flatten)])
    full = MNIST(data.location, train=True, transform=tf)
    perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(SPLIT_SEED))
    train = Subset(full, perm[:50_000].sort().values.tolist())
    loader = DataLoader(train, batch_size=BATCH, shuffle=True, drop_last=True,
                        num_workers=workers, pin_memory=device.type == "cuda")
    eval_loader = DataLoader(train, batch_size=1000, num_workers=workers)
    model = make_model(784, depth, width, "relu", True, seed=0, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run_steps(n: int) -> float:
        model.train()
        it, start = iter(loader), None
        for i in range(n + 3):
            if i == 3:
                sync(device)
                start = time.perf_counter()
            x, y = next(it)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
        sync(device)
        return (time.perf_counter() - start) / n

    @torch.no_grad()
    def run_eval(n: int) -> float:
        model.eval()
        seen, start = 0, time.perf_counter()
        for x, y in eval_loader:
            logits = model(x.to(device))
            F.cross_entropy(logits, y.to(device), reduction="sum").item()
            seen += len(y)
            if seen >= n:
                break
        sync(device)
        return (time.perf_counter() - start) / seen

    t_step, t_eval = run_steps(steps), run_eval(eval_samples)
    epoch = (50_000 // BATCH) * t_step + 60_000 * t_eval
    return dict(s_per_step=t_step, s_per_eval_sample=t_eval, steps_timed=steps,
                eval_samples_timed=eval_samples, workers=workers, s_per_model_epoch=epoch)


# ----------------------------------------------------------------------------- engine
def stack_run(data, depth: int, width: int, k: int, device: torch.device, fused: bool):
    cfg = engine.StackConfig(depth, width, ("relu",) * k, (True,) * k, tuple(range(k)),
                             (1e-3,) * k, batch_size=BATCH, max_epochs=1, device=device,
                             fused=fused)
    return stack_loop._StackRun(data, cfg)


def engine_times(data, depth: int, width: int, k: int, device: torch.device, steps: int,
                 eval_samples: int, cuda_graph: bool) -> dict:
    """Per-model-epoch time of a K-model stack, from timed steps and a timed eval slice."""
    fused = True  # the engine's default Adam kernel on every device
    run = stack_run(data, depth, width, k, device, fused)
    n = len(run.split["train"])
    gens = [torch.Generator().manual_seed(s) for s in range(k)]

    def new_batch():
        run.idx.copy_(torch.randint(0, n, (k, BATCH), generator=gens[0]).to(device))

    new_batch()
    step = run._step
    if cuda_graph:
        step = stack_loop._capture(run._step, run._graph_state()).replay
    t_step = timed(step, device, steps)
    t_order = timed(lambda: torch.stack(
        [torch.stack(batch_order(n, BATCH, g)) for g in gens], 1).to(device),
        device, 1)
    x_eval = Split(run.split["train"].x[:eval_samples], run.split["train"].y[:eval_samples])
    t_eval = timed(lambda: run.net.evaluate(x_eval), device, 1) / eval_samples
    epoch = (n // BATCH) * t_step + t_order + (n + len(run.split["val"])) * t_eval
    return dict(k=k, s_per_step=t_step, s_per_batch_order=t_order, s_per_eval_sample=t_eval,
                steps_timed=steps, eval_samples_timed=eval_samples, fused_adam=fused,
                cuda_graph=cuda_graph, s_per_model_epoch=epoch / k)


def real_epochs(data, depth: int, width: int, k: int, device: torch.device, epochs: int,
                cuda_graph: bool) -> float:
    """s per model-epoch of real ``train_stacked`` epochs (setup and row 0 included)."""
    start = time.perf_counter()
    engine.train_stacked(data, depth, width, "relu", True, list(range(k)), 1e-3,
                         max_epochs=epochs, patience=epochs + 1, device=device,
                         cuda_graph=cuda_graph, progress=False)
    sync(device)
    return (time.perf_counter() - start) / (k * epochs)


# --------------------------------------------------------------------- device limits
def matmul_tflops(device: torch.device, k: int, m: int, n: int, p: int, repeat: int) -> float:
    a = torch.randn(k, m, n, device=device)
    b = torch.randn(k, n, p, device=device)
    return 2 * k * m * n * p / fastest(lambda: torch.bmm(a, b), device, repeat) / 1e12


def bandwidth_gbs(device: torch.device, mbytes: int, repeat: int) -> float:
    src = torch.empty(mbytes * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / fastest(lambda: dst.copy_(src), device, repeat) / 1e9


def step_roofline(layout: Layout, k: int, tflops: float, gbs: float) -> dict:
    flops = 6 * BATCH * layout.n_weights * k
    adam_bytes = 7 * 4 * layout.n_params * k
    act_bytes = 8 * 4 * BATCH * layout.depth * layout.width * k
    t_mm, t_mem = flops / (tflops * 1e12), (adam_bytes + act_bytes) / (gbs * 1e9)
    return dict(step_flops=flops, step_bytes=adam_bytes + act_bytes, t_matmul=t_mm,
                t_memory=t_mem, roofline_s=max(t_mm, t_mem))


# ---------------------------------------------------------------------- grid estimate
def grid_estimate(per_flop: list[tuple[float, float]], search_t: dict, final_t: dict,
                  k: int, final_k: int) -> dict:
    """Full paper grid time from s/model-epoch (measured, else scaled by FLOPs).

    LR-search stacks (48 and 24 models in the grid) use the times at the benchmark's K,
    final stacks (12 models) the times at K=``final_k`` where measured, else the same.
    """
    spec = get_spec("paper")
    combos, seeds = len(spec.combos()), len(spec.seeds)
    (e1, e2), n_coarse = spec.rungs, len(spec.coarse_lrs)
    # successive halving (helpers.grid.protocol): every coarse rate to e1, the best `keep`
    # to e2, one edge extension to e1; the selected rate's e2 epochs start its final runs
    search = combos * seeds * (n_coarse * e1 + spec.keep * (e2 - e1) - e2
                               + spec.max_extensions * e1)
    final = combos * seeds * spec.max_epochs
    total, rows = 0.0, []
    for dataset, (features, n_train, n_val) in SHAPES.items():
        for depth, width in spec.shapes():
            flops = model_epoch_flops(Layout(features, depth, width, 10), n_train, n_val)
            key = f"{dataset} {depth}x{width}"
            if key in search_t:
                t, how = search_t[key], "measured"
            else:  # s/FLOP of the measured config nearest in FLOPs
                near = min(per_flop, key=lambda fc: abs(math.log(fc[0] / flops)))
                t, how = near[1] * flops, "scaled by FLOPs from the nearest measured config"
            t_final = final_t.get(key, t)
            seconds = search * t + final * t_final
            total += seconds
            rows.append(dict(config=key, s_per_model_epoch_search=t,
                             s_per_model_epoch_final=t_final, how=how,
                             final_measured_at_k=key in final_t, model_epochs_search=search,
                             model_epochs_final=final, seconds=seconds))
    return dict(total_s=total, total_min=total / 60,
                assumption=f"worst case: every final run lasts {spec.max_epochs} epochs (no "
                           f"early stopping); LR search: {n_coarse} coarse rates to epoch {e1}, "
                           f"the best {spec.keep} to epoch {e2}, one edge extension, x {seeds} "
                           f"seeds; search stacks timed at K={k}, "
                           f"final stacks at K={final_k} where measured (else K={k})",
                configs=rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   choices=["cpu", "cuda"])
    p.add_argument("--models", type=int, default=None, help="K (default: 8 CPU, 48 CUDA)")
    p.add_argument("--configs", default="4x200,8x800")
    p.add_argument("--steps", type=int, default=None, help="timed steps per method")
    p.add_argument("--eval-samples", type=int, default=None)
    p.add_argument("--real-epochs", type=int, default=None,
                   help="also time real train_stacked epochs (default: 2 on CUDA; 1 on CPU, "
                        "small configs only)")
    p.add_argument("--cuda-graph", action="store_true", help="engine step in a CUDA graph")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default 1)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    p.add_argument("--all-shapes", action="store_true",
                   help="measure all 32 grid configs for the estimate (default on CUDA)")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the full-grid estimate (a K sweep of the configs only)")
    p.add_argument("--estimate-steps", type=int, default=50,
                   help="timed steps per config for --all-shapes (eval: 200x as many samples)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU visible; accepted here: cpu")
    if args.cuda_graph and not cuda:
        p.error("--cuda-graph needs --device cuda")
    if cuda:
        torch.set_float32_matmul_precision("high")  # TF32 for both methods
    else:
        torch.set_num_threads(args.threads or 1)
    k = args.models or (48 if cuda else 8)
    workers = args.workers if args.workers is not None else (4 if cuda else 0)
    real = args.real_epochs if args.real_epochs is not None else (2 if cuda else 1)
    data = load_dataset("mnist")
    gpu_data = data.to(device)
    start = time.perf_counter()

    def limits() -> tuple[float, float]:
        peak = matmul_tflops(device, 8, 2048, 2048, 2048, 10) if cuda else \
            matmul_tflops(device, 4, 1024, 1024, 1024, 8)
        return peak, bandwidth_gbs(device, 1024 if cuda else 256, 10 if cuda else 8)

    limits_before = limits()
    result = dict(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        device=device_name(device), torch=torch.__version__, python=platform.python_version(),
        host=dict(platform=platform.platform(), cpu_count=os.cpu_count(),
                  torch_threads=torch.get_num_threads(),
                  load_average_at_start=os.getloadavg()),
        tf32=cuda, models_per_stack=k, batch_size=BATCH, net="ReLU + batch norm",
        work_per_model_epoch="train 50 000 MNIST samples (390 steps) + eval train and val "
                             "(60 000 samples)",
        extrapolation="t_epoch = 390 * t_step + 60 000 * t_eval_per_sample (+ batch order "
                      "for the engine), from the timed steps/samples listed per method",
        configs={},
    )
    measured, per_flop = {}, []
    for cfg in args.configs.split(","):
        depth, width = map(int, cfg.split("x"))
        layout = Layout(784, depth, width, 10)
        big = layout.n_weights > 1e6
        steps = args.steps or (200 if cuda else (8 if big else 40))
        n_eval = args.eval_samples or (20_000 if cuda else (2_000 if big else 4_000))
        print(f"{cfg}: textbook ...", flush=True)
        tb = textbook(data, depth, width, device, steps * (1 if cuda else 2), n_eval, workers)
        print(f"{cfg}: engine K={k} ...", flush=True)
        en = engine_times(gpu_data, depth, width, k, device, steps, n_eval, args.cuda_graph)
        flops = model_epoch_flops(layout, 50_000, 10_000)
        entry = dict(
            depth=depth, width=width, n_weights=layout.n_weights, n_params=layout.n_params,
            textbook=tb, engine=en, speedup=tb["s_per_model_epoch"] / en["s_per_model_epoch"],
            model_epoch_tflop=flops / 1e12,
            engine_tflops=flops / en["s_per_model_epoch"] / 1e12,
            textbook_tflops=flops / tb["s_per_model_epoch"] / 1e12,
            bmm_tflops_at_layer_shape=matmul_tflops(device, k, BATCH, width, width,
                                                    20 if cuda else 8),
        )
        if real and (cuda or not big):
            print(f"{cfg}: engine, {real} real epoch(s) ...", flush=True)
            entry["engine_real_epochs"] = dict(
                epochs=real, s_per_model_epoch=real_epochs(gpu_data, depth, width, k, device,
                                                           real, args.cuda_graph),
                note="whole train_stacked call / (K * epochs): includes setup, the untrained "
                     "(row 0) evaluation and the final test evaluation, which long runs "
                     "amortise; a check on the extrapolated figure, not a replacement")
        result["configs"][cfg] = entry
        measured[f"mnist {cfg}"] = en["s_per_model_epoch"]
        per_flop.append((flops, en["s_per_model_epoch"] / flops))
    limits_after = limits()
    peak = max(limits_before[0], limits_after[0],
               *(e["bmm_tflops_at_layer_shape"] for e in result["configs"].values()))
    gbs = max(limits_before[1], limits_after[1])
    result.update(matmul_peak_tflops=peak, bandwidth_gbs=gbs, limits_measured=dict(
        before=limits_before, after=limits_after,
        note="peak = the best bmm throughput seen (large square, before and after, and at "
             "the layer shapes); bandwidth = the best large copy"))
    for cfg, entry in result["configs"].items():
        layout, en = Layout(784, entry["depth"], entry["width"], 10), entry["engine"]
        roof = step_roofline(layout, k, peak, gbs)
        roof_shape = step_roofline(layout, k, entry["bmm_tflops_at_layer_shape"], gbs)
        entry.update(
            engine_fraction_of_matmul_peak=entry["engine_tflops"] / peak,
            roofline=dict(roof, fraction=roof["roofline_s"] / en["s_per_step"]),
            roofline_at_layer_shape=dict(
                roof_shape, fraction=roof_shape["roofline_s"] / en["s_per_step"]))
        print(f"{cfg}: textbook {entry['textbook']['s_per_model_epoch']:.3f} s/model-epoch, "
              f"engine {en['s_per_model_epoch']:.4f} (K={k}), x{entry['speedup']:.1f}, engine "
              f"{entry['engine_tflops']:.3f} TFLOP/s = "
              f"{entry['engine_fraction_of_matmul_peak']:.0%} of bmm peak {peak:.3f}; step "
              f"roofline fraction {entry['roofline']['fraction']:.0%}", flush=True)
    final_t: dict = {}
    if (args.all_shapes or cuda) and not args.no_estimate:
        final_k = 12  # 4 (activation, BN) combos x 3 seeds
        for dataset in SHAPES:
            try:
                real_data = gpu_data if dataset == "mnist" else \
                    load_dataset(dataset).to(device)
            except FileNotFoundError as err:  # e.g. one dataset carried to a GPU machine
                print(f"grid estimate: {dataset} not found, its shapes are scaled by FLOPs "
                      f"({str(err).splitlines()[0]})", flush=True)
                result.setdefault("skipped", {})[dataset] = "dataset not found here"
                continue
            result.setdefault("sources", {})[dataset] = real_data.source
            for depth, width in get_spec("paper").shapes():
                key = f"{dataset} {depth}x{width}"
                print(f"grid estimate: {key} ...", flush=True)
                for kk, store in ((k, measured), (final_k, final_t)):
                    if key not in store:
                        store[key] = engine_times(
                            real_data, depth, width, kk, device, args.estimate_steps,
                            200 * args.estimate_steps, args.cuda_graph)["s_per_model_epoch"]
    if not args.no_estimate:
        result["grid_estimate"] = grid_estimate(per_flop, measured, final_t, k, 12)
        print(f"full paper grid + LR search (worst case): "
              f"{result['grid_estimate']['total_min']:.1f} min on {result['device']}")
    result["benchmark_wall_s"] = time.perf_counter() - start
    out = Path(args.out) if args.out else \
        ROOT / "benchmarks" / "results" / f"grid_speed_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
