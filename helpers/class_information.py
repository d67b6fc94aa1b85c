"""Where class information lives in a network (chapter 8, "Beyond the paper").

* **Node selectivity** — :func:`node_perplexity`: for every hidden node, the class
  distribution of the samples that switch it *on* (ReLU: output > 0; sigmoid: output >
  ``threshold``, 0.5 by default, see :func:`on_threshold`), summarised by its perplexity
  ``exp(entropy)``: 1 = the node fires for one class only, ``n_classes`` = class-agnostic.
  A node that is never on has no class distribution: its perplexity is NaN (counted
  separately as "never on"). After Davel, Theunissen, Pretorius & Barnard (AAAI 2020).
* **Linear probes** — :func:`linear_probe`: multinomial logistic regression (plain torch,
  Adam, fixed iteration budget, seeded) fitted on one layer's outputs of the training split,
  scored on the test split; :func:`layer_probes` does every layer of a net.
* **Update-to-data ratio** — :func:`update_ratio`: per layer
  ``log10(std(W_after - W_before) / std(W_before))`` for one optimiser step (Karpathy's
  diagnostic; for Adam the actual change of a step). :class:`UpdateRecorder` measures it at
  every step of :func:`helpers.train.train_model`, :class:`ClassInfoProbe` is the
  ``on_epoch_end`` callback that adds sparsity, saturation, dead units and mean node
  perplexity per layer and epoch.
* **Sparsity vs generalisation** — :func:`sparsity_accuracy_table` (every ReLU net of a
  grid), :func:`spearman`, :func:`bootstrap_ci`, :func:`rank_correlations`, :func:`bn_pairs`.
* Figures: ``plot_perplexity``, ``plot_probe_accuracy``, ``plot_dynamics``,
  ``plot_update_ratio``, ``plot_sparsity_vs_accuracy``.

Training guard: with the environment variable ``ACTFN_NO_TRAIN=1`` every function here
that would train a network raises ``RuntimeError`` (:func:`check_training_allowed`); the
``paper`` profile of the chapter only reads committed results.

Layers are numbered from 1 (layer 0 = the input pixels, for probes). Percentages are 0-100.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from .data import Dataset, source_label
from .metrics import (
    dead_units,
    hidden_activations,
    layer_sparsity,
    node_perplexity,
    saturation_fraction,
)
from .models import MLP, make_model
from .plots import with_source
from .runtime import check_training_allowed, device_name, training_allowed

ON_ACTIVATIONS = ("relu", "sigmoid")
CONFIGS: tuple[tuple[str, bool], ...] = (("sigmoid", False), ("relu", False), ("relu", True))
MODEL_NAMES = {("sigmoid", False): "sigmoid", ("sigmoid", True): "sigmoid BN",
               ("relu", False): "ReLU", ("relu", True): "ReLU BN"}
MODEL_COLORS = {"sigmoid": "#d62728", "sigmoid BN": "#ff9896", "ReLU": "#1f77b4",
                "ReLU BN": "#2ca02c"}
PROBE_METRICS = ("sparsity", "saturation", "dead", "perplexity", "update")
SETTINGS: dict[str, dict] = {
    # quick: 4x100 nets on the seeded MNIST subsets of chapters 5-6, a few epochs, 1 thread
    "quick": dict(depth=4, width=100, lr=1e-3, batch_size=128, max_epochs=5, patience=5,
                  probe_iterations=100, probe_lr=0.05, probe_n_train=2_000, cpu_threads=1),
    # paper: the grid's 4x200 checkpoints; probes on 10 000 training samples
    "paper": dict(depth=4, width=200, lr=1e-3, batch_size=128, max_epochs=300, patience=20,
                  probe_iterations=300, probe_lr=0.05, probe_n_train=10_000, cpu_threads=1),
}
RESULTS_SUBDIR = "class_information"




def _check_choice(name: str, value, accepted: Iterable) -> None:
    accepted = tuple(accepted)
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is not supported; accepted values: {accepted}")


def model_name(activation: str, batch_norm: bool) -> str:
    """``"ReLU BN"``, ``"sigmoid"``... as the paper's tables name the nets."""
    return MODEL_NAMES.get((activation, bool(batch_norm)),
                           f"{activation}{' BN' if batch_norm else ''}")


# --- node selectivity ----------------------------------------------------------------

def on_threshold(activation: str, threshold: float = 0.5) -> float:
    """The output above which a node counts as *on*: 0 for ReLU, ``threshold`` for sigmoid."""
    _check_choice("activation", activation, ON_ACTIVATIONS)
    if activation == "sigmoid" and not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} is invalid; accepted: a float in (0, 1)")
    return 0.0 if activation == "relu" else float(threshold)


def perplexity_table(hidden: Sequence[Tensor], y: Tensor, n_classes: int,
                     threshold: float = 0.0, balanced: bool = False) -> pd.DataFrame:
    """One row per (layer, node): ``perplexity`` and ``on (%)`` (share of samples on)."""
    rows = []
    for layer, h in enumerate(hidden, start=1):
        ppl = node_perplexity(h, y, n_classes, threshold, balanced)
        on = (h > threshold).float().mean(0) * 100
        rows.append(pd.DataFrame({"layer": layer, "node": np.arange(h.shape[1]),
                                  "perplexity": ppl.numpy(), "on (%)": on.cpu().numpy()}))
    return pd.concat(rows, ignore_index=True)


def layer_perplexity_summary(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per ``by`` + layer: nodes, never on (%), median and mean perplexity of the nodes
    that are on for some sample, and the share of those with perplexity <= 2 (%)."""
    keys = [*by, "layer"]

    def one(g: pd.DataFrame) -> pd.Series:
        p = g["perplexity"].dropna()
        return pd.Series({"nodes": len(g), "never on (%)": 100 * g["perplexity"].isna().mean(),
                          "median perplexity": p.median(), "mean perplexity": p.mean(),
                          "perplexity <= 2 (%)": 100 * (p <= 2).mean() if len(p) else np.nan})

    return table.groupby(keys, sort=False)[["perplexity"]].apply(one).reset_index()


# --- linear probes -------------------------------------------------------------------

@dataclass
class ProbeResult:
    """Accuracies are fractions in [0, 1]; ``loss`` is the final training cross-entropy."""

    train_acc: float
    test_acc: float
    loss: float
    iterations: int


def _check_xy(name: str, x: Tensor, y: Tensor) -> None:
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name} has x {tuple(x.shape)} and y {tuple(y.shape)}; accepted: "
                         "x [samples, features] and y [samples], samples >= 1")


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                 n_classes: int, iterations: int = 200, lr: float = 0.05,
                 batch_size: int | None = None, seed: int = 0,
                 weight_decay: float = 0.0) -> ProbeResult:
    """Multinomial logistic regression on fixed features, trained with Adam.

    Features are standardised with the training split's mean and std (constant features
    become 0). Weights and biases start at zero; ``batch_size=None`` is full-batch,
    otherwise each of the ``iterations`` steps draws a minibatch from a generator seeded
    with ``seed``. Deterministic on the CPU.
    """
    _check_xy("train", train_x, train_y)
    _check_xy("test", test_x, test_y)
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train has {train_x.shape[1]} features, test {test_x.shape[1]}; "
                         "accepted: the same number")
    for name, value, ok, accepted in [
        ("n_classes", n_classes, isinstance(n_classes, int) and n_classes >= 2, "int >= 2"),
        ("iterations", iterations, isinstance(iterations, int) and iterations >= 1, "int >= 1"),
        ("lr", lr, isinstance(lr, (int, float)) and lr > 0, "a float > 0"),
        ("batch_size", batch_size,
         batch_size is None or (isinstance(batch_size, int) and batch_size >= 1),
         "None (full batch) or int >= 1"),
        ("weight_decay", weight_decay, weight_decay >= 0, "a float >= 0"),
    ]:
        if not ok:
            raise ValueError(f"{name}={value!r} is invalid; accepted: {accepted}")
    xtr, xte = train_x.detach().float().cpu(), test_x.detach().float().cpu()
    ytr, yte = train_y.long().cpu(), test_y.long().cpu()
    mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
    scale = torch.where(std > 1e-8, std, torch.ones_like(std))
    xtr, xte = (xtr - mean) / scale, (xte - mean) / scale
    # weight as (classes, features) with F.linear: the same model as x @ w.T + b, about
    # twice as fast on the CPU as x @ w for these skinny shapes
    w = torch.zeros(n_classes, xtr.shape[1], requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in range(iterations):
            if batch_size is None or batch_size >= len(xtr):
                xb, yb = xtr, ytr
            else:
                idx = torch.randint(len(xtr), (batch_size,), generator=gen)
                xb, yb = xtr[idx], ytr[idx]
            loss = F.cross_entropy(F.linear(xb, w, b), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        train_logits, test_logits = F.linear(xtr, w, b), F.linear(xte, w, b)
        return ProbeResult(
            train_acc=(train_logits.argmax(1) == ytr).float().mean().item(),
            test_acc=(test_logits.argmax(1) == yte).float().mean().item(),
            loss=F.cross_entropy(train_logits, ytr).item(), iterations=iterations)


def layer_probes(model: MLP, train_x: Tensor, train_y: Tensor, test_x: Tensor,
                 test_y: Tensor, n_classes: int, include_input: bool = False,
                 **probe_kwargs) -> pd.DataFrame:
    """One :func:`linear_probe` per hidden layer of ``model`` (layer 0 = the raw input,
    with ``include_input``): columns ``layer``, ``train acc (%)``, ``test acc (%)``."""
    feats_tr = hidden_activations(model, train_x)
    feats_te = hidden_activations(model, test_x)
    pairs = list(enumerate(zip(feats_tr, feats_te), start=1))
    if include_input:
        pairs.insert(0, (0, (train_x, test_x)))
    rows = []
    for layer, (ftr, fte) in pairs:
        r = linear_probe(ftr, train_y, fte, test_y, n_classes, **probe_kwargs)
        rows.append({"layer": layer, "train acc (%)": 100 * r.train_acc,
                     "test acc (%)": 100 * r.test_acc})
    return pd.DataFrame(rows)


# --- update-to-data ratio ------------------------------------------------------------

def update_ratio(before: Sequence[Tensor], after: Sequence[Tensor]) -> Tensor:
    """Per layer ``log10(std(after - before) / std(before))`` (Karpathy's update-to-data
    ratio; about -3 is the usual healthy value). A layer that did not change gives -inf."""
    if len(before) != len(after) or not before:
        raise ValueError("before and after must be non-empty lists of equal length")
    out = []
    for b, a in zip(before, after):
        if b.shape != a.shape:
            raise ValueError(f"shapes {tuple(b.shape)} and {tuple(a.shape)} differ; accepted: "
                             "the same tensor before and after one step")
        b64, a64 = b.detach().double(), a.detach().double()
        out.append(torch.log10((a64 - b64).std() / b64.std()))
    return torch.stack(out).float()


class UpdateRecorder:
    """Records :func:`update_ratio` of the hidden weight matrices at every optimiser step.

    Use as a context manager around training; it hooks every optimiser's ``step`` (torch's
    global step hooks) but only records steps of optimisers that hold these weights.
    ``ratios`` holds one ``[layers]`` tensor per step.
    """

    def __init__(self, model: MLP) -> None:
        self.weights = [lin.weight for lin in model.linears]
        self._ids = {id(w) for w in self.weights}
        self._before: list[Tensor] | None = None
        self._handles: list = []
        self.ratios: list[Tensor] = []

    def _owns(self, opt: torch.optim.Optimizer) -> bool:
        return any(id(p) in self._ids for g in opt.param_groups for p in g["params"])

    def _pre(self, opt, args, kwargs) -> None:
        if self._owns(opt):
            self._before = [w.detach().clone() for w in self.weights]

    def _post(self, opt, args, kwargs) -> None:
        if self._before is not None and self._owns(opt):
            self.ratios.append(update_ratio(self._before, self.weights))
            self._before = None

    def __enter__(self) -> UpdateRecorder:
        self._handles = [register_optimizer_step_pre_hook(self._pre),
                         register_optimizer_step_post_hook(self._post)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class ClassInfoProbe:
    """``on_epoch_end`` callback for :func:`helpers.train.train_model`.

    On the fixed samples ``x, y`` it records per hidden layer (columns ``"<metric>/<layer>"``):
    ``sparsity`` (% outputs <= 0), ``saturation`` (% outputs within ``eps`` of 0 or 1;
    sigmoid nets only, NaN otherwise), ``dead`` (% nodes off for every sample),
    ``perplexity`` (mean node perplexity, nodes never on left out) and ``update`` (mean
    update-to-data ratio, log10, over the steps since the previous epoch; NaN at epoch 0).
    Train inside ``with probe.recording(model):`` so the steps are seen; ``steps`` then
    holds one row per (step, layer).
    """

    def __init__(self, x: Tensor, y: Tensor, n_classes: int, activation: str,
                 threshold: float = 0.5, eps: float = 0.01) -> None:
        self.x, self.y, self.n_classes = x, y, n_classes
        self.activation = activation
        self.threshold = on_threshold(activation, threshold)
        self.eps = eps
        self.recorder: UpdateRecorder | None = None
        self._seen = 0
        self._step_rows: list[dict] = []

    def recording(self, model: MLP) -> UpdateRecorder:
        self.recorder = UpdateRecorder(model)
        return self.recorder

    @property
    def steps(self) -> pd.DataFrame:
        return pd.DataFrame(self._step_rows, columns=["step", "epoch", "layer", "update"])

    def __call__(self, model: MLP, epoch: int) -> dict[str, float]:
        hidden = hidden_activations(model, self.x.to(next(model.parameters()).device))
        hidden = [h.cpu() for h in hidden]
        n = len(hidden)
        sat = (100 * saturation_fraction(hidden, self.eps) if self.activation == "sigmoid"
               else torch.full((n,), math.nan))
        ppl = torch.stack([torch.nanmean(node_perplexity(h, self.y.cpu(), self.n_classes,
                                                         self.threshold)) for h in hidden])
        new = self.recorder.ratios[self._seen:] if self.recorder is not None else []
        for i, r in enumerate(new, start=self._seen + 1):
            self._step_rows += [{"step": i, "epoch": epoch, "layer": layer, "update": v}
                                for layer, v in enumerate(r.tolist(), start=1)]
        self._seen += len(new)
        update = (torch.stack(new).mean(0) if new else torch.full((n,), math.nan))
        values = {"sparsity": layer_sparsity(hidden), "saturation": sat,
                  "dead": 100 * dead_units(hidden), "perplexity": ppl, "update": update}
        return {f"{m}/{layer}": float(v) for m in PROBE_METRICS
                for layer, v in enumerate(values[m].tolist(), start=1)}


def epoch_long(history: pd.DataFrame) -> pd.DataFrame:
    """Tidy per-epoch probe columns: one row per (epoch, metric, layer), other history
    columns kept as identifiers."""
    cols = [c for c in history.columns if "/" in c]
    ids = [c for c in history.columns if c not in cols]
    long = history.melt(id_vars=ids, value_vars=cols, var_name="probe")
    split = long.pop("probe").str.split("/", expand=True)
    return long.assign(metric=split[0], layer=split[1].astype(int))


# --- the chapter's nets --------------------------------------------------------------

@dataclass
class ProbedNet:
    """One configuration and seed: the untrained and trained net and where they came from.
    ``history``/``steps`` are the per-epoch and per-step probe records (nets trained here)."""

    dataset: str
    source: str
    activation: str
    batch_norm: bool
    seed: int
    untrained: MLP
    trained: MLP
    test_acc: float | None
    origin: str
    history: pd.DataFrame | None = None
    steps: pd.DataFrame | None = None
    lr: float | None = None

    @property
    def model_name(self) -> str:
        return model_name(self.activation, self.batch_norm)

    def model(self, state: str) -> MLP:
        _check_choice("state", state, ("untrained", "trained"))
        return self.trained if state == "trained" else self.untrained


def settings(profile: str) -> dict:
    """A copy of the chapter settings of ``profile`` (``quick`` or ``paper``)."""
    _check_choice("profile", profile, tuple(SETTINGS))
    return dict(SETTINGS[profile])


def train_probed(data: Dataset, activation: str, batch_norm: bool, seed: int, s: dict,
                 lr: float | None = None, progress: bool = False,
                 threshold: float = 0.5) -> ProbedNet:
    """Train one seeded net with :class:`ClassInfoProbe` (probe samples: the validation
    split). Refused under ``ACTFN_NO_TRAIN=1``."""
    from .section3_nets import torch_threads
    from .train import train_model

    check_training_allowed(f"training {model_name(activation, batch_norm)} seed {seed}")
    lr = s["lr"] if lr is None else lr
    model = make_model(data.n_features, s["depth"], s["width"], activation, batch_norm,
                       data.n_classes, seed=seed)
    untrained = make_model(data.n_features, s["depth"], s["width"], activation, batch_norm,
                           data.n_classes, seed=seed).eval()
    probe = ClassInfoProbe(data.val.x, data.val.y, data.n_classes, activation, threshold)
    with torch_threads(s.get("cpu_threads")), probe.recording(model):
        res = train_model(model, data, lr=lr, batch_size=s["batch_size"],
                          max_epochs=s["max_epochs"], patience=s["patience"], seed=seed,
                          progress=progress, on_epoch_end=probe,
                          desc=f"{model_name(activation, batch_norm)} seed {seed}")
    cfg = dict(dataset=data.name, model=model_name(activation, batch_norm), seed=seed)
    return ProbedNet(data.name, data.source, activation, batch_norm, seed, untrained,
                     res.model.cpu().eval(), res.test_acc, "trained now",
                     res.history.assign(**cfg, best_epoch=res.best_epoch),
                     probe.steps.assign(**cfg), lr)


def grid_nets(profile: str, data: Dataset, configs: Sequence[tuple[str, bool]] = CONFIGS,
              seeds: Sequence[int] = (0, 1, 2), width: int | None = None
              ) -> tuple[dict[tuple[str, bool, int], ProbedNet], list[tuple[str, bool, int]]]:
    """Load the grid's 4-layer checkpoints (never trains): ``(nets, missing)``."""
    from .grid import checkpoint
    from .train import evaluate

    nets, missing = {}, []
    for activation, batch_norm in configs:
        for seed in seeds:
            key = (activation, batch_norm, seed)
            try:
                trained = checkpoint(profile, data.name, activation, batch_norm, seed,
                                     trained=True, width=width)
                untrained = checkpoint(profile, data.name, activation, batch_norm, seed,
                                       trained=False, width=width)
            except (FileNotFoundError, ValueError, KeyError):
                missing.append(key)
                continue
            acc = evaluate(trained, data.test.to("cpu"))[1]
            nets[key] = ProbedNet(data.name, data.source, activation, batch_norm, seed,
                                  untrained.eval(), trained.eval(), acc, "grid checkpoint")
    return nets, missing


def selectivity_table(nets: Iterable[ProbedNet], data: Dataset, threshold: float = 0.5,
                      states: Sequence[str] = ("untrained", "trained")) -> pd.DataFrame:
    """Node perplexities of every net and state on ``data.test`` (one row per node)."""
    rows = []
    for net in nets:
        for state in states:
            hidden = [h.cpu() for h in hidden_activations(net.model(state), data.test.x)]
            t = perplexity_table(hidden, data.test.y.cpu(), data.n_classes,
                                 on_threshold(net.activation, threshold))
            rows.append(t.assign(dataset=net.dataset, source=net.source,
                                 model=net.model_name, seed=net.seed, state=state))
    return pd.concat(rows, ignore_index=True)


def probe_table(nets: Iterable[ProbedNet], data: Dataset, s: dict,
                states: Sequence[str] = ("untrained", "trained"), seed: int = 0,
                profile: str = "quick") -> pd.DataFrame:
    """Linear-probe accuracies of every net, state and layer; layer 0 (the input) once per
    dataset, with ``model="input"``. Probes fit on ``s["probe_n_train"]`` training samples
    (all when None) with ``s["probe_iterations"]`` full-batch Adam steps.

    In ``paper`` each net's rows (and the input's) are stored once per net and settings
    (:func:`helpers.chapter_results.train_or_load`, keyed by a fingerprint of the trained
    weights), so the book reloads them; a net the store does not hold yet is probed live.
    """
    from .chapter_results import train_or_load

    train = data.train.take(s["probe_n_train"], seed=seed) if s["probe_n_train"] else data.train
    kw = dict(iterations=s["probe_iterations"], lr=s["probe_lr"], seed=seed)
    tx, ty, vx, vy = train.x.cpu(), train.y.cpu(), data.test.x.cpu(), data.test.y.cpu()
    key = {k: s[k] for k in ("probe_n_train", "probe_iterations", "probe_lr")} | dict(
        seed=seed, dataset=data.name, source=data.source, n_test=len(data.test))

    def input_rows() -> pd.DataFrame:
        r = linear_probe(tx, ty, vx, vy, data.n_classes, **kw)
        return pd.DataFrame([{"layer": 0, "train acc (%)": 100 * r.train_acc,
                              "test acc (%)": 100 * r.test_acc, "model": "input",
                              "state": "input", "seed": seed}])

    def net_rows(net: ProbedNet) -> pd.DataFrame:
        return pd.concat([layer_probes(net.model(state), tx, ty, vx, vy, data.n_classes, **kw)
                          .assign(model=net.model_name, state=state, seed=net.seed)
                          for state in states], ignore_index=True)

    rows = [train_or_load("08_input_probe", input_rows, profile, key, trains=False,
                          verbose=False)]
    for net in nets:
        net_key = key | dict(model=net.model_name, net_seed=net.seed, states=list(states),
                             weights=net_fingerprint(net))
        rows.append(train_or_load("08_layer_probes", lambda net=net: net_rows(net), profile,
                                  net_key, trains=False, verbose=False))
    return pd.concat(rows, ignore_index=True).assign(dataset=data.name, source=data.source)


def net_fingerprint(net: ProbedNet) -> str:
    """A short hash of the trained and untrained weights of ``net``: stored analyses of a
    net are reused only for exactly these weights."""
    h = hashlib.sha256()
    for model in (net.untrained, net.trained):
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def available_checkpoints(profile: str, dataset: str,
                          configs: Sequence[tuple[str, bool]] = CONFIGS,
                          seeds: Sequence[int] = (0, 1, 2)) -> list[tuple[str, bool, int]]:
    """The (activation, batch_norm, seed) whose trained 4-layer checkpoint the grid holds."""
    from .grid import checkpoint

    found = []
    for activation, batch_norm in configs:
        for seed in seeds:
            try:
                checkpoint(profile, dataset, activation, batch_norm, seed, trained=True)
            except (FileNotFoundError, ValueError, KeyError):
                continue
            found.append((activation, batch_norm, seed))
    return found


def chapter_nets(profile: str, dataset: str, seeds: Sequence[int] = (0, 1, 2),
                 configs: Sequence[tuple[str, bool]] = CONFIGS, root=None,
                 progress: bool = False) -> tuple[Dataset | None, dict, list]:
    """``(data, nets, missing)`` for the chapter. ``quick``: trains every config x seed
    live with :func:`train_probed` (refused under ``ACTFN_NO_TRAIN=1``). ``paper``: only
    the grid's checkpoints, never training; ``data`` is None when none exists yet."""
    from .section3_nets import section3_data

    _check_choice("profile", profile, tuple(SETTINGS))
    keys = [(a, b, seed) for a, b in configs for seed in seeds]
    if profile == "paper":
        found = available_checkpoints(profile, dataset, configs, seeds)
        if not found:
            return None, {}, keys
        data = section3_data(dataset, profile, root=root)
        nets, missing = grid_nets(profile, data, configs, seeds)
        return data, nets, missing
    check_training_allowed(f"training the quick {dataset} nets")
    data = section3_data(dataset, profile, root=root)
    s = settings(profile)
    nets = {(a, b, seed): train_probed(data, a, b, seed, s, progress=progress)
            for a, b, seed in keys}
    return data, nets, []


def grid_for_sparsity(profile: str, dataset: str, progress: bool = False):
    """The grid results of ``profile``/``dataset`` for the sparsity analysis, or None.
    ``quick`` runs (or resumes) its small grid when allowed
    (:func:`helpers.section2.grid_results`); ``paper`` only reads what is committed."""
    from .grid import load_results

    if profile == "quick" and training_allowed():
        from .section2 import grid_results
        return grid_results(profile, dataset, progress=progress)
    try:
        return load_results(profile, dataset)
    except FileNotFoundError:
        return None


def planned_relu_runs(profile: str) -> int:
    """How many final ReLU runs the grid of ``profile`` plans per dataset."""
    from .grid import get_spec

    spec = get_spec(profile)
    return len(spec.depths) * len(spec.widths) * len(spec.batch_norms) * len(spec.seeds)


# --- per-epoch tables (paper profile: computed by ``python -m helpers.class_information``)

def dynamics_path(profile: str, dataset: str, root: str | os.PathLike | None = None) -> Path:
    """Where the per-epoch probe table of ``profile``/``dataset`` is committed."""
    from .grid.store import RESULTS_ROOT
    return Path(root or RESULTS_ROOT) / profile / RESULTS_SUBDIR / f"{dataset}_dynamics.csv.gz"


def load_dynamics(profile: str, dataset: str, root=None) -> pd.DataFrame | None:
    """The committed per-epoch table, or None when it has not been computed yet."""
    path = dynamics_path(profile, dataset, root)
    return pd.read_csv(path) if path.exists() else None


def run_dynamics(profile: str, dataset: str, seeds: Sequence[int] = (0, 1, 2),
                 configs: Sequence[tuple[str, bool]] = CONFIGS,
                 lrs: Sequence[float] | None = None, patience: int | None = None,
                 max_epochs: int | None = None, root=None, progress: bool = True
                 ) -> pd.DataFrame:
    """Train every config x seed x lr with :class:`ClassInfoProbe` on the full splits and
    write the per-epoch table to :func:`dynamics_path` (rows appended per finished net, so a
    rerun skips them). ``lrs=None``: the grid's searched rate of each config (else 1e-3);
    ``patience`` larger than ``max_epochs`` disables early stopping."""
    from .section3_nets import grid_learning_rates, section3_data

    check_training_allowed("run_dynamics")
    s = settings(profile)
    s |= {k: v for k, v in (("patience", patience), ("max_epochs", max_epochs)) if v is not None}
    data = section3_data(dataset, profile)
    rates = grid_learning_rates(profile, dataset, s["depth"], s["width"])
    path = dynamics_path(profile, dataset, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    for activation, batch_norm in configs:
        for lr in (lrs or [rates.get((activation, batch_norm), s["lr"])]):
            for seed in seeds:
                name = model_name(activation, batch_norm)
                done = pd.read_csv(path) if path.exists() else pd.DataFrame()
                if len(done) and ((done["model"] == name) & (done["seed"] == seed)
                                  & np.isclose(done["run_lr"], lr)
                                  & (done["patience"] == s["patience"])).any():
                    continue
                start = time.perf_counter()
                net = train_probed(data, activation, batch_norm, seed, s, lr=lr,
                                   progress=progress)
                table = net.history.assign(run_lr=lr, patience=s["patience"],
                                           max_epochs=s["max_epochs"], source=data.source,
                                           test_acc=net.test_acc, device=device_name("cpu"),
                                           compute_s=round(time.perf_counter() - start, 1))
                _append_rows(path, table)
    return pd.read_csv(path)


def _append_rows(path: Path, table: pd.DataFrame) -> None:
    """Add ``table`` to the CSV at ``path`` under an exclusive lock, written atomically, so
    that several ``dynamics`` processes (e.g. one per seed) can share the file."""
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = pd.read_csv(path) if path.exists() else pd.DataFrame()
        tmp = path.with_name(".tmp-" + path.name)  # same suffix: same compression
        pd.concat([done, table], ignore_index=True).to_csv(tmp, index=False)
        os.replace(tmp, path)


def fit_point(history: pd.DataFrame, window: int = 5) -> pd.DataFrame:
    """Per (model, seed[, run_lr, patience]) of a per-epoch table: the first epoch at which the
    net classifies every training image correctly (NaN if never), the training loss then and
    at the last epoch, and the update ratio (mean over layers) averaged over the ``window``
    epochs before that epoch and over the ``window`` epochs from it on."""
    keys = [k for k in ("model", "seed", "run_lr", "patience") if k in history]
    upd = [c for c in history.columns if c.startswith("update/")]
    rows = []
    for key, g in history.groupby(keys, sort=False):
        g = g.sort_values("epoch")
        ratio = g[upd].mean(axis=1)
        fitted = g.loc[g["train_acc"] >= 1.0, "epoch"]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["last epoch"] = int(g["epoch"].max())
        row["last train loss"] = float(g["train_loss"].iloc[-1])
        if len(fitted):
            e = int(fitted.iloc[0])
            before = ratio[(g["epoch"] >= e - window) & (g["epoch"] < e)]
            after = ratio[(g["epoch"] >= e) & (g["epoch"] < e + window)]
            row |= {"fit epoch": e,
                    "train loss at fit": float(g.loc[g["epoch"] == e, "train_loss"].iloc[0]),
                    "update before": float(before.mean()), "update after": float(after.mean())}
        else:
            row |= {"fit epoch": math.nan, "train loss at fit": math.nan,
                    "update before": math.nan, "update after": math.nan}
        rows.append(row)
    return pd.DataFrame(rows)


# --- the Table 1 gap ----------------------------------------------------------------

def table1_gap(dynamics: pd.DataFrame, dataset: str = "mnist") -> pd.DataFrame:
    """The ReLU nets of a per-epoch table (:func:`run_dynamics`): per run (model, learning
    rate, patience, seed) the layer sparsity (%, validation images) at the best epoch and at
    the last, their mean over layers, the paper's Table 1 mean for that net and the gap
    (ours minus the paper's, percentage points)."""
    from .nodes import PAPER_TABLE1_SPARSITY

    cols = ["model", "run_lr", "patience", "seed", "at", "epoch"]
    if dynamics is None or dynamics.empty:
        return pd.DataFrame(columns=[*cols, "mean sparsity (%)", "paper (%)", "gap (pp)"])
    relu = dynamics[dynamics["model"].isin(["ReLU", "ReLU BN"])]
    layer_cols = sorted((c for c in dynamics.columns if c.startswith("sparsity/")),
                        key=lambda c: int(c.split("/")[1]))
    rows = []
    for (model, lr, patience, seed), g in relu.groupby(["model", "run_lr", "patience", "seed"]):
        paper = PAPER_TABLE1_SPARSITY.get((dataset, model, "trained"))
        for at, epoch in (("best", int(g["best_epoch"].iloc[0])), ("last", int(g["epoch"].max()))):
            row = g[g["epoch"] == epoch].iloc[0]
            values = {f"layer {c.split('/')[1]}": float(row[c]) for c in layer_cols}
            mean = float(np.mean(list(values.values())))
            paper_mean = float(np.mean(paper)) if paper else math.nan
            rows.append(dict(model=model, run_lr=lr, patience=patience, seed=seed, at=at,
                             epoch=epoch, **values, **{"mean sparsity (%)": mean,
                             "paper (%)": paper_mean, "gap (pp)": mean - paper_mean}))
    if not rows:
        return pd.DataFrame(columns=[*cols, "mean sparsity (%)", "paper (%)", "gap (pp)"])
    return pd.DataFrame(rows)


def main_runs(history: pd.DataFrame | None, profile: str, dataset: str
              ) -> pd.DataFrame | None:
    """The rows of a per-epoch table that belong to the main dynamics runs: each model at
    its grid-searched learning rate, with the chapter's patience (the extra runs of the
    Table 1 study, other rates or no early stopping, left out)."""
    if history is None or history.empty or "run_lr" not in history:
        return history
    s = settings(profile)
    lr = history["model"].map(searched_rates(profile, dataset)).astype(float)
    keep = np.isclose(history["run_lr"], lr) & (history["patience"] == s["patience"])
    return history[keep]


def searched_rates(profile: str, dataset: str) -> dict[str, float]:
    """Model name -> the learning rate :func:`run_dynamics` uses by default: the grid's
    searched rate for the 4-layer net, else the chapter's ``lr``."""
    from .section3_nets import grid_learning_rates

    s = settings(profile)
    rates = grid_learning_rates(profile, dataset, s["depth"], s["width"])
    return {model_name(a, b): rates.get((a, b), s["lr"]) for a, b in CONFIGS}


def gap_verdicts(gap: pd.DataFrame, main_lr: dict[str, float], patience: int,
                 full_length: int) -> pd.DataFrame:
    """Per ReLU model, could a candidate explain the Table 1 gap? Compares the main runs
    (rate ``main_lr[model]``, ``patience``; mean layer sparsity at the best epoch, mean and sd
    over seeds) with

    * ``length``: the runs without early stopping (``full_length``) at their last epoch; it
      *explains* the gap when it closes at least half of it and moves the sparsity by more
      than twice the seed sd of the main runs;
    * ``lr``: the learning-rate sweep (best-epoch sparsity per rate, seeds averaged); it *can
      explain* the gap when the paper's value lies within the span of sparsities the rates
      reach and that span is wider than twice the seed sd: some rate in the swept range then
      matches the paper's sparsity.

    A candidate without runs has no columns (pending)."""
    rows = []
    best = gap[gap["at"] == "best"]
    for model, lr in main_lr.items():
        g = best[(best["model"] == model)]
        main = g[np.isclose(g["run_lr"], lr) & (g["patience"] == patience)]
        if main.empty:
            continue
        ours, sd = main["mean sparsity (%)"].mean(), main["mean sparsity (%)"].std()
        noise = 2 * (sd if np.isfinite(sd) else 0.0)
        paper = main["paper (%)"].iloc[0]
        row = {"model": model, "main lr": lr, "seeds": len(main), "ours (%)": ours,
               "seed sd (pp)": sd, "paper (%)": paper, "gap (pp)": ours - paper}
        longest = gap[(gap["model"] == model) & (gap["at"] == "last")
                      & (gap["patience"] == full_length)]
        if len(longest):
            value = longest["mean sparsity (%)"].mean()
            closed = (value - ours) / (paper - ours) if paper != ours else math.nan
            row |= {"length: sparsity (%)": value, "length: share closed": closed,
                    "length: explains": bool(closed >= 0.5 and abs(value - ours) > noise)}
        sweep = g[(g["patience"] == patience)].groupby("run_lr")["mean sparsity (%)"].mean()
        if len(sweep) > 1:
            lo, hi = sweep.min(), sweep.max()
            row |= {"lrs tried": ", ".join(f"{r:g}" for r in sweep.index),
                    "lr: lowest (%)": lo, "lr: highest (%)": hi,
                    "lr: lowest at": sweep.idxmin(), "lr: highest at": sweep.idxmax(),
                    "lr: explains": bool(lo <= paper <= hi and hi - lo > noise)}
        rows.append(row)
    return pd.DataFrame(rows)


def plot_table1_gap(dynamics: pd.DataFrame, gap: pd.DataFrame, source: str,
                    full_length: int) -> plt.Figure:
    """Left: mean ReLU layer sparsity per epoch of the runs trained without early stopping
    (patience ``full_length``), best epoch marked. Right: mean sparsity at the best epoch
    against the learning rate (runs with early stopping), one point per seed. Dashed: the
    paper's Table 1 value of each net."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = _palette(["ReLU", "ReLU BN"])
    long_runs = dynamics[(dynamics["patience"] == full_length)
                         & dynamics["model"].isin(list(colors))]
    layer_cols = [c for c in dynamics.columns if c.startswith("sparsity/")]
    for model, g in long_runs.groupby("model"):
        for _, run in g.groupby(["seed", "run_lr"]):
            mean = run[layer_cols].mean(axis=1)
            left.plot(run["epoch"], mean, color=colors[model], label=model)
            best = int(run["best_epoch"].iloc[0])
            left.plot(best, mean[run["epoch"] == best].iloc[0], "o", color=colors[model])
    sweep = gap[(gap["at"] == "best") & (gap["patience"] != full_length)]
    for model, g in sweep.groupby("model"):
        right.plot(g["run_lr"], g["mean sparsity (%)"], "o", color=colors[model], label=model)
        means = g.groupby("run_lr")["mean sparsity (%)"].mean()
        right.plot(means.index, means.values, "-", color=colors[model], alpha=0.6)
    for model in colors:
        paper = gap.loc[gap["model"] == model, "paper (%)"]
        for ax in (left, right):
            if len(paper):
                ax.axhline(paper.iloc[0], ls="--", color=colors[model], lw=1)
    left.set(xlabel="epoch", ylabel="mean layer sparsity (%)",
             title=f"no early stopping ({full_length - 1} epochs); dot: best epoch")
    right.set(xscale="log", xlabel="learning rate", ylabel="mean layer sparsity (%)",
              title="at the best epoch, by learning rate")
    for ax in (left, right):
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            uniq = dict(zip(labels, handles))
            ax.legend(uniq.values(), uniq.keys(), fontsize=8)
    fig.suptitle(with_source("ReLU sparsity against training length and learning rate "
                             "(dashed: the paper's Table 1)", source))
    fig.tight_layout()
    return fig


# --- sparsity vs generalisation ------------------------------------------------------

def sparsity_accuracy_table(runs: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """One row per final ReLU run of a grid: its mean hidden-layer sparsity (%) on the test
    split at the best state and its test accuracy (%)."""
    cols = ["dataset", "source", "depth", "width", "batch_norm", "seed", "lr", "key"]
    relu = runs[(runs["activation"] == "relu")]
    if "phase" in relu:
        relu = relu[relu["phase"] == "final"]
    if relu.empty or layers.empty:
        return pd.DataFrame(columns=[*cols, "sparsity (%)", "test acc (%)"])
    mean_sparsity = (layers[layers["activation"] == "relu"].groupby(["dataset", "key"])
                     ["sparsity"].mean().rename("sparsity (%)").reset_index())
    table = relu[cols + ["test_acc"]].merge(mean_sparsity, on=["dataset", "key"])
    table["test acc (%)"] = 100 * table.pop("test_acc")
    table["batch_norm"] = table["batch_norm"].astype(bool)
    return table.reset_index(drop=True)


def _ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get the mean of their ranks."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(1, len(a) + 1)
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of the tie-averaged ranks); NaN
    when either variable is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y have shapes {x.shape} and {y.shape}; accepted: two 1-d "
                         "sequences of equal length >= 2")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite; accepted: no NaN or inf")
    rx, ry = _ranks(x) - (len(x) + 1) / 2, _ranks(y) - (len(y) + 1) / 2
    denom = math.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else math.nan


def bootstrap_ci(x: Sequence[float], y: Sequence[float], n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`spearman` (pairs resampled with
    replacement; resamples with a constant variable are skipped)."""
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r} is invalid; accepted: an int >= 1")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} is invalid; accepted: a float in (0, 1)")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    spearman(x, y)  # validates
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    stats = np.array([spearman(x[i], y[i]) for i in idx])
    stats = stats[np.isfinite(stats)]
    if not len(stats):
        return math.nan, math.nan
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def rank_correlations(table: pd.DataFrame, by: Sequence[str] = ("dataset",),
                      n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Spearman rho of sparsity vs test accuracy with a 95 % bootstrap CI, per ``by`` group
    (and per group x batch norm)."""
    rows = []
    for keys, g in table.groupby(list(by), sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for bn_label, sub in [("all", g), ("without BN", g[~g["batch_norm"]]),
                              ("with BN", g[g["batch_norm"]])]:
            row = dict(zip(by, keys), nets=bn_label, n=len(sub))
            if len(sub) >= 3:
                x, y = sub["sparsity (%)"].to_numpy(), sub["test acc (%)"].to_numpy()
                lo, hi = bootstrap_ci(x, y, n_boot=n_boot, seed=seed)
                row |= {"spearman rho": spearman(x, y), "CI low": lo, "CI high": hi}
            rows.append(row)
    return pd.DataFrame(rows)


def bn_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth, width, seed) with and without BN: the BN-minus-plain
    difference of sparsity and test accuracy (percentage points)."""
    keys = ["dataset", "depth", "width", "seed"]
    wide = table.pivot_table(index=keys, columns="batch_norm",
                             values=["sparsity (%)", "test acc (%)"])
    both = {(v, bn) for v in ("sparsity (%)", "test acc (%)") for bn in (True, False)}
    if not both <= set(wide.columns):  # only one side of every pair exists so far
        wide = wide.iloc[0:0]
    wide = wide.dropna()
    if wide.empty:
        return pd.DataFrame(columns=[*keys, "d sparsity (pp)", "d test acc (pp)"])
    out = pd.DataFrame({
        "d sparsity (pp)": wide[("sparsity (%)", True)] - wide[("sparsity (%)", False)],
        "d test acc (pp)": wide[("test acc (%)", True)] - wide[("test acc (%)", False)],
    }).reset_index()
    return out


def bn_pair_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: pairs, share with lower sparsity under BN, share with higher accuracy,
    share with both ("BN lowers sparsity yet generalises better"), median differences."""
    def one(g: pd.DataFrame) -> pd.Series:
        lower, better = g["d sparsity (pp)"] < 0, g["d test acc (pp)"] > 0
        return pd.Series({"pairs": len(g), "BN lower sparsity (%)": 100 * lower.mean(),
                          "BN more accurate (%)": 100 * better.mean(),
                          "both (%)": 100 * (lower & better).mean(),
                          "median d sparsity (pp)": g["d sparsity (pp)"].median(),
                          "median d test acc (pp)": g["d test acc (pp)"].median()})
    if pairs.empty:
        return pd.DataFrame()
    return (pairs.groupby("dataset", sort=False)[["d sparsity (pp)", "d test acc (pp)"]]
            .apply(one).reset_index())


# --- figures -------------------------------------------------------------------------

def _palette(names: Iterable[str]) -> dict[str, str]:
    return {n: MODEL_COLORS[n] for n in dict.fromkeys(names) if n in MODEL_COLORS}


def plot_perplexity(table: pd.DataFrame, title: str, n_classes: int = 10) -> plt.Figure:
    """Box plots of node perplexity per layer, one colour per model; rows = data source,
    columns = state (untrained, trained). Nodes never on are left out."""
    sources = list(dict.fromkeys(table["source"]))
    states = list(dict.fromkeys(table["state"]))
    fig, axes = plt.subplots(len(sources), len(states), figsize=(5.2 * len(states),
                                                                 3.6 * len(sources)),
                             sharey=True, squeeze=False)
    pal = _palette(table["model"])
    for i, src in enumerate(sources):
        for j, state in enumerate(states):
            ax = axes[i][j]
            sub = table[(table["source"] == src) & (table["state"] == state)
                        & table["perplexity"].notna()]
            sns.boxplot(data=sub, x="layer", y="perplexity", hue="model", palette=pal, ax=ax,
                        fliersize=1.5, linewidth=0.8, hue_order=list(pal))
            ax.axhline(1, color="grey", ls=":", lw=1)
            ax.axhline(n_classes, color="grey", ls="--", lw=1)
            ax.set(title=f"{source_label(src)}, {state}", xlabel="hidden layer",
                   ylabel="node perplexity (classes)", ylim=(0.8, n_classes + 0.5))
            if (i, j) != (0, 0) and ax.get_legend():
                ax.get_legend().remove()
    axes[0][0].legend(title=None, fontsize=8, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_probe_accuracy(table: pd.DataFrame, title: str) -> plt.Figure:
    """Linear-probe test accuracy against layer, one panel per data source, one colour per
    model, solid = trained, dashed = untrained (band: sd over seeds); dotted = the probe
    on the input pixels."""
    sources = list(dict.fromkeys(table["source"]))
    fig, axes = plt.subplots(1, len(sources), figsize=(6.5 * len(sources), 4), squeeze=False)
    for ax, src in zip(axes[0], sources):
        t = table[table["source"] == src]
        nets = t[t["model"] != "input"]
        pal = _palette(nets["model"])
        sns.lineplot(data=nets, x="layer", y="test acc (%)", hue="model", style="state",
                     style_order=["trained", "untrained"], palette=pal, hue_order=list(pal),
                     markers=True, errorbar="sd", ax=ax)
        inp = t[t["model"] == "input"]["test acc (%)"]
        if len(inp):
            ax.axhline(inp.mean(), color="grey", ls=":", lw=1.2, label="input pixels")
        ax.set_xticks(sorted(nets["layer"].unique()))
        ax.set(title=source_label(src), xlabel="hidden layer",
               ylabel="probe test accuracy (%)")
        ax.legend(fontsize=8, loc="lower left", ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


DYNAMICS_LABELS = {"sparsity": "sparsity (%)", "saturation": "saturation (%)",
                   "dead": "dead nodes (%)", "perplexity": "mean node perplexity"}


def plot_dynamics(long: pd.DataFrame, source: str, title: str,
                  metrics: Sequence[str] = ("sparsity", "dead", "saturation", "perplexity")
                  ) -> plt.Figure:
    """Per-epoch probe metrics (rows) for each model (columns), one line per layer (mean over
    seeds). ``long`` comes from :func:`epoch_long`."""
    models = list(dict.fromkeys(long["model"]))
    fig, axes = plt.subplots(len(metrics), len(models), figsize=(3.6 * len(models),
                                                                 2.3 * len(metrics)),
                             sharex=True, squeeze=False)
    layers = sorted(long["layer"].unique())
    colors = sns.color_palette("viridis", len(layers))
    for i, metric in enumerate(metrics):
        for j, model in enumerate(models):
            ax = axes[i][j]
            sub = long[(long["metric"] == metric) & (long["model"] == model)]
            mean = sub.groupby(["layer", "epoch"])["value"].mean()
            if mean.notna().any():
                for c, layer in zip(colors, layers):
                    if layer in mean.index.get_level_values(0):
                        ax.plot(mean[layer].index, mean[layer].values, color=c, marker=".",
                                label=f"layer {layer}")
            else:
                ax.text(0.5, 0.5, "not defined", ha="center", va="center",
                        transform=ax.transAxes, color="grey")
            if i == 0:
                ax.set_title(model)
            if j == 0:
                ax.set_ylabel(DYNAMICS_LABELS.get(metric, metric))
            if i == len(metrics) - 1:
                ax.set_xlabel("epoch")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", fontsize=8, ncol=len(layers))
    fig.suptitle(with_source(title, source))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_update_ratio(steps: pd.DataFrame, source: str, title: str, x: str = "step",
                      reference: float = -3.0) -> plt.Figure:
    """Update-to-data ratio (log10) per layer against ``x`` (``step`` or ``epoch``), one
    panel per model, mean over seeds; dashed line at ``reference``."""
    _check_choice("x", x, ("step", "epoch"))
    models = list(dict.fromkeys(steps["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.8 * len(models), 3.4), sharey=True,
                             squeeze=False)
    layers = sorted(steps["layer"].unique())
    colors = sns.color_palette("viridis", len(layers))
    finite = steps[np.isfinite(steps["update"])]
    for ax, model in zip(axes[0], models):
        sub = finite[finite["model"] == model].groupby(["layer", x])["update"].mean()
        for c, layer in zip(colors, layers):
            if layer in sub.index.get_level_values(0):
                ax.plot(sub[layer].index, sub[layer].values, color=c, lw=1,
                        label=f"layer {layer}")
        ax.axhline(reference, color="black", ls="--", lw=1, label=f"{reference:g}")
        ax.set(title=model, xlabel=f"optimiser {x}" if x == "step" else "epoch")
    axes[0][0].set_ylabel("log10 update / weight std")
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle(with_source(title, source))
    fig.tight_layout()
    return fig


def plot_sparsity_vs_accuracy(table: pd.DataFrame, title: str) -> plt.Figure:
    """Every ReLU net: mean hidden sparsity (x) vs test accuracy (y); rows = data source,
    columns = width, colour = BN, marker = depth."""
    sources = list(dict.fromkeys(table["source"]))
    widths = sorted(table["width"].unique())
    fig, axes = plt.subplots(len(sources), len(widths), figsize=(4.2 * len(widths),
                                                                 3.4 * len(sources)),
                             squeeze=False)
    pal = {False: MODEL_COLORS["ReLU"], True: MODEL_COLORS["ReLU BN"]}
    markers = dict(zip(sorted(table["depth"].unique()), "osD^vP*X"))
    for i, src in enumerate(sources):
        for j, width in enumerate(widths):
            ax = axes[i][j]
            sub = table[(table["source"] == src) & (table["width"] == width)]
            for (bn, depth), g in sub.groupby(["batch_norm", "depth"]):
                ax.scatter(g["sparsity (%)"], g["test acc (%)"], color=pal[bool(bn)],
                           marker=markers[depth], s=28, alpha=0.8, edgecolor="white",
                           lw=0.4, label=f"{'BN' if bn else 'no BN'}, depth {depth}")
            ax.set(title=f"{source_label(src)}, width {width}",
                   xlabel="mean hidden-layer sparsity (%)", ylabel="test accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    return fig


# --- command line --------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.class_information dynamics --profile paper --dataset mnist``."""
    p = argparse.ArgumentParser(prog="python -m helpers.class_information")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dynamics", help="per-epoch probe tables (writes data/results/...)")
    d.add_argument("--profile", default="paper", choices=tuple(SETTINGS))
    d.add_argument("--dataset", default="mnist")
    d.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    d.add_argument("--lrs", type=float, nargs="+", default=None)
    d.add_argument("--patience", type=int, default=None)
    d.add_argument("--max-epochs", type=int, default=None)
    names = {model_name(a, b): (a, b) for a, b in CONFIGS}
    d.add_argument("--models", nargs="+", choices=tuple(names), default=tuple(names),
                   help="which nets (default: all three)")
    args = p.parse_args(argv)
    table = run_dynamics(args.profile, args.dataset, args.seeds,
                         configs=[names[m] for m in args.models], lrs=args.lrs,
                         patience=args.patience, max_epochs=args.max_epochs)
    print(f"{len(table)} epoch rows in {dynamics_path(args.profile, args.dataset)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

