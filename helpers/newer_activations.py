"""Beyond the paper, part 2 (chapter 9): tanh and the newer activations on the paper's nets.

The ``activations`` grid (:mod:`helpers.grid.spec`) trains tanh, leaky ReLU, ELU, SELU,
GELU and SiLU on the 4x200 and 8x200 MLPs of both datasets, with and without batch norm
(SELU only without), under the paper grid's protocol: the same learning-rate search, early
stopping, best-on-validation state, 3 seeds. Its sigmoid and ReLU comparators are the paper
grid's own runs of the same shapes (:func:`comparator_runs`). Initialisation follows
:func:`helpers.models.init_scheme` (:func:`init_table`).

Steps, one function each:

* :func:`extension_results` — the extension grid as far as it exists (``paper``: committed
  results only; ``quick``: loaded or run live on the quick subsets);
* :func:`comparator_runs` — sigmoid and ReLU final runs from the paper grid. On MNIST width
  200 the paper grid trains the full 300 epochs (Fig 1); their test accuracy is replaced by
  the one early stopping would have kept (:func:`helpers.grid.replay_patience` with the
  grid's patience), so that every net here stopped by the same rule;
* :func:`activation_runs` — both, as one table of final runs and one of per-layer
  statistics (sparsity, gradient saturation, node perplexity; see
  :func:`helpers.metrics.layer_stats`);
* :func:`accuracy_table`, :func:`layer_table` — mean and standard error over seeds;
* :func:`claim_items`, :func:`claim_verdicts` — the literature's headline claims, judged
  seed by seed with the scoreboard's rule (:func:`helpers.claims.judging.judge`: an item
  holds only when every seed agrees and the mean clears the target by Student's t in SE);
  :func:`claim_items_display` shows the items with "–" where runs are missing;
* :func:`selu_saturation` — what the gradient-saturation column says about the SELU claim;
* figures ``plot_accuracy`` and ``plot_layer_profiles``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .book import as_text, joined, plus_minus
from .claims.judging import FAILS, HOLDS, Item, mean_se, possible_verdicts, se_factor
from .data import DATASETS
from .grid import get_spec, load_results, replay_patience, run_grid
from .grid.store import GridResults
from .metrics import GRAD_SATURATION
from .models import init_scheme
from .plots import ACTIVATION_COLORS, ACTIVATION_NAMES, with_source

ORDER = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu")
PAPER_ACTIVATIONS = ("sigmoid", "relu")
INIT_NAMES = {"xavier": "Xavier/Glorot uniform", "he": "He/Kaiming normal (fan-in)",
              "lecun": "LeCun normal (fan-in)"}
KEY = ["dataset", "depth", "width", "batch_norm", "activation"]
SELU_TOLERANCE = 0.1  # points: "BN unnecessary" = SELU at most this far behind ReLU + BN
SELU_FEW_SATURATED = 5.0  # %: at most this gradient-saturated reads as "almost none"
MISSING = "–"  # a table cell without runs behind it

# the claims' sources as a reader sees them (``keys``: their entries in references.bib)
CLAIMS = pd.DataFrame([
    dict(id="elu_deep", activation="ELU", source="Clevert et al. 2016",
         keys="clevert2016fast",
         claim="ELUs lead to significantly better generalization than ReLUs on networks "
               "with more than 5 layers, and ELU networks outperform ReLU networks with batch "
               "normalization",
         check="ELU (no BN) minus ReLU, and minus ReLU + BN, test accuracy > 0 on the "
               "8-layer nets, both datasets"),
    dict(id="selu_no_bn", activation="SELU", source="Klambauer et al. 2017",
         keys="klambauer2017self",
         claim="self-normalising nets keep activations at zero mean and unit variance by "
               "themselves (our reading: so MLPs need no batch norm)",
         check=f"SELU (no BN) minus ReLU + BN test accuracy > -{SELU_TOLERANCE} points, "
               "every shape and dataset"),
    dict(id="gelu", activation="GELU", source="Hendrycks & Gimpel 2016",
         keys="hendrycks2016gaussian",
         claim="GELU outperforms ReLU (its tests include 8-layer MLPs on MNIST)",
         check="GELU minus ReLU test accuracy > 0, same BN setting, every shape and dataset"),
    dict(id="silu", activation="SiLU", source="Ramachandran et al. 2017; Elfwing et al. 2018",
         keys="ramachandran2017searching, elfwing2018sigmoid",
         claim="Swish/SiLU tends to work better than ReLU on deeper models",
         check="SiLU minus ReLU test accuracy > 0 on the 8-layer nets, same BN setting, both "
               "datasets"),
])


def init_table(activations: Sequence[str] = ORDER) -> pd.DataFrame:
    """Per activation: display name, initial weights, whether it also runs with BN, and
    which grid trains it."""
    spec = get_spec("paper", "activations")
    rows = []
    for a in activations:
        rows.append({"activation": ACTIVATION_NAMES[a],
                     "initial weights": INIT_NAMES[init_scheme(a)],
                     "with BN too": a not in spec.bn_exempt,
                     "grid": "paper" if a in PAPER_ACTIVATIONS else "activations"})
    return pd.DataFrame(rows).set_index("activation")


def extension_results(profile: str, dataset: str, device: str | None = None,
                      progress: bool = False) -> GridResults:
    """The ``activations`` grid on ``dataset``: in ``paper`` the committed results only
    (missing runs are absent, the book never trains); in ``quick`` loaded when complete,
    else run (or resumed) live."""
    if profile == "paper":
        return load_results(profile, dataset, missing_ok=True, grid="activations")
    try:
        res = load_results(profile, dataset, grid="activations")
        if res.complete:
            return res
    except FileNotFoundError:
        pass
    return run_grid(profile, dataset, device=device, progress=progress, grid="activations")


def comparator_runs(paper: GridResults, depths: Sequence[int], width: int,
                    patience: int) -> pd.DataFrame:
    """The paper grid's sigmoid and ReLU final runs of ``depths`` x ``width``. Runs with
    per-epoch test accuracy (full-length, MNIST width 200 in ``paper``) get the test
    accuracy and best epoch that early stopping with ``patience`` would have kept;
    ``replayed`` marks them, and ``full_test_acc`` keeps the full run's own."""
    runs = paper.runs
    if runs.empty:
        return runs.assign(replayed=pd.Series(dtype=bool))
    runs = runs[runs.depth.isin(depths) & (runs.width == width)
                & runs.activation.isin(PAPER_ACTIVATIONS)].copy()
    runs["replayed"] = False
    runs["full_test_acc"] = runs["test_acc"]
    h = paper.histories
    if len(h) and "test_acc" in h:
        h = h[(h.phase == "final") & h.test_acc.notna()]
        for i, r in runs.iterrows():
            run = h[(h.depth == r.depth) & (h.width == r.width) & (h.activation == r.activation)
                    & (h.batch_norm == r.batch_norm) & (h.seed == r.seed)]
            if len(run) > 1:
                rep = replay_patience(run, patience)
                runs.loc[i, ["test_acc", "best_epoch", "replayed"]] = (
                    rep["halt_test_acc"], rep["halt_best_epoch"], True)
    return runs


def activation_runs(paper: GridResults, extension: GridResults, patience: int
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Final runs and their per-layer statistics, comparators and extension together."""
    spec = get_spec(extension.profile, "activations")
    width = spec.widths[0]
    comp = comparator_runs(paper, spec.depths, width, patience)
    ext = extension.runs.assign(replayed=False)
    runs = pd.concat([r for r in (comp, ext) if len(r)], ignore_index=True) \
        if len(comp) or len(ext) else ext
    layers = pd.concat([lay for lay in (paper.layers, extension.layers) if len(lay)],
                       ignore_index=True) if len(paper.layers) or len(extension.layers) \
        else extension.layers
    if len(layers):
        layers = layers[(layers.phase == "final") & layers.key.isin(set(runs.key))
                        & layers.depth.isin(spec.depths) & (layers.width == width)]
    return runs.reset_index(drop=True), layers.reset_index(drop=True)


def chapter_runs(profile: str, datasets: Sequence[str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Everything chapter 9 reads, per dataset in ``datasets``: the final runs and their
    per-layer statistics (:func:`activation_runs`: the paper grid's comparators, replayed
    at its patience, and the extension) concatenated, and each dataset's data source (the
    extension's, else the paper grid's, else the dataset's code)."""
    import warnings

    from .learning_curves import grid_results

    patience = get_spec(profile).patience
    runs, layers, sources = [], [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CIFAR-10 JPEG-copy warning; labels say it
        for ds in datasets:
            paper = grid_results(profile, ds, progress=False)
            ext = extension_results(profile, ds)
            r, lay = activation_runs(paper, ext, patience)
            runs.append(r)
            layers.append(lay)
            sources[ds] = ext.manifest.get("source") or paper.manifest.get("source") or ds

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        full = [f for f in frames if len(f)]
        return pd.concat(full, ignore_index=True) if full else frames[0]
    return joined(runs), joined(layers), sources


def status_text(progress: pd.DataFrame, labels: dict[str, str]) -> str:
    """One sentence on how complete the extension is per dataset (:func:`progress_table`),
    naming the datasets whose comparisons are all still pending."""
    parts, empty = [], []
    for ds, r in progress.iterrows():
        name = labels.get(ds, ds)
        done = r.extension_runs == r.extension_planned and \
            r.comparator_runs == r.comparator_planned
        parts.append(f"{name}: {r.extension_runs} of {r.extension_planned} extension runs"
                     + (" (complete)" if done else ""))
        if r.extension_runs == 0:
            empty.append(name)
    return "; ".join(parts) + (
        f". No {' or '.join(empty)} run of the newer activations exists yet: every "
        f"{' and '.join(empty)} comparison in this chapter is pending, a claim waits for "
        "them unless the rest already decide it, and each claim's verdict per dataset gives "
        "the answer so far" if empty else "") + "."


def progress_table(runs: pd.DataFrame, profile: str, datasets: Sequence[str]) -> pd.DataFrame:
    """Final runs found per dataset, against the plan (extension and comparators)."""
    spec = get_spec(profile, "activations")
    per_comp = len(spec.depths) * len(PAPER_ACTIVATIONS) * len(spec.batch_norms) * \
        len(spec.seeds)
    rows = []
    for ds in datasets:
        r = runs[runs.dataset == ds] if len(runs) else runs
        n_comp = int(r.activation.isin(PAPER_ACTIVATIONS).sum()) if len(r) else 0
        rows.append(dict(dataset=ds, extension_runs=len(r) - n_comp,
                         extension_planned=spec.n_final(), comparator_runs=n_comp,
                         comparator_planned=per_comp))
    return pd.DataFrame(rows).set_index("dataset")


def _se(x: pd.Series) -> float:
    return mean_se(x)[1]


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy (%) per configuration: seeds, mean, standard error."""
    if runs.empty:
        return pd.DataFrame(columns=KEY + ["seeds", "mean", "se"])
    acc = runs.assign(acc=100 * runs.test_acc)
    out = acc.groupby(KEY).acc.agg(seeds="count", mean="mean", se=_se).reset_index()
    return _book_order(out)


def _dataset_rank(name: str) -> tuple[int, str]:
    """The book's dataset order (:data:`helpers.data.DATASETS`: MNIST first), others after."""
    return (DATASETS.index(name) if name in DATASETS else len(DATASETS), name)


def _book_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by dataset (the book's order), depth, BN and activation (:data:`ORDER`)."""
    rank = table.dataset.map(_dataset_rank).rename("rank")
    order = table.activation.map({a: i for i, a in enumerate(ORDER)}).rename("order")
    keys = pd.concat([rank, table[["depth", "batch_norm"]], order], axis=1)
    return table.loc[keys.sort_values(["rank", "depth", "batch_norm", "order"]).index] \
        .reset_index(drop=True)


def _config_matrix(table: pd.DataFrame, values: str, aggfunc) -> pd.DataFrame:
    """``values`` of ``table`` with activations by row (the book's order) and (dataset,
    depth, BN) by column (datasets in the book's order), ``—`` where missing."""
    t = table.assign(BN=np.where(table.batch_norm.astype(bool), "BN", "no BN"),
                     name=table.activation.map(ACTIVATION_NAMES))
    m = t.pivot_table(index="name", columns=["dataset", "depth", "BN"], values=values,
                      aggfunc=aggfunc)
    names = [ACTIVATION_NAMES[a] for a in ORDER if ACTIVATION_NAMES[a] in m.index]
    cols = sorted(m.columns, key=lambda c: (_dataset_rank(c[0]), c[1], c[2] == "BN"))
    return m.reindex(index=names, columns=cols).fillna("—")


def accuracy_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`accuracy_table` as text ``mean ± se``, activations by row, (dataset, depth,
    BN) by column; a configuration with fewer seeds than the most any has shows its count,
    ``(n)``."""
    if table.empty:
        return pd.DataFrame()
    full = table.seeds.max()
    cell = [(f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}") + (f" ({n})" if n < full else "")
            for m, s, n in zip(table["mean"], table.se, table.seeds)]
    return _config_matrix(table.assign(cell=cell), "cell", "first")


def rate_matrix(runs: pd.DataFrame) -> pd.DataFrame:
    """The learning rate each configuration's search chose, laid out as
    :func:`accuracy_matrix` (``g`` format; several rates over seeds are listed)."""
    if runs.empty or "lr" not in runs:
        return pd.DataFrame()
    return _config_matrix(runs, "lr",
                          lambda v: ", ".join(f"{r:g}" for r in sorted(set(v))))


# layer_table's columns as the chapter's prose names them
LAYER_COLUMNS = {"sparsity": "outputs ≤ 0 (%)", "grad_saturation": "gradient-saturated (%)",
                 "perplexity": "node perplexity"}


def layer_table(layers: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: sparsity (% outputs <= 0), gradient saturation (%) and node
    perplexity, each averaged over the hidden layers and then over seeds (datasets in the
    book's order; :data:`LAYER_COLUMNS` names the columns for display)."""
    cols = ["sparsity", "grad_saturation", "perplexity"]
    if layers.empty:
        return pd.DataFrame(columns=KEY + cols)
    per_run = layers.groupby(KEY + ["seed"])[cols].mean()
    return _book_order(per_run.groupby(KEY)[cols].mean().reset_index())


def _per_seed(runs: pd.DataFrame, dataset: str, depth: int, bn: bool, act: str) -> pd.Series:
    r = runs[(runs.dataset == dataset) & (runs.depth == depth) & (runs.batch_norm == bn)
             & (runs.activation == act)]
    return (100 * r.set_index("seed").test_acc).sort_index()


def _difference(runs, dataset, depth, a, bn_a, b, bn_b) -> pd.Series | None:
    x, y = _per_seed(runs, dataset, depth, bn_a, a), _per_seed(runs, dataset, depth, bn_b, b)
    seeds = x.index.intersection(y.index)
    return (x[seeds] - y[seeds]) if len(seeds) else None


def claim_items(runs: pd.DataFrame, datasets: Sequence[str], depths: Sequence[int],
                seeds: Sequence[int] | None = None, deep: int | None = None
                ) -> pd.DataFrame:
    """One row per (claim, dataset, shape, BN) with the per-seed difference in test
    accuracy (points), its mean and SE, the smallest margin it could have called
    (``detectable``: Student's t for its seeds times its SE; a true difference smaller than
    that reads as within noise) and the item's outcome; missing runs give ``pending`` rows,
    and so does a comparison whose two sides share fewer than all of ``seeds`` (``pending (2
    of 3 seeds)``: judged only once complete, its mean and SE shown so far). ``deep``: the
    depth at which the claims about deep nets (ELU past 5 layers, SiLU on deeper models) are
    read (default: the largest of ``depths``)."""
    deep = max(depths) if deep is None else deep
    if deep not in depths:
        raise ValueError(f"deep={deep!r}; accepted: one of depths {tuple(depths)}")
    plans = []
    for ds in datasets:
        for bn in (False, True):  # the ELU paper's two comparisons: ELU without BN each time
            plans.append(("elu_deep", ds, deep, "elu", False, "relu", bn, 0.0))
        for d in depths:
            plans.append(("selu_no_bn", ds, d, "selu", False, "relu", True, -SELU_TOLERANCE))
            for bn in (False, True):
                plans.append(("gelu", ds, d, "gelu", bn, "relu", bn, 0.0))
        for bn in (False, True):  # Swish's claim is about deeper models
            plans.append(("silu", ds, deep, "silu", bn, "relu", bn, 0.0))
    rows = []
    for cid, ds, d, a, bn_a, b, bn_b, target in plans:
        label = (f"{ACTIVATION_NAMES[a]}{' + BN' if bn_a else ''} − "
                 f"{ACTIVATION_NAMES[b]}{' + BN' if bn_b else ''}")
        diff = _difference(runs, ds, d, a, bn_a, b, bn_b) if len(runs) else None
        row = dict(claim=cid, dataset=ds, depth=d, comparison=label, target=target)
        if diff is None:
            rows.append(row | dict(seeds=0, mean=math.nan, se=math.nan, detectable=math.nan,
                                   outcome="pending"))
            continue
        item = Item(label, diff, target, ">")
        outcome = item.why()
        if seeds is not None and item.n < len(seeds):
            outcome = f"pending ({item.n} of {len(seeds)} seeds)"
        detectable = se_factor(item.n) * item.se if item.n > 1 else math.nan
        rows.append(row | dict(seeds=item.n, mean=item.mean, se=item.se, detectable=detectable,
                               outcome=outcome))
    return pd.DataFrame(rows)


def claim_items_display(items: pd.DataFrame) -> pd.DataFrame:
    """:func:`claim_items` for the reader: target, mean and SE as text with two decimals,
    :data:`MISSING` where a comparison has no runs yet (its outcome says ``pending``)."""
    def text(x: float) -> str:
        return MISSING if x is None or not np.isfinite(x) else f"{x:.2f}"
    cols = [c for c in ("target", "mean", "se", "detectable") if c in items]
    return items.assign(**{c: items[c].map(text) for c in cols})


def _verdict(outcomes: Sequence[str]) -> str:
    """The verdict of items with these outcomes (``pending`` where missing items could still
    change it), as on the scoreboard (:func:`helpers.claims.judging.possible_verdicts`)."""
    outcomes = [o.split(" (")[0] for o in outcomes]
    known = [o for o in outcomes if o != "pending"]
    possible = possible_verdicts(known, len(outcomes) - len(known)) if known else []
    return possible[0] if len(possible) == 1 else "pending"


def claim_verdicts(items: pd.DataFrame, labels: dict[str, str] | None = None
                   ) -> pd.DataFrame:
    """Per claim: the verdict over its items, as on the scoreboard
    (:func:`helpers.claims.judging.verdict_of`: agrees, partly agrees, mixed, partly
    disagrees, disagrees or inconclusive), with the counts behind it, the verdict per dataset (``by
    dataset``, named by ``labels``) and the claim's source as a citation. While some items
    lack runs the claim is ``pending``, unless no outcome of those items could change its
    verdict (:func:`helpers.claims.judging.possible_verdicts`, as on the scoreboard)."""
    labels = labels or {}
    rows = []
    for cid, g in items.groupby("claim", sort=False):
        outcomes = [o.split(" (")[0] for o in g.outcome]
        by = ("; ".join(f"{labels.get(d, d)}: {_verdict(list(gd.outcome))}"
                        for d, gd in g.groupby("dataset", sort=False))
              if "dataset" in g else "")
        c = CLAIMS.set_index("id").loc[cid]
        rows.append(dict(id=cid, claim=c.claim, source=c.source, check=c.check,
                         verdict=_verdict(outcomes), **{"by dataset": by},
                         holds=outcomes.count("holds"), fails=outcomes.count("fails"),
                         within_noise=outcomes.count("within noise"),
                         pending=outcomes.count("pending")))
    return pd.DataFrame(rows)


def selu_saturation(lay: pd.DataFrame, dataset: str, depths: Sequence[int]) -> dict[str, str]:
    """What the gradient-saturation column (:func:`layer_table`) says about the SELU claim
    on ``dataset``, as prose: ``selu`` (SELU without BN) and ``relu_bn`` (ReLU with BN), the
    share per depth of ``depths`` ("61.7 % (4 layers) and 24.7 % (8 layers)", ``pending``
    where missing), and ``reading``, a sentence that says whether SELU keeps almost every
    (image, unit) pair where gradient passes (every depth with results at most
    :data:`SELU_FEW_SATURATED` %), or not, or that its statistics are pending."""
    def shares(act: str, bn: bool) -> dict[int, float | None]:
        s = lay[(lay.dataset == dataset) & (lay.activation == act)
                & (lay.batch_norm == bn)] if len(lay) else lay
        out = {}
        for d in depths:
            row = s[s.depth == d] if len(s) else s
            out[d] = float(row.grad_saturation.iloc[0]) if len(row) else None
        return out

    def text(values: dict[int, float | None]) -> str:
        parts = [as_text(v, ".1f") + (" %" if v is not None and np.isfinite(v) else "")
                 + f" ({d} layers)" for d, v in values.items()]
        return joined(parts)

    selu, relu_bn = shares("selu", False), shares("relu", True)
    known = {d: v for d, v in selu.items() if v is not None and np.isfinite(v)}
    if not known:
        reading = ("The SELU nets' per-layer statistics are still pending, so this part of "
                   "the check waits for them.")
    elif max(known.values()) <= SELU_FEW_SATURATED:
        reading = ("So SELU does keep almost every unit where gradient passes, without any "
                   "normalisation layer.")
    else:
        worst = max(known, key=known.get)
        at_fixed_point = 100 * 0.5 * math.erfc(-math.log(GRAD_SATURATION) / math.sqrt(2))
        reading = (f"So these trained SELU nets do not keep almost every unit where gradient "
                   f"passes: in the {worst}-layer nets {known[worst]:.1f} % of the (image, "
                   "unit) pairs sit on the flat part of the negative branch, where at the "
                   "self-normalising fixed point (pre-activations of zero mean and unit "
                   f"variance) only {at_fixed_point:.2f} % would. That fixed point is derived "
                   "for normalised weights (zero mean, variance 1/fan-in, as at the "
                   "LeCun-normal start), and training is free to move them away from it.")
    return dict(selu=text(selu), relu_bn=text(relu_bn), reading=reading)


def plot_accuracy(table: pd.DataFrame, source_of: dict[str, str]) -> plt.Figure:
    """Test accuracy (mean ± SE over seeds) per activation: one panel per dataset, depth
    along the x axis offsets, filled markers without BN, open markers with BN."""
    from matplotlib.lines import Line2D

    from .data import DATASETS

    present = set(table.dataset)
    datasets = [d for d in DATASETS if d in present] + sorted(present - set(DATASETS))
    fig, axes = plt.subplots(1, max(len(datasets), 1), figsize=(5.2 * max(len(datasets), 1),
                                                                 4.2), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        t = table[table.dataset == ds]
        depths = sorted(set(t.depth))
        acts = [a for a in ORDER if a in set(t.activation)]
        for j, a in enumerate(acts):
            for bn in (False, True):
                s = t[(t.activation == a) & (t.batch_norm == bn)].set_index("depth")
                if s.empty:
                    continue
                x = [depths.index(d) + (j - len(acts) / 2) * 0.07 + (0.03 if bn else 0)
                     for d in s.index]
                ax.errorbar(x, s["mean"], yerr=s.se.fillna(0), fmt="o" if not bn else "s",
                            color=ACTIVATION_COLORS[a], mfc="white" if bn else
                            ACTIVATION_COLORS[a], ms=5, capsize=2, lw=1)
        ax.set_xticks(range(len(depths)), [f"{d} layers" for d in depths])
        ax.set(ylabel="test accuracy (%)", title=with_source("Test accuracy", source_of[ds]))
    # one legend for every panel: each activation drawn anywhere, then the two markers
    acts = [a for a in ORDER if a in set(table.activation)]
    handles = [Line2D([], [], color=ACTIVATION_COLORS[a], marker="o", ls="", ms=6,
                      label=ACTIVATION_NAMES[a]) for a in acts]
    handles += [Line2D([], [], color="0.3", marker="o", ls="", ms=6, label="no BN"),
                Line2D([], [], color="0.3", marker="s", mfc="white", ls="", ms=6,
                       label="with BN")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 10), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


def plot_layer_profiles(layers: pd.DataFrame, dataset: str, depth: int, source: str
                        ) -> plt.Figure:
    """Per hidden layer of the ``depth``-layer nets without BN: gradient saturation (%),
    share of outputs <= 0 (%) and node perplexity, mean over seeds, one line per
    activation."""
    lay = layers[(layers.dataset == dataset) & (layers.depth == depth) & ~layers.batch_norm]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (col, label) in zip(axes, [("grad_saturation", "gradient-saturated (%)"),
                                       ("sparsity", "outputs <= 0 (%)"),
                                       ("perplexity", "node perplexity (classes)")]):
        for a in ORDER:
            s = lay[lay.activation == a].groupby("layer")[col].mean()
            if len(s) and s.notna().any():
                ax.plot(s.index, s.values, marker="o", ms=3, color=ACTIVATION_COLORS[a],
                        label=ACTIVATION_NAMES[a])
        ax.set(xlabel="hidden layer", ylabel=label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(len(labels), 1), fontsize=8,
               frameon=False)
    fig.suptitle(with_source(f"Per-layer statistics, {depth}x{int(lay.width.iloc[0])} "
                             "nets without BN" if len(lay) else "Per-layer statistics",
                             source))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def shown_depth(acc: pd.DataFrame, dataset: str, deep: int) -> int:
    """The depth the prose reads: ``deep`` when its nets without BN on ``dataset`` have
    results, else the deepest depth that has some (partial results read as numbers, not as
    'pending'); ``deep`` when there are none."""
    t = acc[(acc.dataset == dataset) & ~acc.batch_norm.astype(bool)] if len(acc) else acc
    if not len(t) or deep in set(t.depth):
        return deep
    return int(t.depth.max())


# the comparators the headline names, in its order, as the prose says them
POSSESSIVE = {"relu": "ReLU's", "sigmoid": "the sigmoid's", "elu": "ELU's", "selu": "SELU's"}


def _no_bn(table: pd.DataFrame, dataset: str, depth: int) -> pd.DataFrame:
    """The rows of ``table`` for the ``depth``-layer nets without BN on ``dataset``."""
    if not len(table):
        return table
    return table[(table.dataset == dataset) & (table.depth == depth) & ~table.batch_norm]


def accuracy_numbers(acc: pd.DataFrame, dataset: str, depth: int,
                     runs: pd.DataFrame | None = None) -> dict[str, str]:
    """The accuracies chapter 9's prose quotes, as text (``pending`` where runs are missing),
    from :func:`accuracy_table` for the ``depth``-layer nets without BN on ``dataset``:
    ``best`` (among the configurations with the most seeds: a partial mean does not rank),
    ``best_acc``, ``n_activations``, ``spread`` (the highest mean minus the lowest, points),
    ``acc_<a>`` for ReLU, the sigmoid, SELU and ELU with the unit (a partial mean marked),
    ``against`` (those other than the best, for "X at a %, against ...") and, with ``runs``,
    ``best_lead`` (:func:`lead_over_relu`)."""
    out: dict[str, str] = {}
    t = _no_bn(acc, dataset, depth)
    full = t[t.seeds == t.seeds.max()] if len(t) else t  # a partial mean does not rank
    best = full.loc[full["mean"].idxmax()] if len(full) else None
    out["best"] = ACTIVATION_NAMES[best.activation] if best is not None else "pending"
    if runs is not None:
        out["best_lead"] = (lead_over_relu(runs, dataset, depth, best.activation)
                            if best is not None else "pending")
    out["n_activations"] = str(full.activation.nunique()) if len(full) else "0"
    out["best_acc"] = as_text(best["mean"] if best is not None else None)
    out["spread"] = as_text(full["mean"].max() - full["mean"].min() if len(full) else None)
    for a in ("relu", "sigmoid", "selu", "elu"):
        row = t[t.activation == a] if len(t) else t
        out[f"acc_{a}"] = as_text(float(row["mean"].iloc[0]) if len(row) else None)
        if len(row):
            out[f"acc_{a}"] += " %"
        if len(row) and len(full) and row.seeds.iloc[0] < full.seeds.iloc[0]:
            n = int(row.seeds.iloc[0])
            out[f"acc_{a}"] += f" ({n} seed{'s' if n > 1 else ''} so far)"
    others = [f"{POSSESSIVE[a]} {out[f'acc_{a}']}" for a in POSSESSIVE
              if best is None or a != best.activation]
    out["against"] = joined(others)
    return out


def layer_numbers(lay: pd.DataFrame, dataset: str, depth: int) -> dict[str, str]:
    """Gradient saturation (``gradsat_<a>``, %) and node perplexity (``ppl_<a>``) per
    activation of the ``depth``-layer nets without BN on ``dataset``, from
    :func:`layer_table`, as text (``pending`` where missing)."""
    out: dict[str, str] = {}
    s = _no_bn(lay, dataset, depth)
    for a in ("gelu", "relu", "leaky_relu", "elu", "selu", "tanh"):
        row = s[s.activation == a] if len(s) else s
        out[f"gradsat_{a}"] = as_text(float(row.grad_saturation.iloc[0]) if len(row) else None,
                                   ".1f")
        out[f"ppl_{a}"] = as_text(float(row.perplexity.iloc[0]) if len(row) else None, ".2f")
    return out


def claim_numbers(verdicts: pd.DataFrame) -> dict[str, str]:
    """Each claim's verdict (``verdict_<id>``) and item counts (``items_<id>``) from
    :func:`claim_verdicts`, as text."""
    out: dict[str, str] = {}
    for cid in CLAIMS.id:
        row = verdicts[verdicts.id == cid] if len(verdicts) else verdicts
        if not len(row):
            out[f"verdict_{cid}"], out[f"items_{cid}"] = "pending", "no items yet"
            continue
        r = row.iloc[0]
        n = r.holds + r.fails + r.within_noise + r.pending
        out[f"verdict_{cid}"] = r.verdict
        out[f"items_{cid}"] = (f"{r.holds} of {n} comparisons hold, {r.fails} fail, "
                               f"{r.within_noise} within seed noise, {r.pending} pending"
                               + (f"; by dataset: {r['by dataset']}" if "by dataset" in r
                                  and r["by dataset"] else ""))
    return out


def lead_over_relu(runs: pd.DataFrame, dataset: str, depth: int, activation: str) -> str:
    """A sentence on whether ``activation``'s top place is a finding: its test accuracy minus
    ReLU's on the ``depth``-layer nets without BN on ``dataset``, paired by seed (points,
    mean ± SE), judged by the claims' rule (:class:`helpers.claims.judging.Item`)."""
    name = ACTIVATION_NAMES[activation]
    if activation == "relu":
        return "That top place is ReLU's own: no other activation beat it here."
    diff = _difference(runs, dataset, depth, activation, False, "relu", False) \
        if len(runs) else None
    if diff is None or len(diff) < 2:
        return f"Whether {name}'s top place is a finding is pending (paired ReLU runs missing)."
    item = Item(f"{name} − ReLU", diff, 0.0, ">")
    lead = f"{item.mean:+.2f} ± {item.se:.2f} points against ReLU, paired by seed"
    if item.outcome == HOLDS:
        return f"That top place is a finding: {name}'s lead is {lead}, beyond seed noise."
    if item.outcome == FAILS:
        return (f"That top place is not a lead over ReLU: {name} is at {lead}, below it "
                "beyond seed noise (their seeds differ).")
    return f"That top place is not a finding: {name}'s lead is {lead}, within seed noise."


def selu_against_full_length(runs: pd.DataFrame, dataset: str, depth: int) -> str:
    """A sentence: SELU (no BN) minus ReLU + BN on the ``depth``-layer nets of ``dataset``,
    paired by seed (points, mean ± SE), against the comparators as halted by the replay and as
    their full runs kept them (``full_test_acc``), or why that comparison is pending."""
    pending = "What halting costs the SELU comparison is pending: "
    if not len(runs) or "full_test_acc" not in runs:
        return pending + "these results hold no full-length runs."
    relu = runs[(runs.dataset == dataset) & (runs.depth == depth) & runs.batch_norm.astype(bool)
                & (runs.activation == "relu")]
    if not len(relu) or not relu.replayed.astype(bool).all():
        return pending + "its ReLU + BN comparators were not replayed in this profile."
    selu = _per_seed(runs, dataset, depth, False, "selu")
    halted = 100 * relu.set_index("seed").test_acc
    full = 100 * relu.set_index("seed").full_test_acc
    seeds = selu.index.intersection(halted.index)
    if len(seeds) < 2:
        return pending + f"{len(seeds)} paired seed{'s' * (len(seeds) != 1)} so far."
    halted_gap, full_gap = (plus_minus(d.mean(), _se(d), sign=True)
                            for d in (selu[seeds] - halted[seeds], selu[seeds] - full[seeds]))
    return (f"At {depth} layers SELU scores {halted_gap} points against the halted ReLU + BN "
            f"nets and {full_gap} against the same nets trained all their epochs, so the "
            "verdict describes halted nets (chapter 4 measures what halting costs the BN nets).")


def judged_items(items: pd.DataFrame) -> dict[str, str]:
    """How many comparisons were judged (not pending), how many would hold or fail by chance
    alone on average at the 5 % level of each if no activation differed from ReLU
    (``by_chance``; the every-seed condition keeps the rate at or below 5 %; the comparisons
    share their ReLU runs, so more is possible), and the range
    of the smallest margins they could call (``detectable``, points)."""
    judged = items[~items.outcome.str.startswith("pending")] if len(items) else items
    det = judged["detectable"].dropna() if "detectable" in judged else pd.Series(dtype=float)
    return {"n_judged": str(len(judged)), "by_chance": f"{0.05 * len(judged):.1f}",
            "detectable": (f"{det.min():.2f} to {det.max():.2f}" if len(det) else "pending")}


def selu_mean_outputs(layers: pd.DataFrame, dataset: str, depths: Sequence[int]) -> str:
    """SELU's (no BN) mean output in its first and last hidden layer per depth (mean over
    seeds; ``layers``: the runs' per-layer rows with ``mean``, as in ``layers.csv``): the
    self-normalising fixed point has mean 0."""
    parts = []
    for d in depths:
        s = layers[(layers.dataset == dataset) & (layers.activation == "selu")
                   & ~layers.batch_norm.astype(bool) & (layers.depth == d)] \
            if len(layers) and "mean" in layers else layers.iloc[:0]
        if not len(s):
            continue
        per_layer = s.groupby("layer")["mean"].mean()
        parts.append(f"{per_layer.iloc[0]:.2f} in layer 1 to {per_layer.iloc[-1]:.2f} in layer "
                     f"{per_layer.index[-1]} ({d} layers)")
    return "; ".join(parts) or "pending"
