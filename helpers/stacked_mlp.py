"""The stack of K same-shape MLPs that :mod:`helpers.engine` trains: its math.

Parameters of K models live in one ``[K, P]`` matrix (:class:`Layout` says where each
tensor sits in a row); hidden layers are batched matmuls (``torch.baddbmm``) over the
stacked ``[K, in, out]`` weights (:func:`stacked_forward`, :class:`StackedMLP`), BatchNorm
is written out by hand with ``BatchNorm1d``'s training semantics, and :class:`StackedAdam`
is ``torch.optim.Adam`` applied row by row (one learning rate per model).
:func:`evaluate_flat` scores the whole stack in eval mode, in chunks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .data import Split
from .models import ACTIVATIONS, MLP, make_model

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
    """BatchNorm1d per model: ``z`` ``[k, batch, width]``, buffers ``[k, width]`` (updated),
    with the kernel ``nn.BatchNorm1d`` uses.

    On CPU one ``F.batch_norm`` call per model, on its own contiguous ``[batch, width]``:
    the CPU kernel's rounding depends on the number of channels and on the memory layout,
    so k models as k * width channels of one call would round differently from the
    single-model path and from the same model in a stack of another size (which would break
    exact resumption in other stacks). On CUDA the k models are k * width channels of one
    call (one launch).
    """
    k, n, w = z.shape
    if z.device.type == "cpu":
        outs = [F.batch_norm(z[j].contiguous(), mean_buf[j], var_buf[j], gamma[j], beta[j],
                             training, BN_MOMENTUM, BN_EPS) for j in range(k)]
        return outs[0].unsqueeze(0) if k == 1 else torch.stack(outs)
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
    ``torch.optim.Adam`` with a per-row step size (about 20 memory passes).
    ``fused=True``: one ``torch._fused_adam_`` call per row (7 memory passes; CUDA-graph
    safe), as ``torch.optim.Adam(fused=True)``.
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
        # CPU: float64, read as a double like torch.optim.Adam's float lr (bit-identical to
        # Adam(fused=True)); CUDA: float32 on the device, updated in place for graph replay
        lr_dtype = torch.float64 if param.device.type == "cpu" else torch.float32
        self.lr_t = torch.zeros(len(lrs), dtype=lr_dtype, device=param.device)
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
