import math

import numpy as np
import pandas as pd
import pytest

from helpers.sparsity_generalisation import (
    bn_pair_summary,
    bn_pairs,
    bootstrap_ci,
    deep_failures,
    grid_numbers,
    pattern_shares,
    rank_correlations,
    sparsity_accuracy_table,
    spearman,
    table1_pattern,
)


def test_spearman_by_hand():
    # d = -1, 1, -1, 1, 0 -> 1 - 6 * 4 / (5 * 24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties: ranks x = 1, 2.5, 2.5, 4 -> 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([3, 2, 1], [10, 20, 30]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2], [1, 2, 3])


def test_bootstrap_ci_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    lo, hi = bootstrap_ci(x, y, n_boot=300, seed=0)
    assert lo < spearman(x, y) < hi and 0 < lo
    assert bootstrap_ci(x, y, n_boot=300, seed=0) == (lo, hi)
    with pytest.raises(ValueError, match=r"level=1\.5.*accepted"):
        bootstrap_ci(x, y, level=1.5)


def test_cluster_bootstrap_moves_a_configurations_seeds_together():
    """Two identical copies of every pair, clustered by copy: resampling clusters is
    resampling the original pairs (the same draws with the same seed; duplicated values
    only shift the tie-averaged ranks linearly), so the interval equals the one of the
    original data, while treating the copies as independent pairs narrows it."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = x + 2 * rng.normal(size=12)
    x2, y2 = np.repeat(x, 2), np.repeat(y, 2)
    clusters = np.repeat(np.arange(12), 2)
    original = bootstrap_ci(x, y, n_boot=400, seed=5)
    assert bootstrap_ci(x2, y2, n_boot=400, seed=5, clusters=clusters) == \
        pytest.approx(original)
    naive = bootstrap_ci(x2, y2, n_boot=400, seed=5)
    assert naive[1] - naive[0] < original[1] - original[0]
    with pytest.raises(ValueError, match="one label per pair"):
        bootstrap_ci(x, y, clusters=[0, 1])


def _grid_tables():
    rows, layers = [], []
    for bn in (False, True):
        for seed in (0, 1, 2):
            key = f"final_d2_w16_relu_{'bn' if bn else 'nobn'}_s{seed}"
            rows.append(dict(dataset="mnist", source="mnist", phase="final", depth=2,
                             width=16, batch_norm=bn, activation="relu", seed=seed, lr=1e-3,
                             test_acc=0.9 + 0.01 * seed + 0.05 * bn, key=key))
            for layer, sp in ((1, 60 - 10 * bn + seed), (2, 70 - 10 * bn + seed)):
                layers.append(dict(dataset="mnist", activation="relu", key=key,
                                   layer=layer, sparsity=sp))
    rows.append(dict(rows[0], activation="sigmoid", key="sig"))
    return pd.DataFrame(rows), pd.DataFrame(layers)


def test_sparsity_accuracy_table_and_bn_pairs():
    runs, layers = _grid_tables()
    t = sparsity_accuracy_table(runs, layers)
    assert len(t) == 6  # ReLU runs only
    first = t[(~t["batch_norm"]) & (t["seed"] == 0)].iloc[0]
    assert first["sparsity (%)"] == pytest.approx(65.0)
    assert first["test acc (%)"] == pytest.approx(90.0)
    pairs = bn_pairs(t)
    assert pairs["d sparsity (pp)"].tolist() == pytest.approx([-10.0] * 3)
    assert pairs["d test acc (pp)"].tolist() == pytest.approx([5.0] * 3)
    summary = bn_pair_summary(pairs).iloc[0]  # every pair: BN 10 pp less sparse, 5 pp better
    assert summary["pairs"] == 3 and isinstance(summary["pairs"], (int, np.integer))
    assert summary["BN lower sparsity (%)"] == summary["both (%)"] == 100.0
    assert summary["median d sparsity (pp)"] == -10.0
    by_depth = bn_pair_summary(pd.concat([pairs, pairs.assign(depth=4, **{
        "d sparsity (pp)": 5.0})]), by=("dataset", "depth")).set_index("depth")
    assert by_depth.loc[2, "both (%)"] == 100.0 and by_depth.loc[4, "both (%)"] == 0.0
    assert by_depth.loc[4, "BN lower sparsity (%)"] == 0.0  # BN raised sparsity at depth 4
    rc = rank_correlations(t, n_boot=50).set_index("nets")
    assert rc.loc["without BN", "spearman rho"] == pytest.approx(1.0)
    # one configuration per BN setting (its 3 seeds): 2 clusters in all, 1 per BN group
    assert rc["configs"].tolist() == [2, 1, 1]
    assert rc[["CI low", "CI high"]].isna().all().all()  # under 3 configurations: no CI
    # pooled: sparsity 55,56,57 (BN) vs 65,66,67; accuracy 95,96,97 vs 90,91,92
    want = spearman([65, 66, 67, 55, 56, 57], [90, 91, 92, 95, 96, 97])
    assert rc.loc["all", "spearman rho"] == pytest.approx(want)
    assert want == pytest.approx(1 - 6 * (9 + 9 + 9 + 9 + 9 + 9) / (6 * 35))


@pytest.mark.parametrize("bn", [False, True])
def test_bn_pairs_with_one_side_only_is_empty(bn):
    """A partial grid: only the nets without BN (or only those with it) exist so far."""
    runs, layers = _grid_tables()
    t = sparsity_accuracy_table(runs, layers)
    pairs = bn_pairs(t[t["batch_norm"] == bn])
    assert pairs.empty and "d sparsity (pp)" in pairs.columns
    assert bn_pair_summary(pairs).empty


def _pairs() -> pd.DataFrame:
    """BN-minus-plain pairs by hand. MNIST: depth 2 (+5, +1) no pattern, (-3, +2) pattern;
    depth 4 (-2, +1) pattern, (-1, -0.3) BN less sparse and no better. CIFAR-10: depth 2
    (+4, +1) no pattern; depth 4 (-2, +1), (-5, +2) pattern."""
    rows = [("mnist", 2, 5, 1), ("mnist", 2, -3, 2), ("mnist", 4, -2, 1), ("mnist", 4, -1, -0.3),
            ("cifar10", 2, 4, 1), ("cifar10", 4, -2, 1), ("cifar10", 4, -5, 2)]
    return pd.DataFrame([dict(dataset=d, depth=depth, width=16, seed=i,
                              **{"d sparsity (pp)": float(ds), "d test acc (pp)": float(da)})
                         for i, (d, depth, ds, da) in enumerate(rows)])


def test_pattern_shares_and_deep_failures_by_hand():
    pairs = _pairs()
    shares = pattern_shares(pairs).set_index("dataset")
    assert shares.loc["mnist", ["shallow (%)", "deep (%)"]].tolist() == [50.0, 50.0]
    assert shares.loc["cifar10", ["shallow (%)", "deep (%)"]].tolist() == [0.0, 100.0]
    assert shares.loc["cifar10", ["shallow pairs", "deep pairs"]].tolist() == [1, 2]
    assert table1_pattern(pairs).tolist() == [False, True, True, False, False, True, True]
    # deeper than depth 2: 4 pairs; one lowered the sparsity and lost 0.3 points
    assert deep_failures(pairs) == (1, 4, pytest.approx(0.3))
    assert deep_failures(pairs.iloc[[0, 2, 4, 5]]) == (0, 2, None)
    only_shallow = pattern_shares(pairs[pairs["depth"] == 2]).set_index("dataset")
    assert only_shallow["deep pairs"].tolist() == [0, 0]
    assert only_shallow["deep (%)"].isna().all()


def test_grid_numbers_by_hand():
    pairs = _pairs()
    table = pd.DataFrame({"dataset": "mnist", "depth": 2, "width": 16,
                          "batch_norm": [False, False, True, True],
                          "test acc (%)": [90.0, 92.0, 95.0, 95.0]})
    corr = pd.DataFrame([
        dict(dataset="mnist", nets="all", **{"spearman rho": -0.5, "CI low": -0.8,
                                             "CI high": -0.1}),
        dict(dataset="mnist", nets="without BN", **{"spearman rho": 0.2, "CI low": math.nan,
                                                    "CI high": math.nan}),
        dict(dataset="mnist", nets="with BN", **{"spearman rho": math.nan})])
    t = grid_numbers(table, corr, pairs, {"mnist": "MNIST"})
    assert (t["rho_mnist"], t["rho_mnist_ci"], t["rho_mnist_verdict"]) == (
        "-0.50", "-0.80 to -0.10", "excludes 0")
    assert t["rho_within_mnist"] == "0.20 without BN and pending"  # no interval; no rho
    assert t["rho_cifar10"] == t["rho_sign_reading"] == "pending"  # one dataset only
    # MNIST: 4 pairs, 2 with the pattern, 3 lower sparsity, 3 more accurate
    assert [t[f"{k}_mnist"] for k in ("pairs", "both", "lower", "better")] == [
        "4", "50", "75", "75"]
    assert t["depths_mnist"] == ("in 50, 50 % of the pairs at depths 2, 4; at depth 2 BN "
                                 "raised the sparsity (median +1.0 points)")  # (5 - 3) / 2
    assert t["depths_cifar10"] == "in 0, 100 % of the pairs at depths 2, 4; at depth 2 BN " \
        "raised the sparsity (median +4.0 points)"
    assert "in 1 of 4 pairs, by at most 0.30 points" in t["deep_failures"]
    assert "not a rule" in t["pairs_reading"]  # MNIST's deep pairs: 50 %
    assert t["seed_sd"] == f"MNIST {math.sqrt(2) / 2:.2f}"  # median of sd 1.41 and 0
    rule = grid_numbers(table, corr, pairs.drop(index=[1, 3]), {"mnist": "MNIST"})
    assert rule["pairs_reading"].startswith("So the Table 1 comparison is close to a rule")
    assert "none of 3 pairs" in rule["deep_failures"]
    # a pooled rho without an interval (too few configurations) says so, not "nan to nan"
    no_ci = corr.assign(**{"CI low": math.nan, "CI high": math.nan})
    t = grid_numbers(table, no_ci, pairs, {"mnist": "MNIST"})
    assert (t["rho_mnist_ci"], t["rho_mnist_verdict"]) == (
        "not computable (too few configurations)", "leaves the sign open")
    none = grid_numbers(None, None, None, {})
    assert set(none.values()) <= {"pending", "pending and pending",
                                  "The paired comparison is pending"}
