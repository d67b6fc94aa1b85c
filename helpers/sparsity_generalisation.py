"""Sparsity versus generalisation across the grid (chapter 8, "Where class information
lives"): is a sparser ReLU net a better one?

* :func:`grid_for_sparsity` — the grid results of a profile (``quick`` runs its small grid
  when allowed, ``paper`` only reads what is committed); :func:`planned_relu_runs`.
* :func:`sparsity_accuracy_table` — every final ReLU net of a grid: mean hidden-layer
  sparsity and test accuracy.
* :func:`spearman`, :func:`bootstrap_ci`, :func:`rank_correlations` — rank correlation with
  a percentile bootstrap interval, per dataset and batch norm; :func:`bn_pairs`,
  :func:`bn_pair_summary` — the same net with and without BN; :func:`pattern_shares`,
  :func:`deep_failures` — where Table 1's pattern holds, shallow against deep.
* :func:`grid_numbers` — the numbers the chapter's prose quotes, as text.
* Figure: ``plot_sparsity_vs_accuracy``.

Percentages are 0-100.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .book import PENDING, as_text
from .class_information import MODEL_COLORS
from .data import source_label
from .runtime import training_allowed

# --- the grid's ReLU nets ------------------------------------------------------------

def grid_for_sparsity(profile: str, dataset: str, progress: bool = False):
    """The grid results of ``profile``/``dataset`` for the sparsity analysis, or None.
    ``quick`` runs (or resumes) its small grid when allowed
    (:func:`helpers.learning_curves.grid_results`); ``paper`` only reads what is committed."""
    from .grid import load_results

    if profile == "quick" and training_allowed():
        from .learning_curves import grid_results
        return grid_results(profile, dataset, progress=progress)
    try:
        return load_results(profile, dataset)
    except FileNotFoundError:
        return None


def planned_relu_runs(profile: str) -> int:
    """How many final ReLU runs the grid of ``profile`` plans per dataset."""
    from .grid import get_spec

    spec = get_spec(profile)
    return len(spec.depths) * len(spec.widths) * len(spec.batch_norms) * len(spec.seeds)


# --- sparsity vs generalisation ------------------------------------------------------

def sparsity_accuracy_table(runs: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """One row per final ReLU run of a grid: its mean hidden-layer sparsity (%) on the test
    split at the best state and its test accuracy (%)."""
    cols = ["dataset", "source", "depth", "width", "batch_norm", "seed", "lr", "key"]
    relu = runs[(runs["activation"] == "relu")]
    if "phase" in relu:
        relu = relu[relu["phase"] == "final"]
    if relu.empty or layers.empty:
        return pd.DataFrame(columns=[*cols, "sparsity (%)", "test acc (%)"])
    mean_sparsity = (layers[layers["activation"] == "relu"].groupby(["dataset", "key"])
                     ["sparsity"].mean().rename("sparsity (%)").reset_index())
    table = relu[cols + ["test_acc"]].merge(mean_sparsity, on=["dataset", "key"])
    table["test acc (%)"] = 100 * table.pop("test_acc")
    table["batch_norm"] = table["batch_norm"].astype(bool)
    return table.reset_index(drop=True)


def _ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get the mean of their ranks."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(1, len(a) + 1)
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of the tie-averaged ranks); NaN
    when either variable is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y have shapes {x.shape} and {y.shape}; accepted: two 1-d "
                         "sequences of equal length >= 2")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite; accepted: no NaN or inf")
    rx, ry = _ranks(x) - (len(x) + 1) / 2, _ranks(y) - (len(y) + 1) / 2
    denom = math.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else math.nan


def bootstrap_ci(x: Sequence[float], y: Sequence[float], n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0,
                 clusters: Sequence[Hashable] | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`spearman` (resamples with a constant variable
    are skipped). Pairs are resampled with replacement; with ``clusters`` (one label per
    pair), whole clusters are, so that pairs that are not independent (the seeds of one
    configuration) move together and the interval is not too narrow."""
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r} is invalid; accepted: an int >= 1")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} is invalid; accepted: a float in (0, 1)")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    spearman(x, y)  # validates
    if clusters is None:
        members = [np.array([i]) for i in range(len(x))]
    else:
        labels = pd.Series(list(clusters))
        if len(labels) != len(x):
            raise ValueError(f"clusters has {len(labels)} labels for {len(x)} pairs; "
                             "accepted: one label per pair")
        members = [np.asarray(ix) for ix in labels.groupby(labels, sort=False).indices.values()]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    stats = np.array([spearman(x[i], y[i]) for i in
                      (np.concatenate([members[c] for c in d]) for d in draws)])
    stats = stats[np.isfinite(stats)]
    if not len(stats):
        return math.nan, math.nan
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


CONFIG_KEYS = ("dataset", "depth", "width", "batch_norm")  # a configuration; its seeds vary


# a bootstrap over fewer clusters has too few distinct resamples (4 configurations: 35) for
# its percentiles to mean a 95 % interval
MIN_CONFIGS_FOR_CI = 6


def rank_correlations(table: pd.DataFrame, by: Sequence[str] = ("dataset",),
                      n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Spearman rho of sparsity vs test accuracy with a 95 % bootstrap CI, per ``by`` group
    (and per group x batch norm). The bootstrap resamples configurations
    (:data:`CONFIG_KEYS`), not nets: the seeds of one configuration are not independent
    observations. ``configs`` counts them; under :data:`MIN_CONFIGS_FOR_CI` there is no
    interval (NaN)."""
    rows = []
    for keys, g in table.groupby(list(by), sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for bn_label, sub in [("all", g), ("without BN", g[~g["batch_norm"]]),
                              ("with BN", g[g["batch_norm"]])]:
            config = [tuple(r) for r in sub[[k for k in CONFIG_KEYS if k in sub]].to_numpy()]
            row = dict(zip(by, keys), nets=bn_label, n=len(sub), configs=len(set(config)))
            if len(sub) >= 3:
                x, y = sub["sparsity (%)"].to_numpy(), sub["test acc (%)"].to_numpy()
                lo, hi = (bootstrap_ci(x, y, n_boot=n_boot, seed=seed, clusters=config)
                          if len(set(config)) >= MIN_CONFIGS_FOR_CI else (math.nan, math.nan))
                row |= {"spearman rho": spearman(x, y), "CI low": lo, "CI high": hi}
            rows.append(row)
    return pd.DataFrame(rows)


def bn_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth, width, seed) with and without BN: the BN-minus-plain
    difference of sparsity and test accuracy (percentage points)."""
    keys = ["dataset", "depth", "width", "seed"]
    wide = table.pivot_table(index=keys, columns="batch_norm",
                             values=["sparsity (%)", "test acc (%)"])
    both = {(v, bn) for v in ("sparsity (%)", "test acc (%)") for bn in (True, False)}
    if not both <= set(wide.columns):  # only one side of every pair exists so far
        wide = wide.iloc[0:0]
    wide = wide.dropna()
    if wide.empty:
        return pd.DataFrame(columns=[*keys, "d sparsity (pp)", "d test acc (pp)"])
    out = pd.DataFrame({
        "d sparsity (pp)": wide[("sparsity (%)", True)] - wide[("sparsity (%)", False)],
        "d test acc (pp)": wide[("test acc (%)", True)] - wide[("test acc (%)", False)],
    }).reset_index()
    return out


def bn_pair_summary(pairs: pd.DataFrame, by: Sequence[str] = ("dataset",)) -> pd.DataFrame:
    """Per ``by`` group (dataset; add ``"depth"`` to see where the pattern holds): pairs,
    share with lower sparsity under BN, share with higher accuracy, share with both ("BN
    lowers sparsity yet generalises better"), median differences."""
    def one(g: pd.DataFrame) -> pd.Series:
        lower, better = g["d sparsity (pp)"] < 0, g["d test acc (pp)"] > 0
        return pd.Series({"pairs": len(g), "BN lower sparsity (%)": 100 * lower.mean(),
                          "BN more accurate (%)": 100 * better.mean(),
                          "both (%)": 100 * table1_pattern(g).mean(),
                          "median d sparsity (pp)": g["d sparsity (pp)"].median(),
                          "median d test acc (pp)": g["d test acc (pp)"].median()})
    if pairs.empty:
        return pd.DataFrame()
    out = (pairs.groupby(list(by), sort=False)[["d sparsity (pp)", "d test acc (pp)"]]
           .apply(one).reset_index())
    return out.astype({"pairs": int}).round(2)


def table1_pattern(pairs: pd.DataFrame) -> pd.Series:
    """Per pair: does it show Table 1's pattern, BN lowering the sparsity and raising the
    test accuracy?"""
    return (pairs["d sparsity (pp)"] < 0) & (pairs["d test acc (pp)"] > 0)


def pattern_shares(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: the share (%) of its pairs that show Table 1's pattern
    (:func:`table1_pattern`) at its shallowest depth and at the deeper ones, with the pairs
    counted (NaN share where a side has none)."""
    rows = []
    for dataset, g in pairs.groupby("dataset", sort=False):
        shallow = g["depth"] == g["depth"].min()
        hit = table1_pattern(g)
        rows.append({"dataset": dataset, "shallow depth": int(g["depth"].min()),
                     "shallow pairs": int(shallow.sum()),
                     "shallow (%)": 100 * hit[shallow].mean() if shallow.any() else math.nan,
                     "deep pairs": int((~shallow).sum()),
                     "deep (%)": 100 * hit[~shallow].mean() if (~shallow).any() else math.nan})
    return pd.DataFrame(rows, columns=["dataset", "shallow depth", "shallow pairs",
                                       "shallow (%)", "deep pairs", "deep (%)"])


def deep_failures(pairs: pd.DataFrame) -> tuple[int, int, float | None]:
    """Among the pairs deeper than their dataset's shallowest depth (as in
    :func:`pattern_shares`): how many had BN lower the sparsity without raising the accuracy,
    out of how many, and the largest accuracy loss (points; None when none failed)."""
    deep = pairs[pairs["depth"] > pairs.groupby("dataset")["depth"].transform("min")]
    miss = deep[(deep["d sparsity (pp)"] < 0) & (deep["d test acc (pp)"] <= 0)]
    return len(miss), len(deep), (float(miss["d test acc (pp)"].abs().max()) if len(miss)
                                  else None)


def correlation_at(correlations: pd.DataFrame | None, dataset: str, nets: str = "all"
                   ) -> tuple[float, float, float] | None:
    """``(rho, CI low, CI high)`` of :func:`rank_correlations` for ``dataset`` and ``nets``
    (``"all"``, ``"without BN"``, ``"with BN"``), or None when it has no correlation; the
    interval may be NaN (under 3 configurations)."""
    if correlations is None or not len(correlations) or "spearman rho" not in correlations:
        return None
    row = correlations[(correlations["dataset"] == dataset) & (correlations["nets"] == nets)]
    if not len(row) or pd.isna(row["spearman rho"].iloc[0]):
        return None
    return tuple(float(row[c].iloc[0]) for c in ("spearman rho", "CI low", "CI high"))


def _within_bn(correlations: pd.DataFrame | None, dataset: str) -> str:
    parts = []
    for nets in ("without BN", "with BN"):
        c = correlation_at(correlations, dataset, nets)
        parts.append(PENDING if c is None else f"{c[0]:.2f} {nets}" + (
            f" ({c[1]:.2f} to {c[2]:.2f})" if np.isfinite(c[1]) else ""))
    return " and ".join(parts)


def _by_depth(pair_depths: pd.DataFrame | None, dataset: str) -> str:
    if pair_depths is None or not len(pair_depths):
        return PENDING
    d = pair_depths[pair_depths["dataset"] == dataset].set_index("depth")
    if d.empty:
        return PENDING
    text = (f"in {', '.join(f'{v:.0f}' for v in d['both (%)'])} % of the pairs at depths "
            f"{', '.join(str(i) for i in d.index)}")
    shallow = d.index.min()
    change = d.loc[shallow, "median d sparsity (pp)"]
    return text + (f"; at depth {shallow} BN raised the sparsity (median {change:+.1f} "
                   "points)" if change > 0 else "")


def grid_numbers(table: pd.DataFrame | None, correlations: pd.DataFrame | None,
                 pairs: pd.DataFrame | None, labels: dict[str, str],
                 datasets: Sequence[str] = ("mnist", "cifar10")) -> dict[str, str]:
    """The numbers chapter 8's prose quotes about the grid's ReLU nets, as text
    (``pending`` where results are missing). ``table``: :func:`sparsity_accuracy_table`;
    ``correlations``: :func:`rank_correlations`; ``pairs``: :func:`bn_pairs`; ``labels``:
    each dataset's display name. Keys per dataset ``d``: ``rho_d``, ``rho_d_ci``,
    ``rho_d_verdict`` (does the interval exclude 0), ``rho_within_d`` (per BN setting),
    ``pairs_d``, ``both_d``, ``lower_d``, ``better_d`` (:func:`bn_pair_summary`'s shares,
    %), ``depths_d`` (the pattern's share per depth); and ``rho_sign_reading``,
    ``deep_failures``, ``pairs_reading`` (is the pattern a rule for the deeper nets and not
    the shallowest, on every dataset), ``seed_sd`` (median seed-to-seed sd of test accuracy
    of a configuration)."""
    have_pairs = pairs is not None and len(pairs) > 0
    summary = bn_pair_summary(pairs) if have_pairs else pd.DataFrame()
    depths = bn_pair_summary(pairs, by=("dataset", "depth")) if have_pairs else None
    out: dict[str, str] = {}
    rhos = []
    for d in datasets:
        c = correlation_at(correlations, d)
        rhos.append(None if c is None else c[0])
        out[f"rho_{d}"] = as_text(None if c is None else c[0])
        if c is not None and not np.isfinite(c[1]):  # too few configurations for an interval
            out[f"rho_{d}_ci"] = "not computable (too few configurations)"
            out[f"rho_{d}_verdict"] = "leaves the sign open"
        else:
            out[f"rho_{d}_ci"] = PENDING if c is None else f"{c[1]:.2f} to {c[2]:.2f}"
            out[f"rho_{d}_verdict"] = PENDING if c is None else (
                "excludes 0" if c[1] > 0 or c[2] < 0 else "includes 0")
        out[f"rho_within_{d}"] = _within_bn(correlations, d)
        out[f"depths_{d}"] = _by_depth(depths, d)
        ps = summary[summary["dataset"] == d] if len(summary) else summary
        for key, col in (("pairs", "pairs"), ("both", "both (%)"),
                         ("lower", "BN lower sparsity (%)"), ("better", "BN more accurate (%)")):
            out[f"{key}_{d}"] = PENDING if ps.empty else f"{ps[col].iloc[0]:.0f}"
    out["rho_sign_reading"] = (
        PENDING if None in rhos else
        "the sparser networks were, if anything, the less accurate ones" if max(rhos) < 0 else
        "the sparser networks were, if anything, the more accurate ones" if min(rhos) > 0 else
        "the two datasets point different ways")
    if not have_pairs:
        out |= {"deep_failures": "The paired comparison is pending", "seed_sd": PENDING,
                "pairs_reading": "The paired comparison is pending"}
        return out
    missed, deep, worst = deep_failures(pairs)
    out["deep_failures"] = ("In the deeper networks BN lowered the sparsity without raising "
                            "the accuracy in " + (f"{missed} of {deep} pairs, by at most "
                                                  f"{worst:.2f} points of accuracy" if missed
                                                  else f"none of {deep} pairs"))
    shares = pattern_shares(pairs)
    rule = len(shares) and ((shares["deep (%)"] >= 90) & (shares["shallow (%)"] < 50)).all()
    out["pairs_reading"] = (
        "So the Table 1 comparison is close to a rule for the deeper networks and not for the "
        "shallowest" if rule
        else "So in this grid the Table 1 comparison is not a rule across configurations")
    sd = table.groupby(list(CONFIG_KEYS))["test acc (%)"].std()
    out["seed_sd"] = "; ".join(f"{labels.get(d, d)} {g.median():.2f}"
                               for d, g in sd.groupby(level="dataset"))
    return out


# --- figures -------------------------------------------------------------------------

def plot_sparsity_vs_accuracy(table: pd.DataFrame, title: str) -> plt.Figure:
    """Every ReLU net: mean hidden sparsity (x) vs test accuracy (y); rows = data source,
    columns = width, colour = BN, marker = depth."""
    sources = list(dict.fromkeys(table["source"]))
    widths = sorted(table["width"].unique())
    fig, axes = plt.subplots(len(sources), len(widths), figsize=(4.2 * len(widths),
                                                                 3.4 * len(sources)),
                             squeeze=False)
    pal = {False: MODEL_COLORS["ReLU"], True: MODEL_COLORS["ReLU BN"]}
    markers = dict(zip(sorted(table["depth"].unique()), "osD^vP*X"))
    for i, src in enumerate(sources):
        for j, width in enumerate(widths):
            ax = axes[i][j]
            sub = table[(table["source"] == src) & (table["width"] == width)]
            for (bn, depth), g in sub.groupby(["batch_norm", "depth"]):
                ax.scatter(g["sparsity (%)"], g["test acc (%)"], color=pal[bool(bn)],
                           marker=markers[depth], s=28, alpha=0.8, edgecolor="white",
                           lw=0.4, label=f"{'BN' if bn else 'no BN'}, depth {depth}")
            ax.set(title=f"{source_label(src)}, width {width}",
                   xlabel="mean hidden-layer sparsity (%)", ylabel="test accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    return fig
