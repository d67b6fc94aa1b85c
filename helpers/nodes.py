"""Section 3 of the paper: what single hidden nodes do with each class.

Vocabulary. The *activation distribution* of class ``c`` at node ``j`` of hidden layer ``i``
is the set of that node's post-activation outputs over the test samples of class ``c``
(the paper's eqs. 1-2). The paper summarises each one by its median and standard deviation;
:func:`helpers.metrics.class_activation_stats` computes them as ``[class, layer, node]``
tensors, and this module builds everything Section 3 shows on top of them:

* the rule that picks the "typical" nodes of Figs 3-4 (:func:`typical_nodes`);
* per-layer numbers for what the paper judges by eye: saturation of sigmoid outputs
  (:func:`sigmoid_layer_summary`), activity and class specificity of ReLU outputs
  (:func:`relu_layer_summary`) and the overlap of class medians (:func:`median_layer_summary`);
* Table 1 beside the paper's values (:data:`PAPER_TABLE1_SPARSITY`, :func:`table1`) and
  sparsity during training (:func:`training_sparsity`, :func:`sparsity_training_figure`);
* Figs 3-7 (:func:`activation_distributions_figure`, :func:`class_medians_figure`);
* the paper's claims about Figs 3-7 and Table 1, judged by :mod:`helpers.claims`
  (``distribution_claims``, ``median_claims``, ``sparsity_claims`` are thin calls into it).

Tensors index nodes from 0; tables and figures number layers and nodes from 1, as the
paper does (nodes 1-200 are layer 1 of a 4x200 net, 201-400 layer 2, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import Tensor

from .data import Dataset, source_label
from .metrics import (
    class_activation_stats,
    class_medians,
    dead_units,
    hidden_activations,
    layer_sparsity,
    saturation_fraction,
)
from .plots import with_source
from .section3_nets import STATES, Section3Net

# Pretorius, Barnard & Davel (2019), Table 1: layer sparsity (%) of layers 1-4 of one 4x200
# ReLU network per cell, without and with batch normalisation. Reference values, not ours.
PAPER_TABLE1_SPARSITY: dict[tuple[str, str, str], tuple[float, float, float, float]] = {
    ("mnist", "ReLU", "untrained"): (49.22, 48.85, 48.45, 48.74),
    ("mnist", "ReLU", "trained"): (80.40, 79.33, 81.93, 81.90),
    ("mnist", "ReLU BN", "untrained"): (49.08, 49.70, 49.81, 49.15),
    ("mnist", "ReLU BN", "trained"): (65.76, 56.67, 68.77, 69.12),
    ("cifar10", "ReLU", "untrained"): (51.07, 50.96, 50.73, 50.85),
    ("cifar10", "ReLU", "trained"): (77.56, 76.55, 77.54, 77.14),
    ("cifar10", "ReLU BN", "untrained"): (51.06, 50.75, 50.95, 50.81),
    ("cifar10", "ReLU BN", "trained"): (58.53, 59.41, 57.43, 57.37),
}
CLASS_PALETTE = sns.color_palette("tab10", 10)
# Summary columns that only mean something for one activation (NaN for other nets).
ACTIVATION_ONLY_COLUMNS = {"|median - 0.5|": "sigmoid", "medians near 0 or 1 (%)": "sigmoid"}


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


# ------------------------------------------------------------------------- overlap metric
def median_spread(medians: Tensor) -> Tensor:
    """``[classes, layers, width]`` class medians -> ``[layers, width]``: the range
    (largest minus smallest class median) at every node."""
    if medians.ndim != 3:
        raise ValueError(f"medians has shape {tuple(medians.shape)}; "
                         "accepted: [classes, layers, width]")
    return medians.amax(dim=0) - medians.amin(dim=0)


def layer_std(hidden: list[Tensor]) -> Tensor:
    """``[layers]``: the std of all outputs of each layer (every node, every sample), the
    scale at which a reader sees a layer in Figs 5-7."""
    if not hidden or any(h.ndim != 2 for h in hidden):
        raise ValueError("hidden must be a non-empty list of [samples, nodes] tensors")
    return torch.stack([h.float().std(unbiased=False) for h in hidden])


def relative_median_spread(medians: Tensor, scale: Tensor) -> Tensor:
    """:func:`median_spread` in units of each layer's ``scale`` (``[layers]``, e.g.
    :func:`layer_std`). A layer of scale 0 is constant: its spread is 0 and scores 0."""
    rng = median_spread(medians)
    if scale.shape != rng.shape[:1]:
        raise ValueError(f"scale has shape {tuple(scale.shape)}; accepted: ({rng.shape[0]},)")
    scale = scale[:, None].expand_as(rng)
    return torch.where(scale > 0, rng / scale.clamp_min(1e-12), torch.zeros_like(rng))


def overlap_fraction(medians: Tensor, scale: Tensor, delta: float = 0.5) -> Tensor:
    """The overlap metric, per layer: the fraction of nodes whose class medians all lie
    within ``delta`` x ``scale`` of one another (``scale``: ``[layers]``, normally
    :func:`layer_std`), i.e. nodes at which the classes' medians sit on top of each other
    at the scale the layer works at."""
    if not delta > 0:
        raise ValueError(f"delta={delta!r} is invalid; accepted: a float > 0")
    return (relative_median_spread(medians, scale) <= delta).float().mean(dim=1)


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


def median_layer_summary(hidden: list[Tensor], y: Tensor, n_classes: int, delta: float = 0.5,
                         eps: float = 0.05) -> pd.DataFrame:
    """Per layer (Figs 5-7 in numbers): the mean range of class medians per node, that range
    in units of the layer's std (:func:`layer_std`), the overlap metric
    (:func:`overlap_fraction`, in %), the mean distance of class medians from 0.5, the share
    of class medians within ``eps`` of 0 or 1, the share of class medians <= 0, the mean
    class median, and how far each class's mean is from its median in units of the class's
    std (averaged over class distributions with std > 0). The two 0.5 / 0-or-1 columns
    describe sigmoid outputs; :func:`summarise_nets` blanks them for other activations."""
    stats = class_activation_stats(hidden, y, n_classes)
    medians = stats["median"]
    scale = layer_std(hidden)
    per_layer = [medians[:, i] for i in range(medians.shape[1])]
    spread = stats["std"] > 0
    gap = torch.where(spread, (stats["mean"] - medians).abs() / stats["std"].clamp_min(1e-12),
                      torch.zeros_like(medians))
    n_spread = spread.float().sum(dim=(0, 2))
    return pd.DataFrame({
        "layer": range(1, len(hidden) + 1),
        "median range": median_spread(medians).mean(dim=1).tolist(),
        "median range / layer std": relative_median_spread(medians, scale).mean(dim=1).tolist(),
        "overlap (%)": (100 * overlap_fraction(medians, scale, delta)).tolist(),
        "|median - 0.5|": (medians - 0.5).abs().mean(dim=(0, 2)).tolist(),
        "medians near 0 or 1 (%)": (100 * saturation_fraction(per_layer, eps)).tolist(),
        "zero medians (%)": (100 * (medians <= 0).float().mean(dim=(0, 2))).tolist(),
        "mean class median": medians.mean(dim=(0, 2)).tolist(),
        "|mean - median| / class std": torch.where(
            n_spread > 0, gap.sum(dim=(0, 2)) / n_spread.clamp_min(1),
            torch.full_like(n_spread, math.nan)).tolist(),
    })


def sparsity_summary(hidden: list[Tensor], y: Tensor, n_classes: int) -> pd.DataFrame:
    """Per layer: Table 1's sparsity (%), :func:`helpers.metrics.layer_sparsity`."""
    return pd.DataFrame({"layer": range(1, len(hidden) + 1),
                         "sparsity (%)": layer_sparsity(hidden).tolist()})


def summarise_nets(nets: Iterable[Section3Net], data: Dataset,
                   summary: Callable[..., pd.DataFrame], states: Sequence[str] = STATES,
                   **kwargs) -> pd.DataFrame:
    """Run a per-layer ``summary(hidden, y, n_classes, **kwargs)`` on the test split for
    every net and state; one long table with columns data, model, activation, batch norm,
    seed, state and the summary's columns. Columns that only describe one activation
    (:data:`ACTIVATION_ONLY_COLUMNS`) are NaN for nets with another."""
    bad = [s for s in states if s not in STATES]
    if bad or not states:
        raise ValueError(f"states={states!r} is invalid; accepted values: {STATES}")
    x, y = data.test.x.cpu(), data.test.y.cpu()
    frames = []
    for net in nets:
        for state in states:
            hidden = hidden_activations(net.model(state), x)
            table = summary(hidden, y, data.n_classes, **kwargs)
            for column, activation in ACTIVATION_ONLY_COLUMNS.items():
                if column in table and net.activation != activation:
                    table[column] = math.nan
            frames.append(table.assign(
                data=source_label(net.source), dataset=net.dataset, model=net.model_name,
                activation=net.activation, batch_norm=net.batch_norm, seed=net.seed,
                state=state))
    front = ["data", "dataset", "model", "activation", "batch_norm", "seed", "state", "layer"]
    table = pd.concat(frames, ignore_index=True)
    return table[front + [c for c in table.columns if c not in front]]


def mean_sd(table: pd.DataFrame, by: Sequence[str], values: Sequence[str] | None = None,
            decimals: int = 1) -> pd.DataFrame:
    """``"mean ± sd"`` strings over seeds (sample sd; only the mean when there is one seed;
    ``—`` where there is no value)."""
    values = list(values) if values is not None else [
        c for c in table.select_dtypes("number").columns if c not in [*by, "seed"]]
    grouped = table.groupby(list(by), sort=False)[values]
    mean, sd, n = grouped.mean(), grouped.std(ddof=1), grouped.count()

    def fmt(m: float, s: float, k: int) -> str:
        if k == 0 or m != m:  # no value (e.g. a sigmoid-only column of a ReLU net)
            return "—"
        return f"{m:.{decimals}f}" if k < 2 else f"{m:.{decimals}f} ± {s:.{decimals}f}"

    return pd.DataFrame({c: [fmt(m, s, k) for m, s, k in zip(mean[c], sd[c], n[c])]
                         for c in values}, index=mean.index)


# -------------------------------------------------------------------------------- Table 1
def table1(sparsity: pd.DataFrame) -> pd.DataFrame:
    """Table 1 in numbers: per dataset, model, state and layer our mean and sd of
    sparsity (%) over seeds, the number of seeds, the paper's value and ours minus the
    paper's. ``sparsity`` is :func:`summarise_nets` with :func:`sparsity_summary`."""
    g = sparsity.groupby(["dataset", "data", "model", "state", "layer"], sort=False)
    out = g["sparsity (%)"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "ours", "std": "sd", "count": "seeds"})
    out["paper"] = [
        PAPER_TABLE1_SPARSITY.get((d, m, s), (math.nan,) * 4)[layer - 1]
        if layer <= 4 else math.nan
        for d, m, s, layer in zip(out["dataset"], out["model"], out["state"], out["layer"])
    ]
    out["ours - paper"] = out["ours"] - out["paper"]
    return out


def format_table1(numbers: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """The paper's layout: rows data x layer, columns model x state x (ours, paper)."""
    t = numbers.copy()
    t["ours"] = [f"{m:.{decimals}f}" + ("" if k < 2 else f" ± {s:.{decimals}f}")
                 for m, s, k in zip(t["ours"], t["sd"], t["seeds"])]
    t["paper"] = t["paper"].map(lambda v: "" if math.isnan(v) else f"{v:.2f}")
    wide = t.pivot_table(index=["data", "layer"], columns=["model", "state"],
                         values=["ours", "paper"], aggfunc="first", sort=False)
    wide = wide.reorder_levels([1, 2, 0], axis=1)
    models = list(dict.fromkeys(t["model"]))
    states = [s for s in STATES if s in set(t["state"])]
    cols = [(m, s, w) for m in models for s in states for w in ("ours", "paper")]
    wide = wide[[c for c in cols if c in wide.columns]]
    wide.columns.names = ["model", "state", "sparsity (%)"]
    return wide


def training_sparsity(nets: Iterable[Section3Net]) -> pd.DataFrame:
    """Layer sparsity (%) on the validation split after every training epoch (epoch 0 =
    untrained), from the histories of nets trained by
    :func:`helpers.section3_nets.section3_networks`; nets without one (grid checkpoints)
    are skipped. Long table: data, dataset, model, seed, epoch, layer, sparsity (%)."""
    frames = []
    for net in nets:
        cols = [] if net.history is None else [
            c for c in net.history.columns if c.startswith("val sparsity L")]
        if not cols:
            continue
        long = net.history.melt(id_vars="epoch", value_vars=cols, var_name="layer",
                                value_name="sparsity (%)")
        long["layer"] = long["layer"].str.extract(r"L(\d+)", expand=False).astype(int)
        frames.append(long.assign(data=source_label(net.source), dataset=net.dataset,
                                  model=net.model_name, seed=net.seed))
    columns = ["data", "dataset", "model", "seed", "epoch", "layer", "sparsity (%)"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(
        columns=columns)


# -------------------------------------------------------------------------------- figures
def activation_distributions_figure(
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
    _class_legend(fig, axes[0, 0], right=1 - 1.1 / fig.get_figwidth())
    return fig


def net_medians(net: Section3Net, data: Dataset, state: str = "trained") -> Tensor:
    """``[classes, layers * width]``: :func:`helpers.metrics.class_medians` of one net's
    hidden outputs on the test split (the y-values of Figs 5-7)."""
    hidden = hidden_activations(net.model(state), data.test.x.cpu())
    return class_medians(hidden, data.test.y.cpu(), data.n_classes)


def class_medians_figure(panels: dict[str, Tensor], width: int, classes: Sequence[str],
                         source: str, title: str, ylabel: str = "class median (output units)",
                         sharey: bool = False) -> plt.Figure:
    """Figs 5-7: the median of every class (colour) at every node, nodes numbered layer
    after layer on the x-axis (dashed lines mark layer boundaries). ``panels`` maps a
    panel title to ``[classes, layers * width]`` medians (:func:`net_medians`)."""
    if not panels:
        raise ValueError("panels is empty; accepted: {panel title: [classes, layers * width]}")
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.0 * len(panels)), sharey=sharey,
                             squeeze=False)
    for ax, (name, medians) in zip(axes[:, 0], panels.items()):
        n_classes, n_nodes = medians.shape
        if n_nodes % width:
            raise ValueError(f"width={width!r} does not divide the {n_nodes} nodes of {name!r}")
        n_layers = n_nodes // width
        nodes = np.arange(1, n_nodes + 1)
        for c in range(n_classes):
            ax.scatter(nodes, medians[c].cpu().numpy(), s=3, alpha=0.7,
                       color=CLASS_PALETTE[c % 10], label=classes[c], linewidths=0)
        for i in range(1, n_layers):
            ax.axvline(i * width + 0.5, color="0.4", ls="--", lw=0.8)
        for i in range(n_layers):
            ax.text((i + 0.5) * width, 1.01, f"layer {i + 1}", transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8)
        ax.set_xlim(0.5, n_nodes + 0.5)
        ax.set(xlabel="node index (layer after layer)", ylabel=ylabel)
        ax.set_title(name, pad=14)
    fig.suptitle(with_source(title, source))
    _class_legend(fig, axes[0, 0], right=0.9, markerscale=3)
    return fig


def _class_legend(fig: plt.Figure, ax: plt.Axes, right: float, **kwargs) -> None:
    """One legend of the classes, just right of the panels."""
    fig.tight_layout(rect=(0, 0, right, 1))
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, title="class", loc="center left", fontsize=8,
               bbox_to_anchor=(right, 0.5), **kwargs)


def sparsity_training_figure(trajectory: pd.DataFrame, title: str) -> plt.Figure:
    """Mean layer sparsity (%) against epoch, one panel per dataset, one colour per model
    (line: mean over seeds, band: sd over seeds), with the paper's trained values (Table 1,
    mean over layers) as dashed lines. ``trajectory``: :func:`training_sparsity`."""
    if trajectory.empty:
        raise ValueError("trajectory is empty; accepted: training_sparsity() of trained nets")
    per_seed = trajectory.groupby(["data", "dataset", "model", "seed", "epoch"], sort=False)[
        "sparsity (%)"].mean().reset_index()
    panels = list(dict.fromkeys(per_seed["data"]))
    models = list(dict.fromkeys(per_seed["model"]))
    palette = dict(zip(models, sns.color_palette("deep", len(models))))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, label in zip(axes[0], panels):
        rows = per_seed[per_seed["data"] == label]
        sns.lineplot(data=rows, x="epoch", y="sparsity (%)", hue="model", palette=palette,
                     errorbar="sd", ax=ax)
        dataset = rows["dataset"].iloc[0]
        for model in models:
            paper = PAPER_TABLE1_SPARSITY.get((dataset, model, "trained"))
            if paper is not None:
                ax.axhline(float(np.mean(paper)), color=palette[model], ls="--", lw=1,
                           label=f"{model}, paper (trained)")
        ax.axhline(50, color="0.5", ls=":", lw=1, label="50 %")
        ax.set(title=label, xlabel="epoch", ylabel="mean layer sparsity, validation (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0]:
        ax.get_legend().remove()
    fig.suptitle(f"{title} — {' and '.join(panels)}")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               frameon=False)
    return fig


# ------------------------------------------------------------------------- claim checks
def distribution_claims(sigmoid: pd.DataFrame, relu: pd.DataFrame,
                        medians: pd.DataFrame | None = None, eps: float = 0.05
                        ) -> pd.DataFrame:
    """Figs 3-4: the paper's claims judged by :mod:`helpers.claims` on the tables of
    :func:`summarise_nets` with :func:`sigmoid_layer_summary` and :func:`relu_layer_summary`
    (``medians``, with :func:`median_layer_summary`, for the ReLU-vs-sigmoid overlap row;
    without it that row is pending)."""
    from .claims import claims_table

    return claims_table(chapter=5, sigmoid=sigmoid, relu=relu, medians=medians, eps=eps)


def median_claims(medians: pd.DataFrame) -> pd.DataFrame:
    """Figs 5-7: the paper's claims about class medians, judged by :mod:`helpers.claims`
    on :func:`summarise_nets` with :func:`median_layer_summary` (sigmoid and ReLU nets,
    untrained and trained, ``mnist`` and ``cifar10``; the CIFAR-10 row is pending without
    CIFAR-10 rows)."""
    from .claims import claims_table

    return claims_table(figures=("Fig 5", "Fig 6", "Fig 7"), medians=medians)


def sparsity_claims(sparsity: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """Table 1: the paper's claims judged by :mod:`helpers.claims` on
    :func:`summarise_nets` with :func:`sparsity_summary` and
    :func:`helpers.section3_nets.accuracy_table`."""
    from .claims import claims_table

    return claims_table(figures=("Table 1",), sparsity=sparsity, accuracy=accuracy)
