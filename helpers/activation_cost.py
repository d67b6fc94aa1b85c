"""What activations cost to compute (chapter 1): timings built on ``torch.utils.benchmark``.

:func:`time_activations` times each activation alone (forward, forward + backward) on one
tensor; :func:`time_per_epoch` times whole training steps of small nets; :func:`time_to_target`
combines the two into seconds to a target accuracy; :func:`time_sparse_matmul` asks whether
ReLU's zeros make the next layer's matmul cheaper. Jobs are interleaved round by round, so a
load spike on a shared machine hits every job alike; :func:`device_label` names what they
ran on. Figure: :func:`plot_timings`.
"""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils import benchmark

from .activation_registry import NAMES
from .activations import spec
from .runtime import cpu_model
from .train import TrainResult, epochs_to


def device_label(device: str | torch.device = "cpu", num_threads: int = 1) -> str:
    """What the timings ran on, e.g. ``CPU (AMD EPYC), 1 thread, torch 2.14``."""
    device = torch.device(device)
    if device.type == "cuda":
        what = f"GPU ({torch.cuda.get_device_name(device)})"
    else:
        what = f"CPU ({cpu_model()}), {num_threads} thread{'s' if num_threads > 1 else ''}"
    return f"{what}, torch {torch.__version__.split('+')[0]}"


def _check_timing_args(num_threads: int, rounds: int) -> None:
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads={num_threads!r} is invalid; accepted: an int >= 1")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r} is invalid; accepted: an int >= 1")


def _interleaved(jobs: dict, min_run_time: float, num_threads: int = 1,
                 rounds: int = 3) -> dict:
    """Time every job (``key -> (stmt, globals)``) with ``torch.utils.benchmark``, in
    ``rounds`` interleaved passes of ``min_run_time / rounds`` seconds each, and pool the
    per-run times: ``key -> (median s, IQR s)``. Interleaving spreads bursts of load from
    other processes over all jobs instead of penalising whichever ran during the burst.
    One thread by default: on a shared machine a multi-threaded kernel waits for its
    slowest thread, so the timing would measure the neighbours rather than the code."""
    _check_timing_args(num_threads, rounds)
    times: dict = {key: [] for key in jobs}
    for _ in range(rounds):
        for key, (stmt, env) in jobs.items():
            timer = benchmark.Timer(stmt=stmt, globals=env, num_threads=num_threads)
            times[key] += timer.blocked_autorange(min_run_time=min_run_time / rounds).times
    out = {}
    for key, t in times.items():
        q25, q50, q75 = np.percentile(t, [25, 50, 75])
        out[key] = (float(q50), float(q75 - q25))
    return out


def time_activations(names: list[str], n_elements: int, device: str | torch.device = "cpu",
                     min_run_time: float = 0.3, seed: int = 0, num_threads: int = 1,
                     rounds: int = 3) -> pd.DataFrame:
    """Forward and forward+backward time of PyTorch's implementation of each activation on
    one float32 tensor of ``n_elements`` standard-normal values (``torch.utils.benchmark``;
    median and inter-quartile range of the runs, see :func:`_interleaved`), plus the ratio
    to ReLU when ReLU is in ``names``."""
    if not isinstance(n_elements, int) or n_elements < 1:
        raise ValueError(f"n_elements={n_elements!r} is invalid; accepted: an int >= 1")
    _check_timing_args(num_threads, rounds)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_elements, generator=gen).to(device).requires_grad_(True)
    g = torch.ones_like(x)
    jobs = {}
    for name in names:
        env = {"f": spec(name).reference, "x": x, "g": g, "torch": torch}
        jobs[name, "forward"] = ("with torch.no_grad(): f(x)", env)
        jobs[name, "forward+backward"] = ("torch.autograd.grad(f(x), x, g)", env)
    timed = _interleaved(jobs, min_run_time, num_threads, rounds)
    table = pd.DataFrame([
        {"activation": name, "pass": kind, "elements": n_elements,
         "median (ms)": 1e3 * med, "IQR (ms)": 1e3 * iqr, "ns per element": 1e9 * med / n_elements}
        for (name, kind), (med, iqr) in timed.items()])
    if "relu" in names:
        base = table[table.activation == "relu"].set_index("pass")["median (ms)"]
        table["x ReLU time"] = table["median (ms)"] / table["pass"].map(base)
    return table


def relative_time(table: pd.DataFrame, name: str, kind: str, base: str = "relu") -> str:
    """How ``name``'s ``kind`` pass (``"forward"``, ``"forward+backward"``) compares with
    ``base``'s in a :func:`time_activations` table: ``"1.18 times ReLU's time"``, or, when
    the medians differ by less than the mean of the two inter-quartile ranges of the
    repetitions, that ratio followed by ``"(within the repetitions' scatter)"``: a
    difference this machine's load can produce, not one established."""
    rows = table.set_index(["activation", "pass"])
    for key in ((name, kind), (base, kind)):
        if key not in rows.index:
            raise ValueError(f"{key} is not in the table; accepted: one of "
                             f"{sorted(set(rows.index))}")
    a, b = rows.loc[(name, kind)], rows.loc[(base, kind)]
    text = f"{a['median (ms)'] / b['median (ms)']:.2f} times {NAMES.get(base, base)}'s time"
    if abs(a["median (ms)"] - b["median (ms)"]) < (a["IQR (ms)"] + b["IQR (ms)"]) / 2:
        text += " (within the repetitions' scatter)"
    return text


def _train_step_job(model: nn.Module, x: Tensor, y: Tensor, lr: float = 1e-3) -> tuple:
    """A training step (forward, cross-entropy, backward, Adam update) as a benchmark job,
    on a copy of ``model`` so the model itself is unchanged."""
    clone = copy.deepcopy(model).train()
    opt = torch.optim.Adam(clone.parameters(), lr=lr)
    env = {"model": clone, "opt": opt, "x": x, "y": y, "F": F}
    return ("opt.zero_grad(set_to_none=True); "
            "F.cross_entropy(model(x), y).backward(); opt.step()", env)


def time_per_epoch(models: dict[str, nn.Module], x: Tensor, y: Tensor, batch_size: int = 128,
                   n_train: int = 50_000, min_run_time: float = 0.5, num_threads: int = 1,
                   rounds: int = 3) -> pd.DataFrame:
    """Training-step time of each MLP on one real batch and the implied time of an epoch of
    ``n_train`` images (``n_train // batch_size`` steps, as in
    :func:`helpers.train.train_model`); the ratio to the first model; and how much of the
    step the activations themselves take (forward+backward of ``model.act`` on one
    ``[batch_size, width]`` tensor per hidden layer). The models are not changed."""
    if len(x) < batch_size:
        raise ValueError(f"batch_size={batch_size!r} is larger than the {len(x)} samples given")
    xb, yb = x[:batch_size], y[:batch_size]
    jobs = {}
    for name, model in models.items():
        jobs[name, "step"] = _train_step_job(model, xb, yb)
        h = torch.randn(batch_size, model.linears[0].out_features,
                        device=xb.device).requires_grad_(True)
        jobs[name, "act"] = ("torch.autograd.grad(f(h), h, g)",
                             {"f": model.act, "h": h, "g": torch.ones_like(h), "torch": torch})
    timed = _interleaved(jobs, min_run_time, num_threads, rounds)
    rows = []
    for name, model in models.items():
        (step, iqr), act = timed[name, "step"], len(model.linears) * timed[name, "act"][0]
        rows.append({"model": name, "step median (ms)": 1e3 * step, "step IQR (ms)": 1e3 * iqr,
                     "epoch (s)": step * (n_train // batch_size),
                     "activations (ms)": 1e3 * act, "activation share (%)": 100 * act / step})
    table = pd.DataFrame(rows).set_index("model")
    table.insert(3, "x first", table["step median (ms)"] / table["step median (ms)"].iloc[0])
    return table


def resolved_steps(table: pd.DataFrame) -> str:
    """Which networks of :func:`time_per_epoch` differ in step time from the first row by
    more than the step-to-step spread of both (their IQRs): prose, e.g. ``"none of the 5
    other networks ..."``. A difference inside that spread is not resolved on this
    machine."""
    first = table.index[0]
    base, base_iqr = table["step median (ms)"].iloc[0], table["step IQR (ms)"].iloc[0]
    others = table.iloc[1:]
    diff = others["step median (ms)"] - base
    resolved = diff.abs() > others["step IQR (ms)"].clip(lower=base_iqr)
    if not resolved.any():
        return (f"none of the {len(others)} other networks' steps differs from the {first} "
                "network's by more than the step-to-step spread (IQR)")
    names = [f"{m} ({d:+.1f} ms)" for m, d in diff[resolved].items()]
    return (f"{len(names)} of the {len(others)} other networks' steps differ from the {first} "
            f"network's by more than the step-to-step spread (IQR): {', '.join(names)}")


def time_to_target(results: dict[str, TrainResult], epoch_seconds: dict[str, float],
                   target: float) -> pd.DataFrame:
    """Training time = epochs x time per epoch. For each run: the first epoch whose
    training accuracy reaches ``target`` (a fraction; NaN if never), the seconds per epoch
    of its activation (``epoch_seconds``: activation -> s, e.g. the ``epoch (s)`` column
    of :func:`time_per_epoch`), their product, and the best validation accuracy with the
    training accuracy at that epoch. A run's activation is its network's; for a run stored
    without its network, the label up to the first comma (``"relu, lr=0.001"``)."""
    rows = []
    for label, r in results.items():
        h = r.history
        epochs = epochs_to(h, target)
        activation = (label.split(",")[0] if r.model is None else
                      r.model.config.get("variant", r.model.config["activation"]))
        seconds = epoch_seconds[activation]
        rows.append({"run": label, f"epochs to {100 * target:g} % train acc": epochs,
                     "s per epoch": seconds, "seconds to target": epochs * seconds,
                     "best val acc (%)": 100 * r.best_val_acc,
                     "train acc at best (%)": 100 * h.loc[r.best_epoch, "train_acc"]})
    return pd.DataFrame(rows).set_index("run")


def time_sparse_matmul(h: Tensor, weight: Tensor, min_run_time: float = 0.3,
                       num_threads: int = 1, rounds: int = 3) -> pd.DataFrame:
    """Does ReLU sparsity make the next layer cheaper? Times ``h @ weight.T`` dense, with
    ``h`` already in sparse (COO) form, and with the conversion included. The share of
    zeros in ``h`` is in ``table.attrs["zeros (%)"]``."""
    h = h.detach()
    env = {"h": h, "hs": h.to_sparse(), "w": weight.detach().T.contiguous(), "torch": torch}
    jobs = {"dense h @ W": ("h @ w", env),
            "sparse h @ W (h pre-converted)": ("torch.sparse.mm(hs, w)", env),
            "sparse h @ W (incl. conversion)": ("torch.sparse.mm(h.to_sparse(), w)", env)}
    timed = _interleaved(jobs, min_run_time, num_threads, rounds)
    table = pd.DataFrame([{"method": k, "median (ms)": 1e3 * m, "IQR (ms)": 1e3 * q}
                          for k, (m, q) in timed.items()]).set_index("method")
    table["x dense"] = table["median (ms)"] / table["median (ms)"].iloc[0]
    table.attrs["zeros (%)"] = 100 * (h == 0).float().mean().item()
    return table


def plot_timings(table: pd.DataFrame, device: str) -> plt.Figure:
    """Bar chart of :func:`time_activations`: ns per element, forward and forward+backward,
    with the inter-quartile range as error bars."""
    names = list(dict.fromkeys(table.activation))
    data = table.assign(activation=table.activation.map(lambda n: NAMES.get(n, n)),
                        iqr_ns=1e6 * table["IQR (ms)"] / table["elements"])
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    sns.barplot(data=data, x="activation", y="ns per element", hue="pass", ax=ax,
                order=[NAMES.get(n, n) for n in names])
    for bar_group, kind in zip(ax.containers, data["pass"].unique()):
        sub = data[data["pass"] == kind].set_index("activation").loc[
            [NAMES.get(n, n) for n in names]]
        xs = [b.get_x() + b.get_width() / 2 for b in bar_group]
        ax.errorbar(xs, sub["ns per element"], yerr=sub["iqr_ns"] / 2, fmt="none",
                    ecolor="black", capsize=3, linewidth=1)
    n = int(table["elements"].iloc[0])
    ax.set(xlabel="", ylabel="time per element (ns)",
           title=f"Activation cost on {n:,} standard-normal float32 values\n{device}")
    fig.tight_layout()
    return fig
