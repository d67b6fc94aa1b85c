"""Chapter 9's helpers: tables, the halting replay of the comparators, claim judging."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers import newer_activations as na
from helpers.grid.store import GridResults


def _runs(rows):
    """rows: (dataset, depth, bn, activation, seed, test_acc)."""
    return pd.DataFrame(
        [dict(dataset=d, depth=k, width=200, batch_norm=bn, activation=a, seed=s, test_acc=t,
              best_epoch=5, key=f"final_d{k}_w200_{a}_{bn}_s{s}", phase="final")
         for d, k, bn, a, s, t in rows])


def test_init_table_follows_the_models_rule():
    t = na.init_table()
    assert t.loc["SELU", "initial weights"].startswith("LeCun")
    assert not t.loc["SELU", "with BN too"] and t.loc["GELU", "with BN too"]
    assert t.loc["tanh", "initial weights"].startswith("Xavier")
    assert t.loc["SiLU", "initial weights"].startswith("He")
    assert list(t.grid[t.grid == "paper"].index) == ["sigmoid", "ReLU"]


def test_accuracy_table_by_hand():
    runs = _runs([("mnist", 4, False, "relu", s, v) for s, v in enumerate([0.97, 0.98, 0.99])])
    t = na.accuracy_table(runs)
    assert t.loc[0, "seeds"] == 3 and t.loc[0, "mean"] == pytest.approx(98.0)
    assert t.loc[0, "se"] == pytest.approx(1.0 / math.sqrt(3))  # sd 1 point, 3 seeds
    assert na.accuracy_matrix(t).loc["ReLU", ("mnist", 4, "no BN")] == "98.00 ± 0.58"
    # a configuration with fewer seeds shows its count; datasets in the book's order
    one = _runs([("cifar10", 4, False, "relu", 0, 0.5)])
    m = na.accuracy_matrix(na.accuracy_table(pd.concat([one, runs])))
    assert m.loc["ReLU", ("cifar10", 4, "no BN")] == "50.00 (1)"
    assert [c[0] for c in m.columns] == ["mnist", "cifar10"]


def test_claims_hold_fail_and_pending_by_hand():
    rows = []
    for s in range(3):
        rows += [("mnist", 8, False, "relu", s, 0.90 + 0.01 * s),
                 ("mnist", 8, True, "relu", s, 0.97 + 0.01 * s)]
        rows += [("mnist", 8, False, "elu", s, 0.95 + 0.01 * s)]  # +5 / -2 points every seed
        rows += [("mnist", 8, True, "elu", s, 0.85 + 0.01 * s)]  # not a comparison of the claim
    items = na.claim_items(_runs(rows), ["mnist"], (8,))
    elu = items[items.claim == "elu_deep"].set_index("comparison")
    assert list(elu.index) == ["ELU − ReLU", "ELU − ReLU + BN"]  # ELU without BN, as its paper
    assert elu.loc["ELU − ReLU", "outcome"] == "holds"
    assert elu.loc["ELU − ReLU", "mean"] == pytest.approx(5.0)
    assert elu.loc["ELU − ReLU", "detectable"] == 0  # identical gaps: SE 0
    assert elu.loc["ELU − ReLU + BN", "outcome"] == "fails"
    v = na.claim_verdicts(items, {"mnist": "MNIST"}).set_index("id")
    assert v.loc["elu_deep", "verdict"] == "mixed"  # one holds, one fails
    assert v.loc["elu_deep", "by dataset"] == "MNIST: mixed"
    assert set(items[items.claim == "silu"].depth) == {8}  # "deeper models" only
    assert v.loc["selu_no_bn", "verdict"] == "pending"  # no SELU runs
    nums = (na.accuracy_numbers(na.accuracy_table(_runs(rows)), "mnist", 8)
            | na.layer_numbers(pd.DataFrame(), "mnist", 8)
            | na.claim_numbers(na.claim_verdicts(items)))
    assert nums["best"] == "ELU" and nums["best_acc"] == "96.00"
    assert nums["spread"] == "5.00"  # ELU 96, ReLU 91
    assert nums["against"] == "ReLU's 91.00 %, the sigmoid's pending and SELU's pending"
    assert nums["verdict_elu_deep"] == "mixed" and nums["gradsat_relu"] == "pending"
    assert nums["items_elu_deep"].startswith("1 of 2 comparisons hold, 1 fail")
    assert nums["items_elu_deep"].endswith("; by dataset: mnist: mixed")
    assert na.lead_over_relu(_runs(rows), "mnist", 8, "elu") == (
        "That top place is a finding: ELU's lead is +5.00 ± 0.00 points against ReLU, "
        "paired by seed, beyond seed noise.")
    assert na.lead_over_relu(_runs(rows), "mnist", 8, "relu").startswith(
        "That top place is ReLU's own")
    assert "pending" in na.lead_over_relu(_runs(rows), "mnist", 4, "elu")
    assert na.judged_items(items) == {"n_judged": "2", "by_chance": "0.1",
                                      "detectable": "0.00 to 0.00"}
    assert nums["n_activations"] == "2"


def test_selu_against_full_length_by_hand():
    rows = [("mnist", 8, False, "selu", s, 0.95 + 0.01 * s) for s in range(3)]
    rows += [("mnist", 8, True, "relu", s, 0.94 + 0.02 * s) for s in range(3)]
    runs = _runs(rows)
    assert "no full-length runs" in na.selu_against_full_length(runs, "mnist", 8)
    runs["full_test_acc"], runs["replayed"] = runs.test_acc + 0.01, False
    assert "not replayed" in na.selu_against_full_length(runs, "mnist", 8)
    runs["replayed"] = True
    # SELU - halted: 1, 0, -1 points (mean 0, SE 0.58); - full: 0, -1, -2 (mean -1)
    text = na.selu_against_full_length(runs, "mnist", 8)
    assert text.startswith("At 8 layers SELU scores +0.00 ± 0.58 points against the halted")
    assert "and -1.00 ± 0.58 against the same nets trained all their epochs" in text
    one = runs[~((runs.activation == "selu") & (runs.seed > 0))]
    assert na.selu_against_full_length(one, "mnist", 8).endswith("1 paired seed so far.")


def test_headline_ranks_only_complete_configurations():
    rows = [("mnist", 4, False, "relu", s, 0.98) for s in range(3)]
    rows += [("mnist", 4, False, "selu", 0, 0.99)]  # one seed so far, higher mean
    nums = na.accuracy_numbers(na.accuracy_table(_runs(rows)), "mnist", 4)
    assert nums["best"] == "ReLU" and nums["n_activations"] == "1"
    assert nums["acc_selu"] == "99.00 % (1 seed so far)" and nums["acc_relu"] == "98.00 %"
    assert nums["acc_elu"] == "pending"
    # the best is not compared with itself
    assert nums["against"] == ("the sigmoid's pending, ELU's pending and "
                               "SELU's 99.00 % (1 seed so far)")


def test_shown_depth_falls_back_to_the_deepest_with_results():
    acc = na.accuracy_table(_runs([("mnist", 4, False, "relu", 0, 0.98),
                                   ("mnist", 8, True, "relu", 0, 0.98),
                                   ("cifar10", 8, False, "relu", 0, 0.5)]))
    assert na.shown_depth(acc, "mnist", 8) == 4  # 8 has only a BN net
    assert na.shown_depth(acc, "cifar10", 8) == 8
    assert na.shown_depth(acc, "cifar10", 6) == 8  # none at 6: the deepest with results
    assert na.shown_depth(acc.iloc[:0], "mnist", 8) == 8  # nothing yet: stays pending


def test_selu_tolerance():
    rows = []
    for s in range(3):
        rows += [("mnist", 4, True, "relu", s, 0.980 + 0.001 * s),
                 ("mnist", 4, False, "selu", s, 0.9795 + 0.001 * s)]  # 0.05 points behind
    items = na.claim_items(_runs(rows), ["mnist"], (4,))
    selu = items[items.claim == "selu_no_bn"].iloc[0]
    assert selu["mean"] == pytest.approx(-0.05) and selu.outcome == "holds"  # > -0.1, SE 0


def test_comparators_are_rescored_at_the_replayed_halt():
    runs = _runs([("mnist", 4, False, "relu", 0, 0.99), ("mnist", 4, False, "tanh", 0, 0.5),
                  ("mnist", 2, False, "relu", 0, 0.5)])
    # val acc peaks at epoch 1, then flat: patience 2 stops at epoch 3 keeping epoch 1;
    # the full run's best (first maximum) is epoch 5
    val = [0.5, 0.8, 0.8, 0.8, 0.8, 0.9]
    test = [0.5, 0.7, 0.7, 0.7, 0.7, 0.99]
    hist = pd.DataFrame(dict(phase="final", depth=4, width=200, activation="relu",
                             batch_norm=False, seed=0, lr=1e-3, epoch=range(6), val_acc=val,
                             test_acc=test))
    res = GridResults("paper", "mnist", None, runs, hist, pd.DataFrame())
    comp = na.comparator_runs(res, (4, 8), 200, patience=2)
    assert list(comp.activation) == ["relu"]  # tanh is not a comparator, depth 2 not a shape
    assert comp.iloc[0].test_acc == pytest.approx(0.7) and comp.iloc[0].best_epoch == 1
    assert bool(comp.iloc[0].replayed)


def test_progress_counts():
    runs = _runs([("mnist", 4, False, a, s, 0.9) for a in ("relu", "elu") for s in range(3)])
    p = na.progress_table(runs, "paper", ["mnist", "cifar10"])
    assert p.loc["mnist"].tolist() == [3, 66, 3, 24]
    assert p.loc["cifar10"].tolist() == [0, 66, 0, 24]


def test_claim_items_display_shows_missing_values_as_a_dash():
    rows = [("mnist", 8, bn, a, s, 0.9 + 0.01 * s) for bn in (False, True)
            for a in ("relu", "elu") for s in range(3)]
    items = na.claim_items(_runs(rows), ["mnist"], (8,))
    shown = na.claim_items_display(items).set_index("comparison")
    assert shown.loc["ELU − ReLU", "mean"] == "0.00"  # same accuracy every seed
    selu = shown.loc["SELU − ReLU + BN"]  # no SELU runs: pending, no NaN for the reader
    assert (selu["mean"], selu.se, selu.target) == (na.MISSING, na.MISSING, "-0.10")
    assert selu.outcome == "pending"
    assert not shown.isna().any().any()


def test_verdicts_decide_what_the_missing_items_cannot_change():
    def verdict(*outcomes):
        items = pd.DataFrame({"claim": "elu_deep", "outcome": list(outcomes)})
        return na.claim_verdicts(items).set_index("id").loc["elu_deep", "verdict"]
    assert verdict("within noise (seeds split 2-1)", "pending", "holds") == "pending"
    assert verdict("within noise (seeds split 2-1)", "holds") == "partly agrees"
    assert verdict("within noise", "fails") == "partly disagrees"
    assert verdict("holds", "fails", "pending") == "mixed"
    assert verdict("holds", "pending") == "pending"  # could still agree or be mixed
    assert verdict("pending", "pending") == "pending"
    assert verdict("holds", "holds") == "agrees"
    assert verdict("within noise (seeds split 2-1)", "within noise") == "inconclusive"
    assert verdict("within noise", "pending") == "pending"  # inconclusive or partly


def test_verdicts_cite_sources_readably():
    v = na.claim_verdicts(na.claim_items(_runs([]), ["mnist"], (8,))).set_index("id")
    assert v.loc["elu_deep", "source"] == "Clevert et al. 2016"
    assert v.loc["selu_no_bn", "source"] == "Klambauer et al. 2017"
    assert na.CLAIMS.set_index("id").loc["elu_deep", "keys"] == "clevert2016fast"
    assert all(" " in s for s in v.source)  # no bare BibTeX keys


def _lay(rows):
    """rows: (depth, bn, activation, grad_saturation)."""
    return pd.DataFrame([dict(dataset="mnist", depth=d, width=200, batch_norm=bn,
                              activation=a, sparsity=50.0, grad_saturation=g, perplexity=5.0)
                         for d, bn, a, g in rows])


def test_selu_saturation_reads_the_numbers():
    many = na.selu_saturation(_lay([(4, False, "selu", 61.72), (8, False, "selu", 24.72),
                                    (4, True, "relu", 60.53)]), "mnist", (4, 8))
    assert many["selu"] == "61.7 % (4 layers) and 24.7 % (8 layers)"
    assert many["relu_bn"] == "60.5 % (4 layers) and pending (8 layers)"
    assert many["reading"].startswith("So these trained SELU nets do not keep almost every")
    assert "4-layer nets 61.7 %" in many["reading"]
    few = na.selu_saturation(_lay([(4, False, "selu", 2.0), (8, False, "selu", 4.9)]),
                             "mnist", (4, 8))
    assert few["reading"].startswith("So SELU does keep almost every unit")
    none = na.selu_saturation(pd.DataFrame(), "mnist", (4, 8))
    assert none["selu"] == "pending (4 layers) and pending (8 layers)"
    assert "pending" in none["reading"]


def test_figures_name_every_activation_and_put_mnist_first():
    """One legend for both panels: every activation drawn in either (here GELU only on
    MNIST, and only with BN), then the two marker styles; MNIST's panel comes first."""
    import matplotlib.pyplot as plt

    runs = _runs([(ds, 4, bn, a, s, 0.5 + 0.01 * s) for ds in ("cifar10", "mnist")
                  for a in ("sigmoid", "relu") for bn in (False, True) for s in range(3)]
                 + [("mnist", 4, True, "gelu", s, 0.6) for s in range(3)])
    fig = na.plot_accuracy(na.accuracy_table(runs), {"mnist": "mnist",
                                                     "cifar10": "cifar10-jpeg"})
    assert "MNIST" in fig.axes[0].get_title()
    assert "CIFAR-10 (JPEG copy)" in fig.axes[1].get_title()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "sigmoid", "ReLU", "GELU", "no BN", "with BN"]
    plt.close(fig)
    lay = _lay([(4, False, a, 10.0) for a in ("sigmoid", "relu", "elu")]).assign(layer=1)
    fig = na.plot_layer_profiles(lay, "mnist", 4, "mnist")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["sigmoid", "ReLU", "ELU"]
    plt.close(fig)


def test_a_comparison_missing_seeds_waits_for_them():
    """MNIST 8x200: ReLU on seeds 0-2, ELU on seeds 0 and 1, ahead by 5 points in both. The
    item shows its two-seed mean but stays pending until the third seed, and the claim with
    it (both of the claim's items compare ELU without BN)."""
    rows = []
    for s in range(3):
        rows += [("mnist", 8, bn, "relu", s, 0.90 + 0.01 * s) for bn in (False, True)]
        rows += [("mnist", 8, True, "elu", s, 0.95 + 0.01 * s)]
        if s < 2:
            rows += [("mnist", 8, False, "elu", s, 0.95 + 0.01 * s)]
    items = na.claim_items(_runs(rows), ["mnist"], (4, 8), seeds=(0, 1, 2))
    elu = items[items.claim == "elu_deep"].set_index("comparison")
    assert elu.loc["ELU − ReLU", "outcome"] == "pending (2 of 3 seeds)"
    assert elu.loc["ELU − ReLU", "mean"] == pytest.approx(5.0)
    assert elu.loc["ELU − ReLU + BN", "outcome"] == "pending (2 of 3 seeds)"
    v = na.claim_verdicts(items).set_index("id")
    assert v.loc["elu_deep", "verdict"] == "pending" and v.loc["elu_deep", "pending"] == 2
    # without seeds= (the old reading) the two-seed item would already be judged
    assert na.claim_items(_runs(rows), ["mnist"], (8,)).set_index("comparison").loc[
        "ELU − ReLU", "outcome"] == "holds"
    # deep picks the depth of the ELU claim, and must be one of the depths
    shallow = na.claim_items(_runs(rows), ["mnist"], (4, 8), seeds=(0, 1, 2), deep=4)
    assert set(shallow[shallow.claim == "elu_deep"].depth) == {4}
    with pytest.raises(ValueError, match="deep=6; accepted: one of depths"):
        na.claim_items(_runs(rows), ["mnist"], (4, 8), deep=6)


def test_layer_table_averages_layers_then_seeds():
    """ELU on MNIST 4x200: seed 0's layers have sparsity 10 and 30 (mean 20), seed 1's 50 and
    70 (mean 60): 40 over seeds; perplexity 2 and 4 -> 3. The rows come in ORDER (ReLU
    before ELU) whatever order the input has."""
    rows = []
    for act in ("elu", "relu"):
        for seed, (a, b) in enumerate([(10, 30), (50, 70)]):
            rows += [dict(dataset="mnist", depth=4, width=200, batch_norm=False,
                          activation=act, seed=seed, layer=layer, sparsity=v,
                          grad_saturation=v / 10, perplexity=p)
                     for layer, v, p in ((1, a, 2.0), (2, b, 4.0))]
    t = na.layer_table(pd.DataFrame(rows))
    assert t.activation.tolist() == ["relu", "elu"]
    elu = t.set_index("activation").loc["elu"]
    assert (elu.sparsity, elu.grad_saturation, elu.perplexity) == (40.0, 4.0, 3.0)
    assert na.layer_table(pd.DataFrame(columns=rows[0].keys())).empty


def test_selu_mean_outputs_by_hand():
    layers = pd.DataFrame([dict(dataset="mnist", activation="selu", batch_norm=False, depth=4,
                                seed=s, layer=k, mean=m + 0.1 * s)
                           for s in range(3) for k, m in ((1, 0.3), (2, 0.5), (3, 0.7),
                                                          (4, 1.4))])
    # mean over seeds adds 0.1 to each layer
    assert na.selu_mean_outputs(layers, "mnist", (4, 8)) == "0.40 in layer 1 to 1.50 in layer " \
        "4 (4 layers)"
    assert na.selu_mean_outputs(layers.iloc[:0], "mnist", (4,)) == "pending"


def test_status_text_names_the_datasets_still_missing():
    p = pd.DataFrame({"extension_runs": [66, 0], "extension_planned": [66, 66],
                      "comparator_runs": [24, 24], "comparator_planned": [24, 24]},
                     index=pd.Index(["mnist", "cifar10"], name="dataset"))
    t = na.status_text(p, {"mnist": "MNIST", "cifar10": "CIFAR-10"})
    assert t.startswith("MNIST: 66 of 66 extension runs (complete); CIFAR-10: 0 of 66 "
                        "extension runs. No CIFAR-10 run of the newer activations exists yet")
    assert na.status_text(p.iloc[:1], {}) == "mnist: 66 of 66 extension runs (complete)."


def test_rate_matrix_shows_the_chosen_rates():
    runs = _runs([("mnist", 4, bn, a, s, 0.9) for a in ("relu", "elu") for bn in (False, True)
                  for s in range(3)])
    runs["lr"] = [1e-3] * 6 + [3e-3] * 5 + [1e-2]
    m = na.rate_matrix(runs)
    assert m.loc["ReLU", ("mnist", 4, "no BN")] == "0.001"
    assert m.loc["ELU", ("mnist", 4, "BN")] == "0.003, 0.01"  # seeds that chose differently
    assert na.rate_matrix(runs.iloc[:0]).empty


def test_chapter_runs_joins_the_datasets(monkeypatch):
    import helpers.learning_curves as lc

    def res(ds, grid, source):
        runs = _runs([(ds, 4, False, "relu", 0, 0.9)]) if grid == "paper" else _runs(
            [(ds, 4, False, "elu", 0, 0.9)])
        return GridResults("paper", ds, None, runs, pd.DataFrame(), pd.DataFrame(),
                           manifest={"source": source} if source else {})
    monkeypatch.setattr(lc, "grid_results", lambda p, ds, progress: res(ds, "paper", None))
    monkeypatch.setattr(na, "extension_results",
                        lambda p, ds: res(ds, "ext", "cifar10-jpeg" if ds == "cifar10" else ""))
    runs, layers, sources = na.chapter_runs("paper", ["mnist", "cifar10"])
    assert sorted(runs.activation) == ["elu", "elu", "relu", "relu"]
    assert sources == {"mnist": "mnist", "cifar10": "cifar10-jpeg"}  # the code without one
    assert layers.empty
