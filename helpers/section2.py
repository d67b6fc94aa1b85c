"""Section 2 of the paper: learning curves (Fig 1), test accuracy (Fig 2), the
configuration table and a computed check of each of the paper's claims.

Inputs are the grid's tidy tables (see :mod:`helpers.grid`): ``runs`` has one row per
final run (``dataset, depth, width, batch_norm, activation, seed, lr, best_epoch,
train_acc, val_acc, test_acc, ..., source``) and ``histories`` one row per run and epoch.
Accuracies are fractions in the tables and percentages in figures and summaries.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .data import source_label
from .plots import ACTIVATION_COLORS, ACTIVATION_NAMES

CONFIG = ["dataset", "depth", "width", "batch_norm", "activation"]
PAPER_REFERENCE_ACCURACY = {"mnist": 98.4, "cifar10": 56.84}  # % (paper, Section 2)


def final_only(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the final runs (drops learning-rate-search rows when a ``phase`` column exists)."""
    return df[df["phase"] == "final"] if "phase" in df else df


def _sources(df: pd.DataFrame) -> str:
    return ", ".join(source_label(s) for s in sorted(df["source"].unique()))


def config_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: test accuracy mean ± sd over seeds (%), train accuracy
    at the best epoch, best epoch, chosen learning rate, number of seeds, diverged runs."""
    g = runs.groupby(CONFIG)
    table = pd.DataFrame({
        "test acc mean (%)": g["test_acc"].mean() * 100,
        "test acc sd (%)": g["test_acc"].std(ddof=1) * 100,
        "train acc (%)": g["train_acc"].mean() * 100,
        "best epoch": g["best_epoch"].mean(),
        "lr": g["lr"].first(),
        "seeds": g["seed"].nunique(),
        "diverged": g["diverged"].sum().astype(int),
    })
    return table.round({"test acc mean (%)": 2, "test acc sd (%)": 2, "train acc (%)": 2,
                        "best epoch": 1})


def mean_curves(histories: pd.DataFrame, dataset: str, width: int) -> pd.DataFrame:
    """Per (depth, BN, activation, epoch, split): mean and standard error over seeds of
    the accuracy (%). Runs that stopped early are carried forward at their last value, so
    every seed contributes to every epoch."""
    h = final_only(histories)
    h = h[(h.dataset == dataset) & (h.width == width)]
    keys = ["depth", "batch_norm", "activation", "seed"]
    last = int(h.epoch.max())
    filled = []
    for k, run in h.groupby(keys):
        run = run.set_index("epoch")[["train_acc", "val_acc"]].reindex(range(last + 1)).ffill()
        filled.append(run.assign(**dict(zip(keys, k))).reset_index())
    long = pd.concat(filled).melt(id_vars=keys + ["epoch"], value_vars=["train_acc", "val_acc"],
                                  var_name="split", value_name="acc")
    long["acc"] *= 100
    long["split"] = long["split"].map({"train_acc": "train", "val_acc": "validation"})
    g = long.groupby(["depth", "batch_norm", "activation", "split", "epoch"])["acc"]
    return pd.DataFrame({"mean": g.mean(), "se": g.sem(ddof=1).fillna(0),
                         "seeds": g.count()}).reset_index()


def plot_fig1(histories: pd.DataFrame, dataset: str = "mnist", width: int | None = None,
              max_epoch: int | None = None) -> plt.Figure:
    """Fig 1: training (solid) and validation (dashed) accuracy, mean ± SE over seeds;
    depths left to right, without BN (top) and with BN (bottom), ReLU vs sigmoid."""
    h = final_only(histories)
    h = h[h.dataset == dataset]
    width = width or int(h.width.min())
    curves = mean_curves(h, dataset, width)
    if max_epoch is not None:
        curves = curves[curves.epoch <= max_epoch]
    depths = sorted(curves.depth.unique())
    fig, axes = plt.subplots(2, len(depths), figsize=(3.2 * len(depths), 6), sharex=True,
                             sharey=True, squeeze=False)
    for row, bn in enumerate([False, True]):
        for col, depth in enumerate(depths):
            ax = axes[row, col]
            for (act, split), c in curves[(curves.depth == depth)
                                          & (curves.batch_norm == bn)].groupby(
                                              ["activation", "split"]):
                style = "-" if split == "train" else "--"
                ax.plot(c.epoch, c["mean"], style, color=ACTIVATION_COLORS[act],
                        label=f"{ACTIVATION_NAMES[act]} {split}")
                ax.fill_between(c.epoch, c["mean"] - c["se"], c["mean"] + c["se"],
                                color=ACTIVATION_COLORS[act], alpha=0.2, linewidth=0)
            ax.set_title(f"{depth}×{width}{' + BN' if bn else ''}")
            ax.set_xlabel("epoch" if row == 1 else "")
            ax.set_ylabel("accuracy (%)" if col == 0 else "")
    lo = max(0.0, float(curves[curves.epoch > 0]["mean"].min()) - 2)
    axes[0, 0].set_ylim(lo, 100.5)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.suptitle(f"Fig 1 — learning curves, mean ± SE over seeds — {_sources(h)}")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_fig2(runs: pd.DataFrame) -> plt.Figure:
    """Fig 2: test accuracy of the best-on-validation model, mean ± SE over seeds, per
    depth; one panel per dataset; colour = activation, line style = width, marker = BN."""
    datasets = [d for d in ("mnist", "cifar10") if d in set(runs.dataset)]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.2 * len(datasets), 4.2),
                             squeeze=False)
    widths = sorted(runs.width.unique())
    dashes = dict(zip(widths, ["-", "--", ":", "-."]))
    series = [(w, bn, a) for w in widths for bn in (False, True) for a in ("relu", "sigmoid")]
    offset = {k: 0.24 * (i / (len(series) - 1) - 0.5) for i, k in enumerate(series)}
    for ax, ds in zip(axes[0], datasets):
        r = runs[runs.dataset == ds]
        g = r.groupby(CONFIG)["test_acc"]
        stats = pd.DataFrame({"mean": g.mean() * 100, "se": g.sem(ddof=1).fillna(0) * 100})
        for (width, bn, act), s in stats.reset_index().groupby(
                ["width", "batch_norm", "activation"]):
            s = s.sort_values("depth")
            ax.errorbar(s.depth + offset.get((width, bn, act), 0), s["mean"], yerr=s["se"],
                        color=ACTIVATION_COLORS[act],
                        linestyle=dashes[width], marker="*" if bn else "o",
                        markersize=9 if bn else 5, capsize=3,
                        label=f"{ACTIVATION_NAMES[act]}, width {width}{', BN' if bn else ''}")
        ax.set(xlabel="hidden layers", ylabel="test accuracy (%)",
               xticks=sorted(r.depth.unique()),
               title=f"({'ab'[datasets.index(ds)]}) {_sources(r)}")
    axes[0, -1].legend(fontsize=7, loc="best", ncol=2)
    fig.suptitle("Fig 2 — test accuracy of the best-on-validation model, mean ± SE over seeds"
                 " (points dodged horizontally)")
    fig.tight_layout()
    return fig


def _acc(runs: pd.DataFrame, **where) -> pd.Series:
    """Mean test accuracy (%) per configuration, filtered by ``where``."""
    r = runs
    for k, v in where.items():
        r = r[r[k] == v]
    return r.groupby(CONFIG)["test_acc"].mean() * 100


def relu_minus_sigmoid(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth, width, BN): mean test accuracy of ReLU minus sigmoid (points)."""
    acc = _acc(runs).unstack("activation")
    return (acc["relu"] - acc["sigmoid"]).rename("relu − sigmoid (pts)").reset_index()


def depth_slope(runs: pd.DataFrame, dataset: str, width: int, batch_norm: bool,
                activation: str) -> float:
    """Least-squares slope of mean test accuracy (%) against depth (points per layer)."""
    acc = _acc(runs, dataset=dataset, width=width, batch_norm=batch_norm,
               activation=activation).reset_index()
    if acc.depth.nunique() < 2:
        return float("nan")
    return float(np.polyfit(acc.depth, acc.test_acc, 1)[0])


def claim_checks(runs: pd.DataFrame, histories: pd.DataFrame, fit_threshold: float = 99.0,
                 similar_pts: float = 0.5) -> pd.DataFrame:
    """Each of the paper's Section-2 claims with the number our runs give for it.

    ``fit_threshold``: train accuracy (%) that counts as "fits the training set" (the best
    training accuracy a run reached in any epoch). ``similar_pts``: a ReLU–sigmoid gap below
    this many points counts as "similar".
    """
    diff = relu_minus_sigmoid(runs)
    narrow, wide = int(runs.width.min()), int(runs.width.max())
    deep = [int(d) for d in sorted(runs.depth.unique())[-2:]]
    rows = []

    def add(claim: str, measure: str, value: float, holds: bool | None) -> None:
        verdict = "n/a" if holds is None else ("agrees" if holds else "disagrees")
        rows.append({"paper's claim": claim, "our measure": measure,
                     "value": round(float(value), 2), "verdict": verdict})

    share = (diff["relu − sigmoid (pts)"] > 0).mean() * 100
    add("ReLU generally generalises better", "% of configs with ReLU > sigmoid (test)",
        share, share > 50)
    for ds in sorted(runs.dataset.unique()):
        d = diff[diff.dataset == ds]
        gap_wide = d[(d.width == wide) & ~d.batch_norm]["relu − sigmoid (pts)"].abs().mean()
        gap_narrow = d[(d.width == narrow) & ~d.batch_norm]["relu − sigmoid (pts)"].abs().mean()
        add(f"{ds}: at width {wide} without BN, sigmoid ≈ ReLU",
            f"mean |ReLU − sigmoid| (pts), width {wide} no BN (width {narrow}: "
            f"{gap_narrow:.2f})", gap_wide, gap_wide < max(similar_pts, gap_narrow))
        s_bn = depth_slope(runs, ds, narrow, True, "sigmoid")
        s_nobn = depth_slope(runs, ds, narrow, False, "sigmoid")
        add(f"{ds}: sigmoid ×{narrow} with BN improves with depth",
            "slope of test acc vs depth (pts/layer)", s_bn, s_bn > 0)
        add(f"{ds}: sigmoid ×{narrow} without BN worsens with depth",
            "slope of test acc vs depth (pts/layer)", s_nobn, s_nobn < 0)
        for bn in (False, True):
            sh = (d[d.batch_norm == bn]["relu − sigmoid (pts)"] > 0).mean() * 100
            add(f"{ds}: ReLU > sigmoid {'with' if bn else 'without'} BN",
                "% of depth×width configs with ReLU > sigmoid", sh, None)
    histories = final_only(histories)
    best_train = (histories[histories.epoch > 0].groupby(CONFIG + ["seed"])["train_acc"].max()
                  .groupby(CONFIG).mean() * 100).reset_index()
    weak = (best_train.dataset == "cifar10") & (best_train.activation == "sigmoid") & \
        (best_train.width == narrow) & ~best_train.batch_norm & best_train.depth.isin(deep)
    if weak.any():
        v = best_train[weak].train_acc.mean()
        add(f"cifar10: sigmoid {'/'.join(map(str, deep))}×{narrow} without BN cannot fit "
            "the training set",
            "best train acc (%) of those nets", v, v < fit_threshold)
    rest = best_train[~weak].train_acc
    add("every other net reaches ~100 % train accuracy",
        f"% of other configs whose best train acc ≥ {fit_threshold} %",
        (rest >= fit_threshold).mean() * 100, bool((rest >= fit_threshold).all()))
    for ds, ref in PAPER_REFERENCE_ACCURACY.items():
        if ds in set(runs.dataset):
            best = _acc(runs, dataset=ds).max()
            add(f"{ds}: similar MLPs reach {ref} % test accuracy",
                "our best configuration's mean test acc (%)", best, best >= ref - 0.5)
    return pd.DataFrame(rows)


def grid_results(profile: str, dataset: str, device: str | None = None, progress: bool = True):
    """Train-or-load: the committed/finished grid of ``profile`` on ``dataset`` if complete,
    else run (or resume) it with :func:`helpers.grid.run_grid` (tqdm progress)."""
    from .grid import load_results, run_grid

    try:
        results = load_results(profile, dataset)
        if results.complete:
            return results
    except FileNotFoundError:
        pass
    return run_grid(profile, dataset, device=device, progress=progress)


def choices_table(spec, manifest: dict) -> pd.DataFrame:
    """What the paper leaves unspecified and what this book chose, from the grid's spec
    and manifest (so the table can never drift from the code that ran)."""
    d = manifest.get("data", {})
    refine = ", ".join(f"×{f:.3g}" for f in spec.refine_factors) or "none"
    rows = [
        ("training / validation / test images", f"{d.get('n_train'):,} / {d.get('n_val'):,} / "
         f"{d.get('n_test'):,} (fixed seeded split of the official training set; official "
         "test set)"),
        ("input scaling", "pixels /255, then per-channel standardisation with the training "
         "split's mean and std; images flattened"),
        ("batch size", str(spec.batch_size)),
        ("optimiser", "Adam (β = 0.9, 0.999; ε = 1e-8), cross-entropy on softmax outputs"),
        ("learning-rate decay", f"×{spec.lr_decay} after every epoch"),
        ("learning-rate search", f"coarse grid {list(spec.coarse_lrs)}, then refinement "
         f"{refine} around the best; {len(spec.seeds)} seeds; {spec.search_epochs} epochs"),
        ("learning-rate selection", "highest mean best-validation accuracy over the seeds "
         "(ties: the smaller rate; a rate where any seed diverged ranks below every clean "
         "rate), per depth × width × activation × BN"),
        ("epochs / early stopping", f"at most {spec.max_epochs}; stop when validation "
         f"accuracy has not improved for {spec.patience} epochs; restore the best epoch"),
        ("batch-norm placement", "Linear → BatchNorm1d → activation (momentum 0.1, ε 1e-5)"),
        ("weight initialisation", "sigmoid: Xavier/Glorot uniform; ReLU: He/Kaiming normal "
         "(fan-in); output layer: Xavier uniform"),
        ("bias initialisation", "0 (hidden and output layers); BN: γ = 1, β = 0"),
        ("seeds", ", ".join(map(str, spec.seeds))),
    ]
    return pd.DataFrame(rows, columns=["choice", "this book"]).set_index("choice")


def manifest_summary(results) -> pd.Series:
    """The provenance of a results folder: source, device, torch, commit, wall time."""
    m = results.manifest
    return pd.Series({
        "dataset source": m.get("source_label", m.get("source")),
        "runs recorded": f"{m.get('n_runs_done')} of {m.get('n_runs_planned')} "
                         f"(final: {m.get('n_final_runs')}, diverged: {m.get('n_diverged')})",
        "complete": m.get("complete"),
        "device": m.get("device"),
        "torch": m.get("torch_version"),
        "git commit": str(m.get("git_commit", ""))[:12],
        "wall time (s)": round(float(m.get("wall_time_s", 0.0)), 1),
    }, name=f"{results.profile} / {results.dataset}")
