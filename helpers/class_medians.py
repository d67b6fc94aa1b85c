"""Chapter 6, class medians and sparsity: where the classes sit at each hidden node.

Builds Figs 5-7 and Table 1 of Section 3 on the class medians of
:func:`helpers.metrics.class_activation_stats`:

* the overlap of class medians (:func:`layer_std`, :func:`relative_median_spread`,
  :func:`overlap_fraction`, on :func:`helpers.metrics.median_spread`) and its per-layer
  summary (:func:`median_layer_summary`);
* Table 1 beside the paper's values (:data:`PAPER_TABLE1_SPARSITY`, :func:`sparsity_summary`,
  :func:`table1`, :func:`format_table1`) and sparsity during training
  (:func:`training_sparsity`, :func:`plot_sparsity_training`);
* Figs 5-7 (:func:`net_medians`, :func:`plot_class_medians`);
* the paper's claims about Figs 5-7 and Table 1, judged by :mod:`helpers.claims`
  (:func:`median_claims`, :func:`sparsity_claims` are thin calls into it);
* the sentences the prose quotes (:func:`best_epochs_text`, :func:`fig7_numbers`,
  :func:`less_sparse_text`, :func:`furthest_table1_cell`, :func:`trajectory_text`).

The activation distributions of chapter 5 are in :mod:`helpers.activation_distributions`;
the nets and the per-net tables (``summarise_nets``, ``mean_sd``) in
:mod:`helpers.inspected_nets`. Tensors index nodes from 0; tables and figures number layers
and nodes from 1, as the paper does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import Tensor

from .data import Dataset, source_label
from .inspected_nets import STATES, Section3Net
from .metrics import (
    class_activation_stats,
    class_medians,
    hidden_activations,
    layer_sparsity,
    median_spread,
    saturation_fraction,
)
from .plots import CLASS_PALETTE, class_legend, with_source

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


# ------------------------------------------------------------------------- overlap metric
def layer_std(hidden: list[Tensor]) -> Tensor:
    """``[layers]``: the std of all outputs of each layer (every node, every sample), the
    scale at which a reader sees a layer in Figs 5-7."""
    if not hidden or any(h.ndim != 2 for h in hidden):
        raise ValueError("hidden must be a non-empty list of [samples, nodes] tensors")
    return torch.stack([h.float().std(unbiased=False) for h in hidden])


def relative_median_spread(medians: Tensor, scale: Tensor) -> Tensor:
    """:func:`~helpers.metrics.median_spread` in units of each layer's ``scale`` (``[layers]``, e.g.
    :func:`layer_std`). A layer of scale 0 is constant: its spread is 0 and scores 0."""
    rng = median_spread(medians)
    if scale.shape != rng.shape[:1]:
        raise ValueError(f"scale has shape {tuple(scale.shape)}; accepted: ({rng.shape[0]},)")
    scale = scale[:, None].expand_as(rng)
    return torch.where(scale > 0, rng / scale.clamp_min(1e-12), torch.zeros_like(rng))


def overlap_fraction(medians: Tensor, scale: Tensor, delta: float = 0.5,
                     positive_only: bool = False) -> Tensor:
    """The overlap metric, per layer: the fraction of nodes whose class medians all lie
    within ``delta`` x ``scale`` of one another (``scale``: ``[layers]``, normally
    :func:`layer_std`), i.e. nodes at which the classes' medians sit on top of each other
    at the scale the layer works at. ``positive_only``: among the nodes in the positive
    domain only (some class median > 0; a ReLU node whose class medians are all 0 is left
    out), NaN for a layer without one."""
    if not delta > 0:
        raise ValueError(f"delta={delta!r} is invalid; accepted: a float > 0")
    overlap = (relative_median_spread(medians, scale) <= delta).float()
    if not positive_only:
        return overlap.mean(dim=1)
    keep = (medians > 0).any(dim=0).float()  # [layers, nodes]
    n = keep.sum(dim=1)
    return torch.where(n > 0, (overlap * keep).sum(dim=1) / n.clamp_min(1),
                       torch.full_like(n, math.nan))


# ------------------------------------------------------------------- per-layer summaries
def median_layer_summary(hidden: list[Tensor], y: Tensor, n_classes: int, delta: float = 0.5,
                         eps: float = 0.05) -> pd.DataFrame:
    """Per layer (Figs 5-7 in numbers): the mean range of class medians per node, that range
    in units of the layer's std (:func:`layer_std`), the overlap metric
    (:func:`overlap_fraction`, in %, over all nodes and over those in the positive domain),
    the mean distance of class medians from 0.5 and the share within 0.25 of it (50 % for
    medians spread evenly over [0, 1]), the share of class medians within ``eps`` of 0 or 1,
    the share of class medians <= 0, the mean class median, and how far each class's mean
    is from its median in units of the class's std (averaged over class distributions with
    std > 0). The 0.5 and 0-or-1 columns
    describe sigmoid outputs; :func:`~helpers.inspected_nets.summarise_nets` blanks them for
    other activations."""
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
        "overlap, positive domain (%)": (
            100 * overlap_fraction(medians, scale, delta, positive_only=True)).tolist(),
        "|median - 0.5|": (medians - 0.5).abs().mean(dim=(0, 2)).tolist(),
        "medians within 0.25 of 0.5 (%)": (
            100 * ((medians - 0.5).abs() <= 0.25).float().mean(dim=(0, 2))).tolist(),
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


# -------------------------------------------------------------------------------- Table 1
def table1(sparsity: pd.DataFrame) -> pd.DataFrame:
    """Table 1 in numbers: per dataset, model, state and layer our mean and sd of
    sparsity (%) over seeds, the number of seeds, the paper's value and ours minus the
    paper's. ``sparsity`` is :func:`~helpers.inspected_nets.summarise_nets` with
    :func:`sparsity_summary`."""
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
    :func:`helpers.inspected_nets.section3_networks`; nets without one (grid checkpoints)
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
def net_medians(net: Section3Net, data: Dataset, state: str = "trained") -> Tensor:
    """``[classes, layers * width]``: :func:`helpers.metrics.class_medians` of one net's
    hidden outputs on the test split (the y-values of Figs 5-7)."""
    hidden = hidden_activations(net.model(state), data.test.x.cpu())
    return class_medians(hidden, data.test.y.cpu(), data.n_classes)


def fig7_panels(nets: Mapping[tuple, Section3Net], data: Dataset,
                node_medians: pd.DataFrame | None, seed: int, depth: int, width: int
                ) -> tuple[dict[str, Tensor], str | None]:
    """Fig 7's panels (title -> ``[classes, nodes]`` class medians of the trained sigmoid and
    ReLU nets without BN of ``seed``) on ``data`` (CIFAR-10), and the data source they were
    computed on: from the nets where they are read here (``nets`` keyed ``(dataset,
    activation, batch_norm, seed)``), else from the stored node table
    (:func:`helpers.claims.inputs.node_medians_table`, computed where the grid's copy of the
    dataset was at hand); ``({}, None)`` where neither has them."""
    from .claims.inputs import node_medians_of

    panels, sources = {}, set()
    for act, name in (("sigmoid", "sigmoid"), ("relu", "ReLU")):
        net = nets.get((data.name, act, False, seed))
        if net is not None:
            med, source = net_medians(net, data), data.source
        elif node_medians is not None and len(node_medians):
            med = node_medians_of(node_medians, data.name, act, seed)
            rows = node_medians[node_medians["dataset"] == data.name]
            source = rows["source"].iloc[0] if len(rows) else None
        else:
            med, source = None, None
        if med is None or source is None:
            return {}, None
        panels[f"{name} {depth}×{width}, trained"] = med
        sources.add(source)
    return panels, sources.pop() if len(sources) == 1 else None


def plot_class_medians(panels: dict[str, Tensor], width: int, classes: Sequence[str],
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
    class_legend(fig, axes[0, 0], right=0.9, markerscale=3)
    return fig


def plot_sparsity_training(trajectory: pd.DataFrame, title: str) -> plt.Figure:
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
def median_claims(medians: pd.DataFrame, labels: Mapping[str, str] | None = None
                  ) -> pd.DataFrame:
    """Figs 5-7: the paper's claims about class medians, judged by :mod:`helpers.claims`
    on :func:`~helpers.inspected_nets.summarise_nets` with :func:`median_layer_summary`
    (sigmoid and ReLU nets, untrained and trained, ``mnist`` and ``cifar10``; the CIFAR-10
    row is pending without CIFAR-10 rows). ``labels``: dataset code -> the label of the data
    used (``Dataset.label``), for the measures' text."""
    from .claims import claims_table

    return claims_table(figures=("Fig 5", "Fig 6", "Fig 7"), medians=medians, labels=labels)


def sparsity_claims(sparsity: pd.DataFrame, accuracy: pd.DataFrame,
                    labels: Mapping[str, str] | None = None,
                    grid: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Table 1: the paper's claims judged by :mod:`helpers.claims` on
    :func:`~helpers.inspected_nets.summarise_nets` with :func:`sparsity_summary` and
    :func:`helpers.inspected_nets.accuracy_table` (``labels`` as in :func:`median_claims`;
    ``grid``: :func:`helpers.claims.grid_layer_inputs`, for the row across the whole grid)."""
    from .claims import claims_table

    return claims_table(figures=("Table 1",), sparsity=sparsity, accuracy=accuracy,
                        labels=labels, **(grid or {}))


# ------------------------------------------------------------------ what the prose quotes
def best_epochs_text(accuracy: pd.DataFrame) -> dict[str, str]:
    """From :func:`helpers.inspected_nets.accuracy_table`: ``bn_setup`` (per dataset, the
    learning rate and best-epoch range of ReLU and ReLU BN, min-max over seeds) and
    ``<dataset>_epochs`` (every model's best-epoch range), or ``pending``."""
    by_model = accuracy.groupby(["dataset", "model"], sort=False)
    lrs, best = by_model["lr"].first(), by_model["best epoch"].agg(["min", "max"])
    names = dict(zip(accuracy["dataset"], accuracy["data"]))

    def epochs(dataset: str, model: str) -> str:
        return f"{best.loc[(dataset, model), 'min']:.0f}–{best.loc[(dataset, model), 'max']:.0f}"

    datasets = list(dict.fromkeys(accuracy["dataset"]))
    try:
        setup = "; ".join(
            f"{names[d]}: ReLU at {lrs[(d, 'ReLU')]:g} (best epochs {epochs(d, 'ReLU')}), "
            f"ReLU BN at {lrs[(d, 'ReLU BN')]:g} ({epochs(d, 'ReLU BN')})" for d in datasets)
    except KeyError:  # a configuration without nets yet
        setup = ""
    out = {"bn_setup": setup or "pending"}
    for d in ("mnist", "cifar10"):
        models = dict.fromkeys(accuracy.loc[accuracy["dataset"] == d, "model"])
        out[f"{d}_epochs"] = ", ".join(f"{m} {epochs(d, m)}" for m in models) or "pending"
    return out


def fig7_numbers(medians: pd.DataFrame) -> dict[str, float | str]:
    """Fig 7's two readings per activation and dataset, from
    :func:`~helpers.inspected_nets.summarise_nets` with :func:`median_layer_summary`:
    ``sep_<dataset>_<activation>`` — how much training changed the separation (``median
    range / layer std``): ``|trained - untrained|`` per layer and seed, averaged (changes of
    opposite sign in different layers do not cancel); ``near01_last_<dataset>`` — the
    trained sigmoid nets' class medians within eps of 0 or 1 in the last layer (%); and
    ``near01_reading``: do CIFAR-10's stay under half of MNIST's (closer to the untrained
    picture, as the paper says of its Fig 7)? Missing entries are NaN / ``pending``."""
    sep = medians.pivot_table(index=["dataset", "activation", "seed", "layer"],
                              columns="state", values="median range / layer std")
    sep = (sep["trained"] - sep["untrained"]).abs().groupby(["dataset", "activation"]).mean()
    sat = medians[(medians["activation"] == "sigmoid") & (medians["state"] == "trained")]
    sat = sat[sat["layer"] == sat["layer"].max()].groupby("dataset")[
        "medians near 0 or 1 (%)"].mean()
    out: dict[str, float | str] = {
        f"sep_{d}_{a}": float(sep.get((d, a), math.nan))
        for d in ("mnist", "cifar10") for a in ("sigmoid", "relu")}
    out |= {f"near01_last_{d}": float(sat.get(d, math.nan)) for d in ("mnist", "cifar10")}
    mnist, cifar = out["near01_last_mnist"], out["near01_last_cifar10"]
    out["near01_reading"] = "pending" if math.isnan(mnist) or math.isnan(cifar) else (
        "on that reading its last layer's CIFAR-10 medians stay much closer to the "
        "unsaturated, untrained picture of Fig. 5, as the paper's text says of Fig. 7 (one "
        "layer: earlier layers can read differently)" if cifar < mnist / 2 else
        "on that reading too, training changed its CIFAR-10 medians about as much")
    return out


def less_sparse_text(sparsity: pd.DataFrame, labels: Mapping[str, str], profile: str,
                     quick: Mapping) -> str:
    """Which datasets have ReLU layers (without BN) that training made *less* sparse (mean
    over seeds), the opposite of Table 1; in ``quick`` the sentence blames the budget
    (``quick``: that profile's settings)."""
    sp = sparsity.groupby(["dataset", "model", "state", "layer"])["sparsity (%)"].mean()
    change = (sp.xs(("ReLU", "trained"), level=("model", "state"))
              - sp.xs(("ReLU", "untrained"), level=("model", "state")))
    fewer = [f"{labels.get(d, d)} ({int((c < 0).sum())} of {len(c)} layers)"
             for d, c in change.groupby(level="dataset") if (c < 0).any()]
    if not fewer:
        return ("In this run training makes no layer of the ReLU networks less sparse, on any "
                "dataset of this page.")
    where = " and ".join(fewer)
    if profile == "quick":
        return (f"In this run training makes ReLU layers less sparse on {where}, the opposite "
                "of the paper's Table 1. That says more about the training budget than about "
                "the paper's claim: the quick profile trains on "
                f"{quick['n_train']} images for at most {quick['max_epochs']} epochs, and the "
                "paper profile, with the full training split, is the one to compare with "
                "Table 1.")
    return (f"In this run training makes ReLU layers less sparse on {where}, the opposite of "
            "the paper's Table 1, for networks of the paper's size trained on the full "
            "training split.")


def furthest_table1_cell(numbers: pd.DataFrame, tolerance: float | None = None) -> str:
    """The trained cell of :func:`table1` furthest from the paper, and whether it is beyond
    ``tolerance`` (points; default the claims table's,
    :data:`helpers.claims.section3_rules.TABLE1_TOLERANCE`); empty without trained cells."""
    if tolerance is None:
        from .claims.section3_rules import TABLE1_TOLERANCE as tolerance
    trained = numbers[(numbers["state"] == "trained") & numbers["paper"].notna()]
    if not len(trained):
        return ""
    far = trained.loc[trained["ours - paper"].abs().idxmax()]
    beyond = abs(far["ours - paper"]) > tolerance
    return (f"The largest departure is {far['data']} {far['model']}, layer {int(far['layer'])}: "
            f"{far['ours']:.1f} % against the paper's {far['paper']:.1f} % "
            f"({far['ours - paper']:+.1f} points)"
            + ("; one cell beyond the tolerance is enough to keep a per-layer row of the claims "
               "table from agreeing. " if beyond else ", within the claims table's tolerance "
               f"of {tolerance:g} points. ")
            + "Chapter 8 shows how much sparsity moves with training length and learning "
            "rate, neither of which we can match to the paper's exactly (it does not state its "
            "rates).")


def trajectory_text(n_history: int, n_relu: int) -> tuple[str, str]:
    """Whether this page can show sparsity during training (``n_history`` of ``n_relu`` ReLU
    nets carry a per-epoch record): the status sentence and the drift sentence."""
    if n_history:
        return (f"On this page {n_history} of {n_relu} ReLU networks carry such a record, and "
                "the figure below shows it.",
                "The training curves show why a mismatch is possible: sparsity is not fixed by "
                "the activation function but drifts during training, and how far it drifts "
                "depends on the data and on how long the network trains.")
    return (f"None of the {n_relu} ReLU networks on this page carries such a record, so this "
            "section has no figure; run the chapter with profile = \"quick\" to see the "
            "curves of the small networks that profile trains itself.",
            "Sparsity is not fixed by the activation function: it moves during training from "
            "the untrained value towards the trained one, but this page has no per-epoch "
            "record to show how (see the section on sparsity during training), only the two "
            "snapshots of Table 1.")
