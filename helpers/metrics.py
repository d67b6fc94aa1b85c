"""Node-level metrics, vectorised over (samples x nodes).

Every function takes ``hidden``: the list of post-activation outputs of the hidden layers,
one ``[samples, nodes]`` tensor per layer, as returned by :func:`hidden_activations`.
A node is *inactive* for a sample when its output is ``<= 0`` (Table 1's definition).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
