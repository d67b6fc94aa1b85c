"""Train K same-shape MLPs at once: the grid's engine.

The K models share depth and width; each has its own seed (init and batch order), learning
rate, activation, batch-norm switch, BatchNorm running statistics and early stopping.
Their parameters live in one ``[K, P]`` matrix (one row per model); hidden layers are
batched matmuls (``torch.baddbmm``) over the stacked ``[K, in, out]`` weights. The data
stays resident on the device and each model's batches are ``x[idx]`` for its own seeded
permutation.

It reproduces :func:`helpers.train.train_model` model by model: the same init
(:func:`helpers.models.make_model` per seed), the same batches
(:func:`helpers.training_steps.batch_order` with ``torch.Generator().manual_seed(seed)``),
the same learning-rate schedule, Adam (equal to ``torch.optim.Adam``), BatchNorm1d training
semantics (biased batch variance to normalise, unbiased for ``running_var``, momentum 0.1,
eps 1e-5), the same per-epoch evaluation (eval mode, row 0 = untrained model), and the same
early-stopping and divergence rule (:class:`helpers.training_steps.EarlyStopping`, one per
model). Only the rounding differs (batched vs single matmuls, hand-written BatchNorm);
``tests/test_engine.py`` bounds the difference.

A model that stops (patience exhausted, diverged, or ``max_epochs`` reached) is evaluated
on the test split with its best state and removed from the stack, so it costs no more
compute. On CPU, a model's result does not depend on which other models share its stack
(checked in the tests), which lets the grid resume a half-finished stack exactly.

CUDA extras (all optional, the CPU path is plain eager PyTorch): TF32 matmuls
(``tf32=True``), fused Adam kernels (``fused_adam``, default on CUDA) and capturing the
whole training step in one CUDA graph (``cuda_graph=True``, needs ``fused_adam``).

In this module: the stack (:class:`Layout`, :func:`stacked_forward`, :class:`StackedMLP`,
:class:`StackedAdam`), then training: :func:`train_stacked` checks its arguments into a
:class:`StackConfig` and runs one ``_StackRun``, whose ``_BestStates`` holds every live
model's early-stopping rule and best state.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from .data import Dataset, Split
from .metrics import layer_stats
from .models import ACTIVATIONS, MLP, check_activation, make_model
from .runtime import check_training_allowed
from .training_steps import HISTORY_COLUMNS, EarlyStopping, batch_order, check_training_args

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
SMALL_OUT = 32  # CPU: layers with fewer outputs get per-model weight-gradient matmuls
# activations per evaluation chunk (K * samples * width); on CPU, tensors past glibc's
# mmap threshold (32 MB) are page-faulted afresh on every allocation: 2**21 was fastest
EVAL_ELEMENTS = {"cpu": 2**21, "cuda": 2**28}
_ACT = {name: make() for name, make in ACTIVATIONS.items()}  # stateless modules


# ----------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """Where each tensor of one model sits in its row of the ``[K, P]`` parameter matrix.

    Per hidden layer ``l``: ``w{l}`` ``[width, fan_in]`` (as ``nn.Linear.weight``), ``b{l}``,
    BatchNorm ``g{l}`` (weight) and ``be{l}`` (bias); then ``wo`` ``[n_classes, width]`` and
    ``bo``. BN parameters exist for every model; without BN
    they get zero gradients and Adam leaves them unchanged.
    """

    in_features: int
    depth: int
    width: int
    n_classes: int

    @property
    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        out, fan_in = [], self.in_features
        for layer in range(self.depth):
            out += [(f"w{layer}", (self.width, fan_in)), (f"b{layer}", (self.width,)),
                    (f"g{layer}", (self.width,)), (f"be{layer}", (self.width,))]
            fan_in = self.width
        return out + [("wo", (self.n_classes, self.width)), ("bo", (self.n_classes,))]

    @property
    def sizes(self) -> list[int]:
        return [math.prod(shape) for _, shape in self.shapes]

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    @property
    def n_weights(self) -> int:
        """Matmul weights per model: a forward pass costs ``2 * n_weights`` FLOP/sample."""
        return sum(math.prod(s) for n, s in self.shapes if n.startswith("w"))

    def views(self, flat: Tensor) -> dict[str, Tensor]:
        """Named ``[K, *shape]`` views of ``flat``."""
        k = flat.shape[0]
        parts = torch.split(flat, self.sizes, dim=1)
        return {name: p.view(k, *shape) for (name, shape), p in zip(self.shapes, parts)}


def model_row(model: MLP) -> Tensor:
    """The parameters of one :class:`MLP` as a flat row in :class:`Layout` order."""
    width, bn = model.config["width"], model.config["batch_norm"]
    pieces = []
    for lin, norm in zip(model.linears, model.norms):
        gamma = norm.weight if bn else torch.ones(width)
        beta = norm.bias if bn else torch.zeros(width)
        pieces += [lin.weight, lin.bias, gamma, beta]
    pieces += [model.out.weight, model.out.bias]
    return torch.cat([p.detach().float().cpu().reshape(-1) for p in pieces])


def mlp_state_dict(layout: Layout, row: Tensor, running_mean: Tensor, running_var: Tensor,
                   num_batches: int, batch_norm: bool) -> dict[str, Tensor]:
    """A :class:`MLP` ``state_dict`` (CPU) from one parameter row and its BN buffers."""
    p = {k: v[0] for k, v in layout.views(row.detach().cpu().unsqueeze(0)).items()}
    state: dict[str, Tensor] = {}
    for i in range(layout.depth):
        state[f"linears.{i}.weight"] = p[f"w{i}"].clone()
        state[f"linears.{i}.bias"] = p[f"b{i}"].clone()
    if batch_norm:
        for i in range(layout.depth):
            state[f"norms.{i}.weight"] = p[f"g{i}"].clone()
            state[f"norms.{i}.bias"] = p[f"be{i}"].clone()
            state[f"norms.{i}.running_mean"] = running_mean[i].detach().cpu().clone()
            state[f"norms.{i}.running_var"] = running_var[i].detach().cpu().clone()
            state[f"norms.{i}.num_batches_tracked"] = torch.tensor(int(num_batches))
    state["out.weight"] = p["wo"].clone()
    state["out.bias"] = p["bo"].clone()
    return state


def _groups(activations: Sequence[str], batch_norms: Sequence[bool]) -> list[tuple]:
    """Runs of consecutive models sharing (activation, batch_norm): ``(k0, k1, act, bn)``."""
    out: list[list] = []
    for k, key in enumerate(zip(activations, batch_norms)):
        if out and (out[-1][2], out[-1][3]) == key:
            out[-1][1] = k + 1
        else:
            out.append([k, k + 1, *key])
    return [tuple(g) for g in out]


# ---------------------------------------------------------------------------- forward
def _batch_norm(z: Tensor, gamma: Tensor, beta: Tensor, mean_buf: Tensor, var_buf: Tensor,
                training: bool) -> Tensor:
    """BatchNorm1d per model: ``z`` ``[k, batch, width]``, buffers ``[k, width]`` (updated).

    The k models become k * width channels of one ``F.batch_norm`` call, the kernel
    ``nn.BatchNorm1d`` uses, so the arithmetic is the same as in the single-model path.
    """
    k, n, w = z.shape
    out = F.batch_norm(z.transpose(0, 1).reshape(n, k * w).contiguous(), mean_buf.view(-1),
                       var_buf.view(-1), gamma.reshape(-1), beta.reshape(-1), training,
                       BN_MOMENTUM, BN_EPS)
    return out.view(n, k, w).transpose(0, 1)


class _StackedLinear(torch.autograd.Function):
    """``h @ w.T + b`` per model, with the gradients computed as ``nn.Linear`` does.

    ``h`` ``[K, B, in]``, ``w`` ``[K, out, in]``, ``b`` ``[K, out]``. The weight gradient is
    ``g.T @ h`` (autograd's bmm rule would compute ``(h.T @ g).T``, which rounds
    differently), so each model's arithmetic is the single-model path's.
    """

    @staticmethod
    def forward(ctx, h: Tensor, w: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(h, w)
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, g: Tensor):
        h, w = ctx.saved_tensors
        grad_h = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        if g.device.type == "cpu" and w.shape[1] < SMALL_OUT:
            # MKL's batched kernel rounds these thin products differently from mm
            grad_w = torch.stack([g[k].t().mm(h[k]) for k in range(len(g))])
        else:
            grad_w = torch.bmm(g.transpose(1, 2), h)
        return grad_h, grad_w, g.sum(1)


def stacked_linear(h: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """Batched ``nn.Linear``: ``h`` ``[K, B, in]``, ``w`` ``[K, out, in]``, ``b`` ``[K, out]``."""
    if torch.is_grad_enabled() and (w.requires_grad or h.requires_grad):
        return _StackedLinear.apply(h, w, b)
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


def stacked_forward(p: dict[str, Tensor], x: Tensor, groups: list[tuple], depth: int,
                    running_mean: Tensor, running_var: Tensor, training: bool,
                    shared_input: bool = False) -> Tensor:
    """Logits ``[K, batch, n_classes]``.

    ``x`` is ``[K, batch, features]`` (one batch per model) or, with ``shared_input``, one
    ``[batch, features]`` input for all models (evaluation: one matmul for layer 1).
    """
    if shared_input:
        k, width = p["w0"].shape[:2]
        h = F.linear(x, p["w0"].reshape(k * width, -1), p["b0"].reshape(-1))
        h = h.view(len(x), k, width).transpose(0, 1)
    else:
        h = stacked_linear(x, p["w0"], p["b0"])
    for i in range(depth):
        if i > 0:
            h = stacked_linear(h, p[f"w{i}"], p[f"b{i}"])
        pieces = []
        for k0, k1, act, bn in groups:
            z = h if len(groups) == 1 else h[k0:k1]
            if bn:
                z = _batch_norm(z, p[f"g{i}"][k0:k1], p[f"be{i}"][k0:k1],
                                running_mean[i, k0:k1], running_var[i, k0:k1], training)
            pieces.append(_ACT[act](z))
        h = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    return stacked_linear(h, p["wo"], p["bo"])


def stacked_losses(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy per model: ``logits`` ``[K, B, C]``, ``y`` ``[K, B]`` -> ``[K]``."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(
        y.shape).mean(1)


# --------------------------------------------------------------------------- the stack
class StackedMLP:
    """K same-shape MLPs as one ``[K, P]`` parameter matrix plus per-model BN buffers.

    ``params`` are named leaf views of ``flat`` whose ``.grad`` are views of the matching
    ``grad`` matrix: backward accumulates into it in place (zero it before each step), so
    no step allocates parameter-sized tensors.
    """

    def __init__(self, models: Sequence[MLP], device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        cfg = models[0].config
        self.layout = Layout(cfg["in_features"], cfg["depth"], cfg["width"], cfg["n_classes"])
        for m in models:
            shape = tuple(m.config[k] for k in ("in_features", "depth", "width", "n_classes"))
            if shape != tuple(vars(self.layout).values()):
                raise ValueError(f"models must share one shape; got {shape} and "
                                 f"{tuple(vars(self.layout).values())}")
        self.activations = [m.config["activation"] for m in models]
        self.batch_norms = [bool(m.config["batch_norm"]) for m in models]
        self.groups = _groups(self.activations, self.batch_norms)
        rows = torch.stack([model_row(m) for m in models])
        self.flat = rows.to(device=device, dtype=dtype)
        self._bind()
        d, w, k = self.layout.depth, self.layout.width, len(models)
        self.running_mean = torch.zeros(d, k, w, device=device, dtype=dtype)
        self.running_var = torch.ones(d, k, w, device=device, dtype=dtype)
        for j, m in enumerate(models):
            if self.batch_norms[j]:
                for i, norm in enumerate(m.norms):
                    self.running_mean[i, j] = norm.running_mean.to(device, dtype)
                    self.running_var[i, j] = norm.running_var.to(device, dtype)
        self.num_batches = torch.zeros(k, dtype=torch.long, device=device)

    @classmethod
    def from_seeds(cls, in_features: int, depth: int, width: int, activations: Sequence[str],
                   batch_norms: Sequence[bool], seeds: Sequence[int], n_classes: int = 10,
                   bias_init: float = 0.0, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> StackedMLP:
        """Stack ``make_model(..., seed=s)`` for every seed: init equals the single path."""
        models = [make_model(in_features, depth, width, a, bn, n_classes, seed=s,
                             bias_init=bias_init)
                  for a, bn, s in zip(activations, batch_norms, seeds)]
        return cls(models, device, dtype)

    def _bind(self) -> None:
        self.grad = torch.zeros_like(self.flat)
        self.params = self.layout.views(self.flat)
        grads = self.layout.views(self.grad)
        for name, param in self.params.items():
            param.requires_grad_()
            param.grad = grads[name]

    def __len__(self) -> int:
        return self.flat.shape[0]

    def forward(self, x: Tensor, training: bool) -> Tensor:
        """Logits ``[K, B, C]`` for per-model batches ``x`` ``[K, B, features]``."""
        return stacked_forward(self.params, x, self.groups, self.layout.depth,
                               self.running_mean, self.running_var, training)

    @torch.no_grad()
    def evaluate(self, split: Split, rows: Sequence[int] | None = None,
                 flat: Tensor | None = None, running_mean: Tensor | None = None,
                 running_var: Tensor | None = None) -> tuple[list[float], list[float]]:
        """Mean cross-entropy and accuracy of every model (eval mode) on ``split``.

        ``rows`` picks a subset of models; ``flat``/``running_*`` replace the live state
        (used to evaluate stored best states).
        """
        flat = self.flat if flat is None else flat
        rm = self.running_mean if running_mean is None else running_mean
        rv = self.running_var if running_var is None else running_var
        acts, bns = self.activations, self.batch_norms
        if rows is not None:
            idx = torch.as_tensor(list(rows), device=flat.device, dtype=torch.long)
            flat, rm, rv = flat[idx], rm[:, idx], rv[:, idx]
            acts, bns = [acts[r] for r in rows], [bns[r] for r in rows]
        return evaluate_flat(self.layout, flat.detach(), _groups(acts, bns), rm, rv, split)

    def state_dict(self, row: int, flat: Tensor | None = None,
                   running_mean: Tensor | None = None, running_var: Tensor | None = None,
                   num_batches: Tensor | None = None) -> dict[str, Tensor]:
        """Model ``row`` as an :class:`MLP` ``state_dict`` (CPU, in the stack's dtype)."""
        flat = self.flat if flat is None else flat
        rm = self.running_mean if running_mean is None else running_mean
        rv = self.running_var if running_var is None else running_var
        nb = self.num_batches if num_batches is None else num_batches
        return mlp_state_dict(self.layout, flat[row], rm[:, row], rv[:, row], int(nb[row]),
                              self.batch_norms[row])

    def keep(self, rows: Sequence[int]) -> None:
        """Drop every model not in ``rows`` (compaction); order follows ``rows``."""
        idx = torch.as_tensor(list(rows), device=self.flat.device, dtype=torch.long)
        with torch.no_grad():
            self.flat = self.flat[idx]
            self._bind()
            self.running_mean = self.running_mean[:, idx].contiguous()
            self.running_var = self.running_var[:, idx].contiguous()
            self.num_batches = self.num_batches[idx]
        self.activations = [self.activations[r] for r in rows]
        self.batch_norms = [self.batch_norms[r] for r in rows]
        self.groups = _groups(self.activations, self.batch_norms)


@torch.no_grad()
def evaluate_flat(layout: Layout, flat: Tensor, groups: list[tuple], running_mean: Tensor,
                  running_var: Tensor, split: Split) -> tuple[list[float], list[float]]:
    """Mean cross-entropy and accuracy per model (eval mode) of the stacked ``flat``.

    Chunks of 10 000 samples and per-model ``reduction="sum"`` losses accumulated in
    float64, as :func:`helpers.training_steps.evaluate` (smaller chunks if memory asks for
    it).
    """
    k, n = flat.shape[0], len(split)
    p = layout.views(flat)
    budget = EVAL_ELEMENTS.get(flat.device.type, 2**21)
    chunk = max(1, min(10_000, budget // (k * max(layout.width, layout.n_classes))))
    loss = torch.zeros(k, dtype=torch.float64, device=flat.device)
    correct = torch.zeros(k, dtype=torch.long, device=flat.device)
    for i in range(0, n, chunk):
        x, y = split.x[i:i + chunk], split.y[i:i + chunk]
        logits = stacked_forward(p, x, groups, layout.depth, running_mean, running_var,
                                 training=False, shared_input=True)
        loss += torch.stack([F.cross_entropy(logits[j], y, reduction="sum")
                             for j in range(k)]).double()
        correct += (logits.argmax(2) == y).sum(1)
    return (loss / n).tolist(), (correct.double() / n).tolist()


# ------------------------------------------------------------------------------- Adam
class StackedAdam:
    """Adam over the rows of a ``[K, P]`` parameter matrix, one learning rate per row.

    Same update as ``torch.optim.Adam`` with its defaults (betas 0.9/0.999, eps 1e-8, bias
    correction, no weight decay). ``fused=False``: the single-tensor formula of
    ``torch.optim.Adam`` with a per-row step size. ``fused=True``: one
    ``torch._fused_adam_`` call per row (7 memory passes; CUDA-graph safe).
    """

    def __init__(self, param: Tensor, grad: Tensor, lrs: Sequence[float],
                 fused: bool = False) -> None:
        self.fused, self.steps = fused, 0
        self.step_t = torch.zeros((), dtype=torch.float32, device=param.device)
        self._bind(param, grad, torch.zeros_like(param), torch.zeros_like(param), list(lrs))

    def _bind(self, param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor,
              lrs: list[float]) -> None:
        self.param, self.grad, self.exp_avg, self.exp_avg_sq = param, grad, exp_avg, exp_avg_sq
        self.lr = torch.zeros(len(lrs), dtype=torch.float64)
        self.lr_t = torch.zeros(len(lrs), dtype=torch.float32, device=param.device)
        self.set_lr(lrs)
        if self.fused:  # per-row argument lists, built once
            self._rows = [([param[k]], [grad[k]], [exp_avg[k]], [exp_avg_sq[k]], self.lr_t[k])
                          for k in range(len(lrs))]
        else:  # work space, kept: fresh parameter-sized tensors cost page faults on CPU
            self._denom, self._update = torch.empty_like(param), torch.empty_like(param)

    def set_lr(self, lrs: Sequence[float]) -> None:
        """The learning rate of every row (in place, so a captured graph sees it)."""
        self.lr.copy_(torch.tensor(list(lrs), dtype=torch.float64))
        self.lr_t.copy_(self.lr.to(self.lr_t.dtype))

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every row from ``grad``."""
        self.steps += 1
        if self.fused:
            self.step_t.add_(1)
            for p, g, m, v, lr in self._rows:
                torch._fused_adam_(p, g, m, v, [], [self.step_t], lr=lr, beta1=ADAM_BETAS[0],
                                   beta2=ADAM_BETAS[1], weight_decay=0.0, eps=ADAM_EPS,
                                   amsgrad=False, maximize=False)
            return
        b1, b2 = ADAM_BETAS
        bc1, bc2_sqrt = 1 - b1 ** self.steps, (1 - b2 ** self.steps) ** 0.5
        self.exp_avg.lerp_(self.grad, 1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(self.grad, self.grad, value=1 - b2)
        denom = torch.sqrt(self.exp_avg_sq, out=self._denom).div_(bc2_sqrt).add_(ADAM_EPS)
        # torch's addcdiv_(m, denom, value=-step) computes (value * m) / denom, per row here
        neg_step = (-(self.lr / bc1)).to(self.param.device, self.param.dtype).unsqueeze(1)
        update = torch.mul(self.exp_avg, neg_step, out=self._update)
        self.param.add_(update.div_(denom))

    def rebind(self, param: Tensor, grad: Tensor, rows: Sequence[int]) -> None:
        """Follow a compacted stack: new ``param``/``grad``, keep the state of ``rows``."""
        idx = torch.as_tensor(list(rows), device=param.device, dtype=torch.long)
        self._bind(param, grad, self.exp_avg[idx], self.exp_avg_sq[idx],
                   self.lr[idx.cpu()].tolist())


# ---------------------------------------------------------------------------- training
@dataclass
class StackedResult:
    """One model of a stack, as :class:`helpers.train.TrainResult` plus its best state.

    ``wall_time`` is amortised: each epoch's time is split equally among the models
    training in it. ``state_dict`` is the restored best state (CPU, ``MLP`` keys, the run's
    dtype).
    """

    seed: int
    lr: float
    activation: str
    batch_norm: bool
    config: dict
    history: pd.DataFrame
    best_epoch: int
    best_val_acc: float
    test_loss: float
    test_acc: float
    diverged: bool
    wall_time: float
    state_dict: dict[str, Tensor]
    best_train_loss: float | None = None  # ``train_metrics="running"``: eval pass at the end
    best_train_acc: float | None = None
    layer_stats: list[dict] | None = None  # ``layer_stats=True``: per hidden layer, test split

    def model(self) -> MLP:
        """The best state as a regular :class:`~helpers.models.MLP` (CPU)."""
        net = MLP(**self.config)
        net.load_state_dict(self.state_dict)
        return net


@dataclass
class Snapshot:
    """One model paused at the end of epoch ``epoch``: everything needed to resume it.

    Resuming (``train_stacked(resume=[...])``) continues the exact trajectory: parameters,
    Adam moments and step count, BatchNorm buffers, the batch-order generator, the best
    state so far and the history rows. On CPU the continuation is bit-identical to an
    uninterrupted run.
    """

    seed: int
    lr: float
    activation: str
    batch_norm: bool
    epoch: int
    tensors: dict[str, Tensor]  # row, exp_avg, exp_avg_sq, rm, rv, nb, best_*, gen
    best_epoch: int
    best_val_acc: float
    rows: list[dict]
    cost: float
    adam_steps: int

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _per_model(name: str, value, k: int) -> list:
    scalar = isinstance(value, (str, bool, numbers.Number)) or getattr(value, "ndim", 1) == 0
    values = [value] * k if scalar else list(value)
    if len(values) != k:
        raise ValueError(f"{name} has {len(values)} entries; accepted: one value or "
                         f"one per seed ({k})")
    return values


def check_stack_args(depth: int, width: int, seeds: Sequence[int], lrs: Sequence[float],
                     activations: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first bad stack argument."""
    for name, value in (("depth", depth), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid; accepted: an integer >= 1")
    if len(seeds) == 0:
        raise ValueError("seeds=[] is invalid; accepted: a non-empty list of integers")
    for s in seeds:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
            raise ValueError(f"seed={s!r} is invalid; accepted: integers >= 0")
    for lr in lrs:
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr={lr!r} is invalid; accepted: a finite float > 0")
    for a in activations:
        check_activation(a)


@dataclass(frozen=True)
class StackConfig:
    """What one :func:`train_stacked` call trains: the models (one entry each, in input
    order) and the settings they share (validated by :func:`train_stacked`)."""

    depth: int
    width: int
    activations: tuple[str, ...]
    batch_norms: tuple[bool, ...]
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    batch_size: int = 128
    max_epochs: int = 300
    patience: int | None = 20
    lr_decay: float = 0.99
    bias_init: float = 0.0
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    fused: bool = False  # fused Adam kernels (CUDA)
    cuda_graph: bool = False
    train_metrics: str = "eval"
    test_every_epoch: bool = False
    layer_stats: bool = False


def train_stacked(
    data: Dataset,
    depth: int,
    width: int,
    activation: str | Sequence[str],
    batch_norm: bool | Sequence[bool],
    seeds: Sequence[int],
    lrs: float | Sequence[float],
    batch_size: int = 128,
    max_epochs: int = 300,
    patience: int | None = 20,
    lr_decay: float = 0.99,
    bias_init: float = 0.0,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    tf32: bool = True,
    fused_adam: bool | None = None,
    cuda_graph: bool = False,
    progress: bool = True,
    desc: str | None = None,
    on_finish: Callable[[int, StackedResult], None] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    train_metrics: str = "eval",
    test_every_epoch: bool = False,
    layer_stats: bool = False,
    until_epoch: int | None = None,
    resume: Sequence[Snapshot | None] | None = None,
) -> list[StackedResult | Snapshot | None]:
    """Train one model per entry of ``seeds`` at once, as :func:`helpers.train.train_mlp`.

    ``activation``, ``batch_norm`` and ``lrs`` take one value or one per seed. Results come
    back in input order. ``on_finish(i, result)`` is called as soon as model ``i`` stops
    (use it to save results); ``on_epoch(n)`` after every epoch that trained ``n`` models.
    ``patience=None`` trains every model to ``max_epochs`` (the best state is still kept).

    Protocol options (the grid's cheaper protocol; defaults reproduce ``train_model``):

    * ``train_metrics="running"``: an epoch's training loss and accuracy are the running
      means over the batches as they were trained (as Keras reports them), instead of a
      second, eval-mode pass over the training split; the best state gets one eval-mode
      pass at the end (``best_train_loss``/``best_train_acc``).
    * ``test_every_epoch``: the history also holds ``test_loss``/``test_acc`` per epoch
      (used only to replay other early-stopping rules afterwards, never to select).
    * ``layer_stats``: each result carries per-layer sparsity and saturation of its best
      state on the test split.

    Pausing: ``until_epoch`` pauses the models still training after that epoch, and
    ``should_stop()`` (polled before each epoch after the first) pauses all of them; a
    paused model comes back as a :class:`Snapshot`, which ``resume`` (one entry per model,
    all at the same epoch) continues exactly.
    """
    k = len(seeds)
    acts = _per_model("activation", activation, k)
    bns = [bool(b) for b in _per_model("batch_norm", batch_norm, k)]
    lr_list = [float(v) for v in _per_model("lrs", lrs, k)]
    check_stack_args(depth, width, list(seeds), lr_list, acts)
    check_training_args(min(lr_list), batch_size, max_epochs,
                        1 if patience is None else patience, lr_decay)
    if train_metrics not in ("eval", "running"):
        raise ValueError(f"train_metrics={train_metrics!r}; accepted: 'eval', 'running'")
    if until_epoch is not None and (not isinstance(until_epoch, int) or until_epoch < 0):
        raise ValueError(f"until_epoch={until_epoch!r}; accepted: an integer >= 0 or None")
    if resume is not None:
        resume = list(resume)
        if len(resume) != k:
            raise ValueError(f"resume has {len(resume)} entries; accepted: one per seed ({k})")
        epochs = {s.epoch for s in resume if s is not None}
        if len(epochs) > 1 or (epochs and None in resume):
            raise ValueError("resume: every model must be paused at the same epoch; got "
                             f"epochs {sorted(epochs)} and fresh models {None in resume}")
        for i, snap in enumerate(resume):
            if snap is not None and (snap.seed, snap.lr, snap.activation, snap.batch_norm) != (
                    seeds[i], lr_list[i], acts[i], bns[i]):
                raise ValueError(f"resume[{i}] is another model ({snap.activation}, BN "
                                 f"{snap.batch_norm}, seed {snap.seed}, lr {snap.lr}); "
                                 "accepted: the snapshot of the same configuration")
        if not epochs:
            resume = None
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    fused = device.type == "cuda" if fused_adam is None else fused_adam
    if cuda_graph and not (device.type == "cuda" and fused):
        raise ValueError("cuda_graph=True is invalid here; accepted only with a CUDA device "
                         "and fused_adam")
    check_training_allowed("train_stacked")
    cfg = StackConfig(
        depth=depth, width=width, activations=tuple(acts), batch_norms=tuple(bns),
        seeds=tuple(seeds), lrs=tuple(lr_list), batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, lr_decay=lr_decay, bias_init=bias_init, device=device, dtype=dtype,
        fused=fused, cuda_graph=cuda_graph, train_metrics=train_metrics,
        test_every_epoch=test_every_epoch, layer_stats=layer_stats)
    with _matmul_precision(device.type == "cuda" and tf32):
        run = _StackRun(data, cfg, resume, on_finish)
        return run.train(progress, desc or f"{depth}x{width} K={k}", should_stop, on_epoch,
                         until_epoch)


@contextmanager
def _matmul_precision(tf32: bool):
    old = torch.get_float32_matmul_precision()
    if tf32:
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


class _BestStates:
    """Early stopping and best state of every live model of a stack, by live row.

    ``rules[j]`` is row ``j``'s :class:`~helpers.training_steps.EarlyStopping` (best
    validation accuracy, its epoch, divergence); ``flat``/``rm``/``rv``/``nb`` hold the
    parameters and BN buffers of that best epoch.
    """

    def __init__(self, net: StackedMLP, rules: list[EarlyStopping]) -> None:
        self.rules = rules
        self.flat = net.flat.detach().clone()
        self.rm, self.rv = net.running_mean.clone(), net.running_var.clone()
        self.nb = net.num_batches.clone()

    def update(self, net: StackedMLP, epoch: int, rows: list[dict], max_epochs: int
               ) -> list[int]:
        """Feed every live model its history row of ``epoch``, keep the states that
        improved, and return the live rows that stop after this epoch."""
        improved = [j for j, (rule, row) in enumerate(zip(self.rules, rows))
                    if rule.update(epoch, row["train_loss"], row["val_acc"])]
        if improved:
            self._save(net, improved)
        return [j for j, rule in enumerate(self.rules) if rule.stop or epoch == max_epochs]

    @torch.no_grad()
    def _save(self, net: StackedMLP, rows: list[int]) -> None:
        idx = torch.tensor(rows, device=self.flat.device)
        self.flat[idx] = net.flat[idx]
        self.rm[:, idx] = net.running_mean[:, idx]
        self.rv[:, idx] = net.running_var[:, idx]
        self.nb[idx] = net.num_batches[idx]

    def keep(self, rows: list[int]) -> None:
        """Follow a compacted stack: keep live rows ``rows``, in that order."""
        idx = torch.tensor(rows, device=self.flat.device)
        self.flat, self.nb = self.flat[idx], self.nb[idx]
        self.rm, self.rv = self.rm[:, idx], self.rv[:, idx]
        self.rules = [self.rules[j] for j in rows]


class _StackRun:
    """The state of one :func:`train_stacked` call (internal).

    Models are kept in ``order`` (grouped by activation and BN); lists indexed by ``i``
    (``seeds``, ``rows``, ``cost``, ``results``) follow that order, while the tensors of
    the live stack (``net``, ``opt``, ``best``) are indexed by live row ``j``, model
    ``active[j]``.
    """

    def __init__(self, data: Dataset, cfg: StackConfig,
                 resume: Sequence[Snapshot] | None = None,
                 on_finish: Callable[[int, StackedResult], None] | None = None) -> None:
        start = time.perf_counter()
        self.cfg, self.on_finish = cfg, on_finish
        device, dtype, k = cfg.device, cfg.dtype, len(cfg.seeds)
        # models are grouped by (activation, BN) so each group is one contiguous slice
        self.order = sorted(range(k), key=lambda i: (cfg.activations[i], cfg.batch_norms[i]))
        self.seeds = [cfg.seeds[i] for i in self.order]
        self.lrs = [cfg.lrs[i] for i in self.order]
        self.split = {name: Split(s.x.to(device, dtype), s.y.to(device))
                      for name, s in (("train", data.train), ("val", data.val),
                                      ("test", data.test))}
        self.net = StackedMLP.from_seeds(data.n_features, cfg.depth, cfg.width,
                                         [cfg.activations[i] for i in self.order],
                                         [cfg.batch_norms[i] for i in self.order], self.seeds,
                                         data.n_classes, cfg.bias_init, device, dtype)
        self.opt = StackedAdam(self.net.flat, self.net.grad, self.lrs, fused=cfg.fused)
        self.gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.config = dict(in_features=data.n_features, depth=cfg.depth, width=cfg.width,
                           n_classes=data.n_classes, bias_init=cfg.bias_init)
        n = len(self.split["train"])
        self.n_batches, self.batch = max(n // cfg.batch_size, 1), min(cfg.batch_size, n)
        self.idx = torch.zeros(k, self.batch, dtype=torch.long, device=device)
        self.run_loss = torch.zeros(k, dtype=torch.float64, device=device)
        self.run_correct = torch.zeros(k, dtype=torch.long, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.active = list(range(k))  # sorted positions of the rows of the live stack
        self.results: list[StackedResult | Snapshot | None] = [None] * k
        if resume is None:
            self.start_epoch = 0
            self.rows: list[list[dict]] = [[] for _ in range(k)]
            self.cost = [0.0] * k
            self._record(0, self.lrs)
            self.best = _BestStates(self.net, [EarlyStopping(cfg.patience, r[0]["val_acc"])
                                               for r in self.rows])
        else:
            snaps = [resume[i] for i in self.order]
            self.start_epoch = snaps[0].epoch
            self.best = self._restore(snaps)
            self.rows = [[dict(r) for r in s.rows] for s in snaps]
            self.cost = [s.cost for s in snaps]
        self._charge(time.perf_counter() - start)

    # -- snapshots -----------------------------------------------------------------------
    def _restore(self, snaps: list[Snapshot]) -> _BestStates:
        """Load the paused state of every model into the stack; return their best states."""
        net, opt, dev, dtype = self.net, self.opt, self.cfg.device, self.cfg.dtype
        with torch.no_grad():
            for j, s in enumerate(snaps):
                t = s.tensors
                net.flat[j] = t["row"].to(dev, dtype)
                opt.exp_avg[j] = t["exp_avg"].to(dev, dtype)
                opt.exp_avg_sq[j] = t["exp_avg_sq"].to(dev, dtype)
                net.running_mean[:, j] = t["rm"].to(dev, dtype)
                net.running_var[:, j] = t["rv"].to(dev, dtype)
                net.num_batches[j] = int(t["nb"])
                self.gens[j].set_state(t["gen"])
            best = _BestStates(net, [EarlyStopping(self.cfg.patience, s.best_val_acc,
                                                   s.best_epoch) for s in snaps])
            for j, s in enumerate(snaps):
                t = s.tensors
                best.flat[j] = t["best_row"].to(dev, dtype)
                best.rm[:, j] = t["best_rm"].to(dev, dtype)
                best.rv[:, j] = t["best_rv"].to(dev, dtype)
                best.nb[j] = int(t["best_nb"])
        steps = {s.adam_steps for s in snaps}
        if len(steps) != 1:
            raise ValueError(f"resume: Adam step counts differ ({sorted(steps)})")
        opt.steps = steps.pop()
        opt.step_t.fill_(float(opt.steps))
        return best

    def _snapshot(self, j: int, epoch: int) -> Snapshot:
        i, net, opt, best = self.active[j], self.net, self.opt, self.best
        cpu = {
            "row": net.flat[j], "exp_avg": opt.exp_avg[j], "exp_avg_sq": opt.exp_avg_sq[j],
            "rm": net.running_mean[:, j], "rv": net.running_var[:, j],
            "nb": net.num_batches[j], "best_row": best.flat[j],
            "best_rm": best.rm[:, j], "best_rv": best.rv[:, j], "best_nb": best.nb[j],
        }
        tensors = {k: v.detach().cpu().clone() for k, v in cpu.items()}
        tensors["gen"] = self.gens[i].get_state()
        rule = best.rules[j]
        return Snapshot(seed=self.seeds[i], lr=self.lrs[i], activation=net.activations[j],
                        batch_norm=net.batch_norms[j], epoch=epoch, tensors=tensors,
                        best_epoch=rule.best_epoch, best_val_acc=rule.best_acc,
                        rows=[dict(r) for r in self.rows[i]], cost=self.cost[i],
                        adam_steps=opt.steps)

    def _pause(self, epoch: int) -> None:
        for j, i in enumerate(self.active):
            self.results[i] = self._snapshot(j, epoch)

    # -- bookkeeping -------------------------------------------------------------------
    def train(self, progress: bool, desc: str, should_stop: Callable[[], bool] | None,
              on_epoch: Callable[[int], None] | None, until_epoch: int | None
              ) -> list[StackedResult | Snapshot | None]:
        """Train until every model stops or pauses; results in input order."""
        cfg = self.cfg
        if self.start_epoch >= cfg.max_epochs:
            self._finish(list(range(len(self.active))))
        last = cfg.max_epochs if until_epoch is None else min(until_epoch, cfg.max_epochs)
        bar = tqdm(total=max(last - self.start_epoch, 0), desc=desc, disable=not progress,
                   leave=False)
        epoch = self.start_epoch
        for epoch in range(self.start_epoch + 1, last + 1):
            # every call trains at least one epoch, so a paused stack always progresses
            if not self.active or (should_stop is not None and epoch > self.start_epoch + 1
                                   and should_stop()):
                epoch -= 1
                break
            t0 = time.perf_counter()
            lrs = [self.lrs[i] * cfg.lr_decay ** (epoch - 1) for i in self.active]
            self.opt.set_lr(lrs)
            self._train_epoch()
            self._record(epoch, lrs)
            done = self.best.update(self.net, epoch, [self.rows[i][-1] for i in self.active],
                                    cfg.max_epochs)
            self._charge(time.perf_counter() - t0)
            n_trained = len(self.active)
            if done:
                self._finish(done)
            if on_epoch is not None:
                on_epoch(n_trained)
            bar.update(1)
            if self.active:
                bar.set_postfix(active=len(self.active),
                                best=f"{max(r.best_acc for r in self.best.rules):.4f}")
        bar.close()
        if self.active:
            self._pause(epoch)
        return [self.results[self.order.index(i)] for i in range(len(self.seeds))]

    def _charge(self, seconds: float) -> None:
        for i in self.active:
            self.cost[i] += seconds / max(len(self.active), 1)

    def _record(self, epoch: int, lrs: list[float]) -> None:
        if epoch == 0 or self.cfg.train_metrics == "eval":
            tr_loss, tr_acc = self.net.evaluate(self.split["train"])
        else:  # running means over the epoch's batches, as trained
            seen = self.n_batches * self.batch
            tr_loss = (self.run_loss / self.n_batches).tolist()
            tr_acc = (self.run_correct.double() / seen).tolist()
        va_loss, va_acc = self.net.evaluate(self.split["val"])
        if self.cfg.test_every_epoch:
            te_loss, te_acc = self.net.evaluate(self.split["test"])
        for j, i in enumerate(self.active):
            row = dict(epoch=epoch, train_loss=tr_loss[j], train_acc=tr_acc[j],
                       val_loss=va_loss[j], val_acc=va_acc[j], lr=lrs[j])
            if self.cfg.test_every_epoch:
                row |= dict(test_loss=te_loss[j], test_acc=te_acc[j])
            self.rows[i].append(row)

    def _finish(self, done: list[int]) -> None:
        """Test the best states of live rows ``done``, emit results, compact the stack."""
        t0 = time.perf_counter()
        best = self.best
        test_loss, test_acc = self.net.evaluate(self.split["test"], done, best.flat, best.rm,
                                                best.rv)
        n = len(done)
        train = ([None] * n, [None] * n)
        if self.cfg.train_metrics == "running":
            train = self.net.evaluate(self.split["train"], done, best.flat, best.rm, best.rv)
        share = (time.perf_counter() - t0) / n
        columns = HISTORY_COLUMNS + (["test_loss", "test_acc"]
                                     if self.cfg.test_every_epoch else [])
        for jj, j in enumerate(done):
            i, rule = self.active[j], best.rules[j]
            t1 = time.perf_counter()
            state = self.net.state_dict(j, best.flat, best.rm, best.rv, best.nb)
            config = dict(self.config, activation=self.net.activations[j],
                          batch_norm=self.net.batch_norms[j])
            stats = _layer_stats(config, state, self.split["test"]) if self.cfg.layer_stats \
                else None
            self.cost[i] += share + time.perf_counter() - t1
            res = StackedResult(
                seed=self.seeds[i], lr=self.lrs[i], activation=self.net.activations[j],
                batch_norm=self.net.batch_norms[j],
                config=config, history=pd.DataFrame(self.rows[i], columns=columns),
                best_epoch=rule.best_epoch, best_val_acc=rule.best_acc,
                test_loss=test_loss[jj], test_acc=test_acc[jj], diverged=rule.diverged,
                wall_time=self.cost[i], state_dict=state,
                best_train_loss=train[0][jj], best_train_acc=train[1][jj], layer_stats=stats,
            )
            self.results[i] = res
            if self.on_finish is not None:
                self.on_finish(self.order[i], res)
        self._remove(done)

    def _remove(self, done: list[int]) -> None:
        """Drop live rows ``done`` from the stack: parameters, Adam and best states, buffers."""
        keep = [j for j in range(len(self.active)) if j not in set(done)]
        self.active = [self.active[j] for j in keep]
        if keep:
            self.net.keep(keep)
            self.opt.rebind(self.net.flat, self.net.grad, keep)
            self.best.keep(keep)
            self.idx = self.idx[: len(keep)].clone()
            self.run_loss = self.run_loss[: len(keep)].clone()
            self.run_correct = self.run_correct[: len(keep)].clone()
        self.graph = None

    # -- the hot loop --------------------------------------------------------------------
    def _train_epoch(self) -> None:
        n = len(self.split["train"])
        order = [torch.stack(batch_order(n, self.cfg.batch_size, self.gens[i]))
                 for i in self.active]
        epoch_idx = torch.stack(order, 1).to(self.cfg.device)  # [n_batches, K, batch]
        self.run_loss.zero_()
        self.run_correct.zero_()
        step = self._step
        if self.cfg.cuda_graph:
            if self.graph is None:
                self.graph = _capture(self._step, self._graph_state())
            step = self.graph.replay
        for b in range(self.n_batches):
            self.idx.copy_(epoch_idx[b])
            step()

    def _step(self) -> None:
        net, x, y = self.net, self.split["train"].x, self.split["train"].y
        net.grad.zero_()
        yb = y[self.idx]
        logits = net.forward(x[self.idx], training=True)
        losses = stacked_losses(logits, yb)
        with warnings.catch_warnings():  # strided views as params: harmless, by design
            warnings.filterwarnings("ignore", message="grad and param do not obey")
            losses.sum().backward()
        with torch.no_grad():
            net.num_batches.add_(1)
            if self.cfg.train_metrics == "running":
                self.run_loss.add_(losses.detach())
                self.run_correct.add_((logits.argmax(2) == yb).sum(1))
        self.opt.step()

    def _graph_state(self) -> list[Tensor]:
        net, opt = self.net, self.opt
        return [net.flat, net.running_mean, net.running_var, net.num_batches, opt.exp_avg,
                opt.exp_avg_sq, opt.step_t, self.run_loss, self.run_correct]


def _layer_stats(config: dict, state: dict[str, Tensor], split: Split) -> list[dict]:
    """:func:`helpers.metrics.layer_stats` of one model (a config and a state) on ``split``."""
    model = MLP(**config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return layer_stats(model, split.x, split.y)


def _capture(step: Callable[[], None], state: list[Tensor]) -> torch.cuda.CUDAGraph:
    """Capture ``step`` in a CUDA graph; the warm-up steps are undone afterwards."""
    saved = [t.detach().clone() for t in state]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    with torch.no_grad():
        for t, s in zip(state, saved):
            t.copy_(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph
