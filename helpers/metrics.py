"""Node-level metrics, vectorised over (samples x nodes).

Every function takes ``hidden``: the list of post-activation outputs of the hidden layers,
one ``[samples, nodes]`` tensor per layer, as returned by :func:`hidden_activations`.
A node is *inactive* for a sample when its output is ``<= 0`` (Table 1's definition).
"""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models import ACTIVATIONS, MLP, check_activation, pre_activations

STAT_NAMES = ("median", "std", "mean", "inactive")


@torch.no_grad()
def hidden_activations(model: nn.Module, x: Tensor, batch_size: int = 10_000) -> list[Tensor]:
    """Post-activation outputs of every hidden layer (eval mode), each ``[N, width]``."""
    was_training = model.training
    model.eval()
    chunks = [model(x[i:i + batch_size], return_hidden=True)[1]
              for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return [torch.cat([c[layer] for c in chunks]) for layer in range(len(chunks[0]))]


def _check_hidden(hidden: list[Tensor]) -> None:
    if not hidden or any(h.ndim != 2 for h in hidden):
        raise ValueError("hidden must be a non-empty list of [samples, nodes] tensors")


def class_activation_stats(hidden: list[Tensor], y: Tensor, n_classes: int) -> dict[str, Tensor]:
    """Per class x layer x node: median, std, mean and fraction inactive.

    Returns a dict of ``[n_classes, n_layers, width]`` tensors keyed by ``STAT_NAMES``.
    The median is the interpolated 0.5-quantile (as ``numpy.median``); the std is the
    population std (``ddof=0``). Layers must share one width.
    """
    _check_hidden(hidden)
    acts = torch.stack(hidden, dim=1).float()  # [N, L, W]
    out = {k: [] for k in STAT_NAMES}
    for c in range(n_classes):
        a = acts[y == c]
        if len(a) == 0:
            raise ValueError(f"class {c} has no samples; pass n_classes matching y")
        out["median"].append(torch.quantile(a, 0.5, dim=0))
        out["std"].append(a.std(dim=0, unbiased=False))
        out["mean"].append(a.mean(dim=0))
        out["inactive"].append((a <= 0).float().mean(dim=0))
    return {k: torch.stack(v) for k, v in out.items()}


def class_medians(hidden: list[Tensor], y: Tensor, n_classes: int) -> Tensor:
    """``[n_classes, n_layers * width]``: the median of each class at every node, nodes
    numbered layer after layer (1-200 layer 1, 201-400 layer 2, ... for width 200)."""
    return class_activation_stats(hidden, y, n_classes)["median"].flatten(1)


def median_spread(medians: Tensor) -> Tensor:
    """``[classes, layers, width]`` class medians -> ``[layers, width]``: the range
    (largest minus smallest class median) at every node."""
    if medians.ndim != 3:
        raise ValueError(f"medians has shape {tuple(medians.shape)}; "
                         "accepted: [classes, layers, width]")
    return medians.amax(dim=0) - medians.amin(dim=0)


def layer_sparsity(hidden: list[Tensor]) -> Tensor:
    """Per layer, in %: for each node the percentage of samples with output ``<= 0``,
    averaged over the layer's nodes (the paper's Table 1)."""
    _check_hidden(hidden)
    return torch.stack([(h <= 0).float().mean(dim=0).mean() * 100 for h in hidden])


def dead_units(hidden: list[Tensor]) -> Tensor:
    """Per layer: the fraction of nodes whose output is ``<= 0`` for *every* sample."""
    _check_hidden(hidden)
    return torch.stack([(h <= 0).all(dim=0).float().mean() for h in hidden])


def saturation_fraction(hidden: list[Tensor], eps: float = 0.01) -> Tensor:
    """Per layer: the fraction of (sample, node) outputs within ``eps`` of 0 or 1
    (for sigmoid outputs: the saturated regions)."""
    _check_hidden(hidden)
    if not 0 < eps < 0.5:
        raise ValueError(f"eps={eps!r} is invalid; accepted: a float in (0, 0.5)")
    return torch.stack([((h <= eps) | (h >= 1 - eps)).float().mean() for h in hidden])


def gradient_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """L2 norm of the cross-entropy gradient w.r.t. each hidden layer's weight matrix
    (layer 1 first), for one batch ``(x, y)``. The model's ``.grad`` fields are left
    as they were."""
    saved = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y)
    weights = [lin.weight for lin in model.linears]
    grads = torch.autograd.grad(loss, weights)
    for p, g in zip(model.parameters(), saved):
        p.grad = g
    return torch.stack([g.norm() for g in grads]).detach()


def backward_signal(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Root-mean-square of the cross-entropy gradient w.r.t. each hidden layer's activation
    input (the pre-activation, after batch norm if any), layer 1 first, for one batch
    ``(x, y)`` in the model's current mode: backpropagation's backward signal. Every hidden
    layer has the same width, so the layers compare directly; a weight gradient
    (:func:`gradient_norms`) is this signal times the layer's *input*, and so also carries
    the input's size (784 pixels in layer 1, the hidden width above it)."""
    loss, captured = _loss_and_preactivations(model, x, y)
    grads = torch.autograd.grad(loss, captured)
    return torch.stack([g.pow(2).mean().sqrt() for g in grads]).detach()


def _loss_and_preactivations(model: nn.Module, x: Tensor, y: Tensor
                             ) -> tuple[Tensor, list[Tensor]]:
    """The cross-entropy of one forward pass and each hidden layer's activation input."""
    captured: list[Tensor] = []
    hooks = [norm.register_forward_hook(lambda _m, _i, out: captured.append(out))
             for norm in model.norms]
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for h in hooks:
            h.remove()
    return loss, captured


def gradient_norms_and_signal(model: nn.Module, x: Tensor, y: Tensor
                              ) -> tuple[Tensor, Tensor]:
    """:func:`gradient_norms` and :func:`backward_signal` from one forward and one backward
    pass (the same numbers as the two functions; the ``.grad`` fields are untouched)."""
    loss, captured = _loss_and_preactivations(model, x, y)
    weights = [lin.weight for lin in model.linears]
    grads = torch.autograd.grad(loss, weights + captured)
    w, z = grads[:len(weights)], grads[len(weights):]
    return (torch.stack([g.norm() for g in w]).detach(),
            torch.stack([g.pow(2).mean().sqrt() for g in z]).detach())


def check_labels(h: Tensor, y: Tensor, n_classes: int) -> None:
    if h.ndim != 2:
        raise ValueError(f"h has shape {tuple(h.shape)}; accepted: [samples, nodes]")
    if y.ndim != 1 or len(y) != len(h):
        raise ValueError(f"y has shape {tuple(y.shape)}; accepted: [samples] matching h")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes={n_classes!r} is invalid; accepted: an int >= 1")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y holds labels outside 0..{n_classes - 1}; accepted: "
                         "labels in range(n_classes)")


def on_class_counts(h: Tensor, y: Tensor, n_classes: int, threshold: float = 0.0) -> Tensor:
    """``[n_classes, nodes]``: how many samples of each class switch each node on
    (output > ``threshold``)."""
    check_labels(h, y, n_classes)
    onehot = F.one_hot(y.long(), n_classes).to(torch.float64)  # [N, C]
    return onehot.T @ (h > threshold).to(torch.float64)


def node_perplexity(h: Tensor, y: Tensor, n_classes: int, threshold: float = 0.0,
                    balanced: bool = False) -> Tensor:
    """Per node: ``exp(entropy)`` of the class distribution of the samples with output
    ``> threshold``. 1 = one-class detector, ``n_classes`` = class-agnostic; NaN for a node
    that no sample switches on. ``balanced=True`` divides each class's count by that
    class's number of samples first (a node that is always on then scores exactly
    ``n_classes`` even when the classes are unequal in size)."""
    counts = on_class_counts(h, y, n_classes, threshold)
    if balanced:
        sizes = torch.bincount(y.long(), minlength=n_classes).to(torch.float64)
        counts = torch.where(sizes[:, None] > 0, counts / sizes.clamp(min=1)[:, None], 0.0)
    total = counts.sum(0)
    p = counts / total.clamp(min=torch.finfo(torch.float64).tiny)
    entropy = -(torch.where(p > 0, p * p.log(), 0.0)).sum(0)
    return torch.where(total > 0, entropy.exp(), math.nan).float()


GRAD_SATURATION = 0.04  # share of the activation's peak slope below which a unit saturates
OUTPUT_SATURATION = 0.01  # a sigmoid output within this of 0 or 1 counts as saturated


@cache
def peak_slope(activation: str) -> float:
    """``max |f'(z)|`` of a network activation, found numerically on ``[-20, 20]``
    (0.25 for the sigmoid, 1 for tanh and the ReLU family, about 1.76 for SELU)."""
    z = torch.linspace(-20, 20, 400_001, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(ACTIVATIONS[check_activation(activation)]()(z).sum(), z)
    return float(d.abs().max())


def gradient_saturation(pre: list[Tensor], activation: str,
                        rel: float = GRAD_SATURATION) -> Tensor:
    """Per layer: the fraction of (sample, node) pre-activations where the activation's
    slope ``|f'(z)|`` is below ``rel`` times its peak slope, i.e. where almost no gradient
    passes back. One definition for every activation: for the sigmoid (peak 0.25) the
    default 4 % is an output within 0.0101 of 0 or 1, the paper-style saturation; for
    ReLU it is the ``z <= 0`` half; for leaky ReLU (slope 0.01 = 1 % of peak) the whole
    negative side; for GELU and SiLU also a narrow band around their minimum."""
    _check_hidden(pre)
    if not 0 < rel < 1:
        raise ValueError(f"rel={rel!r} is invalid; accepted: a float in (0, 1)")
    act = ACTIVATIONS[check_activation(activation)]()
    limit = rel * peak_slope(activation)
    out = []
    for z in pre:
        z = z.detach().to(torch.float64).requires_grad_(True)
        (d,) = torch.autograd.grad(act(z).sum(), z)
        out.append((d.abs() < limit).float().mean())
    return torch.stack(out)


@torch.no_grad()
def layer_stats(model: MLP, x: Tensor, y: Tensor) -> list[dict]:
    """Per hidden layer of ``model`` (eval mode) on ``(x, y)``, all in %, except
    ``perplexity`` and ``mean``: ``sparsity`` (outputs ``<= 0``, Table 1), ``saturation``
    (outputs within :data:`OUTPUT_SATURATION` of 0 or 1; meant for the sigmoid),
    ``grad_saturation`` (:func:`gradient_saturation`, every activation), ``dead`` (nodes
    ``<= 0`` for every sample), ``perplexity`` (mean :func:`node_perplexity` over the nodes
    that are ever *on*, on = pre-activation ``> 0``, i.e. output above ``f(0)``: 0.5 for
    the sigmoid, 0 for the rest) and the mean output."""
    x = x.float().cpu()
    pre = pre_activations(model, x)
    with torch.enable_grad():
        grad_sat = gradient_saturation(pre, model.activation) * 100
    hidden = [model.act(z) for z in pre]
    sparsity = layer_sparsity(hidden)
    saturation = saturation_fraction(hidden, OUTPUT_SATURATION) * 100
    dead = dead_units(hidden) * 100
    n_classes = model.config["n_classes"]
    ppl = [torch.nanmean(node_perplexity(z, y.cpu(), n_classes)) for z in pre]
    return [dict(layer=i + 1, sparsity=float(sparsity[i]), saturation=float(saturation[i]),
                 grad_saturation=float(grad_sat[i]), dead=float(dead[i]),
                 perplexity=float(ppl[i]), mean=float(h.mean()))
            for i, h in enumerate(hidden)]
