"""Chapter 10: where a training step of the CNN spends its time, operator by operator.

Chapter 10's sigmoid epochs are slower than its ReLU epochs by more than the activation alone
explains. This module locates the rest with PyTorch's profiler, on the CPU.

Semantics of every number:

* **Step profile** (:func:`profile_steps`). One CNN per activation (chapter 10's network,
  one ``seed`` for both: the same batch order, initial weights by each activation's init
  scheme) trains with Adam exactly as in :func:`helpers.cnn_sigmoid_vs_relu.train_runs`
  (:func:`~helpers.cnn_sigmoid_vs_relu.train_step`, one seeded permutation per epoch, the
  last smaller batch kept). When a network has done ``at`` training steps, for every ``at``
  in ``at_steps``, it is profiled for ``rounds`` rounds of ``steps`` steps; the activations
  take turns, in alternating order, so that a change of machine load hits both alike.
  Profiled steps train too and count towards the next ``at``. A row of ``ops`` is one
  (activation, ``at``, round, operator, group): the operator's *self* CPU time (inside the
  operator, not in the operators it calls) per step, in seconds. The group (:func:`op_group`)
  is ``Adam`` for everything the optimiser's step runs, else the operator's by name
  (:data:`OP_GROUPS`).
  ``rounds`` adds each round's wall seconds per step (the profiler's overhead included).
* **Zeros at the pools**: before each profile point, the fraction of exact zeros in the tensors
  the max-pools receive (every block's activation output), on the first ``batch_size``
  training images in train mode, and the fraction of 2×2 pooling windows that hold only
  zeros.
* **Max-pool alone** (:func:`time_pool`): the max-pool's forward pass (with indices, as in
  training) timed on tensors of the shapes it sees in one batch, filled with ``relu(z - b)``
  for standard normal ``z`` and ``b`` chosen for a given fraction of zeros, and with
  ``sigmoid(z)`` (no zeros) for reference; median over repeats, the inputs in alternating
  order, one warm-up round discarded. A synthetic micro-benchmark of one operator: it shows
  how the pool's cost depends on its input, not what the network's inputs are.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

from .book import joined, plus_minus
from .chapter_results import train_or_load
from .claims.judging import se_factor
from .cnn_sigmoid_vs_relu import (
    activation_shapes,
    images,
    load_data,
    mean_se,
    settings,
    train_step,
)
from .data import Dataset
from .models import make_cnn
from .plots import ACTIVATION_COLORS, ACTIVATION_NAMES, with_source
from .profiles import check_profile
from .runtime import check_training_allowed, device_name, torch_threads

RESULT_NAME = "10_cnn_step_profile"
PROFILE_SETTINGS = {
    # ``at_steps`` in training steps: the start (past one-off set-up costs), after one epoch,
    # after five (313 steps an epoch in ``paper``)
    "quick": dict(at_steps=(1, 8), steps=2, rounds=2, pool_repeats=3),
    "paper": dict(at_steps=(5, 313, 1565), steps=20, rounds=8, pool_repeats=15),
}
POOL_ZERO_FRACTIONS = (0.0, 0.25, 0.5, 0.7, 0.85, 0.95, 0.99)
# operator or autograd node -> group. An operator counts towards the group of the nearest
# event around it that is listed (its own name first): the buffers a max-pool's backward
# zero-fills count as max-pool, the bias gradient summed inside a dense layer's backward as
# dense. Everything inside the optimiser counts as Adam; the rest is "other" (the batch
# gather x[idx], autograd bookkeeping).
OP_GROUPS = {
    "convolution": ("aten::conv2d", "aten::convolution", "aten::_convolution",
                    "aten::mkldnn_convolution", "aten::_slow_conv2d_forward",
                    "aten::thnn_conv2d", "aten::convolution_backward",
                    "aten::_slow_conv2d_backward", "ConvolutionBackward0"),
    "max-pool": ("aten::max_pool2d", "aten::max_pool2d_with_indices",
                 "aten::max_pool2d_with_indices_backward", "MaxPool2DWithIndicesBackward0"),
    "activation": ("aten::sigmoid", "aten::sigmoid_backward", "aten::relu", "aten::relu_",
                   "aten::clamp_min", "aten::threshold_backward", "SigmoidBackward0",
                   "ReluBackward0"),
    "dense": ("aten::linear", "aten::addmm", "aten::mm", "AddmmBackward0", "MmBackward0",
              "TBackward0"),
    "loss": ("aten::cross_entropy_loss", "aten::log_softmax", "aten::_log_softmax",
             "aten::_log_softmax_backward_data", "aten::nll_loss", "aten::nll_loss_nd",
             "aten::nll_loss_forward", "aten::nll_loss_backward", "LogSoftmaxBackward0",
             "NllLossBackward0"),
    "Adam": (),  # by context: see op_group
}
GROUP_ORDER = (*OP_GROUPS, "other")
_GROUP_OF = {op: group for group, ops in OP_GROUPS.items() for op in ops}
_NODE_PREFIX = "autograd::engine::evaluate_function: "


def op_group(op: str, ancestors: Sequence[str] = ()) -> str:
    """The group of a profiler event ``op`` that ran inside ``ancestors`` (the names of the
    events around it, innermost first): ``Adam`` inside the optimiser's step or
    ``zero_grad`` (its arithmetic runs as ordinary operators such as ``aten::lerp_``), else
    the group of the nearest listed name in :data:`OP_GROUPS`, else ``other``."""
    chain = [name.removeprefix(_NODE_PREFIX) for name in (op, *ancestors)]
    if any(name.startswith("Optimizer.") or name.startswith("aten::_foreach_")
           for name in chain):
        return "Adam"
    return next((_GROUP_OF[name] for name in chain if name in _GROUP_OF), "other")


def _ancestors(event) -> list[str]:
    names, parent = [], event.cpu_parent
    while parent is not None:
        names.append(parent.name)
        parent = parent.cpu_parent
    return names


def _op_rows(prof, steps: int, key: dict) -> list[dict]:
    """One row per (operator, group) of a profiled round: self CPU seconds per step."""
    total: dict[tuple[str, str], float] = {}
    for e in prof.events():
        k = (e.name, op_group(e.name, _ancestors(e)))
        total[k] = total.get(k, 0.0) + e.self_cpu_time_total
    return [key | dict(op=op, group=group, s_per_step=us / 1e6 / steps)
            for (op, group), us in total.items()]


# the keys of chapter 10's settings that the profile uses (not its seeds or epochs)
CHAPTER_KEYS = ("dataset", "activations", "channels", "hidden", "batch_norm", "optimizer",
                "lr", "batch_size", "cpu_threads", "device", "n_train", "n_val", "n_test")


def profile_settings(profile: str) -> dict:
    """The profile's settings for ``profile``: chapter 10's network, data and optimiser,
    one ``seed`` and :data:`PROFILE_SETTINGS` (a fresh copy)."""
    chapter = settings(profile)
    return ({k: chapter[k] for k in CHAPTER_KEYS} | dict(seed=0)
            | dict(PROFILE_SETTINGS[check_profile(profile)]))


def _check(s: Mapping) -> None:
    at = s["at_steps"]
    if (not isinstance(at, (list, tuple)) or not at
            or not all(isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in at)
            or list(at) != sorted(at)):
        raise ValueError(f"at_steps={at!r} is invalid; it must be a non-empty increasing "
                         "sequence of integers >= 0, e.g. (0, 313)")
    for key in ("steps", "rounds", "pool_repeats"):
        v = s[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{key}={v!r} is invalid; it must be an integer >= 1")
    if not isinstance(s["seed"], int) or isinstance(s["seed"], bool) or s["seed"] < 0:
        raise ValueError(f"seed={s['seed']!r} is invalid; it must be an integer >= 0")
    profiled = s["rounds"] * s["steps"]
    if any(b - a < profiled for a, b in zip(at, at[1:])):
        raise ValueError(f"at_steps={at!r} is invalid: each point profiles (and trains) "
                         f"rounds x steps = {profiled} steps, so consecutive points must be "
                         f"at least {profiled} steps apart")
    if torch.device(s["device"]).type != "cpu":
        raise ValueError(f"device={s['device']!r} is not supported; the step profile reads "
                         "CPU self time, accepted: 'cpu'")


def batch_stream(n: int, batch_size: int, gen: torch.Generator) -> Iterator[Tensor]:
    """Index batches as chapter 10 trains them, endlessly: per epoch one permutation of
    ``range(n)`` drawn from ``gen``, cut into batches of ``batch_size`` (last one smaller)."""
    while True:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


def _net(data: Dataset, activation: str, seed: int, s: Mapping) -> dict:
    model = make_cnn(activation, seed=seed, channels=tuple(s["channels"]), hidden=s["hidden"],
                     batch_norm=s["batch_norm"]).train()
    return dict(activation=activation, model=model, done=0,
                opt=torch.optim.Adam(model.parameters(), lr=s["lr"]),
                batches=batch_stream(len(data.train), s["batch_size"],
                                     torch.Generator().manual_seed(seed)))


def _train(net: dict, x: Tensor, y: Tensor, n: int) -> float:
    """``n`` training steps of ``net``; returns their wall seconds."""
    start = time.perf_counter()
    for _ in range(n):
        idx = next(net["batches"])
        train_step(net["model"], net["opt"], x[idx], y[idx])
    net["done"] += n
    return time.perf_counter() - start


@torch.no_grad()
def pool_zero_fractions(model: nn.Module, xb: Tensor) -> list[tuple[float, float]]:
    """Per block: the fraction of exact zeros in what the block's max-pool receives, and
    the fraction of its 2×2 pooling windows that hold only zeros."""
    _, hidden = model(xb, return_hidden=True)
    return [(float((h == 0).float().mean()), float((F.max_pool2d(h.abs(), 2) == 0).float()
                                                   .mean())) for h in hidden[:-1]]


def profile_steps(data: Dataset, s: Mapping) -> dict:
    """The step profile of ``s`` (see the module docstring; the networks' seed is
    ``s["seed"]``): tables ``ops``, ``rounds`` and ``zeros``, plus the device, data label and
    batches per epoch. Refused under ``ACTFN_NO_TRAIN=1``."""
    _check(s)
    check_training_allowed("profiling the CNN's training steps")
    seed = s["seed"]
    x, y = images(data.train.x), data.train.y
    nets = [_net(data, a, seed, s) for a in s["activations"]]
    ops, rounds, zeros = [], [], []
    for at in s["at_steps"]:
        for net in nets:
            _train(net, x, y, at - net["done"])
            for block, (frac, windows) in enumerate(
                    pool_zero_fractions(net["model"], x[:s["batch_size"]])):
                zeros.append(dict(activation=net["activation"], at_step=at, block=block + 1,
                                  zero_frac=frac, zero_windows=windows))
        for r in range(s["rounds"]):
            for net in nets if r % 2 == 0 else nets[::-1]:
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    wall = _train(net, x, y, s["steps"])
                key = dict(activation=net["activation"], at_step=at, round=r)
                rounds.append(key | dict(wall_s_per_step=wall / s["steps"]))
                ops += _op_rows(prof, s["steps"], key)
    return dict(ops=pd.DataFrame(ops), rounds=pd.DataFrame(rounds), zeros=pd.DataFrame(zeros),
                device=device_name(s["device"]), source=data.source, label=data.label,
                batches_per_epoch=math.ceil(len(data.train) / s["batch_size"]), seed=seed)


def time_pool(shapes: Sequence[tuple[int, ...]],
              zero_fractions: Sequence[float] = POOL_ZERO_FRACTIONS, repeats: int = 15,
              seed: int = 0) -> pd.DataFrame:
    """Seconds of one max-pool forward (2×2, with indices) over all ``shapes`` (one batch)
    per input kind and repeat: ``relu(z - b)`` with each requested fraction of zeros, and
    ``sigmoid(z)``. Columns: ``input``, ``zero_frac`` (measured), ``repeat``, ``seconds``."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats={repeats!r} is invalid; it must be an integer >= 1")
    bad = [p for p in zero_fractions if not 0 <= p < 1]
    if bad or not len(zero_fractions):
        raise ValueError(f"zero_fractions={tuple(zero_fractions)!r} is invalid; accepted: a "
                         "non-empty sequence of fractions in [0, 1)")
    g = torch.Generator().manual_seed(seed)
    zs = [torch.randn(shape, generator=g) for shape in shapes]
    inputs = {"sigmoid": [torch.sigmoid(z) for z in zs]}
    for p in zero_fractions:
        # p = 0: a shift far below the data (no zeros, values still in random order)
        shift = float(torch.special.ndtri(torch.tensor(float(p)))) if p > 0 else -10.0
        inputs[f"relu, {p:.0%} zeros"] = [torch.relu(z - shift) for z in zs]
    frac = {k: sum(int((t == 0).sum()) for t in ts) / sum(t.numel() for t in ts)
            for k, ts in inputs.items()}
    rows = []
    names = list(inputs)
    for r in range(repeats + 1):
        for k in names if r % 2 else names[::-1]:
            start = time.perf_counter()
            for t in inputs[k]:
                F.max_pool2d(t, 2, return_indices=True)
            seconds = time.perf_counter() - start
            if r:  # round 0 is the warm-up
                rows.append(dict(input=k, zero_frac=frac[k], repeat=r, seconds=seconds))
    return pd.DataFrame(rows)


def run_profile(s: Mapping, root: str | os.PathLike | None = None,
                data: Dataset | None = None) -> dict:
    """:func:`profile_steps` and :func:`time_pool` (on the pools' shapes of one batch) for
    ``s``, with ``s["cpu_threads"]`` torch threads."""
    _check(s)
    data = load_data(s, root) if data is None else data
    with torch_threads(s["cpu_threads"]):
        out = profile_steps(data, s)
        shapes = activation_shapes(s)[:-1]  # what the three pools receive
        out["pool"] = time_pool(shapes, repeats=s["pool_repeats"])
    out["pool_shapes"] = [list(sh) for sh in shapes]
    return out


def results(profile: str, root: str | os.PathLike | None = None,
            store: Path | None = None) -> dict:
    """The step profile: live in ``quick``; committed (computed once) in ``paper``."""
    s = profile_settings(profile)
    return train_or_load(RESULT_NAME, lambda: run_profile(s, root), profile, s,
                         device=s["device"], root=store)


# --- tables ---------------------------------------------------------------------------


def group_times(ops: pd.DataFrame) -> pd.DataFrame:
    """Seconds per step per (activation, at_step, round, group): the operators summed."""
    return (ops.groupby(["activation", "at_step", "round", "group"], as_index=False)
            ["s_per_step"].sum())


def group_table(ops: pd.DataFrame, at_step: int, first: str = "sigmoid",
                second: str = "relu") -> pd.DataFrame:
    """Per group at ``at_step``: milliseconds per step of ``first`` and ``second`` (mean
    over rounds) and their difference, mean and SE over rounds (paired by round); a
    ``total`` row sums the groups."""
    g = group_times(ops[ops["at_step"] == at_step])
    missing = [a for a in (first, second) if a not in set(g["activation"])]
    if missing:
        profiled = ops[["activation", "at_step"]].drop_duplicates().to_numpy().tolist()
        raise ValueError(f"at_step={at_step!r}: no profile of {missing}; profiled: "
                         f"{sorted(map(tuple, profiled))}")
    wide = g.pivot_table(index=["round", "group"], columns="activation",
                         values="s_per_step", fill_value=0.0)
    per_round = wide.unstack("group", fill_value=0.0)
    rows = {}
    for group in [*GROUP_ORDER, "total"]:
        if group == "total":
            a, b = per_round[first].sum(axis=1), per_round[second].sum(axis=1)
        elif (first, group) in per_round.columns:
            a, b = per_round[(first, group)], per_round[(second, group)]
        else:
            continue
        diff, se = mean_se(1e3 * (a - b))
        rows[group] = {f"{first} ms": 1e3 * a.mean(), f"{second} ms": 1e3 * b.mean(),
                       "difference ms": diff, "SE": se}
    return pd.DataFrame(rows).T.rename_axis("group")


def differences(ops: pd.DataFrame, groups: Sequence[str] = ("activation", "max-pool",
                                                              "convolution", "total")
                ) -> pd.DataFrame:
    """Sigmoid − ReLU milliseconds per step for ``groups`` at every profile point: one row
    per (``at_step``, group), columns ``difference ms`` and ``SE`` (over rounds)."""
    rows = []
    for at in sorted(ops["at_step"].unique()):
        t = group_table(ops, int(at))
        rows += [dict(at_step=int(at), group=g, **t.loc[g, ["difference ms", "SE"]])
                 for g in groups if g in t.index]
    return pd.DataFrame(rows).set_index(["at_step", "group"])


def zero_table(zeros: pd.DataFrame, weights: Sequence[int] | None = None,
               column: str = "zero_frac") -> pd.DataFrame:
    """``column`` (``zero_frac`` or ``zero_windows``) of the pools' inputs per activation and
    ``at_step``: one column per block and ``all`` (weighted by ``weights``, e.g. the elements
    per block; a plain mean if None)."""
    wide = zeros.pivot_table(index=["activation", "at_step"], columns="block", values=column)
    w = np.ones(wide.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    wide["all"] = wide.to_numpy() @ w / w.sum()
    return wide


def pool_table(pool: pd.DataFrame) -> pd.DataFrame:
    """Per pool input: its fraction of zeros and the median milliseconds per batch."""
    out = pool.groupby("input", sort=False).agg(zero_frac=("zero_frac", "first"),
                                                 ms=("seconds", "median"))
    out["ms"] *= 1e3
    return out


# --- the numbers the chapter quotes ----------------------------------------------------


def timing_noise(rounds: int) -> float:
    """How many standard errors over ``rounds`` a difference must exceed to count: Student's
    t critical value (95 %, two-sided; :func:`helpers.claims.judging.se_factor`), the book's
    rule for seeds applied to the profile's rounds (2.36 for 8 rounds)."""
    return se_factor(rounds)


def rounds_of(result: Mapping, at_step: int) -> int:
    """How many timing rounds ``result`` holds at profile point ``at_step``."""
    ops = result["ops"]
    return int(ops.loc[ops["at_step"] == at_step, "round"].nunique())


def profile_numbers(result: Mapping, ps: Mapping, k: float | None = None) -> dict[str, str]:
    """The step profile for the prose, at the last profile point unless said: the profile
    points (in steps and epochs), rounds and steps, ms per step per activation and the
    differences sigmoid − ReLU per group (± SE over rounds; ``prof_<group>``), each group's
    share of a ReLU step, the max-pool's and both groups' extra seconds per epoch, and the
    readings: does the convolution differ, and at how many points did the max-pools take
    longer after the sigmoid, by more than ``k`` SE (default :func:`timing_noise`)."""
    ops, per_step = result["ops"], result["batches_per_epoch"]
    last = ps["at_steps"][-1]
    rounds = rounds_of(result, last)  # as stored, whatever the settings say now
    k = timing_noise(rounds) if k is None else k
    beyond = f"by more than {k:.2f} standard errors (the timing noise)"
    table = group_table(ops, last)
    pool_diff = differences(ops).xs("max-pool", level="group")
    pool_slower = int((pool_diff["difference ms"] > k * pool_diff["SE"]).sum())
    relu_ms = table["relu ms"]
    conv = table.loc["convolution"]
    per_epoch = per_step / 1e3  # ms per step -> s per epoch
    both = table.loc[["activation", "max-pool"], "difference ms"].sum()
    out = {
        "prof_points": joined([str(a) for a in ps["at_steps"]]),
        "prof_points_epochs": joined([f"{a / per_step:.1f}" for a in ps["at_steps"]]),
        "prof_rounds": str(rounds), "prof_noise": f"{k:.2f}", "prof_steps": str(ps["steps"]),
        "prof_last": str(last),
        "prof_sigmoid": f"{table.loc['total', 'sigmoid ms']:.0f}",
        "prof_relu": f"{table.loc['total', 'relu ms']:.0f}",
        "prof_conv_share": f"{100 * relu_ms['convolution'] / relu_ms['total']:.0f}",
        "prof_pool_share": f"{100 * relu_ms['max-pool'] / relu_ms['total']:.0f}",
        "prof_both_s": f"{both * per_epoch:.1f}",
        "prof_pool_s": f"{table.loc['max-pool', 'difference ms'] * per_epoch:.1f}",
        "prof_conv_reading": (
            "cost the same for both activations within the noise"
            if abs(conv["difference ms"]) <= k * conv["SE"] else
            f"took {'longer' if conv['difference ms'] > 0 else 'less time'} after the sigmoid"),
        "prof_pool_reading": (
            f"At {'the one point' if len(pool_diff) == 1 else f'all {len(pool_diff)} points'} "
            f"the max-pools took longer after the sigmoid, {beyond}"
            if pool_slower == len(pool_diff) else
            f"At {pool_slower} of {len(pool_diff)} points the max-pools took longer after the "
            f"sigmoid, {beyond}; at the others the difference is within the noise"),
    }
    for group in ("total", "activation", "max-pool", "convolution"):
        row = table.loc[group]
        out[f"prof_{group.replace('-', '')}"] = plus_minus(row["difference ms"], row["SE"],
                                                           ".1f")
    return out


def pool_numbers(result: Mapping, ps: Mapping) -> dict[str, str]:
    """The max-pool alone for the prose: its median ms per batch on the sigmoid's input, on
    a ReLU-shaped input without zeros and with 50 % and 95 % zeros; the ReLU network's share
    of zeros at its pools (first and last profile points, all blocks weighted by their
    elements), of all-zero 2x2 windows, and what independent zeros would give (p**4)."""
    pool = pool_table(result["pool"])
    weights = [math.prod(shape) for shape in result["pool_shapes"]]
    zeros = zero_table(result["zeros"], weights).loc["relu"]
    windows = zero_table(result["zeros"], weights, "zero_windows").loc["relu"]
    first, last = ps["at_steps"][0], ps["at_steps"][-1]
    blocks = [c for c in zeros.columns if c != "all"]
    independent = float((zeros.loc[last, blocks] ** 4 * weights).sum() / sum(weights))
    return {
        "pool_sigmoid": f"{pool.loc['sigmoid', 'ms']:.0f}",
        "pool_none": f"{pool.drop(index='sigmoid')['ms'].iloc[0]:.0f}",
        "pool_50": f"{pool.loc['relu, 50% zeros', 'ms']:.0f}",
        "pool_95": f"{pool.loc['relu, 95% zeros', 'ms']:.0f}",
        "net_zeros_first": f"{100 * zeros.loc[first, 'all']:.0f}",
        "net_zeros_last": f"{100 * zeros.loc[last, 'all']:.0f}",
        "net_windows_last": f"{100 * windows.loc[last, 'all']:.0f}",
        "net_windows_indep": f"{100 * independent:.0f}",
    }


# --- figures --------------------------------------------------------------------------


def plot_step_profile(result: Mapping, at_step: int) -> plt.Figure:
    """Left: milliseconds per step per operator group, one bar per activation (mean over
    rounds). Right: the difference sigmoid − ReLU per group, with ± :func:`timing_noise`
    standard errors over rounds (a bar clear of 0 is a difference beyond the noise)."""
    table = group_table(result["ops"], at_step)
    rounds = rounds_of(result, at_step)
    k = timing_noise(rounds)
    groups = [g for g in GROUP_ORDER if g in table.index]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    y = np.arange(len(groups))
    for i, a in enumerate(("sigmoid", "relu")):
        ax.barh(y + (0.2 if i else -0.2), table.loc[groups, f"{a} ms"], height=0.4,
                color=ACTIVATION_COLORS[a], label=ACTIVATION_NAMES[a])
    ax.set_yticks(y, groups)
    ax.invert_yaxis()
    ax.set(xlabel="milliseconds per training step (self CPU time)")
    ax.legend(fontsize=8)
    diff, se = table.loc[groups, "difference ms"], table.loc[groups, "SE"].fillna(0)
    bx.barh(y, diff, xerr=k * se, color="0.45", capsize=3, height=0.5)
    bx.axvline(0, color="black", linewidth=0.8)
    bx.set(xlabel=f"{ACTIVATION_NAMES['sigmoid']} − {ACTIVATION_NAMES['relu']} (ms per step,"
                  f" ±{k:.2f} SE over {rounds} rounds)")
    fig.suptitle(with_source(f"One training step, after {at_step} steps "
                             f"({result['device'].split(' (')[0]}, one thread)",
                             result["source"]), fontsize=9)
    fig.tight_layout()
    return fig


def plot_pool_sparsity(result: Mapping) -> plt.Figure:
    """Max-pool forward time against the fraction of zeros in its input (``relu(z - b)``),
    the ``sigmoid(z)`` input as a dashed line, and the ReLU network's own fractions of zeros
    at each profile point as vertical lines."""
    table = pool_table(result["pool"])
    relu = table.drop(index="sigmoid")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(100 * relu["zero_frac"], relu["ms"], marker="o", color=ACTIVATION_COLORS["relu"],
            label="ReLU-shaped input, relu(z − b)")
    ax.axhline(table.loc["sigmoid", "ms"], color=ACTIVATION_COLORS["sigmoid"], linestyle="--",
               label="sigmoid(z) input (no zeros)")
    weights = [math.prod(sh) for sh in result["pool_shapes"]]
    net = zero_table(result["zeros"], weights).loc["relu", "all"]
    for k, (at, frac) in enumerate(net.items()):
        ax.axvline(100 * frac, color=str(0.65 - 0.5 * k / max(len(net) - 1, 1)),
                   linestyle=":", linewidth=1.6,
                   label=f"ReLU network after {at} steps: {100 * frac:.0f} % zeros")
    ax.set(xlabel="zeros in the pool's input (%; synthetic inputs: independent zeros)",
           ylabel="ms per batch (3 pools, forward)")
    ax.set_ylim(bottom=0)  # from zero: the fall is read against the whole time
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("The max-pool's cost depends on its input (one thread)", fontsize=9)
    fig.tight_layout()
    return fig
