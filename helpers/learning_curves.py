"""Section 2 of the paper: learning curves (Fig 1), test accuracy (Fig 2), the
configuration table and the paper's claims about them (judged by :mod:`helpers.claims`).

Inputs are the grid's tidy tables (see :mod:`helpers.grid`): ``runs`` has one row per
final run (``dataset, depth, width, batch_norm, activation, seed, lr, best_epoch,
train_acc, val_acc, test_acc, ..., source``) and ``histories`` one row per run and epoch.
Accuracies are fractions in the tables and percentages in figures and summaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .data import source_label
from .grid import adam_kernels
from .plots import ACTIVATION_COLORS, ACTIVATION_NAMES

CONFIG = ["dataset", "depth", "width", "batch_norm", "activation"]
LEVELLED_OFF = 1.0  # points of training accuracy gained over fit_numbers' window: a plateau
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
        "train acc at best epoch (%)": g["train_acc"].mean() * 100,
        "best epoch": g["best_epoch"].mean(),
        "lr": g["lr"].first(),
        "seeds": g["seed"].nunique(),
        "diverged": g["diverged"].sum().astype(int),
    })
    return table.round({"test acc mean (%)": 2, "test acc sd (%)": 2,
                        "train acc at best epoch (%)": 2,
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


FIG1_FROM_EPOCH = 5  # Fig 1's y axis starts just below every curve from this epoch on


def plot_fig1(histories: pd.DataFrame, dataset: str = "mnist", width: int | None = None,
              max_epoch: int | None = None, from_epoch: int = FIG1_FROM_EPOCH
              ) -> plt.Figure:
    """Fig 1: training (solid) and validation (dashed) accuracy, mean ± SE over seeds;
    depths left to right, without BN (top) and with BN (bottom), ReLU vs sigmoid. The y
    axis starts half a point below the lowest mean from epoch ``from_epoch`` on, so that
    the tenths of a point between the plateaus show; the first epochs' rise from chance
    runs off its bottom (``from_epoch=1``: the whole rise after the untrained epoch 0)."""
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
    later = curves[curves.epoch >= max(from_epoch, 1)]["mean"]
    lo = max(0.0, float((later if len(later) else curves["mean"]).min()) - 0.5)
    axes[0, 0].set_ylim(lo, 100.2)
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
    handles = {}  # one legend for every panel: a width only one dataset has is named too
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            line = h.lines[0] if hasattr(h, "lines") else h  # an errorbar's data line
            handles.setdefault(label, Line2D(  # without error bars, so the dashes show
                [], [], color=line.get_color(), linestyle=line.get_linestyle(),
                marker=line.get_marker(), markersize=line.get_markersize()))
    fig.suptitle("Fig 2 — test accuracy of the best-on-validation model, mean ± SE over seeds"
                 " (points dodged horizontally)")
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=4, fontsize=8,
               handlelength=4, frameon=False)
    return fig


def _acc(runs: pd.DataFrame, **where) -> pd.Series:
    """Mean test accuracy (%) per configuration, filtered by ``where``."""
    r = runs
    for k, v in where.items():
        r = r[r[k] == v]
    return r.groupby(CONFIG)["test_acc"].mean() * 100


def relu_minus_sigmoid(runs: pd.DataFrame, seeds: int | None = None) -> pd.DataFrame:
    """Per (dataset, depth, width, BN): mean test accuracy of ReLU minus sigmoid (points);
    with ``seeds``, only where both activations have that many runs (a partial mean would
    compare different seeds)."""
    if seeds is not None and len(runs):
        n = runs.groupby(CONFIG)["test_acc"].transform("count")
        runs = runs[n >= seeds]
    acc = _acc(runs).unstack("activation")
    if not {"relu", "sigmoid"} <= set(acc.columns):  # nothing to compare (yet)
        return pd.DataFrame(columns=CONFIG[:-1] + ["relu − sigmoid (pts)"])
    return (acc["relu"] - acc["sigmoid"]).rename("relu − sigmoid (pts)").reset_index()


def depth_slope(runs: pd.DataFrame, dataset: str, width: int, batch_norm: bool,
                activation: str) -> float:
    """Least-squares slope of mean test accuracy (%) against depth (points per layer)."""
    acc = _acc(runs, dataset=dataset, width=width, batch_norm=batch_norm,
               activation=activation).reset_index()
    if acc.depth.nunique() < 2:
        return float("nan")
    return float(np.polyfit(acc.depth, acc.test_acc, 1)[0])


def claim_checks(runs: pd.DataFrame, histories: pd.DataFrame,
                 layout: dict | None = None) -> pd.DataFrame:
    """The paper's Section-2 claims (and its conclusion's claims about Fig 2), judged by
    :mod:`helpers.claims` on the grid's tables. ``layout`` (``depths``, ``widths``,
    ``seeds``) names the grid expected; configurations missing from ``runs`` then make
    their claims pending, unless those present already decide them."""
    from .claims import claims_table

    return claims_table(chapter=4, runs=runs, histories=histories, layout=layout)


def grid_results(profile: str, dataset: str, device: str | None = None, progress: bool = True):
    """The grid of ``profile`` on ``dataset``, as far as it exists.

    ``paper``: the committed results only — the book never trains them (``make grid`` does);
    missing runs are simply absent. ``quick``: loaded when complete, else run (or resumed)
    live with :func:`helpers.grid.run_grid`.
    """
    from .grid import load_results, run_grid

    if profile == "paper":
        return load_results(profile, dataset, missing_ok=True)
    try:
        results = load_results(profile, dataset)
        if results.complete:
            return results
    except FileNotFoundError:
        pass
    return run_grid(profile, dataset, device=device, progress=progress)


def grid_progress(results: dict, spec) -> pd.DataFrame:
    """Final runs recorded per dataset and width, against the grid's plan."""
    per_width = spec.n_final() // len(spec.widths)
    rows = []
    for ds, res in results.items():
        for w in spec.widths:
            done = int((res.runs.width == w).sum()) if len(res.runs) else 0
            rows.append(dict(dataset=ds, source=res.label or "—", width=w,
                             final_runs=done, planned=per_width,
                             complete=done == per_width))
    return pd.DataFrame(rows).set_index(["dataset", "width"])


def halting_cost(histories: pd.DataFrame, patience: int) -> pd.DataFrame:
    """Replay early stopping (``patience``) on every full-length final run (histories with
    per-epoch test accuracy): one row per run with the epoch it would have stopped at, the
    best epoch it would have kept, and the test accuracy lost (points; > 0 = halting hurts)."""
    from .grid import replay_patience

    h = final_only(histories)
    if "test_acc" not in h or h.test_acc.isna().all():
        return pd.DataFrame(columns=CONFIG + ["seed", "halt_epoch", "halt_best_epoch",
                                              "full_best_epoch", "loss_pts"])
    h = h[h.test_acc.notna()]
    rows = []
    for key, run in h.groupby(CONFIG + ["seed"]):
        r = replay_patience(run, patience)
        rows.append(dict(zip(CONFIG + ["seed"], key)) | r | dict(
            loss_pts=100 * (r["full_test_acc"] - r["halt_test_acc"])))
    return pd.DataFrame(rows)


def halted_runs(runs: pd.DataFrame, histories: pd.DataFrame, patience: int) -> pd.DataFrame:
    """``runs`` under one stopping rule: each full-length final run (its history holds
    per-epoch test accuracy) gets the best epoch, best validation accuracy and test
    accuracy that early stopping with ``patience`` would have kept (:func:`halting_cost`'s
    replay), so that it compares fairly with the runs that were halted; ``halted_replay``
    marks the replaced rows. Other runs are unchanged."""
    cost = halting_cost(histories, patience)
    out = runs.copy()
    out["halted_replay"] = False
    if cost.empty:
        return out
    h = final_only(histories).set_index(CONFIG + ["seed", "epoch"])["val_acc"]
    keys = CONFIG + ["seed"]
    index = out.set_index(keys).index
    for r in cost.itertuples(index=False):
        key = tuple(getattr(r, k) for k in keys)
        rows = index == key
        if not rows.any():
            continue
        out.loc[rows, "best_epoch"] = r.halt_best_epoch
        out.loc[rows, "best_val_acc"] = float(h.loc[key + (r.halt_best_epoch,)])
        out.loc[rows, "test_acc"] = r.halt_test_acc
        out.loc[rows, "halted_replay"] = True
    return out


def halting_summary(cost: pd.DataFrame) -> pd.DataFrame:
    """Per batch-norm setting: runs, mean and worst test-accuracy loss from halting (points),
    mean epoch of halting and mean best epoch of the full run."""
    if cost.empty:
        return pd.DataFrame(columns=["runs", "mean loss (pts)", "worst loss (pts)",
                                     "halted at (epoch)", "full best epoch"])
    g = cost.groupby("batch_norm")
    return pd.DataFrame({
        "runs": g.size(), "mean loss (pts)": g.loss_pts.mean().round(3),
        "worst loss (pts)": g.loss_pts.max().round(3),
        "halted at (epoch)": g.halt_epoch.mean().round(1),
        "full best epoch": g.full_best_epoch.mean().round(1)})


def search_summary(lr_search: pd.DataFrame, runs: pd.DataFrame, spec) -> pd.DataFrame:
    """Per dataset: configurations whose search finished, how often the best rate sat at an
    edge of the grid (an extension was tried), how often the rate chosen in the end (of the
    searches that have chosen) is still the smallest or largest rate tried (the best rate is
    then not bracketed: it may lie beyond), and the search's extra model-epochs (the losing
    rates) as a share of the final runs' model-epochs."""
    rows = []
    for ds in sorted(set(lr_search.dataset) | set(runs.dataset)):
        s = lr_search[lr_search.dataset == ds]
        r = runs[runs.dataset == ds]
        cfg = ["depth", "width", "activation", "batch_norm"]
        done = r.groupby(cfg).ngroups if len(r) else 0
        searched = s.groupby(cfg) if len(s) else None
        extended = int(searched.extension.any().sum()) if searched is not None else 0
        n_cfg = searched.ngroups if searched is not None else 0
        chosen = [g for _, g in searched if g.selected.any()] if searched is not None else []
        at_edge = sum(g.loc[g.selected.astype(bool), "lr"].iloc[0] in (g.lr.min(), g.lr.max())
                      for g in chosen)
        losers = s[~s.selected.astype(bool)].epochs.sum() if len(s) else 0
        final_me = r.epochs.sum() if len(r) else 0
        rows.append({"dataset": ds, "configurations searched": n_cfg,
                     "with final runs": done,
                     "edge extensions": f"{extended} of {n_cfg}",
                     "chosen at an edge": f"{at_edge} of {len(chosen)}",
                     "search extra model-epochs": int(losers),
                     "final model-epochs": int(final_me),
                     "search / final": round(losers / final_me, 3) if final_me else np.nan})
    return pd.DataFrame(rows).set_index("dataset") if rows else pd.DataFrame()


def lr_sensitivity(lr_search: pd.DataFrame, histories: pd.DataFrame,
                   epoch: int) -> pd.DataFrame:
    """Validation accuracy (%) after ``epoch`` epochs of every rate the search tried (the
    first rung, where all rates are still in), one row per configuration, seed and rate:
    how much the learning rate matters while the networks are young. A run that diverged
    before ``epoch`` has no accuracy (NaN); ``extension`` marks the rates tried past an
    edge of the coarse grid."""
    if not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch={epoch!r}; accepted: an integer >= 1 (the first rung)")
    keys = ["dataset", "depth", "width", "batch_norm", "activation", "seed", "lr"]
    cols = keys + ["source", "extension", "diverged"]
    if not len(lr_search):
        return pd.DataFrame(columns=cols + ["val acc (%)"])
    at = histories.loc[histories.epoch == epoch, keys + ["val_acc"]].drop_duplicates(keys)
    out = lr_search[cols].merge(at, on=keys, how="left")
    out["val acc (%)"] = 100 * out.pop("val_acc")
    return out.sort_values(keys).reset_index(drop=True)


def lr_spread(sensitivity: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, over the coarse rates (extensions left out, so every
    configuration is measured on the same grid; configurations whose search has not yet
    tried every rate are left out): the best and the worst mean validation accuracy over
    seeds (%), their difference in points, and the best and worst rates."""
    s = sensitivity[~sensitivity.extension.astype(bool)]
    mean = s.groupby(CONFIG + ["lr"])["val acc (%)"].mean().dropna()
    # a configuration whose search has not tried every coarse rate yet has no spread to show
    n_rates = mean.groupby(level=CONFIG).transform("size")
    mean = mean[n_rates == n_rates.max()] if len(mean) else mean
    g = mean.groupby(level=CONFIG)
    return pd.DataFrame({"best (%)": g.max(), "worst (%)": g.min(),
                         "spread (pts)": g.max() - g.min(),
                         "best lr": g.idxmax().map(lambda k: k[-1]),
                         "worst lr": g.idxmin().map(lambda k: k[-1])})


def lr_spread_numbers(spread: pd.DataFrame,
                      coarse_lrs: Sequence[float] | None = None) -> dict[str, str]:
    """What chapter 4's prose quotes from :func:`lr_spread`: the mean spread (points) per
    activation and BN setting, and the widest spread with its configuration and its worst
    rate (the smallest, the largest or a middle one of ``coarse_lrs``, the coarse grid;
    without it, of the rates in ``spread``); ``"pending"`` where there are no runs."""
    by = spread.groupby(["activation", "batch_norm"])["spread (pts)"].mean() if len(
        spread) else pd.Series(dtype=float)
    out = {f"{act}{'_bn' if bn else ''}": f"{by[(act, bn)]:.1f}" if (act, bn) in by.index
           else "pending" for act in ("relu", "sigmoid") for bn in (False, True)}
    if len(spread):
        ds, depth, width, bn, act = spread["spread (pts)"].idxmax()
        out["widest"] = f"{spread['spread (pts)'].max():.1f}"
        out["widest_config"] = (f"{ACTIVATION_NAMES[act]} {depth}×{width}"
                                f"{' with BN' if bn else ''} on {source_label(ds)}")
        worst = spread["spread (pts)"].idxmax()
        lr = spread.loc[worst, "worst lr"]
        rates = sorted(coarse_lrs or spread["worst lr"].tolist() + spread["best lr"].tolist())
        where = ("smallest" if lr == rates[0] else "largest" if lr == rates[-1]
                 else "a middle one")
        out["widest_worst"] = (f"its worst rate, {lr:g}, is the {where} of the coarse grid"
                               if where != "a middle one" else
                               f"its worst rate, {lr:g}, lies inside the coarse grid")
    else:
        out["widest"] = out["widest_config"] = out["widest_worst"] = "pending"
    return out


def plot_lr_sensitivity(sensitivity: pd.DataFrame, epoch: int) -> plt.Figure:
    """Validation accuracy after ``epoch`` epochs against the learning rate, mean ± SE over
    seeds; one row of panels per dataset and width, one panel per depth; colour =
    activation, dashed with stars = batch norm."""
    order = {"mnist": 0, "cifar10": 1}
    rows = sorted(set(zip(sensitivity.dataset, sensitivity.width)),
                  key=lambda r: (order.get(r[0], len(order)), r[0], r[1]))
    depths = sorted(sensitivity.depth.unique())
    fig, axes = plt.subplots(len(rows), len(depths), squeeze=False, sharex=True,
                             figsize=(3.1 * len(depths), 2.9 * len(rows)))
    for (ds, width), ax_row in zip(rows, axes):
        block = sensitivity[(sensitivity.dataset == ds) & (sensitivity.width == width)]
        for ax, depth in zip(ax_row, depths):
            d = block[block.depth == depth]
            g = d.groupby(["activation", "batch_norm", "lr"])["val acc (%)"]
            stats = pd.DataFrame({"mean": g.mean(), "se": g.sem(ddof=1).fillna(0)})
            for (act, bn), line in stats.reset_index().groupby(["activation", "batch_norm"]):
                ax.errorbar(line.lr, line["mean"], yerr=line["se"], capsize=2,
                            color=ACTIVATION_COLORS[act], linestyle="--" if bn else "-",
                            marker="*" if bn else "o", markersize=7 if bn else 4,
                            label=f"{ACTIVATION_NAMES[act]}{' + BN' if bn else ''}")
            if not len(d):
                ax.axis("off")
                ax.text(0.5, 0.5, f"{depth}×{width}: no search runs yet", ha="center",
                        va="center", fontsize=9, transform=ax.transAxes)
                continue
            ax.set_xscale("log")
            ax.set_title(f"{_sources(block)}, {depth}×{width}", fontsize=9)
            if ax is ax_row[0]:
                ax.set_ylabel(f"val. accuracy after {epoch} epochs (%)", fontsize=8)
            if ax_row is axes[-1]:
                ax.set_xlabel("learning rate")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h), labels.append(lab)
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=8,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def choices_table(spec, manifest: dict, halting: pd.DataFrame | None = None,
                  more: Sequence[dict] = ()) -> pd.DataFrame:
    """What the paper leaves unspecified and what this book chose, from the grid's spec
    and manifest (so the table can never drift from the code that ran). ``halting``
    (:func:`halting_summary`) adds what early stopping costs on the full-length runs;
    ``more``: the other datasets' manifests, whose split sizes join the first's."""
    sizes = [f"{m.get('source_label') or m.get('dataset', '')}: {d['n_train']:,} / "
             f"{d['n_val']:,} / {d['n_test']:,}".lstrip(": ")
             for m in (manifest, *more) if (d := m.get("data"))]
    n = "; ".join(sizes) or "—"
    e1, e2 = spec.rungs
    full = ", ".join(f"{source_label(ds)} width {w}" for ds, w in spec.full_length) or "none"
    precision = manifest.get("precision", {})
    rows = [
        ("training / validation / test images", f"{n} (fixed seeded split of the official "
         "training set; official test set)"),
        ("input scaling", "pixels /255, then per-channel standardisation with the training "
         "split's mean and std; images flattened"),
        ("batch size", str(spec.batch_size)),
        ("optimiser", "Adam (β = 0.9, 0.999; ε = 1e-8), cross-entropy on softmax outputs"),
        ("learning-rate decay", f"×{spec.lr_decay} after every epoch"),
        ("learning-rate search", f"successive halving over {len(spec.seeds)} seeds: rates "
         f"{list(spec.coarse_lrs)} train {e1} epochs; if the best sits at an edge, one rate "
         f"×{spec.extend_factor:.3g} further out joins (at most {spec.max_extensions}); the "
         f"best {spec.keep} continue to epoch {e2}; the best of those is selected and its "
         "runs continue as the final runs (helpers.grid.protocol)"),
        ("learning-rate selection", "highest mean over seeds of the best validation accuracy "
         "so far (ties: the smaller rate; a rate where any seed diverged ranks below every "
         "clean rate), per dataset × depth × width × activation × BN"),
        ("epochs / early stopping", f"at most {spec.max_epochs}; stop when validation "
         f"accuracy has not improved for {spec.patience} epochs; keep the best epoch. "
         f"Full length (all {spec.max_epochs} epochs, best epoch kept, as the paper's Fig 1 "
         f"nets): {full}"),
        ("training loss / accuracy per epoch", "running mean over the epoch's batches as "
         "trained (as Keras reports them); the kept state gets one eval-mode pass"
         if spec.train_metrics == "running" else "eval-mode pass after every epoch"),
        ("arithmetic", f"{precision.get('weights', 'float32')} weights and Adam; matmuls "
         f"{precision.get('matmul', 'float32')}. {precision.get('note', '')}".strip()),
        ("Adam kernel", _adam_kernel_text(manifest)),
        ("batch-norm placement", "Linear → BatchNorm1d → activation (momentum 0.1, ε 1e-5)"),
        ("weight initialisation", "sigmoid: Xavier/Glorot uniform; ReLU: He/Kaiming normal "
         "(fan-in); output layer: Xavier uniform"),
        ("bias initialisation", "0 (hidden and output layers); BN: γ = 1, β = 0"),
        ("seeds", ", ".join(map(str, spec.seeds))),
    ]
    if halting is not None and len(halting):
        for bn, r in halting.iterrows():
            rows.append((f"what halting costs ({'with' if bn else 'without'} BN)",
                         f"replaying patience {spec.patience} on {int(r['runs'])} full-length "
                         f"runs: test accuracy lower by {r['mean loss (pts)']:.3f} points on "
                         f"average, {r['worst loss (pts)']:.3f} at worst; halted at epoch "
                         f"{r['halted at (epoch)']:.0f} on average vs best epoch "
                         f"{r['full best epoch']:.0f} of the full run"))
    return pd.DataFrame(rows, columns=["choice", "this book"]).set_index("choice")


def _adam_kernel_text(manifest: dict) -> str:
    """Which Adam kernel the sessions ran; both are the same update to float rounding."""
    names = {"formula": "the single-tensor formula", "fused": "torch's fused kernel"}
    counts = adam_kernels(manifest)
    used = "; ".join(f"{names.get(k, k)} in {n} session{'s' * (n != 1)}"
                     for k, n in sorted(counts.items())) or "no sessions yet"
    return (f"{used}. The same update to float rounding (tests/test_engine.py checks both "
            "against torch.optim.Adam); the fused kernel makes one pass over the parameters "
            "instead of about twenty (CPU step times: benchmarks/results/adam_kernel_cpu.json)")


def manifest_summary(results) -> pd.Series:
    """The provenance of a results folder: source, devices, torch, commit, and its cost:
    ``compute (h)``, the recorded runs' own training time (losing search rates included),
    and ``sessions (h)``, the wall time of the grid sessions that wrote it (workers ran in
    parallel, beside other work)."""
    m = results.manifest
    sessions = m.get("sessions", [])
    devices = sorted({s.get("device", "?") for s in sessions}) or [m.get("device", "—")]
    return pd.Series({
        "dataset source": m.get("source_label", m.get("source", "—")),
        "final runs": f"{m.get('n_final_runs', 0)} of {m.get('n_final_planned', '—')} "
                      f"(diverged: {m.get('n_diverged', 0)})",
        "search runs": m.get("n_search_runs", 0),
        "complete": m.get("complete", False),
        "devices": "; ".join(devices),
        "torch": m.get("torch_version", "—"),
        "git commit": str(m.get("git_commit", ""))[:12] or "—",
        "compute (h)": round(float(m.get("compute_s", 0.0)) / 3600, 2),
        "sessions (h)": round(float(m.get("wall_time_s", 0.0)) / 3600, 2),
    }, name=f"{results.profile} / {results.dataset}")


def fit_numbers(checks: pd.DataFrame, runs: pd.DataFrame, histories: pd.DataFrame, spec,
                dataset: str = "cifar10", window: int = 10) -> dict[str, str]:
    """What chapter 4 quotes about the premise "every other network fits its training set":
    the verdict of the ``every-other-net-fits`` row and, on ``dataset``, the lowest and
    highest best training accuracy (%, mean over seeds, any epoch after the first) of the
    configurations that row judges (the paper's exceptions left out,
    :func:`helpers.claims.section2_rules.fit_exempt`, with ``spec``'s narrowest width and
    two largest depths), the median number of epochs its final runs trained, and the lowest
    and highest training-accuracy gain (points, mean over seeds) over each run's last
    ``window`` epochs: how far a net was still climbing when early stopping halted it
    (``"pending"`` where there are none; ``gain_configs``: how many configurations trained
    that long), and ``climbing``, the sentence the prose quotes about them (a change of at
    most ``LEVELLED_OFF`` points either way counts as levelled off)."""
    from .claims.section2_rules import fit_exempt

    row = checks[checks["id"] == "every-other-net-fits"]
    out = {"verdict": row["verdict"].iloc[0] if len(row) else "pending",
           "low": "pending", "high": "pending", "epochs": "pending",
           "gain_low": "pending", "gain_high": "pending", "gain_configs": "pending",
           "window": str(window), "climbing": "Whether they had levelled off is pending."}
    h = histories[(histories["dataset"] == dataset) & (histories["epoch"] > 0)]
    if "phase" in h:
        h = h[h["phase"] == "final"]
    narrow, deep = min(spec.widths), sorted(spec.depths)[-2:]
    if len(h):
        h = h[[not fit_exempt(*cfg, narrow, deep) for cfg in h[CONFIG].itertuples(index=False)]]
    if len(h):
        acc = h.sort_values("epoch").groupby(CONFIG + ["seed"])["train_acc"]
        best = acc.max().groupby(CONFIG).mean()
        out["low"], out["high"] = f"{100 * best.min():.1f}", f"{100 * best.max():.1f}"
        gain = acc.apply(lambda a: a.iloc[-1] - a.iloc[-1 - window] if len(a) > window
                         else float("nan")).dropna().groupby(CONFIG).mean()
        out["climbing"] = (f"No run trained more than {window} epochs, so whether they had "
                           "levelled off is not known.")
        if len(gain):
            low, high = 100 * gain.min(), 100 * gain.max()
            out["gain_low"], out["gain_high"] = f"{low:+.1f}", f"{high:+.1f}"
            out["gain_configs"] = f"{len(gain)} of {len(best)}"
            flat = (100 * gain).abs() <= LEVELLED_OFF
            lead = ("None of them had levelled off" if low > LEVELLED_OFF else
                    "All of them had levelled off" if flat.all() else
                    "Not all of them were still climbing")
            out["climbing"] = (
                f"{lead}: over the last {window} epochs of each run, training accuracy (the "
                f"running mean over the epoch's batches) changed by {low:+.1f} to {high:+.1f} "
                f"points (means over seeds; {len(gain)} of {len(best)} configurations trained "
                "that long).")
    r = runs[runs["dataset"] == dataset]
    if len(r):
        out["epochs"] = f"{r['epochs'].median():.0f}"
    return out


def headline_numbers(results: dict, spec, halting: pd.DataFrame) -> dict[str, str]:
    """The numbers chapter 4's prose quotes, formatted, or ``"pending"`` where the runs do
    not exist yet (glue them with :func:`helpers.book.glue`).

    The best configuration is the one with the highest mean *validation* accuracy among
    those whose final runs cover every seed of ``spec`` (a mean over fewer seeds would favour
    a lucky seed), and its mean *test* accuracy is quoted: choosing on the test accuracies
    it then reports would overstate it. Only while no configuration is complete does it
    come from all of them, and its description then says how many seeds it rests on.
    Full-length runs count as early stopping with the grid's patience would have kept them
    (:func:`halted_runs`), so that every configuration competes under one stopping rule."""
    out: dict[str, str] = {"planned": str(spec.n_final())}
    counts = []
    for ds, res in results.items():
        runs = res.runs
        if len(runs) and "test_acc" in res.histories:  # one stopping rule for all
            runs = halted_runs(runs, res.histories, spec.patience)
        out[f"{ds}_final"] = str(len(runs))
        out[f"{ds}_label"] = res.label or source_label(ds)
        counts.append((len(runs), out[f"{ds}_label"]))
        if len(runs):
            acc = runs.groupby(CONFIG[1:])["test_acc"].agg(["mean", "sem", "count"])
            acc["val"] = runs.groupby(CONFIG[1:])["best_val_acc"].mean()
            complete = acc[acc["count"] >= len(spec.seeds)]
            best = (complete if len(complete) else acc)["val"].idxmax()
            depth, width, bn, act = best
            n = int(acc.loc[best, "count"])
            out[f"{ds}_best"] = f"{100 * acc.loc[best, 'mean']:.2f} %"
            out[f"{ds}_best_config"] = (
                f"{ACTIVATION_NAMES[act]} {depth}×{width}{' with BN' if bn else ''}, "
                + (f"mean of {n} seeds" if n > 1 else "1 seed")
                + ("" if len(complete) else "; no configuration has all its seeds yet"))
        else:
            out[f"{ds}_best"] = out[f"{ds}_best_config"] = "pending"
    for bn, name in ((False, "nobn"), (True, "bn")):
        if len(halting) and bn in halting.index:
            r = halting.loc[bn]
            out[f"halt_{name}_mean"] = f"{r['mean loss (pts)']:.2f}"
            out[f"halt_{name}_worst"] = f"{r['worst loss (pts)']:.2f}"
            out[f"halt_{name}_runs"] = str(int(r["runs"]))
        else:
            out[f"halt_{name}_mean"] = out[f"halt_{name}_worst"] = "pending"
            out[f"halt_{name}_runs"] = "0"
    out["status"] = _status_sentence(counts, spec.n_final())
    cost = halting["mean loss (pts)"] if len(halting) else pd.Series(dtype=float)
    if not {True, False} <= set(cost.index):
        out["halt_compare"] = "pending"
    elif abs(cost[True] - cost[False]) < 0.05:  # points
        out["halt_compare"] = "about the same with and without it (within 0.05 points)"
    else:
        out["halt_compare"] = (f"{'larger' if cost[True] > cost[False] else 'smaller'} with "
                               "it than without")
    return out


def _status_sentence(counts: list[tuple[int, str]], planned: int) -> str:
    """How much of the grid exists: ``counts`` = (final runs, dataset label) per dataset."""
    if counts and all(n >= planned for n, _ in counts):
        names = " and ".join(label for _, label in counts)
        return (f"All {planned} final runs of each dataset ({names}) exist in this profile, "
                "and every figure and table below is drawn from them.")
    have = " and ".join(f"{n} of the {planned} final {label} runs" for n, label in counts)
    return (f"So far {have} exist in this profile. Every figure and table below is drawn from "
            "those runs only; a configuration that has no runs yet is simply absent, and the "
            "claim checks call it pending.")


def bn_lead_reading(runs: pd.DataFrame, spec, dataset: str = "cifar10") -> str:
    """Whether ReLU's lead over sigmoid (test accuracy, points) is larger without batch
    normalisation or with it, per shape of ``dataset`` with every seed of both activations
    under both settings: one sentence for Fig 2(b)'s reading that ReLU is only reliably
    better *with* BN."""
    gap = relu_minus_sigmoid(runs, seeds=len(spec.seeds))
    gap = gap[gap["dataset"] == dataset] if len(gap) else gap
    if not len(gap):
        return "Which lead is the larger is pending."
    lead = gap.pivot_table(index=["depth", "width"], columns="batch_norm",
                           values="relu − sigmoid (pts)")
    lead = lead.reindex(columns=[False, True]).dropna()
    n, total = len(lead), len(spec.depths) * len(spec.widths)
    if not n:
        return "Which lead is the larger is pending."
    k = int((lead[False] > lead[True]).sum())
    of = f"{n} shapes" if n == total else f"{n} of the {total} shapes run so far"
    verdict = ("the reverse of the sentence" if 2 * k > n else
               "as the sentence leads one to expect" if 2 * k < n else "neither way")
    return (f"Across the {of}, ReLU's lead is larger without BN than with it in {k} (mean "
            f"{lead[False].mean():.2f} points without BN, {lead[True].mean():.2f} with it): "
            f"{verdict}.")


def rates_by_depth_text(chosen: pd.DataFrame, spec, dataset: str = "cifar10") -> str:
    """The rates the search chose for ``dataset``'s narrowest sigmoid nets with BN, by depth
    (a depth slope in Fig 2 mixes depth with these); "" where none was chosen yet."""
    narrow = min(spec.widths)
    try:
        rates = chosen.xs((dataset, narrow, True), level=["dataset", "width", "batch_norm"])
    except KeyError:
        return ""
    if "sigmoid" not in rates:
        return ""
    text = ", ".join(f"{d} layers {lr:g}" for d, lr in rates["sigmoid"].dropna().items())
    return (f"For the {narrow}-wide {source_label(dataset)} sigmoid networks with BN, for "
            f"example, it chose {text}." if text else "")


# ------------------------------------------------------------------------ exercises
def chosen_rates(lr_search: pd.DataFrame) -> pd.DataFrame:
    """The learning rate the search chose, per (dataset, depth, width, BN): one column per
    activation (NaN where that configuration's search is still running)."""
    keys = ["dataset", "depth", "width", "batch_norm", "activation"]
    if not len(lr_search):  # no search yet: the same index levels, no rows
        return pd.DataFrame(columns=["relu", "sigmoid"],
                            index=pd.MultiIndex.from_tuples([], names=keys[:-1]))
    return (lr_search[lr_search.selected].groupby(keys)["lr"].first()
            .unstack("activation"))


def rate_comparison(chosen: pd.DataFrame) -> pd.DataFrame:
    """Per BN setting, how many shapes gave sigmoid a larger, the same or a smaller rate
    than ReLU (shapes where both searches finished; ``chosen`` from :func:`chosen_rates`)."""
    both = chosen.dropna(subset=[c for c in ("relu", "sigmoid") if c in chosen])
    if not {"relu", "sigmoid"} <= set(both.columns) or both.empty:
        return pd.DataFrame(columns=["sigmoid larger", "same", "sigmoid smaller"])
    sign = np.sign(np.log(both["sigmoid"] / both["relu"]).round(6))
    g = sign.groupby(level="batch_norm")
    return pd.DataFrame({"sigmoid larger": g.apply(lambda s: int((s > 0).sum())),
                         "same": g.apply(lambda s: int((s == 0).sum())),
                         "sigmoid smaller": g.apply(lambda s: int((s < 0).sum()))})


def gap_noise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth, width, BN) with two or more seeds run with both activations:
    the ReLU − sigmoid gap seed by seed (over those shared seeds), its mean (points), the
    standard error of that mean, the number of seeds, and whether the gap clears the
    noise by the rule :mod:`helpers.claims` applies (:func:`helpers.claims.judging.judge`:
    every seed's gap has the same sign and the mean exceeds Student's t critical value, in
    standard errors, for the seeds: 4.30 for three); beside them the unpaired reading of the
    same seeds: the standard error of a difference of two independent means,
    ``sqrt(sd_relu² / n + sd_sigmoid² / n)``, and whether the gap exceeds t (2n − 2 degrees
    of freedom) of those."""
    from .claims.judging import WITHIN, judge, t_critical

    keys = ["dataset", "depth", "width", "batch_norm"]
    cols = ["gap (pts)", "se (pts)", "seeds", "beyond noise", "se unpaired (pts)",
            "beyond noise unpaired"]
    acc = runs.groupby(keys + ["seed", "activation"])["test_acc"].mean().unstack("activation")
    if acc.empty or not {"relu", "sigmoid"} <= set(acc.columns):
        return pd.DataFrame(columns=cols)
    both = (acc[["relu", "sigmoid"]] * 100).dropna()  # shared seeds only
    rows = {}
    for cfg, g in both.groupby(level=keys):
        if len(g) < 2:
            continue
        v = (g["relu"] - g["sigmoid"]).to_numpy(float)
        n = len(v)
        unpaired = float(np.sqrt((g["relu"].var(ddof=1) + g["sigmoid"].var(ddof=1)) / n))
        rows[cfg] = {"gap (pts)": v.mean(), "se (pts)": v.std(ddof=1) / np.sqrt(n),
                     "seeds": n, "beyond noise": judge(v, 0.0, ">") != WITHIN,
                     "se unpaired (pts)": unpaired, "beyond noise unpaired": bool(
                         abs(v.mean()) > t_critical(2 * n - 2) * unpaired)}
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame.from_dict(rows, orient="index")[cols]
    out.index = pd.MultiIndex.from_tuples(out.index, names=keys)
    return out


def rank_flips(lr_search: pd.DataFrame, histories: pd.DataFrame,
               rungs: tuple[int, int]) -> pd.DataFrame:
    """Per configuration with two or more rates in the search's second round: the rate
    ahead after the first rung and after the second (mean validation accuracy over seeds,
    among those rates), and whether the lead changed."""
    cols = ["ahead after rung 1", "ahead after rung 2", "flipped"]
    first = lr_sensitivity(lr_search, histories, rungs[0]).groupby(
        CONFIG + ["lr"])["val acc (%)"].mean()
    second = lr_sensitivity(lr_search, histories, rungs[1]).groupby(
        CONFIG + ["lr"])["val acc (%)"].mean().dropna()
    rows = {}
    for cfg, s2 in second.groupby(level=CONFIG):
        if len(s2) < 2:
            continue
        lrs = s2.index.get_level_values("lr")
        s1 = first.loc[[(*cfg, lr) for lr in lrs]]
        a1, a2 = s1.idxmax()[-1], s2.idxmax()[-1]
        rows[cfg] = {cols[0]: a1, cols[1]: a2, cols[2]: bool(a1 != a2)}
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=CONFIG)
    return out


def exercise_numbers(runs: pd.DataFrame, histories: pd.DataFrame, lr_search: pd.DataFrame,
                     spec, strict_patience: int | None = None) -> dict[str, str]:
    """The sentences that close chapter 4's exercise solutions with this build's numbers
    (``"pending"`` parts where runs are missing). Exercise 4.1's shorter patience defaults
    to a quarter of the grid's (5 in ``paper``), at least 1."""
    if strict_patience is None:
        strict_patience = max(1, spec.patience // 4)
    if not 1 <= strict_patience < spec.patience:
        raise ValueError(f"strict_patience={strict_patience}; accepted: 1 to "
                         f"{spec.patience - 1} (shorter than the grid's {spec.patience})")
    out = {"strict_patience": str(strict_patience)}
    strict = halting_summary(halting_cost(histories, strict_patience))
    usual = halting_summary(halting_cost(histories, spec.patience))
    parts = []
    for bn, name in ((False, "without BN"), (True, "with BN")):
        if bn in strict.index and bn in usual.index:
            parts.append(f"{name}, {strict.loc[bn, 'mean loss (pts)']:.2f} points on average "
                         f"(worst {strict.loc[bn, 'worst loss (pts)']:.2f}) against "
                         f"{usual.loc[bn, 'mean loss (pts)']:.2f} with patience "
                         f"{spec.patience}")
    out["patience"] = "; ".join(parts) if parts else "pending"
    if {False, True} <= set(strict.index):
        d = strict.loc[True, "mean loss (pts)"] - strict.loc[False, "mean loss (pts)"]
        out["patience_compare"] = (
            "the batch-normalised networks lose about as much as the others (within 0.05 "
            "points)" if abs(d) < 0.05 else
            f"the batch-normalised networks lose {'more' if d > 0 else 'less'} than the "
            "others")
    else:
        out["patience_compare"] = "pending"
    noise = gap_noise(runs)
    if len(noise):
        big = noise[noise["beyond noise"]]
        unpaired = noise[noise["beyond noise unpaired"]]
        larger = int((noise["se (pts)"] > noise["se unpaired (pts)"]).sum())
        out["gaps"] = (f"{len(big)} of {len(noise)} configurations with at least two seeds "
                       f"run with both activations by the paired rule "
                       f"({int((big['gap (pts)'] > 0).sum())} of them with ReLU ahead), and "
                       f"{len(unpaired)} of {len(noise)} by the unpaired test; the paired "
                       f"standard error is the larger one in {larger} of the {len(noise)}")
    else:
        out["gaps"] = "pending"
    cmp = rate_comparison(chosen_rates(lr_search))
    parts = [f"{name}: sigmoid got a larger rate than ReLU in {r['sigmoid larger']}, the same "
             f"in {r['same']} and a smaller one in {r['sigmoid smaller']} shapes"
             for bn, name in ((False, "without BN"), (True, "with BN")) if bn in cmp.index
             for r in [cmp.loc[bn]]]
    out["rates"] = "; ".join(parts) if parts else "pending"
    flips = rank_flips(lr_search, histories, spec.rungs)
    if len(flips):
        by = flips["flipped"].groupby(level=["activation", "batch_norm"]).agg(["sum", "size"])
        out["flips"] = ", ".join(
            f"{ACTIVATION_NAMES[a]}{' with BN' if bn else ''} {int(r['sum'])} of "
            f"{int(r['size'])}" for (a, bn), r in by.iterrows())
    else:
        out["flips"] = "pending"
    return out
