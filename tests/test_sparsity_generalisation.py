import math

import numpy as np
import pandas as pd
import pytest

from helpers.sparsity_generalisation import (
    bn_pair_summary,
    bn_pairs,
    bootstrap_ci,
    rank_correlations,
    sparsity_accuracy_table,
    spearman,
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
    rc = rank_correlations(t, n_boot=50).set_index("nets")
    assert rc.loc["without BN", "spearman rho"] == pytest.approx(1.0)
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
