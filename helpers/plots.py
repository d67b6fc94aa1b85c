"""The book's figure style and the shared figure helpers.

Every figure names its data source in the title (``MNIST``, ``CIFAR-10 (JPEG copy)``...),
labels its axes with units, and carries a legend.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .activation_registry import COLORS, NAMES
from .data import source_label

# the registry's colours and display names (every activation, variants included)
ACTIVATION_COLORS = COLORS
ACTIVATION_NAMES = NAMES
CLASS_PALETTE = sns.color_palette("tab10", 10)  # one colour per class (Figs 3-7)


def class_legend(fig: plt.Figure, ax: plt.Axes, right: float, **kwargs) -> None:
    """One legend of the classes, just right of the panels."""
    fig.tight_layout(rect=(0, 0, right, 1))
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, title="class", loc="center left", fontsize=8,
               bbox_to_anchor=(right, 0.5), **kwargs)


def set_theme() -> None:
    """One seaborn theme for the whole book."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep",
                  rc={"figure.dpi": 110, "savefig.dpi": 150, "axes.titlesize": 11,
                      "figure.titlesize": 12, "legend.fontsize": 9})


def with_source(title: str, source: str) -> str:
    """``("Learning curves", "cifar10-jpeg")`` -> ``"Learning curves — CIFAR-10 (JPEG copy)"``."""
    return f"{title} — {source_label(source)}"


def plot_learning_curves(history: pd.DataFrame, source: str, hue: str = "activation",
                         title: str = "Learning curves", legend_outside: bool = False
                         ) -> plt.Figure:
    """Accuracy (%) and loss against epoch for the runs in a tidy ``history`` table.

    ``history`` holds the columns of :data:`helpers.train.HISTORY_COLUMNS` plus ``hue``
    (e.g. ``activation``); training curves are solid, validation curves dashed.
    ``legend_outside``: the legend to the right of the axes (for many runs, whose curves
    would hide under it).
    """
    long = history.melt(
        id_vars=["epoch", hue],
        value_vars=["train_acc", "val_acc", "train_loss", "val_loss"],
        var_name="metric", value_name="value",
    )
    long["split"] = long["metric"].str.split("_").str[0].map(
        {"train": "train", "val": "validation"})
    long["quantity"] = long["metric"].str.split("_").str[1]
    long.loc[long["quantity"] == "acc", "value"] *= 100
    palette = {k: v for k, v in ACTIVATION_COLORS.items() if k in set(history[hue])}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (quantity, ylabel) in zip(axes, [("acc", "accuracy (%)"),
                                             ("loss", "cross-entropy (nats)")]):
        sns.lineplot(data=long[long["quantity"] == quantity], x="epoch", y="value",
                     hue=hue, style="split", palette=palette or None, ax=ax,
                     errorbar=("se", 1))
        ax.set(xlabel="epoch", ylabel=ylabel)
    axes[0].legend(fontsize=8)
    axes[1].get_legend().remove()
    fig.suptitle(with_source(title, source))
    fig.tight_layout()
    if legend_outside:
        handles, labels = axes[0].get_legend_handles_labels()
        axes[0].get_legend().remove()
        fig.tight_layout()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
                   frameon=False, fontsize=9)
    return fig
