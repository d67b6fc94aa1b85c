"""Input views: the results every rule reads, with lookups that make a claim *pending*.

:class:`Context` wraps the inputs of one evaluation and raises :class:`~.judging.Missing`
when a table, column or row a rule asks for does not exist; :class:`GridView` gives per-seed
lookups in the grid's tables (accuracies, ReLU − sigmoid gaps, slopes against depth, training
histories) for the Section 2 rules.

Inputs (any may be missing; the claims that need it are then *pending*):

* ``runs``, ``histories``: the grid's tables (:func:`helpers.grid.load_results`), both
  datasets concatenated; ``layout`` optionally fixes the expected depths, widths and seeds
  (from the grid spec) so that a partial grid makes claims pending instead of smaller, and
  the ``patience`` under which full-length runs are read (:class:`GridView`);
* ``sigmoid``, ``relu``, ``medians``, ``sparsity``: :func:`helpers.inspected_nets.summarise_nets`
  tables with :func:`~helpers.activation_distributions.sigmoid_layer_summary`,
  :func:`~helpers.activation_distributions.relu_layer_summary`,
  :func:`~helpers.class_medians.median_layer_summary` and
  :func:`~helpers.class_medians.sparsity_summary`; ``accuracy``:
  :func:`helpers.inspected_nets.accuracy_table`; ``eps``: the saturation band of ``sigmoid``;
* ``grid_layers``: the grid's per-layer table (``layers`` of :func:`helpers.grid.load_results`:
  sparsity, saturation, node perplexity, ... of every final run's best state on the test
  split), both datasets concatenated; it reaches the shapes no checkpoint was kept for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .judging import Missing

INPUTS = ("runs", "histories", "sigmoid", "relu", "medians", "sparsity", "accuracy",
          "grid_layers")
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def dataset_labels(runs: pd.DataFrame | None = None,
                   labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Dataset code -> the label of its data: ``labels`` where given, else from the
    ``source`` column of ``runs`` (or any grid table; one source per dataset), else
    :data:`DATASET_NAMES`."""
    from ..data import source_label

    out = dict(DATASET_NAMES)
    if runs is not None and len(runs) and {"dataset", "source"} <= set(runs.columns):
        for ds, sources in runs.groupby("dataset")["source"].unique().items():
            if len(sources) == 1:
                out[ds] = source_label(sources[0])
    out.update(labels or {})
    return out


class Context:
    """The inputs of every rule, with lookups that raise :class:`Missing`."""

    def __init__(self, inputs: Mapping[str, object]):
        unknown = set(inputs) - set(INPUTS) - {"layout", "eps", "labels"}
        if unknown:
            raise ValueError(f"unknown inputs {sorted(unknown)}; accepted: {INPUTS}, "
                             "layout, eps, labels")
        self.inputs = dict(inputs)
        self.eps = float(inputs.get("eps") or 0.05)
        self._grid: GridView | None = None
        runs = inputs.get("runs")  # the grid's tables carry the data source of each run
        self.labels = dataset_labels(inputs.get("grid_layers") if runs is None else runs,
                                     inputs.get("labels"))

    def relabel(self, text: str) -> str:
        """``text`` with each dataset's name (:data:`DATASET_NAMES`) replaced by the label
        of the data its results came from, e.g. ``CIFAR-10 (JPEG copy)``."""
        for ds, label in self.labels.items():
            name = DATASET_NAMES.get(ds, ds)
            if label != name and label.startswith(name):
                text = re.sub(re.escape(name) + f"(?!{re.escape(label[len(name):])})",
                              label, text)
            elif label != name:
                text = text.replace(name, label)
        return text

    def table(self, name: str) -> pd.DataFrame:
        t = self.inputs.get(name)
        if t is None or len(t) == 0:
            raise Missing(f"the {name} table")
        return t

    @property
    def grid(self) -> GridView:
        if self._grid is None:
            self._grid = GridView(self.table("runs"), self.inputs.get("histories"),
                                  **(self.inputs.get("layout") or {}))
        return self._grid

    def layers(self, name: str, column: str, **where) -> pd.DataFrame:
        """Seeds x layers of ``column`` in table ``name`` among rows matching ``where``."""
        t = self.table(name)
        if column not in t:
            raise Missing(f"column {column!r} of the {name} table")
        for key, value in where.items():
            if key not in t:  # never average over what the filter should have separated
                raise Missing(f"column {key!r} of the {name} table")
            t = t[t[key] == value]
        if t.empty:
            raise Missing(f"{name} rows with {where}")
        return t.pivot_table(index="seed", columns="layer", values=column, aggfunc="mean")

    def per_seed(self, name: str, column: str, **where) -> pd.Series:
        """One value per seed (for tables with one row per net, e.g. ``accuracy``)."""
        t = self.table(name)
        for key, value in where.items():
            t = t[t[key] == value]
        if t.empty:
            raise Missing(f"{name} rows with {where}")
        return t.groupby("seed")[column].mean()

    def grid_shapes(self) -> tuple[list[int], list[int]]:
        """The grid's depths and widths: the ``layout``'s, else those in ``grid_layers``."""
        layout = self.inputs.get("layout") or {}
        t = self.table("grid_layers")
        return (sorted(int(d) for d in layout.get("depths") or t["depth"].unique()),
                sorted(int(w) for w in layout.get("widths") or t["width"].unique()))

    def grid_layers(self, ds: str, depth: int, width: int, bn: bool, act: str,
                    column: str) -> pd.DataFrame:
        """Seeds x layers of ``column`` in the grid's per-layer table for one configuration
        (final runs); :class:`Missing` until every seed (the ``layout``'s, else those in the
        table) has it."""
        t = self.table("grid_layers")
        if column not in t:
            raise Missing(f"column {column!r} of the grid_layers table")
        if "phase" in t:
            t = t[t["phase"] == "final"]
        seeds = (self.inputs.get("layout") or {}).get("seeds") or sorted(t["seed"].unique())
        rows = t[(t["dataset"] == ds) & (t["depth"] == depth) & (t["width"] == width)
                 & (t["batch_norm"] == bn) & (t["activation"] == act)]
        table = rows.pivot_table(index="seed", columns="layer", values=column, aggfunc="mean")
        if not set(seeds) <= set(table.index):
            raise Missing(f"per-layer results of {_config_name(ds, depth, width, bn, act)}")
        return table.loc[list(seeds)]


class GridView:
    """Per-seed lookups in the grid's tables (accuracies in %). With ``patience`` (the
    grid's), full-length runs are read as early stopping would have kept them
    (:func:`helpers.learning_curves.halted_runs`), so every configuration is judged under
    the same stopping rule; their histories (Fig 1's curves) stay whole."""

    def __init__(self, runs: pd.DataFrame, histories: pd.DataFrame | None = None,
                 depths: Sequence[int] | None = None, widths: Sequence[int] | None = None,
                 seeds: Sequence[int] | None = None,
                 datasets: Sequence[str] | None = None, patience: int | None = None):
        if "phase" in runs:
            runs = runs[runs["phase"] == "final"]
        full = runs
        if patience is not None and histories is not None and "test_acc" in histories:
            # one stopping rule for every comparison: the full-length runs as early stopping
            # with the grid's patience would have kept them
            from ..learning_curves import halted_runs
            runs = halted_runs(runs, histories, patience)
        self.depths = sorted(depths or runs["depth"].unique())
        self.widths = sorted(widths or runs["width"].unique())
        self.seeds = sorted(seeds or runs["seed"].unique())
        self.datasets = list(datasets or ("mnist", "cifar10"))
        if len(self.depths) < 2 or not self.widths:
            raise Missing("a grid with at least two depths")
        self.narrow, self.wide = int(self.widths[0]), int(self.widths[-1])
        self.deep = [int(d) for d in self.depths[-2:]]
        keys = ["dataset", "depth", "width", "batch_norm", "activation"]
        self._runs = {k: g.set_index("seed") for k, g in runs.groupby(keys)}
        self._full = {k: g.set_index("seed") for k, g in full.groupby(keys)}
        self._hist: dict = {}
        if histories is not None and len(histories):
            h = histories
            if "phase" in h:
                h = h[h["phase"] == "final"]
            self._hist = {k: g for k, g in h.groupby(keys + ["seed"])}

    def _key(self, ds: str, depth: int, width: int, bn: bool, act: str) -> tuple:
        return (ds, int(depth), int(width), bool(bn), act)

    def acc(self, ds: str, depth: int, width: int, bn: bool, act: str,
            column: str = "test_acc", full: bool = False) -> pd.Series:
        """Per seed: ``column`` (a fraction in the tables) of one configuration, in %;
        ``full``: a full-length run as it ran, not as early stopping would have kept it."""
        key = self._key(ds, depth, width, bn, act)
        rows = (self._full if full else self._runs).get(key)
        if rows is None or not set(self.seeds) <= set(rows.index):
            raise Missing(f"final runs of {_config_name(*key)}")
        if column not in rows:
            raise Missing(f"column {column!r} of the runs table")
        return rows.loc[self.seeds, column].astype(float) * 100

    def gap(self, ds: str, depth: int, width: int, bn: bool,
            column: str = "test_acc", full: bool = False) -> pd.Series:
        """Per seed: ReLU minus sigmoid (points)."""
        return (self.acc(ds, depth, width, bn, "relu", column, full)
                - self.acc(ds, depth, width, bn, "sigmoid", column, full))

    def configs(self, ds: str | None = None, bn: bool | None = None,
                width: int | None = None) -> list[tuple[str, int, int, bool]]:
        """(dataset, depth, width, bn) of the expected grid, filtered."""
        return [(d, dep, w, b) for d in self.datasets for w in self.widths
                for b in (False, True) for dep in self.depths
                if (ds is None or d == ds) and (bn is None or b == bn)
                and (width is None or w == width)]

    def slope(self, ds: str, width: int, bn: bool, act: str) -> pd.Series:
        """Per seed: least-squares slope of test accuracy (%) against depth (pts/layer)."""
        table = pd.DataFrame({d: self.acc(ds, d, width, bn, act) for d in self.depths})
        x = np.asarray(self.depths, float)
        x = x - x.mean()
        return (table * x).sum(axis=1) / float((x ** 2).sum())

    def history(self, ds: str, depth: int, width: int, bn: bool, act: str,
                seed: int) -> pd.DataFrame:
        h = self._hist.get(self._key(ds, depth, width, bn, act) + (seed,))
        if h is None or h.empty:
            raise Missing(f"training history of {_config_name(ds, depth, width, bn, act)} "
                          f"seed {seed}")
        return h

    def train_at(self, ds: str, depth: int, width: int, bn: bool, act: str,
                 epoch: int) -> pd.Series:
        """Per seed: the training accuracy (%) at ``epoch``."""
        out = {}
        for s in self.seeds:
            h = self.history(ds, depth, width, bn, act, s).set_index("epoch")
            if epoch not in h.index:
                raise Missing(f"epoch {epoch} of {_config_name(ds, depth, width, bn, act)} "
                              f"seed {s}")
            out[s] = 100 * float(h.loc[epoch, "train_acc"])
        return pd.Series(out)

    def best_train(self, ds: str, depth: int, width: int, bn: bool, act: str) -> pd.Series:
        """Per seed: the best training accuracy (%) of any epoch after the first."""
        return pd.Series({s: 100 * float(self.history(ds, depth, width, bn, act, s)
                                         .query("epoch > 0")["train_acc"].max())
                          for s in self.seeds})

    def curve_gap(self, ds: str, depth: int, width: int, bn: bool,
                  until: int | None = None) -> pd.Series:
        """Per seed: mean over epochs 1 to ``until`` (default: the last) of |ReLU - sigmoid|
        training accuracy (points), runs that stopped early carried forward at their last
        value (as Fig 1 draws them)."""
        out = {}
        for s in self.seeds:
            curves = [self.history(ds, depth, width, bn, a, s).set_index("epoch")["train_acc"]
                      for a in ("relu", "sigmoid")]
            last = int(max(c.index.max() for c in curves))
            last = last if until is None else min(last, until)
            r, g = (c.reindex(range(1, last + 1)).ffill() for c in curves)
            out[s] = 100 * float((r - g).abs().mean())
        return pd.Series(out)


def _config_name(ds: str, depth: int, width: int, bn: bool | None, act: str | None = None
                 ) -> str:
    """``"MNIST 4×200 no BN relu"``; ``bn=None`` leaves batch norm out (an item comparing
    the two settings)."""
    act = "" if act is None else f" {act}"
    norm = "" if bn is None else " BN" if bn else " no BN"
    return f"{DATASET_NAMES.get(ds, ds)} {depth}×{width}{norm}{act}"
