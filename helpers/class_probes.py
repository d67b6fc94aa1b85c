"""The probes of chapter 8 ("Where class information lives"): what a layer knows about the
classes, and how its weights move.

* **On or off** — :func:`on_threshold`: the output above which a node counts as *on* (ReLU:
  output > 0; sigmoid: output > ``threshold``, 0.5 by default); node perplexity itself is
  :func:`helpers.metrics.node_perplexity`.
* **Linear probes** — :func:`linear_probe`: multinomial logistic regression (plain torch,
  Adam, fixed iteration budget, seeded) fitted on one layer's outputs of the training split,
  scored on the test split; :func:`layer_probes` does every layer of a net.
* **Update-to-data ratio** — :func:`update_ratio`: per layer
  ``log10(std(W_after - W_before) / std(W_before))`` for one optimiser step (Karpathy's
  diagnostic; for Adam the actual change of a step). :class:`UpdateRecorder` measures it at
  every step of :func:`helpers.train.train_model`, :class:`ClassInfoProbe` is the
  ``on_epoch_end`` callback that adds sparsity, saturation, dead units and mean node
  perplexity per layer and epoch.

The chapter's nets and tables are in :mod:`helpers.class_information`, the per-epoch tables
in :mod:`helpers.training_dynamics`. Layers are numbered from 1 (layer 0 = the input pixels,
for probes). Percentages are 0-100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from .metrics import (
    dead_units,
    hidden_activations,
    layer_sparsity,
    node_perplexity,
    saturation_fraction,
)
from .models import MLP

ON_ACTIVATIONS = ("relu", "sigmoid")
PROBE_METRICS = ("sparsity", "saturation", "dead", "perplexity", "update")


def check_choice(name: str, value, accepted: Iterable) -> None:
    """Raise ``ValueError`` naming ``name`` and the accepted values unless ``value`` is one."""
    accepted = tuple(accepted)
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is not supported; accepted values: {accepted}")


# --- on or off ----------------------------------------------------------------------

def on_threshold(activation: str, threshold: float = 0.5) -> float:
    """The output above which a node counts as *on*: 0 for ReLU, ``threshold`` for sigmoid."""
    check_choice("activation", activation, ON_ACTIVATIONS)
    if activation == "sigmoid" and not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} is invalid; accepted: a float in (0, 1)")
    return 0.0 if activation == "relu" else float(threshold)


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
