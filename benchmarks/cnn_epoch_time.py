"""Time chapter 10's CNN (sigmoid versus ReLU) per epoch on a GPU.

The report's claim is that sigmoid "took more than double" ReLU's training time. Chapter 10
measures it on this CPU over full CIFAR-10 (JPEG copy) epochs; this script measures the same
training loop (:func:`helpers.cnn_sigmoid_vs_relu.run_experiment`, the same CNN, Adam,
batch 128, both activations of a seed side by side) on another device, usually a GPU.

    python benchmarks/cnn_epoch_time.py export .carry/cifar_subset.pt   # here, once
    python benchmarks/cnn_epoch_time.py run --data .carry/cifar_subset.pt --device cuda \\
        --out benchmarks/results/cnn_epoch_time_cuda.json               # on the GPU machine

Why a subset: the GPU machine receives at most 64 MiB, so ``export`` stores a seeded subset
of the real CIFAR-10 (JPEG copy) splits as uint8 images with the training split's mean and
std (the exact pixels: the normalisation is inverted and rounded). ``run`` normalises them
as :mod:`helpers.data` does and tiles the training subset to ``--epoch-images`` (40 000, the
chapter's training split), so one epoch is the same number of steps (313) on the same shapes
as on the CPU. Tiled images make the accuracies meaningless, so the JSON keeps only times;
chapter 10 takes convergence and overfitting from its full-data CPU runs.

Reported per activation: seconds per epoch (forward + backward + Adam step loop, evaluation
excluded) as the median over epochs 2.. of each seed (epoch 1 holds CUDA/cuDNN start-up),
then mean +- SE over seeds; the sigmoid/ReLU ratio paired by seed; and the activation alone
(forward + backward on one batch's shapes, median over repeats) times batches per epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import cnn_sigmoid_vs_relu as cnn
from helpers.data import Dataset, Split
from helpers.runtime import device_name, git_commit

SUBSET = dict(train=5_000, val=1_000, test=1_000)


def export(path: Path, subset: dict[str, int] = SUBSET) -> None:
    """Save a seeded subset (``train``/``val``/``test`` sizes) of the real CIFAR-10 splits
    as uint8 images (exact pixels)."""
    s = cnn.settings("paper") | {f"n_{k}": v for k, v in subset.items()}
    data = cnn.load_data(s)
    mean = torch.tensor(data.mean)[None, :, None, None]
    std = torch.tensor(data.std)[None, :, None, None]
    blob = dict(source=data.source, label=data.label, mean=data.mean, std=data.std,
                classes=data.classes, subset=dict(subset))
    for split in ("train", "val", "test"):
        part = getattr(data, split)
        pixels = (cnn.images(part.x) * std + mean) * 255
        if (pixels - pixels.round()).abs().max() > 1e-2:
            raise RuntimeError("normalised pixels do not invert to integers; not exporting")
        blob[f"{split}_x"] = pixels.round().clamp(0, 255).to(torch.uint8)
        blob[f"{split}_y"] = part.y.to(torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)
    print(f"saved {path} ({path.stat().st_size / 2**20:.1f} MiB): {subset} of {data.label}")


def load_subset(path: Path, epoch_images: int) -> Dataset:
    """The exported subset as a normalised :class:`Dataset`; train tiled to ``epoch_images``."""
    blob = torch.load(path, weights_only=True)
    mean = torch.tensor(blob["mean"])[None, :, None, None]
    std = torch.tensor(blob["std"])[None, :, None, None]

    def split(name: str, n: int | None = None) -> Split:
        x = ((blob[f"{name}_x"].float() / 255 - mean) / std).flatten(1)
        y = blob[f"{name}_y"].long()
        if n is not None:
            reps = math.ceil(n / len(y))
            x, y = x.repeat(reps, 1)[:n].contiguous(), y.repeat(reps)[:n]
        return Split(x, y)

    return Dataset(name="cifar10", source=blob["source"], classes=blob["classes"],
                   train=split("train", epoch_images), val=split("val"), test=split("test"),
                   location=str(path), mean=blob["mean"], std=blob["std"])


def mean_se(values: list[float]) -> dict:
    m, se = cnn.mean_se(values)
    return dict(mean=m, se=se, n=len(values))


def summarise(result: dict, batches: int) -> dict:
    h = result["history"]
    later = h[h["epoch"] >= 2] if h["epoch"].max() >= 2 else h
    per_seed = later.groupby(["activation", "seed"])["epoch_s"].median().unstack("seed")
    out = {a: dict(epoch_s=mean_se(per_seed.loc[a].tolist()),
                   epoch_s_per_seed=per_seed.loc[a].tolist())
           for a in per_seed.index}
    ratio = (per_seed.loc["sigmoid"] / per_seed.loc["relu"]).tolist()
    timing = result["activation_timing"]
    alone = timing.groupby(["activation", "seed"])["seconds"].median().unstack("seed")
    for a in alone.index:
        out[a]["activation_alone_s_per_epoch"] = mean_se((alone.loc[a] * batches).tolist())
    return dict(per_activation=out, sigmoid_over_relu=mean_se(ratio),
                sigmoid_over_relu_per_seed=ratio)


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: no CUDA device here; accepted: cpu, cuda")
    data = load_subset(Path(args.data), args.epoch_images)
    s = cnn.settings("paper") | dict(device=str(device), epochs=args.epochs,
                                     seeds=tuple(range(args.seeds)),
                                     timing_repeats=args.timing_repeats)
    torch.backends.cudnn.benchmark = False  # the chapter's CPU runs use defaults too
    result = cnn.run_experiment(s, data=data)
    batches = math.ceil(args.epoch_images / s["batch_size"])
    summary = summarise(result, batches)
    h = result["history"]
    report = dict(
        benchmark="cnn_epoch_time", created=datetime.now(timezone.utc).isoformat(
            timespec="seconds"),
        device=device_name(str(device)), torch=torch.__version__,
        python=platform.python_version(), git_commit=git_commit(),
        data=dict(label=data.label, source=data.source,
                  subset=torch.load(args.data, weights_only=True).get("subset", SUBSET),
                  epoch_images=args.epoch_images, tiled=True),
        model=dict(channels=s["channels"], hidden=s["hidden"], batch_size=s["batch_size"],
                   optimizer=s["optimizer"], lr=s["lr"]),
        epochs=args.epochs, seeds=args.seeds, batches_per_epoch=batches,
        shapes=result["shapes"], **summary,
        history=h[["activation", "seed", "epoch", "epoch_s"]].to_dict(orient="list"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    for a, r in summary["per_activation"].items():
        e, alone = r["epoch_s"], r["activation_alone_s_per_epoch"]
        print(f"{a:8s} {e['mean']:.3f} +- {e['se']:.3f} s/epoch; activation alone "
              f"{alone['mean'] * 1e3:.1f} ms/epoch")
    r = summary["sigmoid_over_relu"]
    print(f"sigmoid/ReLU epoch time: {r['mean']:.3f} +- {r['se']:.3f} "
          f"({report['device']}); saved {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="save the real-data subset (run where the data is)")
    e.add_argument("path")
    r = sub.add_parser("run", help="time the CNN on --device")
    r.add_argument("--data", required=True, help="the file `export` wrote")
    r.add_argument("--device", default="cuda", help="cpu, cuda or cuda:N (default cuda)")
    r.add_argument("--epoch-images", type=int, default=40_000)
    r.add_argument("--epochs", type=int, default=5)
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--timing-repeats", type=int, default=30)
    r.add_argument("--out", default="benchmarks/results/cnn_epoch_time_cuda.json")
    args = p.parse_args(argv)
    if args.cmd == "export":
        export(Path(args.path))
    else:
        for name in ("epoch_images", "epochs", "seeds", "timing_repeats"):
            if getattr(args, name) < 1:
                p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        run(args)


if __name__ == "__main__":
    main()
