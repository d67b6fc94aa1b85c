"""The probes of chapter 8 ("Where class information lives"): what a layer knows about the
classes, and how its weights move.

* **On or off** — :func:`on_threshold`: the output above which a node counts as *on* (ReLU:
  output > 0; sigmoid: output > ``threshold``, 0.5 by default); node perplexity itself is
  :func:`helpers.metrics.node_perplexity`.
* **Linear probes** — :func:`linear_probe`: multinomial logistic regression (plain torch)
  fitted to convergence (L-BFGS) on one layer's outputs of the training split, its L2
  strength chosen on the validation split, scored on the test split; :func:`layer_probes`
  does every layer of a net.
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
    """Accuracies are fractions in [0, 1]; ``loss`` is the final training cross-entropy
    (without the penalty); ``l2`` the penalty kept, ``val_acc`` its validation accuracy (NaN
    without a validation split); ``evaluations`` the objective evaluations of that fit;
    ``converged``: its largest gradient entry fell below the tolerance."""

    train_acc: float
    test_acc: float
    loss: float
    l2: float
    val_acc: float
    evaluations: int
    converged: bool


# L2 strengths tried by a probe, chosen on the validation split: from almost none to strong
PROBE_L2 = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# a fit counts as converged when no gradient entry exceeds this (float32 reaches about 1e-5);
# L-BFGS itself stops 100x lower, or when the objective stops changing
GRAD_TOLERANCE = 1e-4


def _check_xy(name: str, x: Tensor, y: Tensor) -> None:
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name} has x {tuple(x.shape)} and y {tuple(y.shape)}; accepted: "
                         "x [samples, features] and y [samples], samples >= 1")


def _fit_logistic(x: Tensor, y: Tensor, n_classes: int, l2: float, max_iter: int
                  ) -> tuple[Tensor, Tensor, int, bool]:
    """Minimise mean cross-entropy + ``l2``/2 * ||W||^2 (bias not penalised) from zero with
    L-BFGS (strong Wolfe line search): a convex problem, so the optimum does not depend on
    the start, and the fit is deterministic."""
    w = torch.zeros(n_classes, x.shape[1], dtype=x.dtype, requires_grad=True)
    b = torch.zeros(n_classes, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=GRAD_TOLERANCE / 100, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")
    evaluations = 0

    def objective() -> Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad(set_to_none=False)
        # F.linear: the same model as x @ w.T + b, about twice as fast on the CPU here
        loss = F.cross_entropy(F.linear(x, w, b), y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(objective)
        objective()  # the gradient at the final point
    grad = torch.cat([w.grad.flatten(), b.grad]).abs().max().item()
    return w.detach(), b.detach(), evaluations - 1, grad <= GRAD_TOLERANCE


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                 n_classes: int, val_x: Tensor | None = None, val_y: Tensor | None = None,
                 l2: Sequence[float] = PROBE_L2, max_iter: int = 200) -> ProbeResult:
    """Multinomial logistic regression on fixed features, fitted to convergence.

    Features are standardised with the training split's mean and std (constant features
    become 0). For each L2 strength in ``l2`` the convex objective is minimised with
    L-BFGS (at most ``max_iter`` iterations, :func:`_fit_logistic`); the strength with the
    best accuracy on the validation split (``val_x``, ``val_y``) is kept (ties: the
    stronger), and only that fit is scored on the test split. Without a validation split
    ``l2`` must hold one strength. Deterministic on the CPU.
    """
    _check_xy("train", train_x, train_y)
    _check_xy("test", test_x, test_y)
    l2 = tuple(l2) if isinstance(l2, Sequence) else (l2,)
    for name, value, ok, accepted in [
        ("n_classes", n_classes, isinstance(n_classes, int) and n_classes >= 2, "int >= 2"),
        ("max_iter", max_iter, isinstance(max_iter, int) and max_iter >= 1, "int >= 1"),
        ("l2", l2, len(l2) >= 1 and all(isinstance(v, (int, float)) and v >= 0 for v in l2),
         "a non-empty sequence of floats >= 0"),
        ("val_x", "a tensor" if val_x is not None else None,
         (val_x is None) == (val_y is None), "val_x and val_y together, or neither"),
        ("l2", l2, val_x is not None or len(l2) <= 1,
         "one strength without a validation split (val_x, val_y) to choose among several"),
    ]:
        if not ok:
            raise ValueError(f"{name}={value!r} is invalid; accepted: {accepted}")
    if val_x is not None:
        _check_xy("val", val_x, val_y)
    splits = [x for x in (test_x, val_x) if x is not None]
    if any(x.shape[1] != train_x.shape[1] for x in splits):
        raise ValueError(f"train has {train_x.shape[1]} features, test/val "
                         f"{[x.shape[1] for x in splits]}; accepted: the same number")
    xtr = train_x.detach().float().cpu()
    mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
    scale = torch.where(std > 1e-8, std, torch.ones_like(std))

    def prepare(x: Tensor) -> Tensor:
        return (x.detach().float().cpu() - mean) / scale

    xtr, xte = prepare(train_x), prepare(test_x)
    ytr, yte = train_y.long().cpu(), test_y.long().cpu()
    xva, yva = (prepare(val_x), val_y.long().cpu()) if val_x is not None else (None, None)

    def accuracy(w: Tensor, b: Tensor, x: Tensor, y: Tensor) -> float:
        return (F.linear(x, w, b).argmax(1) == y).float().mean().item()

    best = None
    for strength in sorted(l2, reverse=True):  # strongest first: ties keep the stronger
        w, b, evaluations, converged = _fit_logistic(xtr, ytr, n_classes, float(strength),
                                                     max_iter)
        val_acc = accuracy(w, b, xva, yva) if xva is not None else math.nan
        if best is None or val_acc > best[0]:
            best = (val_acc, float(strength), w, b, evaluations, converged)
    val_acc, strength, w, b, evaluations, converged = best
    with torch.no_grad():
        return ProbeResult(
            train_acc=accuracy(w, b, xtr, ytr), test_acc=accuracy(w, b, xte, yte),
            loss=F.cross_entropy(F.linear(xtr, w, b), ytr).item(), l2=strength,
            val_acc=val_acc, evaluations=evaluations, converged=converged)


def layer_probes(model: MLP | None, train_x: Tensor, train_y: Tensor, test_x: Tensor,
                 test_y: Tensor, n_classes: int, include_input: bool = False,
                 val_x: Tensor | None = None, val_y: Tensor | None = None,
                 **probe_kwargs) -> pd.DataFrame:
    """One :func:`linear_probe` per hidden layer of ``model`` (layer 0 = the raw input,
    with ``include_input``): columns ``layer``, ``train acc (%)``, ``val acc (%)``,
    ``test acc (%)``, ``l2`` (the strength chosen on the validation split) and
    ``converged``. ``model=None`` with ``include_input``: the input alone."""
    splits = [train_x, test_x] + ([val_x] if val_x is not None else [])
    feats = [hidden_activations(model, x) if model is not None else [] for x in splits]
    rows = []
    for i in range(len(feats[0]) + 1):
        if i == 0 and not include_input:
            continue
        ftr, fte, *fva = [x if i == 0 else f[i - 1] for x, f in zip(splits, feats)]
        r = linear_probe(ftr, train_y, fte, test_y, n_classes,
                         *((fva[0], val_y) if fva else ()), **probe_kwargs)
        rows.append({"layer": i, "train acc (%)": 100 * r.train_acc,
                     "val acc (%)": 100 * r.val_acc, "test acc (%)": 100 * r.test_acc,
                     "l2": r.l2, "converged": r.converged})
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
