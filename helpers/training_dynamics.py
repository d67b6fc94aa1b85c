"""Dynamics over training and the Table 1 gap (chapter 8, "Where class information lives").

* **Per-epoch tables** — :func:`run_dynamics` trains every configuration x seed x learning
  rate with :class:`helpers.class_probes.ClassInfoProbe` on the full splits and appends the
  per-epoch probe records to :func:`dynamics_path` (``paper``: committed under
  ``data/results/paper/class_information/``); :func:`load_dynamics` reads them,
  :func:`main_runs` keeps the main runs (:func:`searched_rates`), :func:`epoch_long` makes
  them tidy, :func:`fit_point` finds when a net first fits its training split.
* **The Table 1 gap** — :func:`table1_gap`: our ReLU layer sparsity against the paper's
  Table 1; :func:`gap_verdicts`: could training length or learning rate explain the gap?
* **The numbers the prose quotes**, as text (``pending`` where missing):
  :func:`dynamics_numbers` (update ratio, sparsity, fit point), :func:`gap_numbers`.
* Figures: ``plot_dynamics``, ``plot_update_ratio``, ``plot_table1_gap``.
* Command line: :func:`main` (``python -m helpers.training_dynamics dynamics --profile paper
  --dataset mnist``; ``python -m helpers.class_information`` forwards here).

The nets and their settings come from :mod:`helpers.class_information`. Training guard:
with ``ACTFN_NO_TRAIN=1``, :func:`run_dynamics` raises ``RuntimeError``. Layers are
numbered from 1. Percentages are 0-100.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .book import PENDING, as_text
from .class_information import (
    CONFIGS,
    SETTINGS,
    model_key,
    model_name,
    model_palette,
    settings,
    train_probed,
)
from .class_probes import check_choice
from .plots import with_source
from .runtime import check_training_allowed, device_name

RESULTS_SUBDIR = "class_information"  # data/results/<profile>/class_information/ (committed)


def epoch_long(history: pd.DataFrame) -> pd.DataFrame:
    """Tidy per-epoch probe columns: one row per (epoch, metric, layer), other history
    columns kept as identifiers."""
    cols = [c for c in history.columns if "/" in c]
    ids = [c for c in history.columns if c not in cols]
    long = history.melt(id_vars=ids, value_vars=cols, var_name="probe")
    split = long.pop("probe").str.split("/", expand=True)
    return long.assign(metric=split[0], layer=split[1].astype(int))


# --- per-epoch tables (paper profile: computed by ``python -m helpers.class_information``)

def dynamics_path(profile: str, dataset: str, root: str | os.PathLike | None = None) -> Path:
    """Where the per-epoch probe table of ``profile``/``dataset`` is committed."""
    from .grid.store import RESULTS_ROOT
    return Path(root or RESULTS_ROOT) / profile / RESULTS_SUBDIR / f"{dataset}_dynamics.csv.gz"


def load_dynamics(profile: str, dataset: str, root=None) -> pd.DataFrame | None:
    """The committed per-epoch table, or None when it has not been computed yet."""
    path = dynamics_path(profile, dataset, root)
    return pd.read_csv(path) if path.exists() else None


def run_dynamics(profile: str, dataset: str, seeds: Sequence[int] = (0, 1, 2),
                 configs: Sequence[tuple[str, bool]] = CONFIGS,
                 lrs: Sequence[float] | None = None, patience: int | None = None,
                 max_epochs: int | None = None, root=None, progress: bool = True
                 ) -> pd.DataFrame:
    """Train every config x seed x lr with :class:`ClassInfoProbe` on the full splits and
    write the per-epoch table to :func:`dynamics_path` (rows appended per finished net, so a
    rerun skips them). ``lrs=None``: the grid's searched rate of each config (else 1e-3);
    ``patience`` larger than ``max_epochs`` disables early stopping."""
    from .inspected_nets import grid_learning_rates, section3_data

    check_training_allowed("run_dynamics")
    s = settings(profile)
    s |= {k: v for k, v in (("patience", patience), ("max_epochs", max_epochs)) if v is not None}
    data = section3_data(dataset, profile)
    rates = grid_learning_rates(profile, dataset, s["depth"], s["width"])
    path = dynamics_path(profile, dataset, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    for activation, batch_norm in configs:
        for lr in (lrs or [rates.get((activation, batch_norm), s["lr"])]):
            for seed in seeds:
                name = model_name(activation, batch_norm)
                done = pd.read_csv(path) if path.exists() else pd.DataFrame()
                if len(done) and ((done["model"] == name) & (done["seed"] == seed)
                                  & np.isclose(done["run_lr"], lr)
                                  & (done["patience"] == s["patience"])).any():
                    continue
                start = time.perf_counter()
                net = train_probed(data, activation, batch_norm, seed, s, lr=lr,
                                   progress=progress)
                table = net.history.assign(run_lr=lr, patience=s["patience"],
                                           max_epochs=s["max_epochs"], source=data.source,
                                           test_acc=net.test_acc, device=device_name("cpu"),
                                           compute_s=round(time.perf_counter() - start, 1))
                _append_rows(path, table)
    return pd.read_csv(path)


def _append_rows(path: Path, table: pd.DataFrame) -> None:
    """Add ``table`` to the CSV at ``path`` under an exclusive lock, written atomically, so
    that several ``dynamics`` processes (e.g. one per seed) can share the file."""
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = pd.read_csv(path) if path.exists() else pd.DataFrame()
        tmp = path.with_name(".tmp-" + path.name)  # same suffix: same compression
        pd.concat([done, table], ignore_index=True).to_csv(tmp, index=False)
        os.replace(tmp, path)


def fit_point(history: pd.DataFrame, window: int = 5) -> pd.DataFrame:
    """Per (model, seed[, run_lr, patience]) of a per-epoch table: the update ratio (mean
    over layers) after epoch 1 and at the last epoch, the first epoch at which the net
    classifies every training image correctly (NaN if never), the training loss then and at
    the last epoch, and the update ratio averaged over the ``window`` epochs before that
    epoch and over the ``window`` epochs from it on."""
    keys = [k for k in ("model", "seed", "run_lr", "patience") if k in history]
    upd = [c for c in history.columns if c.startswith("update/")]
    rows = []
    for key, g in history.groupby(keys, sort=False):
        g = g.sort_values("epoch")
        ratio = g[upd].mean(axis=1)
        fitted = g.loc[g["train_acc"] >= 1.0, "epoch"]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        first = ratio[g["epoch"] == 1]
        row["update epoch 1"] = float(first.iloc[0]) if len(first) else math.nan
        row["update last"] = float(ratio.iloc[-1])
        row["last epoch"] = int(g["epoch"].max())
        row["last train loss"] = float(g["train_loss"].iloc[-1])
        if len(fitted):
            e = int(fitted.iloc[0])
            before = ratio[(g["epoch"] >= e - window) & (g["epoch"] < e)]
            after = ratio[(g["epoch"] >= e) & (g["epoch"] < e + window)]
            row |= {"fit epoch": e,
                    "train loss at fit": float(g.loc[g["epoch"] == e, "train_loss"].iloc[0]),
                    "update before": float(before.mean()), "update after": float(after.mean())}
        else:
            row |= {"fit epoch": math.nan, "train loss at fit": math.nan,
                    "update before": math.nan, "update after": math.nan}
        rows.append(row)
    return pd.DataFrame(rows)


# --- the Table 1 gap ----------------------------------------------------------------

def table1_gap(dynamics: pd.DataFrame, dataset: str = "mnist") -> pd.DataFrame:
    """The ReLU nets of a per-epoch table (:func:`run_dynamics`): per run (model, learning
    rate, patience, seed) the layer sparsity (%, validation images) at the best epoch and at
    the last, their mean over layers, the paper's Table 1 mean for that net, the gap (ours
    minus the paper's, percentage points) and, where the table has it, the mean share of
    dead nodes (% of a layer's nodes off for every validation image): part of a high
    sparsity may be nodes that never fire."""
    from .class_medians import PAPER_TABLE1_SPARSITY

    cols = ["model", "run_lr", "patience", "seed", "at", "epoch"]
    if dynamics is None or dynamics.empty:
        return pd.DataFrame(columns=[*cols, "mean sparsity (%)", "paper (%)", "gap (pp)"])
    relu = dynamics[dynamics["model"].isin(["ReLU", "ReLU BN"])]
    layer_cols = sorted((c for c in dynamics.columns if c.startswith("sparsity/")),
                        key=lambda c: int(c.split("/")[1]))
    rows = []
    for (model, lr, patience, seed), g in relu.groupby(["model", "run_lr", "patience", "seed"]):
        paper = PAPER_TABLE1_SPARSITY.get((dataset, model, "trained"))
        for at, epoch in (("best", int(g["best_epoch"].iloc[0])), ("last", int(g["epoch"].max()))):
            row = g[g["epoch"] == epoch].iloc[0]
            values = {f"layer {c.split('/')[1]}": float(row[c]) for c in layer_cols}
            mean = float(np.mean(list(values.values())))
            paper_mean = float(np.mean(paper)) if paper else math.nan
            dead = [float(row[c]) for c in row.index if c.startswith("dead/")]
            rows.append(dict(model=model, run_lr=lr, patience=patience, seed=seed, at=at,
                             epoch=epoch, **values, **{"mean sparsity (%)": mean,
                             "paper (%)": paper_mean, "gap (pp)": mean - paper_mean},
                             **({"mean dead (%)": float(np.mean(dead))} if dead else {})))
    if not rows:
        return pd.DataFrame(columns=[*cols, "mean sparsity (%)", "paper (%)", "gap (pp)"])
    return pd.DataFrame(rows)


def main_runs(history: pd.DataFrame | None, profile: str, dataset: str
              ) -> pd.DataFrame | None:
    """The rows of a per-epoch table that belong to the main dynamics runs: each model at
    its grid-searched learning rate, with the chapter's patience (the extra runs of the
    Table 1 study, other rates or no early stopping, left out)."""
    if history is None or history.empty or "run_lr" not in history:
        return history
    s = settings(profile)
    lr = history["model"].map(searched_rates(profile, dataset)).astype(float)
    keep = np.isclose(history["run_lr"], lr) & (history["patience"] == s["patience"])
    return history[keep]


def searched_rates(profile: str, dataset: str) -> dict[str, float]:
    """Model name -> the learning rate :func:`run_dynamics` uses by default: the grid's
    searched rate for the 4-layer net, else the chapter's ``lr``."""
    from .inspected_nets import grid_learning_rates

    s = settings(profile)
    rates = grid_learning_rates(profile, dataset, s["depth"], s["width"])
    return {model_name(a, b): rates.get((a, b), s["lr"]) for a, b in CONFIGS}


def gap_verdicts(gap: pd.DataFrame, main_lr: dict[str, float], patience: int,
                 full_length: int) -> pd.DataFrame:
    """Per ReLU model, could a candidate explain the Table 1 gap? Compares the main runs
    (rate ``main_lr[model]``, ``patience``; mean layer sparsity at the best epoch, mean and sd
    over seeds) with

    * ``length``: the runs without early stopping (``full_length``) at their last epoch,
      against the main runs *of the same seeds* (the seeds' offsets from the mean must not
      pass for an effect of training length; ``length: main, same seeds (%)``); it
      *explains* the gap when it closes at least half of that seed's gap and moves the
      sparsity by more than the noise of one run: Student's t critical value for the main
      runs' seeds times their seed sd (:func:`helpers.claims.judging.se_factor`; 4.3 sd
      for three seeds). ``length: at best epoch
      (%)`` reads the same runs at their best validation epoch, as the paper's early
      stopping would have kept them;
    * ``lr``: the learning-rate sweep (best-epoch sparsity per rate, averaged over the seeds
      that every rate has); it *can explain* the gap when the paper's value lies within the
      span of sparsities the rates reach and that span is wider than the same noise: some
      rate in the swept range then matches the paper's sparsity.

    A candidate without runs has no columns (pending)."""
    from .claims.judging import se_factor

    rows = []
    best = gap[gap["at"] == "best"]
    for model, lr in main_lr.items():
        g = best[(best["model"] == model)]
        main = g[np.isclose(g["run_lr"], lr) & (g["patience"] == patience)]
        if main.empty:
            continue
        ours, sd = main["mean sparsity (%)"].mean(), main["mean sparsity (%)"].std()
        noise = se_factor(len(main)) * (sd if np.isfinite(sd) else 0.0)  # one run's noise
        paper = main["paper (%)"].iloc[0]
        row = {"model": model, "main lr": lr, "seeds": len(main), "ours (%)": ours,
               "seed sd (pp)": sd, "paper (%)": paper, "gap (pp)": ours - paper}
        longest = gap[(gap["model"] == model) & (gap["patience"] == full_length)]
        last = longest[(longest["at"] == "last") & longest["seed"].isin(main["seed"])]
        if len(last):
            base = main[main["seed"].isin(last["seed"])]["mean sparsity (%)"].mean()
            value = last["mean sparsity (%)"].mean()
            closed = (value - base) / (paper - base) if paper != base else math.nan
            at_best = longest[(longest["at"] == "best") & longest["seed"].isin(last["seed"])]
            row |= {"length: seeds": ", ".join(str(int(v)) for v in sorted(last["seed"])),
                    "length: main, same seeds (%)": base, "length: sparsity (%)": value,
                    "length: at best epoch (%)": at_best["mean sparsity (%)"].mean(),
                    "length: share closed": closed,
                    "length: explains": bool(closed >= 0.5 and abs(value - base) > noise)}
        swept = g[g["patience"] == patience]
        sweep = _shared_seed_means(swept)
        if len(sweep) > 1:
            lo, hi = sweep.min(), sweep.max()
            shared = _shared_seeds(swept)
            row |= {"lrs tried": ", ".join(f"{r:g}" for r in sweep.index),
                    "lr: seeds": ", ".join(str(int(v)) for v in sorted(shared)),
                    "lr: lowest (%)": lo, "lr: highest (%)": hi,
                    "lr: lowest at": sweep.idxmin(), "lr: highest at": sweep.idxmax(),
                    "lr: explains": bool(lo <= paper <= hi and hi - lo > noise)}
        rows.append(row)
    return pd.DataFrame(rows)


def _shared_seeds(runs: pd.DataFrame) -> set:
    """The seeds that every learning rate of ``runs`` has."""
    return set.intersection(*(set(v) for v in runs.groupby("run_lr")["seed"].apply(list)))


def _shared_seed_means(runs: pd.DataFrame) -> pd.Series:
    """Mean sparsity per learning rate over the seeds that every rate has (empty when the
    rates share no seed)."""
    if runs.empty:
        return pd.Series(dtype=float)
    kept = runs[runs["seed"].isin(_shared_seeds(runs))]
    return kept.groupby("run_lr")["mean sparsity (%)"].mean()


def last_epoch_rows(long: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`epoch_long`'s table at each run's (model, seed) last epoch."""
    return long[long["epoch"] == long.groupby(["model", "seed"])["epoch"].transform("max")]


def _mean_or_none(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _fit_runs(fits: pd.DataFrame, model: str) -> str:
    """Which runs of ``model`` came to fit every training image (with the epoch) and which
    did not; a run with a patience above the shortest one trained all epochs."""
    f = fits[fits["model"] == model]
    long_run = f["patience"] > f["patience"].min()
    name = [f"seed {s} at {r:g}" + (" trained all epochs" if is_long else "")
            for s, r, is_long in zip(f["seed"], f["run_lr"], long_run)]
    yes = [f"{n} (epoch {e:.0f})" for n, e in zip(name, f["fit epoch"]) if pd.notna(e)]
    no = [n for n, e in zip(name, f["fit epoch"]) if pd.isna(e)]
    return (f"{model} fitted in {len(yes)} of {len(f)} runs" + (f" ({', '.join(yes)})"
            if yes else "") + (f", not {', '.join(no)}" if no else ""))


def dynamics_numbers(long: pd.DataFrame | None, fits: pd.DataFrame | None,
                     all_fits: pd.DataFrame | None) -> dict[str, str]:
    """The numbers chapter 8's prose quotes about the dynamics, as text (``pending`` where
    missing). ``long``: :func:`epoch_long` of the main runs (None when there are none);
    ``fits``: :func:`fit_point` of the main runs; ``all_fits``: of every run of the study
    (the paper profile's table records the learning rates and patience; without them the
    rate readings say so). Keys: ``upd_<model>_1``/``_last`` (log10 update ratio after
    epoch 1, at each run's last epoch), ``sparsity_<model>_0``/``_last``,
    ``dead_relu_last``, ``sat_sigmoid_last``, ``dyn_ppl_relu_0``/``_1``/``_last``,
    ``last_epochs``, ``upd_verdict`` (ReLU's last ratio against the 1e-3 rule of thumb),
    ``main_rates``, ``upd_same_rate`` and ``upd_rate_reading`` (the first-epoch ratio of
    configurations that share a rate), ``fit_<model>_n``, ``fit_relu_epoch``,
    ``fit_relu_loss``, ``upd_relu_before``/``_after`` (around the fit point),
    ``fit_others``, ``bn_fit_update``. Model keys by :func:`model_key`."""
    final = last_epoch_rows(long) if long is not None else None

    def at(model: str, metric: str, epoch: int) -> float | None:
        if long is None:
            return None
        return _mean_or_none(long[(long["model"] == model) & (long["metric"] == metric)
                                  & (long["epoch"] == epoch)]["value"])

    def last(model: str, metric: str) -> float | None:  # each run at its own last epoch
        if final is None:
            return None
        return _mean_or_none(final[(final["model"] == model)
                                   & (final["metric"] == metric)]["value"])

    out: dict[str, str] = {}
    for m in ("ReLU", "ReLU BN", "sigmoid"):
        out[f"upd_{model_key(m)}_1"] = as_text(at(m, "update", 1))
        out[f"upd_{model_key(m)}_last"] = as_text(last(m, "update"))
    for m in ("ReLU", "ReLU BN"):
        out[f"sparsity_{model_key(m)}_0"] = as_text(at(m, "sparsity", 0), ".1f")
        out[f"sparsity_{model_key(m)}_last"] = as_text(last(m, "sparsity"), ".1f")
    out["dead_relu_last"] = as_text(last("ReLU", "dead"), ".1f")
    out["sat_sigmoid_last"] = as_text(last("sigmoid", "saturation"), ".1f")
    out["dyn_ppl_relu_0"] = as_text(at("ReLU", "perplexity", 0))
    out["dyn_ppl_relu_1"] = as_text(at("ReLU", "perplexity", 1))
    out["dyn_ppl_relu_last"] = as_text(last("ReLU", "perplexity"))
    epochs = None if final is None else final.groupby(["model", "seed"])["epoch"].first()
    out["last_epochs"] = PENDING if epochs is None else \
        f"{int(epochs.min())}–{int(epochs.max())}"
    relu_upd = last("ReLU", "update")
    out["upd_verdict"] = PENDING if relu_upd is None else (
        f"at {relu_upd:.2f}, within half a decade of" if abs(relu_upd + 3) < 0.5 else
        f"at {relu_upd:.2f}, {abs(relu_upd + 3):.1f} orders of magnitude "
        f"{'below' if relu_upd < -3 else 'above'}")

    rated = long is not None and all_fits is not None and "run_lr" in all_fits
    shared: list[float] = []
    if rated:  # the first-epoch update ratio of the early-stopped runs, per rate and model
        out["main_rates"] = ", ".join(f"{m} {r:g}" for m, r in long.groupby(
            "model", sort=False)["run_lr"].first().items())
        early = all_fits[all_fits["patience"] == all_fits["patience"].min()]
        by_rate = early.groupby(["run_lr", "model"], sort=False)["update epoch 1"].mean()
        shared = [r for r, g in by_rate.groupby(level="run_lr") if len(g) > 1]
        same_rate = "; ".join(f"at {r:g}, " + ", ".join(
            f"{m} {v:.2f}" for (_, m), v in by_rate.loc[[r]].items()) for r in shared)
        out["upd_same_rate"] = same_rate or "no rate is shared by two configurations yet"
    else:
        out["main_rates"] = out["upd_same_rate"] = "not recorded here"
    if shared:  # spread between configurations at one rate, against the main runs'
        within = max(float(by_rate.loc[[r]].max() - by_rate.loc[[r]].min()) for r in shared)
        main_first = fits.groupby("model")["update epoch 1"].mean()
        alike = within < 0.25
        out["upd_rate_reading"] = (
            ("At the same rate the configurations start almost alike: " if alike else
             "Even at the same rate the configurations differ: ") + same_rate
            + " (the second table, every run of this study). "
            + ("So the differences between the main runs after the first epoch are mostly "
               "their learning rates, not their activations."
               if alike and main_first.max() - main_first.min() > within else
               "So the learning rates explain only part of the differences between the main "
               "runs."))
    else:
        out["upd_rate_reading"] = ("Whether the configurations differ at the same rate is "
                                   "recorded in the paper profile's per-epoch table only.")

    def fits_of(model: str) -> pd.DataFrame:
        return fits[fits["model"] == model] if fits is not None and len(fits) \
            else pd.DataFrame()

    for m in ("ReLU", "ReLU BN", "sigmoid"):
        f = fits_of(m)
        out[f"fit_{model_key(m)}_n"] = PENDING if f.empty else \
            f"{int(f['fit epoch'].notna().sum())} of {len(f)}"
    relu = fits_of("ReLU")
    for key, col, spec in (("fit_relu_epoch", "fit epoch", ".0f"),
                           ("fit_relu_loss", "train loss at fit", ".0e"),
                           ("upd_relu_before", "update before", ".2f"),
                           ("upd_relu_after", "update after", ".2f")):
        out[key] = as_text(relu[col].mean() if len(relu) else None, spec)
    out["fit_others"] = (f"{_fit_runs(all_fits, 'ReLU BN')}. {_fit_runs(all_fits, 'sigmoid')}"
                         if rated else "the rates are recorded in the paper profile's "
                         "per-epoch table only")
    bn = all_fits[(all_fits["model"] == "ReLU BN") & all_fits["fit epoch"].notna()] \
        if rated else pd.DataFrame()
    out["bn_fit_update"] = PENDING if bn.empty else (
        f"{bn['update before'].mean():.2f} before, {bn['update after'].mean():.2f} after, the "
        "means of its runs that fitted")
    return out


# the glue keys of :func:`gap_numbers` (after the model's key) and the verdict columns
GAP_TEXT = {"ours": ("ours (%)", ".1f"), "sd": ("seed sd (pp)", ".1f"),
            "paper": ("paper (%)", ".1f"), "gap": ("gap (pp)", ".1f"),
            "length": ("length: sparsity (%)", ".1f"),
            "length_closed": ("length: share closed", ".0%"),
            "length_explains": ("length: explains", ""),
            "length_base": ("length: main, same seeds (%)", ".1f"),
            "length_best": ("length: at best epoch (%)", ".1f"), "lrs": ("lrs tried", ""),
            "lr_low": ("lr: lowest (%)", ".1f"), "lr_low_at": ("lr: lowest at", "g"),
            "lr_high": ("lr: highest (%)", ".1f"), "lr_high_at": ("lr: highest at", "g"),
            "lr_explains": ("lr: explains", "")}


def verdict_text(verdicts: pd.DataFrame, model: str, column: str, spec: str = ".1f") -> str:
    """One cell of :func:`gap_verdicts` as text: booleans as yes/no, numbers with ``spec``,
    ``pending`` where the model or the candidate has no runs."""
    if verdicts.empty or model not in set(verdicts["model"]) or column not in verdicts:
        return PENDING
    value = verdicts.set_index("model").loc[model, column]
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return as_text(value, spec)


def gap_numbers(verdicts: pd.DataFrame, gap: pd.DataFrame, patience: int,
                models: Sequence[str] = ("ReLU", "ReLU BN")) -> dict[str, str]:
    """The Table 1 study's numbers for the prose: ``<model>_<what>`` for each entry of
    :data:`GAP_TEXT` (model keys by :func:`model_key`), and ``lr_dead``: the dead share at
    the rate that gave each model its highest sparsity (early-stopped run of seed 0, best
    epoch)."""
    out = {f"{model_key(m)}_{k}": verdict_text(verdicts, m, col, spec)
           for m in models for k, (col, spec) in GAP_TEXT.items()}
    dead = []
    if len(gap) and "mean dead (%)" in gap and "lr: highest at" in verdicts:
        for m, rate in verdicts.set_index("model")["lr: highest at"].dropna().items():
            row = gap[(gap["model"] == m) & (gap["at"] == "best") & (gap["run_lr"] == rate)
                      & (gap["patience"] == patience) & (gap["seed"] == 0)]
            if len(row):
                dead.append(f"{m} at {rate:g}: {row['mean dead (%)'].iloc[0]:.1f} %")
    out["lr_dead"] = "; ".join(dead) or PENDING
    return out


def plot_table1_gap(dynamics: pd.DataFrame, gap: pd.DataFrame, source: str,
                    full_length: int) -> plt.Figure:
    """Left: mean ReLU layer sparsity per epoch of the runs trained without early stopping
    (patience ``full_length``), best epoch marked. Right: mean sparsity at the best epoch
    against the learning rate (runs with early stopping), one point per seed. Dashed: the
    paper's Table 1 value of each net."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = model_palette(["ReLU", "ReLU BN"])
    long_runs = dynamics[(dynamics["patience"] == full_length)
                         & dynamics["model"].isin(list(colors))]
    layer_cols = [c for c in dynamics.columns if c.startswith("sparsity/")]
    for model, g in long_runs.groupby("model"):
        for _, run in g.groupby(["seed", "run_lr"]):
            mean = run[layer_cols].mean(axis=1)
            left.plot(run["epoch"], mean, color=colors[model], label=model)
            best = int(run["best_epoch"].iloc[0])
            left.plot(best, mean[run["epoch"] == best].iloc[0], "o", color=colors[model])
    sweep = gap[(gap["at"] == "best") & (gap["patience"] != full_length)]
    for model, g in sweep.groupby("model"):
        right.plot(g["run_lr"], g["mean sparsity (%)"], "o", color=colors[model], label=model)
        means = _shared_seed_means(g)  # the line joins the seeds every rate has
        right.plot(means.index, means.values, "-", color=colors[model], alpha=0.6)
    for model in colors:
        paper = gap.loc[gap["model"] == model, "paper (%)"]
        for ax in (left, right):
            if len(paper):
                ax.axhline(paper.iloc[0], ls="--", color=colors[model], lw=1)
    left.set(xlabel="epoch", ylabel="mean layer sparsity (%)",
             title=f"no early stopping ({full_length - 1} epochs); dot: best epoch")
    right.set(xscale="log", xlabel="learning rate", ylabel="mean layer sparsity (%)",
              title="at the best epoch, by learning rate")
    for ax in (left, right):
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            uniq = dict(zip(labels, handles))
            ax.legend(uniq.values(), uniq.keys(), fontsize=8)
    fig.suptitle(with_source("ReLU sparsity against training length and learning rate "
                             "(dashed: the paper's Table 1)", source))
    fig.tight_layout()
    return fig


# --- figures -------------------------------------------------------------------------

DYNAMICS_LABELS = {"sparsity": "sparsity (%)", "saturation": "saturation (%)",
                   "dead": "dead nodes (%)", "perplexity": "mean node perplexity"}


def _mean_line(ax: plt.Axes, mean: pd.Series, every: pd.Series, color, label: str,
               **style) -> None:
    """A mean over runs against its index: solid while ``every`` run contributes, then thin
    and dashed (the mean of the runs still going: a step there is a change of runs)."""
    every = every.to_numpy()
    ax.plot(mean.index[every], mean.values[every], color=color, label=label, **style)
    tail = mean[mean.index >= mean.index[every].max()] if every.any() else mean
    if len(tail) > 1:
        ax.plot(tail.index, tail.values, color=color, ls="--", lw=0.8, alpha=0.6)


def plot_dynamics(long: pd.DataFrame, source: str, title: str,
                  metrics: Sequence[str] = ("sparsity", "dead", "saturation", "perplexity")
                  ) -> plt.Figure:
    """Per-epoch probe metrics (rows) for each model (columns), one line per layer (mean over
    seeds): solid while every seed is still training, thin and dashed after the first run
    stopped (the mean of the runs still going, so a step there is a change of runs, not of
    training). ``long`` comes from :func:`epoch_long`."""
    models = list(dict.fromkeys(long["model"]))
    fig, axes = plt.subplots(len(metrics), len(models), figsize=(3.6 * len(models),
                                                                 2.3 * len(metrics)),
                             sharex=True, squeeze=False)
    layers = sorted(long["layer"].unique())
    colors = sns.color_palette("viridis", len(layers))
    for i, metric in enumerate(metrics):
        for j, model in enumerate(models):
            ax = axes[i][j]
            sub = long[(long["metric"] == metric) & (long["model"] == model)]
            grouped = sub.groupby(["layer", "epoch"])
            mean, n = grouped["value"].mean(), grouped["seed"].nunique()
            if mean.notna().any():
                for c, layer in zip(colors, layers):
                    if layer in mean.index.get_level_values(0):
                        _mean_line(ax, mean[layer], n[layer] == sub["seed"].nunique(), c,
                                   f"layer {layer}", marker=".")
            else:
                ax.text(0.5, 0.5, "not defined", ha="center", va="center",
                        transform=ax.transAxes, color="grey")
            if i == 0:
                ax.set_title(model)
            if j == 0:
                ax.set_ylabel(DYNAMICS_LABELS.get(metric, metric))
            if i == len(metrics) - 1:
                ax.set_xlabel("epoch")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", fontsize=8, ncol=len(layers))
    fig.suptitle(with_source(title, source))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_update_ratio(steps: pd.DataFrame, source: str, title: str, x: str = "step",
                      reference: float = -3.0) -> plt.Figure:
    """Update-to-data ratio (log10) per layer against ``x`` (``step`` or ``epoch``), one
    panel per model, mean over seeds (thin and dashed once a run has stopped, as in
    :func:`plot_dynamics`); black dashed line at ``reference``."""
    check_choice("x", x, ("step", "epoch"))
    models = list(dict.fromkeys(steps["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.8 * len(models), 3.4), sharey=True,
                             squeeze=False)
    layers = sorted(steps["layer"].unique())
    colors = sns.color_palette("viridis", len(layers))
    finite = steps[np.isfinite(steps["update"])]
    for ax, model in zip(axes[0], models):
        one = finite[finite["model"] == model]
        grouped = one.groupby(["layer", x])
        sub, n = grouped["update"].mean(), grouped["seed"].nunique()
        for c, layer in zip(colors, layers):
            if layer in sub.index.get_level_values(0):
                _mean_line(ax, sub[layer], n[layer] == one["seed"].nunique(), c,
                           f"layer {layer}", lw=1)
        ax.axhline(reference, color="black", ls="--", lw=1, label=f"{reference:g}")
        ax.set(title=model, xlabel=f"optimiser {x}" if x == "step" else "epoch")
    axes[0][0].set_ylabel("log10 update / weight std")
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle(with_source(title, source))
    fig.tight_layout()
    return fig


# --- command line --------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.class_information dynamics --profile paper --dataset mnist``."""
    p = argparse.ArgumentParser(prog="python -m helpers.class_information")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dynamics", help="per-epoch probe tables (writes data/results/...)")
    d.add_argument("--profile", default="paper", choices=tuple(SETTINGS))
    d.add_argument("--dataset", default="mnist")
    d.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    d.add_argument("--lrs", type=float, nargs="+", default=None)
    d.add_argument("--patience", type=int, default=None)
    d.add_argument("--max-epochs", type=int, default=None)
    names = {model_name(a, b): (a, b) for a, b in CONFIGS}
    d.add_argument("--models", nargs="+", choices=tuple(names), default=tuple(names),
                   help="which nets (default: all three)")
    args = p.parse_args(argv)
    table = run_dynamics(args.profile, args.dataset, args.seeds,
                         configs=[names[m] for m in args.models], lrs=args.lrs,
                         patience=args.patience, max_epochs=args.max_epochs)
    print(f"{len(table)} epoch rows in {dynamics_path(args.profile, args.dataset)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
