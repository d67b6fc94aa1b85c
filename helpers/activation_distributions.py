"""Chapter 5, activation distributions: what one hidden node does with each class.

The *activation distribution* of class ``c`` at node ``j`` of hidden layer ``i`` is the set
of that node's post-activation outputs over the test samples of class ``c`` (the paper's
eqs. 1-2). The paper summarises each one by its median and standard deviation;
:func:`helpers.metrics.class_activation_stats` computes them as ``[class, layer, node]``
tensors, and this module builds Figs 3-4 of Section 3 on top of them:

* the rule that picks the "typical" nodes of Figs 3-4 (:func:`typical_nodes`);
* per-layer numbers for what the paper judges by eye: saturation of sigmoid outputs
  (:func:`sigmoid_layer_summary`) and activity and class specificity of ReLU outputs
  (:func:`relu_layer_summary`);
* Figs 3-4 (:func:`plot_activation_distributions`);
* the paper's claims about Figs 3-4, judged by :mod:`helpers.claims`
  (:func:`distribution_claims` is a thin call into it).

The class medians, overlap and sparsity of chapter 6 are in :mod:`helpers.class_medians`;
the nets and the per-net tables (``summarise_nets``, ``mean_sd``) in
:mod:`helpers.inspected_nets`. Tensors index nodes from 0; tables and figures number layers
and nodes from 1, as the paper does (nodes 1-200 are layer 1 of a 4x200 net, 201-400
layer 2, ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .metrics import (
    class_activation_stats,
    dead_units,
    layer_sparsity,
    median_spread,
    saturation_fraction,
)
from .plots import CLASS_PALETTE, class_legend, with_source


# --------------------------------------------------------------------------- node selection
def node_std(hidden: list[Tensor]) -> Tensor:
    """``[layers, width]``: the population std of every node over all samples."""
    if not hidden or any(h.ndim != 2 for h in hidden):
        raise ValueError("hidden must be a non-empty list of [samples, nodes] tensors")
    return torch.stack([h.float().std(dim=0, unbiased=False) for h in hidden])


def typical_nodes(spread: Tensor, quantiles: Sequence[float] = (0.25, 0.5, 0.75)) -> Tensor:
    """The node-selection rule of Figs 3-4: ``[layers, len(quantiles)]`` node indices.

    In each layer the nodes are sorted by ``spread`` (``[layers, width]``, e.g.
    :func:`node_std`), ties broken by node index, and for each quantile ``q`` the node at
    rank ``floor(q * (width - 1) + 0.5)`` is taken: ``q = 0`` is the least variable node,
    ``q = 0.5`` the median one, ``q = 1`` the most variable one.
    """
    if spread.ndim != 2 or spread.shape[1] < 1:
        raise ValueError(f"spread has shape {tuple(spread.shape)}; accepted: [layers, width]")
    if not quantiles or any(not 0 <= q <= 1 for q in quantiles):
        raise ValueError(f"quantiles={quantiles!r} is invalid; accepted: values in [0, 1]")
    order = torch.sort(spread, dim=1, stable=True).indices
    ranks = [math.floor(q * (spread.shape[1] - 1) + 0.5) for q in quantiles]
    return order[:, ranks]


def typical_nodes_table(hidden: list[Tensor],
                        quantiles: Sequence[float] = (0.25, 0.5, 0.75)) -> pd.DataFrame:
    """The nodes :func:`typical_nodes` picks by node std, one row each (numbered from 1)."""
    std = node_std(hidden)
    nodes = typical_nodes(std, quantiles)
    width = std.shape[1]
    return pd.DataFrame([
        {"layer": i + 1, "std quantile": q, "node in layer": int(j) + 1,
         "node in network": i * width + int(j) + 1, "node std": std[i, j].item()}
        for i in range(len(hidden)) for q, j in zip(quantiles, nodes[i].tolist())
    ])


# ---------------------------------------------------------------------- ReLU class response
def classes_responded_to(inactive: Tensor, min_active: float = 0.5) -> Tensor:
    """``[layers, width]``: how many classes each node responds to, i.e. is active
    (output > 0) for more than ``min_active`` of the class's samples. ``inactive`` is
    :func:`helpers.metrics.class_activation_stats`' ``[classes, layers, width]`` field."""
    if not 0 <= min_active < 1:
        raise ValueError(f"min_active={min_active!r} is invalid; accepted: a float in [0, 1)")
    if inactive.ndim != 3:
        raise ValueError(f"inactive has shape {tuple(inactive.shape)}; "
                         "accepted: [classes, layers, width]")
    return ((1 - inactive) > min_active).sum(dim=0)


# ------------------------------------------------------------------- per-layer summaries
def sigmoid_layer_summary(hidden: list[Tensor], y: Tensor, n_classes: int, eps: float = 0.05,
                          point_std: float = 0.02) -> pd.DataFrame:
    """Per layer (Fig. 3 in numbers): the share of outputs within ``eps`` of 0, of 1 and of
    either (:func:`helpers.metrics.saturation_fraction`), the mean within-class std, and
    the share of class distributions that are nearly point masses (std < ``point_std``)."""
    stats = class_activation_stats(hidden, y, n_classes)
    saturated = saturation_fraction(hidden, eps)
    return pd.DataFrame({
        "layer": range(1, len(hidden) + 1),
        "near 0 (%)": [100 * (h <= eps).float().mean().item() for h in hidden],
        "near 1 (%)": [100 * (h >= 1 - eps).float().mean().item() for h in hidden],
        "saturated (%)": (100 * saturated).tolist(),
        "within-class std": stats["std"].mean(dim=(0, 2)).tolist(),
        "point-like classes (%)": (100 * (stats["std"] < point_std).float().mean(dim=(0, 2))
                                   ).tolist(),
        "separated nodes sharing 0 or 1 (%)": (100 * shared_saturation(stats["median"], eps)
                                               ).tolist(),
    })


def shared_saturation(medians: Tensor, eps: float = 0.05, min_range: float = 0.5) -> Tensor:
    """Per layer: among the nodes that separate classes (class medians span at least
    ``min_range``), the fraction at which two or more classes have their median within
    ``eps`` of the same saturation point (both near 0, or both near 1); NaN for a layer
    without such nodes. ``medians``: ``[classes, layers, width]``."""
    if medians.ndim != 3:
        raise ValueError(f"medians has shape {tuple(medians.shape)}; "
                         "accepted: [classes, layers, width]")
    separated = median_spread(medians) >= min_range
    shared = ((medians <= eps).sum(dim=0) >= 2) | ((medians >= 1 - eps).sum(dim=0) >= 2)
    count = separated.sum(dim=1).float()
    hits = (separated & shared).sum(dim=1).float()
    return torch.where(count > 0, hits / count.clamp_min(1), torch.full_like(count, math.nan))


def relu_layer_summary(hidden: list[Tensor], y: Tensor, n_classes: int,
                       min_active: float = 0.5) -> pd.DataFrame:
    """Per layer (Fig. 4 in numbers): active share of outputs (100 - Table 1's sparsity),
    the mean number of classes a node responds to (:func:`classes_responded_to`), the
    share of nodes responding to exactly one class and to none, and dead nodes."""
    stats = class_activation_stats(hidden, y, n_classes)
    counts = classes_responded_to(stats["inactive"], min_active).float()
    return pd.DataFrame({
        "layer": range(1, len(hidden) + 1),
        "active (%)": (100 - layer_sparsity(hidden)).tolist(),
        "classes per node": counts.mean(dim=1).tolist(),
        "one-class nodes (%)": (100 * (counts == 1).float().mean(dim=1)).tolist(),
        "no-class nodes (%)": (100 * (counts == 0).float().mean(dim=1)).tolist(),
        "dead nodes (%)": (100 * dead_units(hidden)).tolist(),
    })


# -------------------------------------------------------------------------------- figures
def plot_activation_distributions(
    hidden: list[Tensor], y: Tensor, classes: Sequence[str], activation: str, source: str,
    title: str, quantiles: Sequence[float] = (0.25, 0.5, 0.75), bins: int = 40,
) -> plt.Figure:
    """Figs 3-4: per-class histograms at the :func:`typical_nodes` of every layer (rows:
    layers, columns: node-std quantiles). Sigmoid outputs share bins on [0, 1]; ReLU
    outputs use bins from 0 to the node's largest output and a log y-axis, so the spike
    of inactive samples at 0 and the positive tail both stay visible."""
    nodes = typical_nodes(node_std(hidden), quantiles)
    n_layers, n_cols = nodes.shape
    fig, axes = plt.subplots(n_layers, n_cols, figsize=(3.4 * n_cols + 1.4, 2.3 * n_layers),
                             squeeze=False)
    y_np = y.cpu().numpy()
    for i in range(n_layers):
        for k, q in enumerate(quantiles):
            ax, j = axes[i, k], int(nodes[i, k])
            values = hidden[i][:, j].cpu().float().numpy()
            top = 1.0 if activation == "sigmoid" else max(float(values.max()), 1e-6)
            edges = np.linspace(0.0, top, bins + 1)
            for c in range(len(classes)):
                counts, _ = np.histogram(values[y_np == c], bins=edges)
                share = counts / max((y_np == c).sum(), 1)
                ax.stairs(share, edges, color=CLASS_PALETTE[c % 10], lw=1.1,
                          label=classes[c])
            if activation != "sigmoid":
                ax.set_yscale("log")
            ax.set_title(f"layer {i + 1}, node {j + 1} (std quantile {q:g})", fontsize=9)
            ax.set_xlabel("activation (output units)" if i == n_layers - 1 else "")
            ax.set_ylabel("share of class per bin" if k == 0 else "")
            ax.tick_params(labelsize=8)
    fig.suptitle(with_source(title, source))
    class_legend(fig, axes[0, 0], right=1 - 1.1 / fig.get_figwidth())
    return fig


# ------------------------------------------------------------------------- claim checks
def distribution_claims(sigmoid: pd.DataFrame, relu: pd.DataFrame,
                        medians: pd.DataFrame | None = None, eps: float = 0.05,
                        grid: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Figs 3-4: the paper's claims judged by :mod:`helpers.claims` on the tables of
    :func:`~helpers.inspected_nets.summarise_nets` with :func:`sigmoid_layer_summary` and
    :func:`relu_layer_summary` (``medians``, with
    :func:`~helpers.class_medians.median_layer_summary`, for the ReLU-vs-sigmoid overlap row;
    without it that row is pending). ``grid``: :func:`helpers.claims.grid_layer_inputs`, for
    the remarks about deeper and wider nets (pending without it)."""
    from .claims import claims_table

    return claims_table(chapter=5, sigmoid=sigmoid, relu=relu, medians=medians, eps=eps,
                        **(grid or {}))
