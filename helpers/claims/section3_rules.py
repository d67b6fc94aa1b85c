"""Section 3 rules: the paper's claims about Figs 3-7 and Table 1, in code.

Each public function here takes a :class:`~.views.Context` and returns the
:class:`~.judging.Item` list of one claim, read per seed and per layer from the node tables
of :mod:`helpers.activation_distributions` and :mod:`helpers.class_medians` (``sigmoid``,
``relu``, ``medians``, ``sparsity``) and the ``accuracy`` table of :mod:`helpers.inspected_nets`;
the ``_name(ds)`` factories build one rule per dataset. The paper's remarks about the nets
it does not show (deeper and wider than Section 3's 4-layer nets) are read from the grid's
per-layer table (``grid_layers``: sparsity, saturation and node perplexity of every final
run), one item per shape. The tolerances these rules share are
module constants, also printed in each claim's ``rule``.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from .judging import Item, Missing, each
from .views import DATASET_NAMES, Context

TABLE1_TOLERANCE = 5.0  # points of sparsity within which ours "matches" Table 1
MEAN_MEDIAN_TOLERANCE = 0.1  # |mean - median| in class std that counts as "almost identical"
SHARED_SATURATION_MIN = 50.0  # % of separated sigmoid nodes that must share a saturation point
HEAVILY_SATURATED = 50.0  # % of a layer's outputs within eps of 0 or 1: "heavily skewed"
SECTION3_DEPTH = 4  # the depth of the nets Section 3 opens up


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
    return [Item("point-like classes, last − first layer", last - first, 0.0, ">",
                 decimals=1, unit=" pts"),
            Item("saturated, last layer", sat[sat.columns.max()], HEAVILY_SATURATED, ">",
                 decimals=1, unit=" %")]


def fig3_overlap_at_saturation(ctx: Context) -> list[Item]:
    shared = ctx.layers("sigmoid", "separated nodes sharing 0 or 1 (%)", dataset="mnist",
                        state="trained")
    return [Item("mean over layers", shared.mean(axis=1), SHARED_SATURATION_MIN, ">",
                 decimals=1, unit=" %")]


def fig4_relu_overlaps_less(ctx: Context) -> list[Item]:
    # "In the positive domain": nodes where every class median is 0 are left out (for
    # sigmoid, whose medians are always > 0, this is the plain overlap)
    col = "overlap, positive domain (%)"
    relu = ctx.layers("medians", col, dataset="mnist", activation="relu", state="trained")
    sig = ctx.layers("medians", col, dataset="mnist", activation="sigmoid", state="trained")
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


# the Figs 3-4 trends the grid's per-layer table records, by its column
TRENDS = {"saturation": "sigmoid layer 2", "sparsity": "ReLU sparsity",
          "perplexity": "ReLU perplexity"}


def _shape_name(ds: str, depth: int, width: int) -> str:
    return f"{DATASET_NAMES[ds]} {depth}×{width}"


def _grid_layer2_item(ctx: Context, ds: str, depth: int, width: int,
                      label: str = "") -> Item:
    sat = ctx.grid_layers(ds, depth, width, False, "sigmoid", "saturation")
    return Item(_shape_name(ds, depth, width) + label,
                sat[2] - sat.drop(columns=2).min(axis=1), 0.0, "<", decimals=1, unit=" pts")


def _grid_first_last(ctx: Context, ds: str, depth: int, width: int,
                     column: str) -> pd.Series:
    t = ctx.grid_layers(ds, depth, width, False, "relu", column)
    first, last = _first_last(t)
    return last - first


def _other_shapes(ctx: Context, deeper_only: bool) -> list[tuple[int, int]]:
    """(depth, width) of the grid's nets deeper (``deeper_only``), or deeper or wider,
    than Section 3's 4-layer nets of the narrowest width."""
    depths, widths = ctx.grid_shapes()
    shapes = [(d, w) for w in widths for d in depths if d > SECTION3_DEPTH
              or (not deeper_only and d == SECTION3_DEPTH and w > widths[0])]
    if not shapes:
        raise Missing("grid nets deeper or wider than Section 3's")
    return shapes


def fig3_layer2_in_deeper_nets(ctx: Context) -> list[Item]:
    return each(lambda d, w: _grid_layer2_item(ctx, "mnist", d, w),
                _other_shapes(ctx, deeper_only=True))


def section3_trends_elsewhere(ctx: Context) -> list[Item]:
    def item(trend: str, d: int, w: int) -> Item:
        label = f" {TRENDS[trend]}"
        if trend == "saturation":
            return _grid_layer2_item(ctx, "mnist", d, w, label)
        more = trend == "sparsity"  # ReLU: the last layer sparser, its nodes less varied
        return Item(f"{_shape_name('mnist', d, w)}{label}",
                    _grid_first_last(ctx, "mnist", d, w, trend), 0.0, ">" if more else "<",
                    decimals=1 if more else 2, unit=" pts" if more else "")

    return each(item, [(t, d, w) for d, w in _other_shapes(ctx, deeper_only=False)
                       for t in TRENDS])


def bn_lowers_sparsity_whole_grid(ctx: Context) -> list[Item]:
    def item(ds: str, d: int, w: int) -> Item:
        gap = (ctx.grid_layers(ds, d, w, True, "relu", "sparsity")
               - ctx.grid_layers(ds, d, w, False, "relu", "sparsity"))
        return Item(_shape_name(ds, d, w), gap.mean(axis=1), 0.0, "<", decimals=1, unit=" pts")

    depths, widths = ctx.grid_shapes()
    return each(item, [(ds, d, w) for ds in DATASET_NAMES for w in widths for d in depths])


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
    # the sentence's second half: earlier layers' medians "slightly closer to 0.5"
    dev = _medians(ctx, "|median - 0.5|", "sigmoid", "trained")
    return [Item("medians near 0 or 1, deep half − shallow half",
                 tr[cols[half:]].mean(axis=1) - tr[cols[:half]].mean(axis=1), 0.0, ">",
                 decimals=1, unit=" pts"),
            Item("|median − 0.5|, shallow half − deep half",
                 dev[cols[:half]].mean(axis=1) - dev[cols[half:]].mean(axis=1), 0.0, "<",
                 decimals=3)]


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
        # per seed: the mean over layers of |trained - untrained| (changes of opposite sign
        # in different layers must not cancel)
        change = {ds: (_medians(ctx, col, act, "trained", ds)
                       - _medians(ctx, col, act, "untrained", ds)).abs().mean(axis=1)
                  for ds in ("mnist", "cifar10")}
        items.append(Item(f"{act}: ½ change on MNIST − change on CIFAR-10",
                          0.5 * change["mnist"] - change["cifar10"], 0.0, ">"))
    return items


def _table1_untrained(ds: str) -> Callable[[Context], list[Item]]:
    def table1_untrained_half(ctx: Context) -> list[Item]:
        sp = ctx.layers("sparsity", "sparsity (%)", dataset=ds, model="ReLU",
                        state="untrained")
        return [Item(f"layer {layer}", sp[layer], 50.0, "within", tol=TABLE1_TOLERANCE,
                     decimals=1, unit=" %") for layer in sp.columns]
    return table1_untrained_half


def _table1_trained(ds: str) -> Callable[[Context], list[Item]]:
    from ..class_medians import PAPER_TABLE1_SPARSITY

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
