"""Every claim of Pretorius, Barnard & Davel (2019), judged by one seed-aware scheme.

A :class:`Claim` is one statement of the paper: its id, section and figure, the paper's
sentence quoted exactly (fragments of a sentence broken by a page or a figure are joined by
`` […] ``), the quantity we measure, a rule in words (``rule``) and in code (``code``: the
function that computes it), our value ± standard error over seeds, the paper's value where
it gives one, and a verdict.

**How a verdict is reached.** A rule turns the results into one or more *items*; an item
is one number per seed (e.g. ReLU minus sigmoid test accuracy of one configuration, seed by
seed) and a statement about it: ``> target``, ``< target`` or ``within tol of target``.

* An item **holds** when every seed is on the claim's side of the target *and* the mean
  clears the target by more than ``SE_FACTOR`` (= 2) standard errors over seeds; it
  **fails** when the same is true on the other side; otherwise it is **within noise** (the
  seeds split, the margin is under two standard errors, a value is NaN, or there is only one
  seed, so that noise cannot be estimated). Why two and not one: when every seed is on one
  side, the mean already exceeds one standard error (for non-negative margins
  ``sd <= sqrt(n) * mean``), so a one-SE rule would add nothing to the vote.
* The claim's verdict combines its items: ``all`` (the usual case) *agrees* when every item
  holds, *disagrees* when every item fails and is *mixed* otherwise; ``not_all`` (for "X is
  not reliably true") agrees when some item fails, disagrees when every item holds.

So a gap inside seed noise is never called agreement or disagreement: it makes the claim
*mixed*, and the ``basis`` column says why (items split, or within noise). The other
verdicts: *not testable here* (the book has no data for it, or the sentence is an
interpretation), *pending* (the results the rule needs do not exist yet, e.g. a paper-profile
grid still running) and *context* (a reference number quoted without a verdict).

Inputs (any may be missing; the claims that need it are then *pending*):

* ``runs``, ``histories``: the grid's tables (:func:`helpers.grid.load_results`), both
  datasets concatenated; ``layout`` optionally fixes the expected depths, widths and seeds
  (from the grid spec) so that a partial grid makes claims pending instead of smaller;
* ``sigmoid``, ``relu``, ``medians``, ``sparsity``: :func:`helpers.nodes.summarise_nets`
  tables with :func:`~helpers.nodes.sigmoid_layer_summary`,
  :func:`~helpers.nodes.relu_layer_summary`, :func:`~helpers.nodes.median_layer_summary`
  and :func:`~helpers.nodes.sparsity_summary`; ``accuracy``:
  :func:`helpers.section3_nets.accuracy_table`; ``eps``: the saturation band of ``sigmoid``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SE_FACTOR = 2.0  # an item holds/fails only when its mean clears the target by 2 SE
FIT_THRESHOLD = 99.0  # best training accuracy (%) that counts as "fits the training set"
SIMILAR_PTS = {"mnist": 0.5, "cifar10": 1.0}  # |ReLU - sigmoid| test acc that is "similar"
REFERENCE_MARGIN = 0.5  # points below the paper's MNIST reference that still count as reaching it
TABLE1_TOLERANCE = 5.0  # points of sparsity within which ours "matches" Table 1
MEAN_MEDIAN_TOLERANCE = 0.1  # |mean - median| in class std that counts as "almost identical"
SHARED_SATURATION_MIN = 50.0  # % of separated sigmoid nodes that must share a saturation point

HOLDS, FAILS, WITHIN = "holds", "fails", "within noise"
AGREES, DISAGREES, MIXED = "agrees", "disagrees", "mixed"
NOT_TESTABLE, PENDING, CONTEXT = "not testable here", "pending", "context"
VERDICTS = (AGREES, DISAGREES, MIXED, NOT_TESTABLE, PENDING, CONTEXT)
CSV_COLUMNS = ["id", "section", "claim", "measure", "ours", "paper", "verdict"]
INPUTS = ("runs", "histories", "sigmoid", "relu", "medians", "sparsity", "accuracy")
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
CHAPTERS = {4: "04_training_the_networks", 5: "05_activation_distributions",
            6: "06_class_medians_and_sparsity", 7: "07_claims_scoreboard"}
# where each figure is drawn: (chapter, section anchor of its heading)
FIGURE_ANCHORS = {
    "Fig 1": (4, "fig-1-learning-curves"), "Fig 2": (4, "fig-2-test-accuracy"),
    "Fig 3": (5, "figure-3-sigmoid"), "Fig 4": (5, "figure-4-relu"),
    "Fig 5": (6, "figure-5-sigmoid-on-mnist-untrained-and-trained"),
    "Fig 6": (6, "figure-6-relu-on-mnist-untrained-and-trained"),
    "Fig 7": (6, "figure-7-cifar-10-jpeg-copy-trained-sigmoid-and-relu"),
    "Table 1": (6, "table-1-layer-sparsity"),
}


class Missing(LookupError):
    """The results a rule needs do not exist (yet): its claim is *pending*."""


# ----------------------------------------------------------------------------- items
def judge(values: Sequence[float], target: float, direction: str, tol: float = 0.0,
          se_factor: float | None = None) -> str:
    """``holds`` / ``fails`` / ``within noise`` for per-seed ``values`` (see module doc).

    ``direction``: ``">"`` or ``"<"`` (compared with ``target``) or ``"within"`` (``|value -
    target| < tol``). ``se_factor``: default :data:`SE_FACTOR` (read at call time)."""
    se_factor = SE_FACTOR if se_factor is None else se_factor
    v = np.asarray(values, dtype=float)
    if direction not in (">", "<", "within"):
        raise ValueError(f"direction={direction!r}; accepted: '>', '<', 'within'")
    if len(v) < 2 or np.isnan(v).any():
        return WITHIN
    mean, se = float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))
    if direction == ">":
        per_seed, margin = v - target, mean - target
    elif direction == "<":
        per_seed, margin = target - v, target - mean
    else:
        per_seed, margin = tol - np.abs(v - target), tol - abs(mean - target)
    if (per_seed > 0).all() and margin > se_factor * se:
        return HOLDS
    if (per_seed < 0).all() and -margin > se_factor * se:
        return FAILS
    return WITHIN


@dataclass(frozen=True)
class Item:
    """One number per seed and the statement the claim makes about it."""

    label: str
    values: pd.Series  # index: seed
    target: float
    direction: str  # ">", "<" or "within"
    tol: float = 0.0
    decimals: int = 2
    unit: str = ""

    @property
    def n(self) -> int:
        return int(len(self.values))

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.n else math.nan

    @property
    def se(self) -> float:
        if self.n < 2:
            return math.nan
        return float(np.std(np.asarray(self.values, float), ddof=1) / math.sqrt(self.n))

    @property
    def outcome(self) -> str:
        return judge(self.values.to_numpy(float), self.target, self.direction, self.tol)

    @property
    def margin(self) -> float:
        """How far the mean is on the claim's side of the target (negative: other side)."""
        if self.direction == ">":
            return self.mean - self.target
        if self.direction == "<":
            return self.target - self.mean
        return self.tol - abs(self.mean - self.target)

    def value_text(self) -> str:
        d = self.decimals
        se = "" if math.isnan(self.se) else f" ± {self.se:.{d}f}"
        return f"{self.mean:.{d}f}{se}{self.unit}"

    def why(self) -> str:
        """The outcome with its reason, e.g. ``within noise (seeds split 2-1)``."""
        out = self.outcome
        if out != WITHIN:
            return out
        v = self.values.to_numpy(float)
        if self.n < 2:
            return f"{WITHIN} (1 seed: noise unknown)"
        if np.isnan(v).any():
            return f"{WITHIN} (NaN value)"
        side = {">": v > self.target, "<": v < self.target,
                "within": np.abs(v - self.target) < self.tol}[self.direction]
        k = int(side.sum())
        if 0 < k < self.n:
            return f"{WITHIN} (seeds split {k}-{self.n - k})"
        return f"{WITHIN} (margin {self.margin:+.{self.decimals}f} < {SE_FACTOR:g} SE)"


def verdict_of(outcomes: Sequence[str], how: str = "all") -> str:
    """Combine item outcomes: ``all`` or ``not_all`` (see the module docstring)."""
    if not outcomes:
        raise ValueError("no items to judge")
    if how == "all":
        if all(o == HOLDS for o in outcomes):
            return AGREES
        return DISAGREES if all(o == FAILS for o in outcomes) else MIXED
    if how == "not_all":
        if any(o == FAILS for o in outcomes):
            return AGREES
        return DISAGREES if all(o == HOLDS for o in outcomes) else MIXED
    raise ValueError(f"how={how!r}; accepted: 'all', 'not_all'")


# ----------------------------------------------------------------------------- claims
@dataclass
class Claim:
    """One statement of the paper, what we measured for it and the verdict."""

    id: str
    section: str
    figure: str
    chapter: int | None
    quote: str
    measure: str
    rule: str
    code: str
    paper: str
    verdict: str
    ours: str = ""
    basis: str = ""
    kind: str = "claim"  # "claim", "context" or "interpretation"
    items: tuple[Item, ...] = ()

    def row(self) -> dict:
        return {"id": self.id, "section": self.section, "figure": self.figure,
                "claim": self.quote, "measure": self.measure, "rule": self.rule,
                "ours": self.ours, "paper": self.paper, "verdict": self.verdict,
                "basis": self.basis, "chapter": self.chapter, "code": self.code}


@dataclass(frozen=True)
class ClaimSpec:
    """How to judge one claim: the text, the inputs it needs and the rule in code."""

    id: str
    section: str
    figure: str
    chapter: int | None
    quote: str
    measure: str
    rule: str
    compute: Callable[[Context], list[Item]] | None = None
    how: str = "all"
    paper: str = ""
    kind: str = "claim"
    fixed: str | None = None  # verdict of rows without a rule (not testable / context)

    def evaluate(self, ctx: Context) -> Claim:
        code = "" if self.compute is None else f"helpers.claims.{self.compute.__name__}"
        base = dict(id=self.id, section=self.section, figure=self.figure,
                    chapter=self.chapter, quote=self.quote, measure=self.measure,
                    rule=self.rule, code=code, paper=self.paper, kind=self.kind)
        if self.compute is None:
            return Claim(**base, verdict=self.fixed or NOT_TESTABLE, basis=self.rule)
        try:
            items = self.compute(ctx)
        except Missing as e:
            return Claim(**base, verdict=PENDING, basis=f"missing: {e}")
        ours = _ours(items)
        if self.fixed == CONTEXT:
            return Claim(**base, verdict=CONTEXT, ours=ours, basis="quoted as context",
                         items=tuple(items))
        verdict = verdict_of([i.outcome for i in items], self.how)
        return Claim(**base, verdict=verdict, ours=ours, basis=_basis(items),
                     items=tuple(items))


def _ours(items: Sequence[Item]) -> str:
    if len(items) == 1:
        return items[0].value_text()
    if len(items) <= 4:
        return "; ".join(f"{i.label}: {i.value_text()}" for i in items)
    means = [i.mean for i in items]
    worst = min(items, key=lambda i: (-math.inf if math.isnan(i.margin) else i.margin))
    return (f"{len(items)} items, means {np.nanmin(means):.{worst.decimals}f} to "
            f"{np.nanmax(means):.{worst.decimals}f}{worst.unit}; "
            f"weakest: {worst.label} {worst.value_text()}")


def _basis(items: Sequence[Item]) -> str:
    if len(items) == 1:
        i = items[0]
        return f"{i.n} seed{'' if i.n == 1 else 's'}; {i.why()}"
    counts = {o: sum(i.outcome == o for i in items) for o in (HOLDS, FAILS, WITHIN)}
    text = ", ".join(f"{k} {o}" for o, k in counts.items() if k)
    odd = [f"{i.label}: {i.why()}" for i in items if i.outcome != HOLDS][:3]
    return f"{len(items)} items: {text}" + (f" ({'; '.join(odd)})" if odd else "")


# ------------------------------------------------------------------------ input views
class Context:
    """The inputs of every rule, with lookups that raise :class:`Missing`."""

    def __init__(self, inputs: Mapping[str, object]):
        unknown = set(inputs) - set(INPUTS) - {"layout", "eps"}
        if unknown:
            raise ValueError(f"unknown inputs {sorted(unknown)}; accepted: {INPUTS}, "
                             "layout, eps")
        self.inputs = dict(inputs)
        self.eps = float(inputs.get("eps") or 0.05)
        self._grid: GridView | None = None

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
            if key in t:
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


class GridView:
    """Per-seed lookups in the grid's tables (accuracies in %)."""

    def __init__(self, runs: pd.DataFrame, histories: pd.DataFrame | None = None,
                 depths: Sequence[int] | None = None, widths: Sequence[int] | None = None,
                 seeds: Sequence[int] | None = None,
                 datasets: Sequence[str] | None = None):
        if "phase" in runs:
            runs = runs[runs["phase"] == "final"]
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
        self._hist: dict = {}
        if histories is not None and len(histories):
            h = histories
            if "phase" in h:
                h = h[h["phase"] == "final"]
            self._hist = {k: g for k, g in h.groupby(keys + ["seed"])}

    def _key(self, ds: str, depth: int, width: int, bn: bool, act: str) -> tuple:
        return (ds, int(depth), int(width), bool(bn), act)

    def acc(self, ds: str, depth: int, width: int, bn: bool, act: str,
            column: str = "test_acc") -> pd.Series:
        """Per seed: ``column`` (a fraction in the tables) of one configuration, in %."""
        key = self._key(ds, depth, width, bn, act)
        rows = self._runs.get(key)
        if rows is None or not set(self.seeds) <= set(rows.index):
            raise Missing(f"final runs of {_config_name(*key)}")
        if column not in rows:
            raise Missing(f"column {column!r} of the runs table")
        return rows.loc[self.seeds, column].astype(float) * 100

    def gap(self, ds: str, depth: int, width: int, bn: bool,
            column: str = "test_acc") -> pd.Series:
        """Per seed: ReLU minus sigmoid (points)."""
        return (self.acc(ds, depth, width, bn, "relu", column)
                - self.acc(ds, depth, width, bn, "sigmoid", column))

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

    def best_train(self, ds: str, depth: int, width: int, bn: bool, act: str) -> pd.Series:
        """Per seed: the best training accuracy (%) of any epoch after the first."""
        return pd.Series({s: 100 * float(self.history(ds, depth, width, bn, act, s)
                                         .query("epoch > 0")["train_acc"].max())
                          for s in self.seeds})

    def curve_gap(self, ds: str, depth: int, width: int, bn: bool) -> pd.Series:
        """Per seed: mean over epochs >= 1 of |ReLU - sigmoid| training accuracy (points),
        runs that stopped early carried forward at their last value (as Fig 1 draws them)."""
        out = {}
        for s in self.seeds:
            curves = [self.history(ds, depth, width, bn, a, s).set_index("epoch")["train_acc"]
                      for a in ("relu", "sigmoid")]
            last = int(max(c.index.max() for c in curves))
            r, g = (c.reindex(range(1, last + 1)).ffill() for c in curves)
            out[s] = 100 * float((r - g).abs().mean())
        return pd.Series(out)


def _config_name(ds: str, depth: int, width: int, bn: bool, act: str | None = None) -> str:
    act = "" if act is None else f" {act}"
    return f"{DATASET_NAMES.get(ds, ds)} {depth}×{width}{' BN' if bn else ''}{act}"


def _bn(bn: bool) -> str:
    return "BN" if bn else "no BN"


# ------------------------------------------------------------------- Section 2 rules
def fig1_training_alike(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{d}×{g.narrow} {_bn(bn)}", g.curve_gap("mnist", d, g.narrow, bn),
                 SIMILAR_PTS["mnist"], "<", unit=" pts")
            for bn in (False, True) for d in g.depths]


def fig1_relu_validates_better(ctx: Context) -> list[Item]:
    g = ctx.grid
    gaps = [g.gap("mnist", d, g.narrow, bn, "best_val_acc") for bn in (False, True)
            for d in g.depths]
    return [Item("mean ReLU − sigmoid", sum(gaps) / len(gaps), 0.0, ">", unit=" pts")]


def fig2_relu_generally_better(ctx: Context) -> list[Item]:
    g = ctx.grid
    wins = pd.concat([g.gap(*c) > 0 for c in g.configs()], axis=1)
    return [Item("configurations where ReLU wins", 100 * wins.mean(axis=1), 50.0, ">",
                 decimals=1, unit=" %")]


def _mean_abs_gap(g: GridView, configs: Iterable[tuple]) -> pd.Series:
    gaps = [g.gap(*c).abs() for c in configs]
    return sum(gaps) / len(gaps)


def _fig2_wide_more_similar(ds: str) -> Callable[[Context], list[Item]]:
    def fig2_wide_more_similar(ctx: Context) -> list[Item]:
        g = ctx.grid
        narrow = _mean_abs_gap(g, g.configs(ds, bn=False, width=g.narrow))
        wide = _mean_abs_gap(g, g.configs(ds, bn=False, width=g.wide))
        return [Item(f"|gap| ×{g.narrow} − |gap| ×{g.wide}", narrow - wide, 0.0, ">",
                     unit=" pts")]
    return fig2_wide_more_similar


def _wide_comparable(ds: str) -> Callable[[Context], list[Item]]:
    def conclusion_wide_comparable(ctx: Context) -> list[Item]:
        g = ctx.grid
        return [Item(f"mean |ReLU − sigmoid|, ×{g.wide}", _mean_abs_gap(
            g, g.configs(ds, width=g.wide)), SIMILAR_PTS[ds], "<", unit=" pts")]
    return conclusion_wide_comparable


def _sigmoid_bn_deeper_better(ds: str) -> Callable[[Context], list[Item]]:
    def fig2_sigmoid_bn_deeper_better(ctx: Context) -> list[Item]:
        g = ctx.grid
        return [Item(f"slope, sigmoid ×{g.narrow} BN", g.slope(ds, g.narrow, True, "sigmoid"),
                     0.0, ">", unit=" pts/layer")]
    return fig2_sigmoid_bn_deeper_better


def _sigmoid_nobn_deeper_worse(ds: str) -> Callable[[Context], list[Item]]:
    def fig2_sigmoid_nobn_deeper_worse(ctx: Context) -> list[Item]:
        g = ctx.grid
        return [Item(f"slope ×{w}", g.slope(ds, w, False, "sigmoid"), 0.0, "<",
                     unit=" pts/layer") for w in g.widths]
    return fig2_sigmoid_nobn_deeper_worse


def cifar_relu_better_with_bn(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{d}×{w}", g.gap(ds, d, w, bn), 0.0, ">", unit=" pts")
            for ds, d, w, bn in g.configs("cifar10", bn=True)]


def cifar_relu_not_reliably_better_without_bn(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{d}×{w}", g.gap(ds, d, w, bn), 0.0, ">", unit=" pts")
            for ds, d, w, bn in g.configs("cifar10", bn=False)]


def cifar_nobn_deeper_worse(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{a} ×{w}", g.slope("cifar10", w, False, a), 0.0, "<", unit=" pts/layer")
            for a in ("relu", "sigmoid") for w in g.widths]


def cifar_similar_without_bn(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{d}×{w}", g.gap(ds, d, w, bn), 0.0, "within", tol=SIMILAR_PTS[ds],
                 unit=" pts")
            for ds, d, w, bn in g.configs("cifar10", bn=False)
            if not (w == g.narrow and d in g.deep)]


def cifar_deep_narrow_exception(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{d}×{g.narrow}", g.gap("cifar10", d, g.narrow, False),
                 SIMILAR_PTS["cifar10"], ">", unit=" pts") for d in g.deep]


def cifar_deep_narrow_sigmoid_cannot_fit(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{d}×{g.narrow}", g.best_train("cifar10", d, g.narrow, False, "sigmoid"),
                 FIT_THRESHOLD, "<", unit=" %") for d in g.deep]


def cifar_bn_deeper_better(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"{a} ×{w}", g.slope("cifar10", w, True, a), 0.0, ">", unit=" pts/layer")
            for a in ("relu", "sigmoid") for w in g.widths]


def _best_config(g: GridView, configs: Iterable[tuple]) -> tuple:
    return max(configs, key=lambda c: float(g.acc(*c).mean()))


def _best_is_wide_relu_bn(ds: str) -> Callable[[Context], list[Item]]:
    def best_is_wide_relu_bn(ctx: Context) -> list[Item]:
        g = ctx.grid
        every = [(ds, d, w, bn, a) for _, d, w, bn in g.configs(ds)
                 for a in ("relu", "sigmoid")]
        mine = _best_config(g, [c for c in every if c[2] == g.wide and c[3]
                                and c[4] == "relu"])
        other = _best_config(g, [c for c in every if not (c[2] == g.wide and c[3]
                                                          and c[4] == "relu")])
        return [Item(f"best ×{g.wide} ReLU BN ({mine[1]} layers) − best other "
                     f"({_config_name(*other)})", g.acc(*mine) - g.acc(*other), 0.0, ">",
                     unit=" pts")]
    return best_is_wide_relu_bn


def cifar_depth_adds_a_little(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(f"slope, ReLU ×{g.wide} BN", g.slope("cifar10", g.wide, True, "relu"), 0.0,
                 ">", unit=" pts/layer")]


def every_other_net_fits(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(_config_name(ds, d, w, bn, a), g.best_train(ds, d, w, bn, a),
                 FIT_THRESHOLD, ">", unit=" %")
            for ds, d, w, bn in g.configs() for a in ("relu", "sigmoid")
            if not (ds == "cifar10" and a == "sigmoid" and w == g.narrow and not bn
                    and d in g.deep)]


def relu_benefits_more_from_bn(ctx: Context) -> list[Item]:
    g = ctx.grid
    items = []
    for ds in g.datasets:
        diffs = [g.gap(ds, d, w, True) - g.gap(ds, d, w, False)
                 for _, d, w, _ in g.configs(ds, bn=False)]
        items.append(Item(f"{DATASET_NAMES[ds]}: ReLU's BN gain − sigmoid's",
                          sum(diffs) / len(diffs), 0.0, ">", unit=" pts"))
    return items


def bn_improves_relu_everywhere(ctx: Context) -> list[Item]:
    g = ctx.grid
    return [Item(_config_name(ds, d, w, False),
                 g.acc(ds, d, w, True, "relu") - g.acc(ds, d, w, False, "relu"), 0.0, ">",
                 unit=" pts") for ds, d, w, _ in g.configs(bn=False)]


def mnist_reference(ctx: Context) -> list[Item]:
    g = ctx.grid
    best = _best_config(g, [(c[0], c[1], c[2], c[3], a) for c in g.configs("mnist")
                            for a in ("relu", "sigmoid")])
    return [Item(f"best: {_config_name(*best)}", g.acc(*best), 98.4 - REFERENCE_MARGIN, ">",
                 unit=" %")]


def cifar_reference(ctx: Context) -> list[Item]:
    g = ctx.grid
    best = _best_config(g, [(c[0], c[1], c[2], c[3], a) for c in g.configs("cifar10")
                            for a in ("relu", "sigmoid")])
    return [Item(f"best: {_config_name(*best)}", g.acc(*best), 56.84, ">", unit=" %")]


# ------------------------------------------------------------------- Section 3 rules
def _first_last(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return frame[frame.columns.min()], frame[frame.columns.max()]


def fig3_sigmoid_skewed(ctx: Context) -> list[Item]:
    sat = ctx.layers("sigmoid", "saturated (%)", dataset="mnist", state="trained")
    uniform = 100 * 2 * ctx.eps
    return [Item(f"layer {layer}", sat[layer], uniform, ">", decimals=1, unit=" %")
            for layer in sat.columns]


def fig3_layer2_least_saturated(ctx: Context) -> list[Item]:
    sat = ctx.layers("sigmoid", "saturated (%)", dataset="mnist", state="trained")
    if 2 not in sat.columns or len(sat.columns) < 3:
        raise Missing("a sigmoid net with at least 3 layers")
    return [Item("layer 2 − least saturated other layer",
                 sat[2] - sat.drop(columns=2).min(axis=1), 0.0, "<", decimals=1,
                 unit=" pts")]


def fig3_layer2_highest_variance(ctx: Context) -> list[Item]:
    std = ctx.layers("sigmoid", "within-class std", dataset="mnist", state="trained")
    if 2 not in std.columns or len(std.columns) < 3:
        raise Missing("a sigmoid net with at least 3 layers")
    return [Item("layer 2 − highest other layer", std[2] - std.drop(columns=2).max(axis=1),
                 0.0, ">", decimals=3)]


def fig3_last_layer_point_masses(ctx: Context) -> list[Item]:
    pt = ctx.layers("sigmoid", "point-like classes (%)", dataset="mnist", state="trained")
    sat = ctx.layers("sigmoid", "saturated (%)", dataset="mnist", state="trained")
    first, last = _first_last(pt)
    top = sat.columns.max()
    return [Item("point-like classes, last − first layer", last - first, 0.0, ">",
                 decimals=1, unit=" pts"),
            Item("saturated, last − most saturated other layer",
                 sat[top] - sat.drop(columns=top).max(axis=1), 0.0, ">", decimals=1,
                 unit=" pts")]


def fig3_overlap_at_saturation(ctx: Context) -> list[Item]:
    shared = ctx.layers("sigmoid", "separated nodes sharing 0 or 1 (%)", dataset="mnist",
                        state="trained")
    return [Item("mean over layers", shared.mean(axis=1), SHARED_SATURATION_MIN, ">",
                 decimals=1, unit=" %")]


def fig4_relu_overlaps_less(ctx: Context) -> list[Item]:
    relu = ctx.layers("medians", "overlap (%)", dataset="mnist", activation="relu",
                      state="trained")
    sig = ctx.layers("medians", "overlap (%)", dataset="mnist", activation="sigmoid",
                     state="trained")
    return [Item("mean overlap over layers, ReLU − sigmoid",
                 relu.mean(axis=1) - sig.mean(axis=1), 0.0, "<", decimals=1, unit=" pts")]


def fig4_deeper_fewer_samples(ctx: Context) -> list[Item]:
    first, last = _first_last(ctx.layers("relu", "active (%)", dataset="mnist",
                                         state="trained"))
    return [Item("active, last − first layer", last - first, 0.0, "<", decimals=1,
                 unit=" pts")]


def fig4_deeper_specialised(ctx: Context) -> list[Item]:
    c1, cn = _first_last(ctx.layers("relu", "classes per node", dataset="mnist",
                                    state="trained"))
    o1, on = _first_last(ctx.layers("relu", "one-class nodes (%)", dataset="mnist",
                                    state="trained"))
    return [Item("classes per node, last − first", cn - c1, 0.0, "<"),
            Item("one-class nodes, last − first", on - o1, 0.0, ">", decimals=1,
                 unit=" pts")]


def _training_sparsifies(ds: str) -> Callable[[Context], list[Item]]:
    def training_sparsifies(ctx: Context) -> list[Item]:
        tr = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model="ReLU", state="trained")
        un = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model="ReLU",
                        state="untrained")
        return [Item(f"layer {layer}", tr[layer] - un[layer], 0.0, ">", decimals=1,
                     unit=" pts") for layer in tr.columns]
    return training_sparsifies


def _medians(ctx: Context, column: str, act: str, state: str,
             ds: str = "mnist") -> pd.DataFrame:
    return ctx.layers("medians", column, dataset=ds, activation=act, state=state)


def fig5_untrained_medians_near_half(ctx: Context) -> list[Item]:
    half = _medians(ctx, "|median - 0.5|", "sigmoid", "untrained")
    return [Item("layer 1, mean |median − 0.5|", half[half.columns.min()], 0.125, "<",
                 decimals=3)]


def fig5_untrained_layer2_nearer_saturation(ctx: Context) -> list[Item]:
    half = _medians(ctx, "|median - 0.5|", "sigmoid", "untrained")
    ov = _medians(ctx, "overlap (%)", "sigmoid", "untrained")
    if 2 not in half.columns:
        raise Missing("a net with a second layer")
    return [Item("|median − 0.5|, layer 2 − layer 1", half[2] - half[1], 0.0, ">",
                 decimals=3),
            Item("overlap, layer 2 − layer 1", ov[2] - ov[1], 0.0, ">", decimals=1,
                 unit=" pts")]


def fig5_untrained_overlap_grows(ctx: Context) -> list[Item]:
    o1, on = _first_last(_medians(ctx, "overlap (%)", "sigmoid", "untrained"))
    r1, rn = _first_last(_medians(ctx, "median range / layer std", "sigmoid", "untrained"))
    return [Item("overlap, last − first layer", on - o1, 0.0, ">", decimals=1, unit=" pts"),
            Item("median range / layer std, last − first", rn - r1, 0.0, "<")]


def fig5_trained_medians_saturate(ctx: Context) -> list[Item]:
    tr = _medians(ctx, "medians near 0 or 1 (%)", "sigmoid", "trained")
    un = _medians(ctx, "medians near 0 or 1 (%)", "sigmoid", "untrained")
    return [Item("medians near 0 or 1, trained − untrained", tr.mean(axis=1)
                 - un.mean(axis=1), 0.0, ">", decimals=1, unit=" pts")]


def fig5_trained_deep_layers_more(ctx: Context) -> list[Item]:
    tr = _medians(ctx, "medians near 0 or 1 (%)", "sigmoid", "trained")
    half = len(tr.columns) // 2
    if half < 1:
        raise Missing("a net with at least 2 layers")
    cols = sorted(tr.columns)
    return [Item("medians near 0 or 1, deep half − shallow half",
                 tr[cols[half:]].mean(axis=1) - tr[cols[:half]].mean(axis=1), 0.0, ">",
                 decimals=1, unit=" pts")]


def fig6_relu_mean_equals_median(ctx: Context) -> list[Item]:
    gap = _medians(ctx, "|mean - median| / class std", "relu", "trained")
    return [Item("mean over layers", gap.mean(axis=1), MEAN_MEDIAN_TOLERANCE, "<",
                 decimals=3)]


def fig6_untrained_relu_medians_to_zero(ctx: Context) -> list[Item]:
    first, last = _first_last(_medians(ctx, "zero medians (%)", "relu", "untrained"))
    return [Item("zero medians, last − first layer", last - first, 0.0, ">", decimals=1,
                 unit=" pts")]


def fig6_untrained_relu_overlaps_less(ctx: Context) -> list[Item]:
    relu = _medians(ctx, "overlap (%)", "relu", "untrained")
    sig = _medians(ctx, "overlap (%)", "sigmoid", "untrained")
    top = relu.columns.max()
    return [Item(f"overlap, layer {top}: ReLU − sigmoid", relu[top] - sig[top], 0.0, "<",
                 decimals=1, unit=" pts")]


def fig6_trained_relu_early_layers_low(ctx: Context) -> list[Item]:
    first, last = _first_last(_medians(ctx, "mean class median", "relu", "trained"))
    return [Item("mean class median, first − last layer", first - last, 0.0, "<",
                 decimals=3)]


def fig6_trained_relu_deep_layers_specialise(ctx: Context) -> list[Item]:
    o1, on = _first_last(_medians(ctx, "overlap (%)", "relu", "trained"))
    r1, rn = _first_last(_medians(ctx, "median range / layer std", "relu", "trained"))
    return [Item("overlap, last − first layer", on - o1, 0.0, "<", decimals=1, unit=" pts"),
            Item("median range / layer std, last − first", rn - r1, 0.0, ">")]


def fig7_cifar_looks_untrained(ctx: Context) -> list[Item]:
    col = "median range / layer std"
    items = []
    for act in ("sigmoid", "relu"):
        change = {ds: (_medians(ctx, col, act, "trained", ds)
                       - _medians(ctx, col, act, "untrained", ds)).mean(axis=1)
                  for ds in ("mnist", "cifar10")}
        items.append(Item(f"{act}: ½|change on MNIST| − |change on CIFAR-10|",
                          0.5 * change["mnist"].abs() - change["cifar10"].abs(), 0.0, ">"))
    return items


def _table1_untrained(ds: str) -> Callable[[Context], list[Item]]:
    def table1_untrained_half(ctx: Context) -> list[Item]:
        sp = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model="ReLU",
                        state="untrained")
        return [Item(f"layer {layer}", sp[layer], 50.0, "within", tol=TABLE1_TOLERANCE,
                     decimals=1, unit=" %") for layer in sp.columns]
    return table1_untrained_half


def _table1_trained(ds: str) -> Callable[[Context], list[Item]]:
    from .nodes import PAPER_TABLE1_SPARSITY

    def table1_trained_values(ctx: Context) -> list[Item]:
        items = []
        for model in ("ReLU", "ReLU BN"):
            sp = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model=model,
                            state="trained")
            paper = PAPER_TABLE1_SPARSITY[(ds, model, "trained")]
            items += [Item(f"{model} layer {layer}", sp[layer], paper[layer - 1], "within",
                           tol=TABLE1_TOLERANCE, decimals=1, unit=" %")
                      for layer in sp.columns if layer <= len(paper)]
        return items
    return table1_trained_values


def _bn_lowers_sparsity(ds: str) -> Callable[[Context], list[Item]]:
    def table1_bn_lowers_sparsity(ctx: Context) -> list[Item]:
        bn = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model="ReLU BN",
                        state="trained")
        plain = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model="ReLU",
                           state="trained")
        return [Item(f"layer {layer}", bn[layer] - plain[layer], 0.0, "<", decimals=1,
                     unit=" pts") for layer in bn.columns]
    return table1_bn_lowers_sparsity


def _bn_generalises(ds: str) -> Callable[[Context], list[Item]]:
    def table1_bn_generalises(ctx: Context) -> list[Item]:
        col = "trained test acc (%)"
        gain = (ctx.per_seed("accuracy", col, dataset=ds, model="ReLU BN")
                - ctx.per_seed("accuracy", col, dataset=ds, model="ReLU"))
        return [Item("test acc, ReLU BN − ReLU", gain, 0.0, ">", unit=" pts")]
    return table1_bn_generalises


# ------------------------------------------------------------------------- the claims
Q_FIG1 = ("We observe that for different architecture configurations, the training curve of "
          "the ReLU and sigmoid networks are similar while the validation curves of the ReLU "
          "networks show better performance overall.")
Q_WIDE = ("However, when the network is wide enough, the performances of sigmoid and ReLU "
          "networks become more similar when not using batch normalization.")
Q_COMPARABLE = ("We observed that when networks are wide enough, sigmoid networks have "
                "comparable generalization performance to ReLU networks.")
Q_SIGMOID_BN = ("An interesting observation is that when the sigmoid network has a constant "
                "width of 200 nodes, the application of batch normalization results in an "
                "increase in performance with an increase in […] depth.")
Q_SIGMOID_NOBN = ("When not using batch normalization, the generalization performance of the "
                  "sigmoid networks decreases with an increase in depth.")
Q_CIFAR_RELU = ("In the case of CIFAR10 from Figure 2(b), the ReLU networks only reliably "
                "generalize better than the sigmoid networks when trained with batch "
                "normalization.")
Q_CIFAR_SIMILAR = ("The sigmoid networks perform similarly to ReLU networks in all "
                   "configurations where batch normalization is not used, except for the 6- "
                   "and 8-layer networks that are 200 nodes wide.")
Q_OPTIMAL = ("In summary, then, we observe that optimal generalization is obtained when batch "
             "normalization is used to train wide ReLU networks; for CIFAR10, network depth "
             "provides a small additional benefit.")
Q_BN_GENERALISES = ("We know however from Figure 2(a) and 2(b) that the use of batch "
                    "normalization causes the generalization performance of the ReLU networks "
                    "to increase.")
Q_TABLE1 = ("Table 1. Layer sparsity for networks trained with ReLU activations without and "
            "with batch normalization.")
Q_BN_SPARSITY = ("Networks that are trained with batch normalization have fewer sparse "
                 "interactions per layer, meaning that nodes are (on average) active for more "
                 "samples of a class.")
Q_FIG6_TRAINED = ("From Figure 6 it is observed that when a ReLU network is sufficiently well "
                  "trained, the activation distributions in earlier layers have lower "
                  "activation values and class information is suppressed with overlap of "
                  "activation distributions of classes.")
NOT_4LAYER = ("not testable here: the grid stores checkpoints of its 4-layer nets only, so "
              "the book looks inside no deeper or wider network")


def _fmt_paper(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _specs() -> list[ClaimSpec]:
    from .nodes import PAPER_TABLE1_SPARSITY as T1

    s = [
        ClaimSpec("fig1-training-alike", "2", "Fig 1", 4, Q_FIG1,
                  "mean |ReLU − sigmoid| training accuracy over epochs, MNIST, narrow width, "
                  "per depth × BN panel",
                  f"in every panel the curves differ by less than {SIMILAR_PTS['mnist']} "
                  "points on average", fig1_training_alike),
        ClaimSpec("fig1-relu-validates-better", "2", "Fig 1", 4, Q_FIG1,
                  "ReLU − sigmoid best validation accuracy, mean over the 8 panels",
                  "> 0", fig1_relu_validates_better),
        ClaimSpec("fig2-relu-generally-better", "2", "Fig 2", 4,
                  "From this figure we see that the ReLU networks generally perform better "
                  "than the sigmoid networks on the evaluation set.",
                  "share of the configurations (both datasets) in which ReLU's test accuracy "
                  "beats sigmoid's, per seed", "> 50 %", fig2_relu_generally_better),
    ]
    for ds in ("mnist", "cifar10"):
        name = DATASET_NAMES[ds]
        s += [
            ClaimSpec(f"fig2-wide-more-similar-{ds}", "2", "Fig 2", 4, Q_WIDE,
                      f"{name}, no BN: mean |ReLU − sigmoid| test accuracy at the narrow "
                      "width minus at the wide width", "> 0 (the gap shrinks with width)",
                      _fig2_wide_more_similar(ds)),
            ClaimSpec(f"conclusion-wide-comparable-{ds}", "4 (conclusion)", "Fig 2", 4,
                      Q_COMPARABLE,
                      f"{name}: mean |ReLU − sigmoid| test accuracy over all wide "
                      "configurations (the conclusion drops the 'without batch "
                      "normalization' of Section 2, so BN nets count too)",
                      f"< {SIMILAR_PTS[ds]} points", _wide_comparable(ds)),
            ClaimSpec(f"fig2-sigmoid-bn-deeper-better-{ds}", "2", "Fig 2", 4, Q_SIGMOID_BN,
                      f"{name}: slope of sigmoid, narrow, BN test accuracy against depth",
                      "> 0", _sigmoid_bn_deeper_better(ds)),
            ClaimSpec(f"fig2-sigmoid-nobn-deeper-worse-{ds}", "2", "Fig 2", 4, Q_SIGMOID_NOBN,
                      f"{name}: slope of sigmoid, no BN test accuracy against depth, at each "
                      "width", "< 0 at both widths", _sigmoid_nobn_deeper_worse(ds)),
        ]
    s += [
        ClaimSpec("cifar-relu-better-with-bn", "2", "Fig 2(b)", 4, Q_CIFAR_RELU,
                  "CIFAR-10 with BN: ReLU − sigmoid test accuracy per configuration",
                  "> 0 in every configuration (\"reliably\")", cifar_relu_better_with_bn),
        ClaimSpec("cifar-relu-not-reliably-better-without-bn", "2", "Fig 2(b)", 4,
                  Q_CIFAR_RELU,
                  "CIFAR-10 without BN: ReLU − sigmoid test accuracy per configuration",
                  "agrees when sigmoid is clearly at least as good in some configuration; "
                  "disagrees when ReLU is clearly better in all",
                  cifar_relu_not_reliably_better_without_bn, how="not_all"),
        ClaimSpec("cifar-nobn-deeper-worse", "2", "Fig 2(b)", 4,
                  "When not trained with batch normalization, the ReLU and sigmoid networks "
                  "generalize less well with an increase in depth.",
                  "CIFAR-10 without BN: slope of test accuracy against depth, per activation "
                  "and width", "< 0 for both activations at both widths",
                  cifar_nobn_deeper_worse),
        ClaimSpec("cifar-similar-without-bn", "2", "Fig 2(b)", 4, Q_CIFAR_SIMILAR,
                  "CIFAR-10 without BN, all configurations but 6/8 layers × narrow: ReLU − "
                  "sigmoid test accuracy",
                  f"within ±{SIMILAR_PTS['cifar10']} points in every configuration",
                  cifar_similar_without_bn),
        ClaimSpec("cifar-deep-narrow-exception", "2", "Fig 2(b)", 4,
                  Q_CIFAR_SIMILAR + " The sigmoid networks generalize relatively poorly "
                  "with these two configurations compared to the other configurations.",
                  "CIFAR-10 without BN, 6 and 8 layers × narrow: ReLU − sigmoid test accuracy",
                  f"> {SIMILAR_PTS['cifar10']} points (not similar) in both",
                  cifar_deep_narrow_exception),
        ClaimSpec("cifar-deep-narrow-sigmoid-cannot-fit", "2", "Fig 2(b)", 4,
                  "This poor generalization could be attributed to the vanishing gradient "
                  "problem since these two network architectures struggle to fit the training "
                  "set.", "CIFAR-10 sigmoid, no BN, 6 and 8 layers × narrow: best training "
                  "accuracy of any epoch", f"< {FIT_THRESHOLD} % in both",
                  cifar_deep_narrow_sigmoid_cannot_fit),
        ClaimSpec("cifar-bn-deeper-better", "2", "Fig 2(b)", 4,
                  "In contrast, we see a general increase in evaluation accuracy when "
                  "increasing the number of hidden layers while training with batch "
                  "normalization.", "CIFAR-10 with BN: slope of test accuracy against depth, "
                  "per activation and width", "> 0 for both activations at both widths",
                  cifar_bn_deeper_better),
    ]
    for ds in ("mnist", "cifar10"):
        s.append(ClaimSpec(
            f"best-is-wide-relu-bn-{ds}", "2", "Fig 2", 4, Q_OPTIMAL,
            f"{DATASET_NAMES[ds]}: test accuracy of the best wide ReLU BN configuration "
            "minus the best other configuration (both chosen by mean over seeds)", "> 0",
            _best_is_wide_relu_bn(ds)))
    s += [
        ClaimSpec("cifar-depth-adds-a-little", "2", "Fig 2(b)", 4, Q_OPTIMAL,
                  "CIFAR-10, wide ReLU BN: slope of test accuracy against depth",
                  "> 0 (its size is reported, not judged)", cifar_depth_adds_a_little),
        ClaimSpec("every-other-net-fits", "2", "Fig 2", 4,
                  "In contrast to [2] we cannot ascribe these benefits to the vanishing "
                  "gradients problem, since all our networks, apart from the 6- and 8-layer "
                  "sigmoid networks from Figure 2(b), can train to virtually perfect "
                  "classification of the training set.",
                  "best training accuracy of any epoch, every configuration except CIFAR-10 "
                  "sigmoid, no BN, 6/8 layers × narrow", f"> {FIT_THRESHOLD} % in every one",
                  every_other_net_fits),
        ClaimSpec("relu-benefits-more-from-bn", "4 (conclusion)", "Fig 2", 4,
                  "The ReLU networks benefit more from the use of batch normalization than "
                  "networks trained with sigmoid activations.",
                  "per dataset: mean over depth × width of (ReLU BN − ReLU) − (sigmoid BN − "
                  "sigmoid) test accuracy", "> 0 on both datasets", relu_benefits_more_from_bn),
        ClaimSpec("bn-improves-relu-whole-grid", "3", "Fig 2", 4, Q_BN_GENERALISES,
                  "ReLU BN − ReLU test accuracy in every depth × width × dataset of the grid "
                  "(not only the 4-layer nets of Table 1)", "> 0 in every configuration",
                  bn_improves_relu_everywhere),
        ClaimSpec("mnist-reference-98.4", "2", "text", 4,
                  "On the MNIST dataset, similar architectures reach a test accuracy of 98.4%,",
                  "test accuracy of our best MNIST configuration (chosen by mean over seeds)",
                  f"> 98.4 − {REFERENCE_MARGIN} = {98.4 - REFERENCE_MARGIN:.1f} %",
                  mnist_reference, paper="98.4 %"),
        ClaimSpec("cifar-reference-56.84", "2", "text", 4,
                  "while much larger networks than those shown in this paper reach 56.84% on "
                  "the CIFAR10 dataset.",
                  "test accuracy of our best CIFAR-10 configuration",
                  "none: the paper's number is for much larger networks (context only)",
                  cifar_reference, paper="56.84 % (much larger networks)", kind="context",
                  fixed=CONTEXT),
        # ------------------------------------------------------------------ Section 3
        ClaimSpec("fig3-sigmoid-skewed-to-0-1", "3", "Fig 3", 5,
                  "We can see that the activation distributions are highly non-uniform and "
                  "are skewed towards the 0.0 and 1.0 saturation points.",
                  "trained sigmoid, MNIST: share of outputs within eps of 0 or 1, per layer",
                  "> 2·eps (what a uniform distribution on [0, 1] would give) in every layer",
                  fig3_sigmoid_skewed),
        ClaimSpec("fig3-layer2-least-saturated", "3", "Fig 3", 5,
                  "Interestingly the outputs of the second hidden layer seems to be less "
                  "saturated with higher variance.",
                  "trained sigmoid: saturated share of layer 2 minus the least saturated "
                  "other layer", "< 0", fig3_layer2_least_saturated),
        ClaimSpec("fig3-layer2-highest-variance", "3", "Fig 3", 5,
                  "Interestingly the outputs of the second hidden layer seems to be less "
                  "saturated with higher variance.",
                  "trained sigmoid: mean within-class std of layer 2 minus the highest other "
                  "layer", "> 0", fig3_layer2_highest_variance),
        ClaimSpec("fig3-layer2-in-deeper-nets", "3", "Fig 3", 5,
                  "(We observe this phenomenon at the second layer for all deeper networks as "
                  "well.)", "—", NOT_4LAYER),
        ClaimSpec("fig3-last-layer-point-masses", "3", "Fig 3", 5,
                  "These distributions are heavily skewed towards the saturation points, with "
                  "some distributions almost being point distributions with very low "
                  "variance.",
                  "trained sigmoid: share of class distributions with std < 0.02 (last minus "
                  "first layer), and saturated share (last layer minus the most saturated "
                  "other)", "both > 0", fig3_last_layer_point_masses),
        ClaimSpec("fig3-separated-classes-overlap-at-0-1", "3", "Fig 3", 5,
                  "We observe that when class information is separated, activation "
                  "distributions still overlap each other near the saturation points.",
                  "trained sigmoid: among nodes whose class medians span ≥ 0.5, the share "
                  "where two or more classes have their median within eps of the same "
                  "saturation point (mean over layers)", f"> {SHARED_SATURATION_MIN:.0f} %",
                  fig3_overlap_at_saturation),
        ClaimSpec("fig4-relu-overlaps-less", "3", "Fig 4", 5,
                  "In the positive domain, the activation distributions are not saturated "
                  "and do not overlap as heavily for different classes such as the output of "
                  "nodes in Figure 3.",
                  "trained, MNIST: overlap of class medians (chapter 6's metric), mean over "
                  "layers, ReLU minus sigmoid", "< 0", fig4_relu_overlaps_less),
        ClaimSpec("fig4-deeper-nodes-fewer-samples", "3", "Fig 4", 5,
                  "Not only do the nodes in deeper layers become more specialized towards one "
                  "class, they activate for fewer samples than the nodes in earlier layers.",
                  "trained ReLU: active share of outputs, last minus first layer", "< 0",
                  fig4_deeper_fewer_samples),
        ClaimSpec("fig4-deeper-nodes-specialised", "3", "Fig 4", 5,
                  "Not only do the nodes in deeper layers become more specialized towards one "
                  "class, they activate for fewer samples than the nodes in earlier layers.",
                  "trained ReLU: classes a node responds to, and share of one-class nodes, "
                  "last minus first layer", "fewer classes (< 0) and more one-class nodes "
                  "(> 0)", fig4_deeper_specialised),
        ClaimSpec("section3-4-layer-nets-typical", "3", "text", 5,
                  "We choose to show results only for the 4-layer networks as they have "
                  "moderate depth and similar trends are observed in deeper and wider "
                  "networks.", "—", NOT_4LAYER),
        ClaimSpec("fig5-untrained-medians-near-half", "3", "Fig 5", 6,
                  "For the untrained model, Figure 5 shows that the medians are mostly "
                  "clustered around 0.5 for the first hidden layer.",
                  "untrained sigmoid, layer 1: mean |class median − 0.5|",
                  "< 0.125 (half the 0.25 of medians spread evenly over [0, 1])",
                  fig5_untrained_medians_near_half),
        ClaimSpec("fig5-untrained-layer2-nearer-0-1", "3", "Fig 5", 6,
                  "The medians in the second hidden layer (nodes 200-400) are slightly more "
                  "saturated towards 1.0 and 0.0 and the median values are starting to "
                  "overlap more for classes at the same node.",
                  "untrained sigmoid: mean |median − 0.5| and overlap, layer 2 minus layer 1",
                  "both > 0", fig5_untrained_layer2_nearer_saturation),
        ClaimSpec("fig5-untrained-overlap-grows", "3", "Fig 5", 6,
                  "In the last hidden layer (nodes 600-800) it is observed that the "
                  "activation distributions lay almost directly on top of each other and "
                  "class information cannot be separated.",
                  "untrained sigmoid: overlap (%) and median range / layer std, last minus "
                  "first layer", "overlap grows (> 0) and the range shrinks (< 0)",
                  fig5_untrained_overlap_grows),
        ClaimSpec("fig5-trained-medians-saturate", "3", "Fig 5", 6,
                  "From Figure 5 we see that when the model is sufficiently trained, class "
                  "information is separated by saturating medians towards 0.0 and 1.0.",
                  "sigmoid: class medians within eps of 0 or 1 (%), mean over layers, "
                  "trained minus untrained", "> 0", fig5_trained_medians_saturate),
        ClaimSpec("fig5-trained-deep-layers-more", "3", "Fig 5", 6,
                  "This effect is more clear at deeper hidden layers (nodes 400-599 and "
                  "600-800), while more nodes in earlier layers have activation distributions "
                  "with median values slightly closer to 0.5.",
                  "trained sigmoid: medians near 0 or 1 (%), deep half minus shallow half of "
                  "the layers", "> 0", fig5_trained_deep_layers_more),
        ClaimSpec("fig6-relu-mean-equals-median", "3", "Fig 6", 6,
                  "For ReLU networks the mean and the median are almost identical due to the "
                  "uniform shape of their activation distributions.",
                  "trained ReLU, MNIST: |mean − median| of each class distribution in units "
                  "of its std, mean over classes, nodes and layers",
                  f"< {MEAN_MEDIAN_TOLERANCE} (a tenth of a standard deviation)",
                  fig6_relu_mean_equals_median),
        ClaimSpec("fig6-untrained-relu-medians-to-zero", "3", "Fig 6", 6,
                  "The median values of node distributions are less saturated in earlier "
                  "layers and saturate more towards 0.0 for deeper layers.",
                  "untrained ReLU: class medians ≤ 0 (%), last minus first layer", "> 0",
                  fig6_untrained_relu_medians_to_zero),
        ClaimSpec("fig6-untrained-relu-overlaps-less", "3", "Fig 6", 6,
                  "It is important to note that the activation distributions in deeper "
                  "layers do not overlap as strongly compared to the sigmoid network in "
                  "Figure 5.", "untrained, last layer: overlap (%), ReLU minus sigmoid", "< 0",
                  fig6_untrained_relu_overlaps_less),
        ClaimSpec("fig6-trained-relu-early-layers-low", "3", "Fig 6", 6, Q_FIG6_TRAINED,
                  "trained ReLU: mean class median, first minus last layer", "< 0",
                  fig6_trained_relu_early_layers_low),
        ClaimSpec("fig6-trained-relu-deep-layers-specialise", "3", "Fig 6", 6,
                  "The nodes in deeper layers have less overlap and nodes become more "
                  "specialized towards specific classes.",
                  "trained ReLU: overlap (%) and median range / layer std, last minus first "
                  "layer", "overlap falls (< 0) and the range grows (> 0)",
                  fig6_trained_relu_deep_layers_specialise),
        ClaimSpec("fig7-cifar-medians-look-untrained", "3", "Fig 7", 6,
                  "If the network cannot effectively fit the more complex data, class "
                  "information cannot be effectively separated and the median values look "
                  "more similar to the untrained models in Figure 5 and Figure 6.",
                  "per activation: change of mean (median range / layer std) through "
                  "training, CIFAR-10 against MNIST",
                  "training changes CIFAR-10 medians less than half as much as MNIST's, for "
                  "both activations", fig7_cifar_looks_untrained),
    ]
    for ds in ("mnist", "cifar10"):
        name = DATASET_NAMES[ds]
        s += [
            ClaimSpec(f"table1-untrained-about-50-{ds}", "3", "Table 1", 6, Q_TABLE1,
                      f"{name}: sparsity (%) of untrained ReLU layers (the untrained ReLU BN "
                      "net is not counted again: in eval mode an untrained BN layer is the "
                      "identity up to 1/√(1+ε), so its sparsity repeats ReLU's)",
                      f"within 50 ± {TABLE1_TOLERANCE:.0f} % in every layer",
                      _table1_untrained(ds),
                      paper=_fmt_paper(T1[(ds, "ReLU", "untrained")])),
            ClaimSpec(f"table1-trained-values-{ds}", "3", "Table 1", 6, Q_TABLE1,
                      f"{name}: sparsity (%) of trained ReLU and ReLU BN layers",
                      f"within ±{TABLE1_TOLERANCE:.0f} points of the paper's value in every "
                      "cell", _table1_trained(ds),
                      paper="ReLU " + _fmt_paper(T1[(ds, "ReLU", "trained")]) + "; ReLU BN "
                      + _fmt_paper(T1[(ds, "ReLU BN", "trained")])),
            ClaimSpec(f"training-makes-relu-sparse-{ds}", "3", "Table 1", 6,
                      "This confirms the ability of ReLU trained networks to be sparse.",
                      f"{name}: ReLU sparsity (%), trained minus untrained, per layer",
                      "> 0 in every layer", _training_sparsifies(ds)),
            ClaimSpec(f"table1-bn-lowers-sparsity-{ds}", "3", "Table 1", 6, Q_BN_SPARSITY,
                      f"{name}: trained sparsity (%), ReLU BN minus ReLU, per layer",
                      "< 0 in every layer", _bn_lowers_sparsity(ds)),
            ClaimSpec(f"table1-bn-generalises-{ds}", "3", "Table 1", 6, Q_BN_GENERALISES,
                      f"{name}: test accuracy of the 4-layer Section 3 nets, ReLU BN minus "
                      "ReLU (the whole grid: bn-improves-relu-whole-grid)", "> 0",
                      _bn_generalises(ds)),
        ]
    s += [
        ClaimSpec("interpretation-sparsity-not-whole-story", "3", "Table 1", 6,
                  "This leads us to believe that sparsity, although useful as proven by "
                  "Glorot et al. [1], does not entirely describe the impressive "
                  "generalization abilities of ReLU networks.", "—",
                  "an interpretation, not a measurement; its premises are the rows "
                  "table1-bn-lowers-sparsity-* and table1-bn-generalises-*",
                  kind="interpretation"),
        ClaimSpec("interpretation-different-ways", "4 (conclusion)", "text", None,
                  "It was observed that while ReLU and sigmoid networks both are able to "
                  "effectively separate class information, they do this in fundamentally "
                  "different ways.", "—",
                  "an interpretation of Figs 3-7; the rows of those figures test its parts",
                  kind="interpretation"),
        ClaimSpec("interpretation-closing", "4 (conclusion)", "text", None,
                  "Overall we find that sparsity and saturation seem less pertinent than the "
                  "way in which class-distinctive information is propagated through the "
                  "networks, and how node behavior differs.", "—",
                  "the paper's closing interpretation; no rule can measure 'pertinence' with "
                  "these experiments", kind="interpretation"),
    ]
    return s


SPECS: list[ClaimSpec] = _specs()


# -------------------------------------------------------------------------- evaluation
def evaluate_claims(ids: Iterable[str] | None = None, chapter: int | None = None,
                    figures: Iterable[str] | None = None, **inputs) -> list[Claim]:
    """Judge the claims (all, or those with the given ids / chapter / figures) on
    ``inputs`` (see the module docstring); missing inputs make their claims pending."""
    ctx = Context(inputs)
    ids = None if ids is None else set(ids)
    figures = None if figures is None else set(figures)
    unknown = (ids or set()) - {s.id for s in SPECS}
    if unknown:
        raise ValueError(f"unknown claim ids {sorted(unknown)}")
    return [spec.evaluate(ctx) for spec in SPECS
            if (ids is None or spec.id in ids) and (chapter is None or spec.chapter == chapter)
            and (figures is None or spec.figure in figures)]


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    """One row per claim: id, section, figure, claim (the quote), measure, rule, ours,
    paper, verdict, basis, chapter, code."""
    return pd.DataFrame([c.row() for c in claims])


def claims_table(ids: Iterable[str] | None = None, chapter: int | None = None,
                 figures: Iterable[str] | None = None, **inputs) -> pd.DataFrame:
    """:func:`evaluate_claims` as a table, with the columns a chapter shows."""
    frame = claims_frame(evaluate_claims(ids, chapter, figures, **inputs))
    return frame[["id", "claim", "measure", "rule", "ours", "paper", "verdict", "basis"]]


def verdict_counts(frame: pd.DataFrame) -> pd.Series:
    """How many claims got each verdict (every verdict listed, zeros included)."""
    return frame["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)


def summary_line(frame: pd.DataFrame) -> str:
    """``"3 agree, 1 disagrees, 2 mixed, ..."`` for a table of claims."""
    c = verdict_counts(frame)
    plural = {AGREES: "agree", DISAGREES: "disagree"}
    return ", ".join(f"{k} {plural.get(v, v) if k != 1 else v}" for v, k in c.items() if k)


# ---------------------------------------------------------------------- export, pages
def claims_csv_path(profile: str, root: str | os.PathLike | None = None) -> Path:
    """``data/results/<profile>/claims.csv``."""
    from .data import PROJECT_ROOT
    from .profiles import check_profile

    base = Path(root) if root is not None else PROJECT_ROOT / "data" / "results"
    return base / check_profile(profile) / "claims.csv"


def export_csv(frame: pd.DataFrame, profile: str,
               root: str | os.PathLike | None = None) -> Path:
    """Write the scoreboard with :data:`CSV_COLUMNS` to :func:`claims_csv_path`."""
    path = claims_csv_path(profile, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    out["paper"] = out["paper"].fillna("")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    out[CSV_COLUMNS].to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def figure_link(figure: str, chapter: int | None, prefix: str = "") -> str:
    """HTML link to where a figure is drawn (else to the chapter, else to the scoreboard)."""
    if figure.split("(")[0] in FIGURE_ANCHORS:
        chapter, anchor = FIGURE_ANCHORS[figure.split("(")[0]]
        return f'<a href="{prefix}{CHAPTERS[chapter]}.html#{anchor}">{figure}</a>'
    known = chapter is not None and chapter == chapter and int(chapter) in CHAPTERS
    page = CHAPTERS[int(chapter) if known else 7]
    return f'<a href="{prefix}{page}.html">{figure}</a>'


def scoreboard_html(frame: pd.DataFrame) -> str:
    """The scoreboard as an HTML table: verdict, claim, our number, the paper's, link."""
    colours = {AGREES: "#d4edda", DISAGREES: "#f8d7da", MIXED: "#fff3cd",
               PENDING: "#e2e3e5", NOT_TESTABLE: "#e2e3e5", CONTEXT: "#d1ecf1"}
    rows = []
    for r in frame.itertuples():
        rows.append(
            f'<tr><td style="background:{colours.get(r.verdict, "")}">{r.verdict}</td>'
            f"<td>{figure_link(r.figure, r.chapter)}</td><td><code>{r.id}</code></td>"
            f"<td><i>{_escape(r.claim)}</i></td><td>{_escape(r.measure)}<br>"
            f"<small>rule: {_escape(r.rule)}</small></td><td>{_escape(r.ours) or '—'}<br>"
            f"<small>{_escape(r.basis)}</small></td><td>{_escape(r.paper) or '—'}</td></tr>")
    head = ("<tr><th>verdict</th><th>where</th><th>id</th><th>the paper says</th>"
            "<th>we measure</th><th>ours (mean ± SE over seeds)</th><th>paper</th></tr>")
    return (f'<table class="claims-scoreboard">{head}{"".join(rows)}</table>')


def _escape(text: object) -> str:
    import html

    return "" if text is None or (isinstance(text, float) and math.isnan(text)) \
        else html.escape(str(text))


def status_table_markdown(profile: str, root: str | os.PathLike | None = None,
                          doc_prefix: str = "chapters/") -> str:
    """The intro's reproduction-status table (MyST Markdown), generated from
    ``claims.csv``: one row per figure or table of the paper, with how many of its claims
    got each verdict and the chapter that shows it. Without a ``claims.csv`` for
    ``profile`` every claim with a rule is counted as pending."""
    path = claims_csv_path(profile, root)
    spec = {s.id: s for s in SPECS}
    if path.exists():
        frame = pd.read_csv(path, keep_default_na=False)
        note = (f"Generated from `data/results/{profile}/claims.csv` ({len(frame)} claims: "
                f"{summary_line(frame)}).")
    else:
        frame = pd.DataFrame({"id": list(spec), "verdict": [
            s.fixed or (NOT_TESTABLE if s.compute is None else PENDING) for s in SPECS]})
        note = (f"No scoreboard has been built for the `{profile}` profile yet, so every "
                "claim with a rule is counted as pending.")
    if profile == "quick":
        note += " Quick-profile verdicts demonstrate the method; they are not evidence."
    frame["figure"] = [spec[i].figure.split("(")[0] if i in spec else "text"
                       for i in frame["id"]]
    frame["chapter"] = [spec[i].chapter if i in spec else None for i in frame["id"]]
    order = ["Fig 1", "Fig 2", "Fig 3", "Fig 4", "Fig 5", "Fig 6", "Fig 7", "Table 1", "text"]
    lines = ["| Paper result | Chapter | Claims | agrees | disagrees | mixed | pending | "
             "not testable / context |", "|---|---|---|---|---|---|---|---|"]
    for fig in sorted(frame["figure"].unique(),
                      key=lambda f: order.index(f) if f in order else len(order)):
        rows = frame[frame["figure"] == fig]
        c = rows["verdict"].value_counts()
        chapters = sorted({int(ch) for ch in rows["chapter"] if ch is not None and ch == ch})
        where = ", ".join(f"{{doc}}`{ch} <{doc_prefix}{CHAPTERS[ch]}>`" for ch in chapters)
        label = "text (no figure)" if fig == "text" else fig
        lines.append(f"| {label} | {where or '—'} | {len(rows)} | {c.get(AGREES, 0)} | "
                     f"{c.get(DISAGREES, 0)} | {c.get(MIXED, 0)} | {c.get(PENDING, 0)} | "
                     f"{c.get(NOT_TESTABLE, 0) + c.get(CONTEXT, 0)} |")
    lines += ["", f"{note} Every claim, its rule and our number: "
              f"{{doc}}`the claims scoreboard <{doc_prefix}{CHAPTERS[7]}>`."]
    return "\n".join(lines)


def section3_inputs(nets: Mapping[tuple, object], datasets: Mapping[str, object],
                    eps: float = 0.05, delta: float = 0.5,
                    min_active: float = 0.5) -> dict[str, pd.DataFrame]:
    """The Section-3 input tables from ``nets`` keyed ``(dataset, activation, batch_norm,
    seed)`` (as chapter 6 builds them) and the :class:`helpers.data.Dataset` of each name."""
    from .nodes import (
        median_layer_summary,
        relu_layer_summary,
        sigmoid_layer_summary,
        sparsity_summary,
        summarise_nets,
    )
    from .section3_nets import accuracy_table

    def pick(ds: str, act: str | None = None, bn: bool | None = None) -> list:
        return [n for (d, a, b, _), n in nets.items() if d == ds
                and (act is None or a == act) and (bn is None or b == bn)]

    out: dict[str, pd.DataFrame] = {}
    if "mnist" in datasets:
        m = datasets["mnist"]
        out["sigmoid"] = summarise_nets(pick("mnist", "sigmoid", False), m,
                                        sigmoid_layer_summary, eps=eps)
        out["relu"] = summarise_nets(pick("mnist", "relu", False), m, relu_layer_summary,
                                     min_active=min_active)
    out["medians"] = pd.concat([summarise_nets(pick(ds, bn=False), data, median_layer_summary,
                                               delta=delta, eps=eps)
                                for ds, data in datasets.items()], ignore_index=True)
    out["sparsity"] = pd.concat([summarise_nets(pick(ds, "relu"), data, sparsity_summary)
                                 for ds, data in datasets.items()], ignore_index=True)
    out["accuracy"] = accuracy_table(dict(nets))
    return out


def gather_inputs(profile: str, seeds: Sequence[int] = (0, 1, 2),
                  datasets: Sequence[str] = ("mnist", "cifar10"), device: str | None = None,
                  eps: float = 0.05, delta: float = 0.5, min_active: float = 0.5,
                  data_root: str | os.PathLike | None = None,
                  progress: bool = False) -> tuple[dict, list[str]]:
    """Every input of :func:`evaluate_claims` for ``profile``, and a note on where each
    came from. ``quick`` runs what is missing (the quick grid, the small Section-3 nets;
    both cached); ``paper`` only reads committed results and never trains: a missing grid
    or missing Section-3 checkpoints leave their claims pending."""
    import warnings

    from .grid import get_spec, load_results
    from .section2 import grid_results
    from .section3_nets import section3_data, section3_networks

    live = profile == "quick"
    spec = get_spec(profile)
    inputs: dict = {"eps": eps, "layout": dict(depths=spec.depths, widths=spec.widths,
                                               seeds=spec.seeds)}
    notes, results = [], []
    for ds in datasets:
        try:
            r = (grid_results(profile, ds, device=device, progress=progress) if live
                 else load_results(profile, ds))
        except FileNotFoundError:
            notes.append(f"grid, {DATASET_NAMES[ds]}: no results yet")
            continue
        results.append(r)
        state = "complete" if r.complete else "incomplete"
        notes.append(f"grid, {r.label or DATASET_NAMES[ds]}: {len(r.runs)} final runs "
                     f"({state})")
    if results:
        inputs["runs"] = pd.concat([r.runs for r in results], ignore_index=True)
        inputs["histories"] = pd.concat([r.histories for r in results], ignore_index=True)
    nets, data = {}, {}
    for ds in datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the JPEG-copy warning; the label says it
            d = section3_data(ds, profile, root=data_root)
        try:
            found = {}
            for activations, batch_norms in ((("sigmoid", "relu"), (False,)),
                                             (("relu",), (True,))):
                found |= {(ds, *k): n for k, n in section3_networks(
                    d, profile, activations=activations, batch_norms=batch_norms, seeds=seeds,
                    device=device, progress=progress, train=live).items()}
        except FileNotFoundError:
            notes.append(f"Section 3 nets, {d.label}: not all trained yet")
            continue
        nets |= found
        data[ds] = d
        origins = sorted({n.origin for n in found.values()})
        notes.append(f"Section 3 nets, {d.label}: {len(found)} nets ({', '.join(origins)})")
    if data:
        inputs.update(section3_inputs(nets, data, eps=eps, delta=delta, min_active=min_active))
    return inputs, notes
