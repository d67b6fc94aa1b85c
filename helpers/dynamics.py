"""Inside the networks of chapters 1-3: before training, dead versus sparse units, and the
chapter figures.

* At initialisation (chapter 2): :func:`init_gradient_norms`, :func:`gradient_ratio`,
  :func:`activation_scale`, :func:`gain_saturation`.
* Dead versus sparse (chapters 1 and 3): :func:`dead_vs_sparse`,
  :func:`sparsity_by_condition`; what dead units cost: :func:`dead_accuracy_correlation`;
  chapter 3's readings of its sweeps: :func:`lr_sweep_text`, :func:`bias_text`.
* The chapter 1-3 figures (``plot_*``), drawn from these tables and from those of
  :func:`helpers.training_probes.run_configs`.

The networks come from :mod:`helpers.model_variants`; the training-time probes are in
:mod:`helpers.training_probes`. Layers are numbered from 1 (the first hidden layer).
Percentages are 0-100.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import to_rgb
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
from torch import Tensor, nn

from .activation_registry import COLORS, NAMES
from .activations import saturation_eps
from .metrics import (
    dead_units,
    gradient_norms_and_signal,
    hidden_activations,
    layer_sparsity,
    saturation_fraction,
)
from .model_variants import config_label, make_variant, resolved_init
from .models import pre_activations
from .plots import with_source

# --- at initialisation --------------------------------------------------------------------

def _batches(x: Tensor, y: Tensor, batch_size: int, n_batches: int) -> list[tuple[Tensor, Tensor]]:
    if n_batches * batch_size > len(x):
        raise ValueError(f"n_batches={n_batches!r} x batch_size={batch_size!r} is more than "
                         f"the {len(x)} samples given")
    return [(x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size])
            for i in range(n_batches)]


def init_gradient_norms(x: Tensor, y: Tensor, configs: list[dict], depths: list[int],
                        width: int, batch_size: int = 256, n_batches: int = 4,
                        seeds: Iterable[int] = (0,)) -> pd.DataFrame:
    """Per-layer weight-gradient norms of freshly initialised networks on real batches.

    ``configs``: dicts with ``activation`` and optionally ``init``, ``batch_norm``,
    ``init_gain``. Networks are in training mode (batch norm uses batch statistics, as in
    the first training step). Returns one row per (config, depth, seed, layer) with the
    norm averaged over ``n_batches`` batches of ``batch_size`` and ``relative``: the norm
    divided by that of the last hidden layer; ``backward`` and ``backward relative``: the
    same for :func:`~helpers.metrics.backward_signal`; ``network`` is the label without BN
    and ``book init`` says whether the init is the book's choice for the activation.
    """
    batches = _batches(x, y, batch_size, n_batches)
    rows = []
    for cfg, depth, seed in itertools.product(configs, depths, seeds):
        model = make_variant(x.shape[1], depth, width, seed=seed, **cfg).to(x.device).train()
        both = [gradient_norms_and_signal(model, xb, yb) for xb, yb in batches]
        norms = torch.stack([n for n, _ in both]).mean(0)
        back = torch.stack([b for _, b in both]).mean(0)
        for layer, (value, b) in enumerate(zip(norms.tolist(), back.tolist()), start=1):
            rows.append({"config": config_label(**cfg), **_network_columns(cfg),
                         "activation": cfg["activation"],
                         "batch_norm": cfg.get("batch_norm", False), "depth": depth,
                         "seed": seed, "layer": layer, "grad_norm": value,
                         "relative": value / norms[-1].item(), "backward": b,
                         "backward relative": b / back[-1].item()})
    return pd.DataFrame(rows)


def _network_columns(cfg: dict) -> dict:
    """``network``: the label without BN; ``book init``: the book's init at gain 1."""
    book = (resolved_init(cfg["activation"], cfg.get("init", "default"))
            == resolved_init(cfg["activation"]) and cfg.get("init_gain", 1.0) == 1.0)
    return {"network": config_label(**(cfg | {"batch_norm": False})), "book init": book}


def gradient_ratio(norms: pd.DataFrame) -> pd.DataFrame:
    """From :func:`init_gradient_norms`: first-layer norm / last-layer norm per config and
    depth (mean over seeds; below 1: gradients shrink on the way down), and the geometric
    mean factor per layer, ``ratio ** (1 / (depth - 1))``; with the ``backward`` columns,
    the same for the backward signal (``backward: layer 1 / layer L``,
    ``backward: factor per layer``)."""
    keys = [k for k in ("config", "network", "book init", "batch_norm", "depth")
            if k in norms.columns]
    first = norms[norms.layer == 1].groupby(keys)
    ratio = first["relative"].mean().rename("layer 1 / layer L").reset_index()
    steps = (ratio.depth - 1).where(ratio.depth > 1)
    ratio["factor per layer"] = ratio["layer 1 / layer L"] ** (1 / steps)
    if "backward relative" in norms:
        ratio["backward: layer 1 / layer L"] = first["backward relative"].mean().to_numpy()
        ratio["backward: factor per layer"] = ratio["backward: layer 1 / layer L"] ** (1 / steps)
    return ratio


def activation_scale(x: Tensor, configs: list[dict], depth: int, width: int,
                     seed: int = 0) -> pd.DataFrame:
    """At initialisation, per layer: the root-mean-square of the outputs, the largest
    output and the std of the pre-activations, on real inputs ``x``."""
    rows = []
    for cfg in configs:
        model = make_variant(x.shape[1], depth, width, seed=seed, **cfg).to(x.device)
        hidden, pre = hidden_activations(model, x), pre_activations(model, x)
        for layer, (h, z) in enumerate(zip(hidden, pre), start=1):
            rows.append({"config": config_label(**cfg), **_network_columns(cfg),
                         "layer": layer, "output RMS": h.pow(2).mean().sqrt().item(),
                         "max output": h.max().item(),
                         "pre-activation std": z.std().item()})
    return pd.DataFrame(rows)


def gain_saturation(x: Tensor, gains: list[float], depth: int, width: int,
                    init: str = "xavier", threshold: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Sigmoid networks at initialisation with hidden weights scaled by each gain: per
    layer, the % of outputs in the saturated regions (sigmoid' <= ``threshold``) and the
    pre-activation std."""
    eps = saturation_eps(threshold)
    rows = []
    for gain in gains:
        model = make_variant(x.shape[1], depth, width, "sigmoid", init=init, init_gain=gain,
                             seed=seed).to(x.device)
        sat = saturation_fraction(hidden_activations(model, x), eps)
        pre = pre_activations(model, x)
        for layer in range(depth):
            rows.append({"gain": gain, "layer": layer + 1,
                         "saturated (%)": 100 * sat[layer].item(),
                         "pre-activation std": pre[layer].std().item()})
    return pd.DataFrame(rows)


# --- dead versus sparse -------------------------------------------------------------------

def dead_vs_sparse(models: dict[str, nn.Module], x: Tensor) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each model on the same inputs ``x``: per layer the dead % (units off for every
    sample), the sparsity % (outputs <= 0, averaged over all units), the sparsity of the
    units that are not dead, and the % of units off for at least 90 % of the samples; and
    a per-unit table of the fraction of samples each unit is off for."""
    layers, units = [], []
    for label, model in models.items():
        hidden = hidden_activations(model, x)
        dead, sparse = dead_units(hidden), layer_sparsity(hidden)
        for layer, h in enumerate(hidden, start=1):
            off = (h <= 0).float().mean(dim=0)
            live = off[off < 1]
            layers.append({"model": label, "layer": layer,
                           "dead (%)": 100 * dead[layer - 1].item(),
                           "sparsity (%)": sparse[layer - 1].item(),
                           "sparsity of live units (%)":
                               100 * live.mean().item() if len(live) else float("nan"),
                           "units off >= 90% (%)": 100 * (off >= 0.9).float().mean().item()})
            units.append(pd.DataFrame({"model": label, "layer": layer,
                                       "unit": range(len(off)),
                                       "off fraction": off.cpu().numpy()}))
    return pd.DataFrame(layers), pd.concat(units, ignore_index=True)


def distinct_runs(*summaries: pd.DataFrame) -> pd.DataFrame:
    """:func:`~helpers.training_probes.run_configs` summaries of one seed as one table, each
    configuration once: two sweeps that share a configuration (the bias sweep's bias 0 is
    the learning-rate sweep's lr 1e-3) trained the same network, so it counts once."""
    from .training_probes import CONFIG_KEYS

    runs = pd.concat(summaries, ignore_index=True)
    keys = [k for k in CONFIG_KEYS if k in runs]
    return runs.drop_duplicates(subset=keys, keep="first", ignore_index=True)


def _plain_relu(summary: pd.DataFrame) -> pd.DataFrame:
    """The plain ReLU runs of a :func:`~helpers.training_probes.run_configs` summary (no BN:
    BN nets have no dead units; leaky ReLU and PReLU units on the negative side are not
    dead, they pass gradient)."""
    return summary[(summary.activation == "relu") & ~summary.batch_norm.astype(bool)]


def dead_accuracy_correlation(summary: pd.DataFrame) -> tuple[float, int]:
    """Spearman rank correlation of the final dead % and final training accuracy over the
    plain ReLU runs of :func:`~helpers.training_probes.run_configs` summaries
    (:func:`_plain_relu`), and how many runs it rests on (NaN under 3)."""
    relu = _plain_relu(summary)
    if len(relu) < 3:
        return math.nan, len(relu)
    rho = relu[["final dead (%)", "final train acc (%)"]].corr(method="spearman").iloc[0, 1]
    return float(rho), len(relu)


def most_dead_fitting(summary: pd.DataFrame, fits: float = 95.0) -> str:
    """The plain ReLU run with the most dead units among those that still fitted their
    training set to ``fits`` % (final training accuracy), for glued prose."""
    healthy = _plain_relu(summary)
    healthy = healthy[healthy["final train acc (%)"] >= fits]
    if healthy.empty:
        return f"no plain ReLU run reached {fits:g} % training accuracy"
    worst = healthy.loc[healthy["final dead (%)"].idxmax()]
    return (f"{worst['final dead (%)']:.1f} % of its units dead and "
            f"{worst['final train acc (%)']:.1f} % training accuracy")


def fit_reading(train_sigmoid: float, val_sigmoid: float, val_relu: float,
                fitted: float = 99.5) -> str:
    """Chapter 2's reading of one seed: did the sigmoid network fit its training set (final
    training accuracy ≥ ``fitted`` %), and did it then validate worse than ReLU?"""
    if train_sigmoid < fitted:
        return ("The sigmoid network had not fitted its training set by then, so this run "
                "cannot separate a slow start from a generalisation gap.")
    if val_sigmoid < val_relu:
        return ("The sigmoid network fitted its training set almost entirely, so here a slow "
                "start cannot explain its lower validation accuracy (one seed).")
    return ("The sigmoid network fitted its training set and validated at least as well as "
            "ReLU here.")


def dead_accuracy_reading(rho: float) -> str:
    """The sign of :func:`dead_accuracy_correlation` in words, for glued prose."""
    if math.isnan(rho):
        return "too few runs to say whether more dead units go with lower accuracy"
    return ("more dead units go with lower accuracy" if rho < 0 else
            "more dead units do not go with lower accuracy")


def lr_sweep_text(summary: pd.DataFrame) -> dict[str, str]:
    """Chapter 3's reading of its learning-rate sweep (:func:`~helpers.training_probes.
    run_configs` summary with ``relu`` and ``leaky_relu`` runs at several rates, one seed):
    ``leaky_vs_relu`` (final training accuracies at every rate above the smallest),
    ``leaky_worse`` (at how many of them leaky ReLU ended below ReLU), ``leaky_lead`` (a
    sentence opener: did leaky ReLU buy accuracy?) and ``dead_vs_acc`` (at the second rate,
    does ReLU reach over 90 % training accuracy with over 25 % of its units dead?)."""
    acc = summary.pivot_table(index="lr", columns="activation", values="final train acc (%)")
    dead = summary.pivot_table(index="lr", columns="activation", values="final dead (%)")
    larger = sorted(acc.index)[1:]
    worse = int((acc.loc[larger, "leaky_relu"] < acc.loc[larger, "relu"]).sum())
    mid_dead, mid_acc = dead.loc[larger[0], "relu"], acc.loc[larger[0], "relu"]
    return {
        "leaky_vs_relu": "; ".join(f"at {lr:g}, ReLU {acc.loc[lr, 'relu']:.1f} % and leaky "
                                   f"ReLU {acc.loc[lr, 'leaky_relu']:.1f} %" for lr in larger),
        "leaky_worse": f"{worse} of the {len(larger)}",
        "leaky_lead": ("That did not buy accuracy here" if worse == len(larger) else
                       "Here it bought accuracy" if worse == 0 else
                       "Whether it buys accuracy depends on the rate"),
        "dead_vs_acc": (
            f"Nor does the dead count predict accuracy one for one: at {larger[0]:g} ReLU had "
            f"{mid_dead:.1f} % of its units dead and still reached {mid_acc:.1f} % training "
            "accuracy. Dead units remove capacity, but a network of this size has capacity to "
            "spare on MNIST (§3.6 measures what they cost)." if mid_dead > 25 and mid_acc > 90
            else "§3.6 measures what the dead units cost in accuracy."),
    }


def bias_text(final_acc: float, dead_end: pd.Series) -> str:
    """Chapter 3's reading of a ReLU network started with a negative bias: it recovered
    (final training accuracy above 50 %: dead on every probe image was not dead for every
    training image) or not (no gradient passes a silent layer). ``dead_end``: dead % per
    layer at the end, layer 1 first."""
    if final_acc > 50:
        return (f"yet the network trains to {final_acc:.1f} % training accuracy, and the deep "
                "layers come back. The likely reason (the probes cannot show it: they see the "
                "probe images only): dead on every probe image is not yet dead for every "
                "training image, and units that fire for some training images pass gradient "
                "(at the end "
                f"the last layer has {dead_end.iloc[-1]:.1f} % dead units, layer 1 "
                f"{dead_end.iloc[0]:.1f} %).")
    return (f"and the network does not recover ({final_acc:.1f} % training accuracy, the level "
            "of guessing): with the last layer silent, no gradient reaches the layers below "
            "it.")


def layer1_text(dead_before: float, dead_after: float) -> str:
    """Chapter 3's sentence on layer 1 of the ReLU net started with a negative bias: its dead
    share (%) before training and after the first epoch."""
    change = f"({dead_after:.1f} % dead after it, {dead_before:.1f} % before)"
    if dead_after <= dead_before:
        return f"Layer 1 did not lose units during the first epoch {change}."
    return (f"Layer 1, meanwhile, lost units during the first epoch {change}. These probes do "
            "not record why; one candidate is the first updates, taken while the deep layers "
            "passed little gradient, pushing layer-1 units below zero on every image, from "
            "where, with the images fixed as its inputs, a layer-1 unit has no way back but "
            "Adam's momentum (§3.3).")


def update_numbers(upd: pd.DataFrame, long: pd.DataFrame, first_last: pd.Series,
                   sigmoid: str, relu: str) -> dict[str, str]:
    """Chapter 2's sentences on how far each layer's weights moved, for glued prose. ``upd``:
    labels x layers, relative weight change in epoch 1; ``long``: the tidy per-epoch metrics
    (``label``, ``metric``, ``epoch``, ``value``); ``first_last``: the sigmoid network's
    layer-1 / last-layer gradient ratio after epoch 1; ``sigmoid``, ``relu``: the labels
    compared. The comparative words follow the numbers (``first_vs_last``: layer 1 against
    the top layer in epoch 1; ``cmp1``, ``cmp_later``: sigmoid against ReLU in epoch 1 and
    after it; ``deficit``: whether layer 1's gradient still lags after epoch 1, by more than
    a factor of 2)."""
    s, r = upd.loc[sigmoid], upd.loc[relu]
    first, last = s.index.min(), s.index.max()
    later = long[(long.metric == "update") & (long.epoch >= 2)].groupby("label")["value"].median()
    return {
        "sigmoid_first": f"{s[first]:.3f}", "sigmoid_last": f"{s[last]:.3f}",
        "first_vs_last": "at least as much as" if s[first] >= s[last] else "less than",
        "sigmoid_range": f"{s.min():.2f}–{s.max():.2f}",
        "relu_range": f"{r.min():.2f}–{r.max():.2f}",
        "cmp1": "more" if s.mean() > r.mean() else "less",
        "later_sigmoid": f"{later[sigmoid]:.2f}", "later_relu": f"{later[relu]:.2f}",
        "cmp_later": "more" if later[sigmoid] > later[relu] else "less",
        "deficit": ("its gradient deficit was gone after it" if first_last >= 0.5 else
                    f"its gradient was still {first_last:.2g} times the top layer's after it"),
    }


def sparsity_change_text(before: float, after: float, settings: dict, quick: bool,
                         paper: float = 80.0) -> str:
    """Chapter 1's sentence on how training changed MNIST sparsity (% of outputs at 0, mean
    over layers, ``before`` and ``after``) against the paper's trained ReLU nets (about
    ``paper`` %); ``settings``: the run's ``depth``, ``width`` and ``max_epochs``."""
    if quick:
        return ("This run trained small networks for a few epochs (the quick profile), so a "
                "much smaller change is what to expect")
    where = ("close to" if abs(after - paper) <= 2 else "short of" if after < paper
             else "above")
    return (f"This run's {settings['depth']}×{settings['width']} networks, trained for "
            f"{settings['max_epochs']} epochs, went from {before:.1f} % to {after:.1f} % on "
            f"MNIST, {where} the paper's {paper:.0f} % after a longer training")


def sparsity_by_condition(conditions: dict[str, tuple[nn.Module, Tensor]]) -> pd.DataFrame:
    """Per-layer sparsity (%) of ``model`` on ``x`` for each named condition."""
    rows = []
    for name, (model, x) in conditions.items():
        for layer, value in enumerate(layer_sparsity(hidden_activations(model, x)).tolist(), 1):
            rows.append({"condition": name, "layer": layer, "sparsity (%)": value})
    return pd.DataFrame(rows)


# --- figures ------------------------------------------------------------------------------

def _shade(color: str, k: int) -> tuple[float, float, float]:
    """Variant ``k`` of a colour: itself, then darker, then lighter, ..."""
    rgb = np.array(to_rgb(color))
    if k == 0:
        return tuple(rgb)
    target = np.zeros(3) if k % 2 else np.ones(3)
    return tuple(rgb + (target - rgb) * min(0.3 * ((k + 1) // 2) + 0.15, 0.8))


def _config_palette(labels: Iterable[str]) -> dict[str, tuple]:
    """Colour by activation (the label's first word), one shade per variant."""
    labels = list(dict.fromkeys(labels))
    by_name = {v: k for k, v in NAMES.items()}
    palette, seen = {}, {}
    for label in labels:
        color = COLORS.get(by_name.get(label.split(" (")[0]), "#444444")
        palette[label] = _shade(color, seen.get(color, 0))
        seen[color] = seen.get(color, 0) + 1
    return palette


def _layer_palette(n: int) -> list:
    """Dark (deep layers) to green (layer 1), avoiding viridis' pale yellow end."""
    return sns.color_palette("viridis", as_cmap=True)(np.linspace(0.82, 0.0, n)).tolist()


def _network_styles(table: pd.DataFrame) -> dict:
    """Colour per network (activation + init, without BN); dashed lines for an init that
    is not the book's choice for that activation."""
    networks = list(dict.fromkeys(table.network))
    book = table.drop_duplicates("network").set_index("network")["book init"]
    return dict(hue="network", hue_order=networks, palette=_config_palette(networks),
                style="network", style_order=networks,
                dashes={n: ("" if book[n] else (3, 2)) for n in networks})


def plot_init_gradients(norms: pd.DataFrame, source: str, depth: int) -> plt.Figure:
    """Per-layer gradient norms at initialisation for one depth, without and with BN.
    Dashed: an initialisation other than the book's for that activation."""
    d = norms[norms.depth == depth]
    grid = sns.relplot(data=d, x="layer", y="grad_norm", col="batch_norm", kind="line",
                       marker="o", height=3.6, aspect=1.2, errorbar=None,
                       **_network_styles(d))
    grid.set(yscale="log", xticks=range(1, depth + 1))
    grid.set_axis_labels("hidden layer (1 = nearest the input)",
                         "|dL/dW| before training (nats per unit weight)")
    for ax, bn in zip(grid.axes.flat, sorted(d.batch_norm.unique())):
        ax.set_title("with batch norm" if bn else "without batch norm")
    grid.figure.suptitle(with_source(f"Gradient norm per layer, depth {depth}, before "
                                     "training", source), y=1.03)
    return grid.figure


RATIO_MEASURES = {"layer 1 / layer L": "weight gradient",
                  "backward: layer 1 / layer L": "backward signal"}


def plot_gradient_ratio(ratio: pd.DataFrame, source: str) -> plt.Figure:
    """Layer-1 / last-layer ratio against depth, without and with BN (columns), one row per
    measure of :func:`gradient_ratio` present (:data:`RATIO_MEASURES`)."""
    measures = {c: name for c, name in RATIO_MEASURES.items() if c in ratio}
    long = ratio.melt(id_vars=[c for c in ratio if c not in measures],
                      value_vars=list(measures), var_name="measure", value_name="ratio")
    long["measure"] = long["measure"].map(measures)
    grid = sns.relplot(data=long, x="depth", y="ratio", col="batch_norm", row="measure",
                       row_order=list(measures.values()), kind="line", marker="o",
                       height=3.2, aspect=1.25, **_network_styles(ratio))
    grid.set(yscale="log", xticks=sorted(ratio.depth.unique()))
    for (measure, bn), ax in grid.axes_dict.items():
        ax.axhline(1, color="black", linewidth=0.8, linestyle=":")
        ax.set_title(f"{measure}, {'with' if bn else 'without'} batch norm")
    grid.set_axis_labels("depth L (hidden layers)", "layer 1 / layer L")
    grid.figure.suptitle(with_source("Do gradients shrink towards the input? (before "
                                     "training)", source), y=1.02)
    return grid.figure


def plot_layer_metric(long: pd.DataFrame, metric: str, source: str, ylabel: str,
                      col: str = "label", col_wrap: int | None = 3, logy: bool = False,
                      title: str | None = None) -> plt.Figure:
    """One panel per ``col`` value: ``metric`` against epoch, one line per layer."""
    d = long[long.metric == metric].dropna(subset=["value"])
    grid = sns.relplot(data=d, x="epoch", y="value", hue="layer", col=col, col_wrap=col_wrap,
                       kind="line", marker="o", markersize=4,
                       palette=_layer_palette(d.layer.nunique()),
                       height=2.9, aspect=1.25, facet_kws=dict(sharey=True))
    if logy:
        grid.set(yscale="log")
    grid.set_titles("{col_name}")
    grid.set_axis_labels("epoch", ylabel)
    grid.figure.suptitle(with_source(title or metric, source), y=1.03)
    return grid.figure


def plot_activation_bands(long: pd.DataFrame, source: str, col_wrap: int | None = 3
                          ) -> plt.Figure:
    """Glorot & Bengio (2010), Fig. 2 style: per layer, the mean output (line) +/- one std
    (band) against epoch, one panel per run."""
    d = long[long.metric.isin(["act_mean", "act_std"])]
    wide = d.pivot_table(index=["label", "epoch", "layer"], columns="metric",
                         values="value").reset_index()
    labels = list(dict.fromkeys(d.label))
    n_cols = min(col_wrap or len(labels), len(labels))
    n_rows = math.ceil(len(labels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.7 * n_cols, 3.0 * n_rows),
                             squeeze=False)
    colors = _layer_palette(wide.layer.nunique())
    for ax, label in zip(axes.flat, labels):
        w = wide[wide.label == label]
        for (layer, g), color in zip(w.groupby("layer"), colors):
            ax.plot(g.epoch, g.act_mean, color=color, marker="o", markersize=3,
                    label=f"layer {layer}")
            ax.fill_between(g.epoch, g.act_mean - g.act_std, g.act_mean + g.act_std,
                            color=color, alpha=0.12)
        ax.set(title=label, xlabel="epoch", ylabel="output: mean ± std")
    for ax in axes.flat[len(labels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(with_source("Hidden-layer outputs during training (after Glorot & Bengio "
                             "2010, Fig. 2)", source))
    fig.tight_layout()
    return fig


def plot_dead_fraction(long: pd.DataFrame, source: str, col: str, title: str,
                       col_order: list | None = None) -> plt.Figure:
    """Dead units (% of all hidden units) against epoch, one panel per value of ``col``
    (e.g. ``lr`` or ``bias_init``, in ``col_order``), colour = activation, dashes = BN."""
    d = long[long.metric == "dead"].groupby(
        ["label", "activation", "batch_norm", col, "epoch"], as_index=False)["value"].mean()
    d["activation"] = d.activation.map(lambda n: NAMES.get(n, n))
    d["batch norm"] = d.pop("batch_norm").map({False: "no BN", True: "BN"})
    order = list(dict.fromkeys(d.activation))
    palette = {NAMES.get(k, k): v for k, v in COLORS.items() if NAMES.get(k, k) in order}
    style = (dict(style="batch norm", style_order=["no BN", "BN"])
             if d["batch norm"].nunique() > 1 else {})
    grid = sns.relplot(data=d, x="epoch", y="value", hue="activation", hue_order=order,
                       col=col, col_order=col_order, kind="line", marker="o", markersize=4,
                       palette=palette, height=3.0, aspect=1.05, **style)
    grid.set(ylim=(-3, 103))
    grid.set_titles(f"{col} = {{col_name}}")
    grid.set_axis_labels("epoch", "dead units (% of hidden units)")
    grid.figure.suptitle(with_source(title, source), y=1.04)
    return grid.figure


def plot_off_fractions(units: pd.DataFrame, source: str) -> plt.Figure:
    """Histogram of the fraction of samples each unit is off for, one panel per model;
    the bar at 1.0 is the dead units."""
    grid = sns.displot(data=units, x="off fraction", col="model", hue="layer",
                       multiple="stack", bins=20, binrange=(0, 1),
                       palette=_layer_palette(units.layer.nunique()),
                       height=2.8, aspect=1.0, col_wrap=min(4, units.model.nunique()))
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "units")
    grid.figure.supxlabel("fraction of images for which the unit outputs <= 0", y=-0.02)
    grid.figure.suptitle(with_source("Dead and nearly dead units (last bar) versus sparse "
                                     "units (spread out)", source), y=1.04)
    return grid.figure


def plot_gain_saturation(table: pd.DataFrame, source: str, threshold: float = 0.1
                         ) -> plt.Figure:
    """From :func:`gain_saturation`: saturated outputs (%) against the weight gain, one line
    per layer."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.lineplot(data=table, x="gain", y="saturated (%)", hue="layer", marker="o",
                 palette=_layer_palette(table.layer.nunique()), ax=ax)
    gains = sorted(table.gain.unique())
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(gains))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{g:g}" for g in gains])
    ax.set(ylim=(-2, 102), xlabel="hidden-weight gain (x the Xavier scale)",
           ylabel=f"outputs with sigmoid' <= {threshold} (%)")
    ax.set_title(with_source("Sigmoid saturation before training vs weight scale", source))
    fig.tight_layout()
    return fig


def plot_activation_scale(table: pd.DataFrame, source: str) -> plt.Figure:
    """From :func:`activation_scale`: output RMS and largest output per layer (log scale)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column in zip(axes, ["output RMS", "max output"]):
        sns.lineplot(data=table, x="layer", y=column, marker="o", ax=ax,
                     **_network_styles(table))
        ax.set(yscale="log", xlabel="hidden layer", ylabel=f"{column} (unitless)",
               xticks=sorted(table.layer.unique()))
    axes[1].get_legend().remove()
    fig.suptitle(with_source("Size of hidden-layer outputs before training", source))
    fig.tight_layout()
    return fig


def plot_dead_vs_accuracy(summary: pd.DataFrame, source: str) -> plt.Figure:
    """From :func:`~helpers.training_probes.run_configs` summaries: final training accuracy
    against final dead %, one point per run, colour = activation."""
    d = summary.assign(activation=summary.activation.map(lambda n: NAMES.get(n, n)),
                       batch_norm=summary.batch_norm.map({False: "no BN", True: "BN"}))
    d = d.rename(columns={"batch_norm": "batch norm"})
    palette = {NAMES.get(k, k): v for k, v in COLORS.items() if NAMES.get(k, k) in
               set(d.activation)}
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.scatterplot(data=d, x="final dead (%)", y="final train acc (%)", hue="activation",
                    style="batch norm", style_order=["no BN", "BN"], palette=palette, s=60,
                    ax=ax, alpha=0.85)
    ax.set(xlabel="dead units at the end (% of hidden units)",
           ylabel="training accuracy at the end (%)", xlim=(-3, 103), ylim=(0, 102))
    ax.set_title(with_source("Do dead units cost accuracy?", source))
    fig.tight_layout()
    return fig
