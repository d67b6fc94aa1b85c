"""Section-2 tables and claim checks on small hand-made run tables."""

import itertools

import matplotlib
import pandas as pd
import pytest

from helpers.grid import get_spec
from helpers.learning_curves import (
    bn_lead_reading,
    choices_table,
    claim_checks,
    config_table,
    depth_slope,
    headline_numbers,
    lr_sensitivity,
    lr_spread,
    lr_spread_numbers,
    mean_curves,
    plot_fig1,
    plot_fig2,
    plot_lr_sensitivity,
    rates_by_depth_text,
    relu_minus_sigmoid,
)

matplotlib.use("Agg")


def _runs(acc):
    """Runs for mnist, depths 2/4, widths 8/16, ±BN, both activations, seeds 0/1;
    test accuracy from ``acc(depth, width, bn, act, seed)``."""
    rows = []
    for depth, width, bn, act, seed in itertools.product(
            [2, 4], [8, 16], [False, True], ["relu", "sigmoid"], [0, 1]):
        rows.append(dict(dataset="mnist", depth=depth, width=width, batch_norm=bn,
                         activation=act, seed=seed, lr=1e-3, best_epoch=3,
                         train_acc=1.0, val_acc=0.9, test_acc=acc(depth, width, bn, act, seed),
                         diverged=False, source="mnist"))
    out = pd.DataFrame(rows)
    return out.assign(best_val_acc=out["test_acc"])  # validation as test, unless a test sets it


def _histories(runs):
    rows = []
    for r in runs.itertuples():
        n_epochs = 3 if r.seed == 0 else 2  # seed 1 stops early
        for e in range(n_epochs + 1):
            rows.append(dict(dataset=r.dataset, depth=r.depth, width=r.width,
                             batch_norm=r.batch_norm, activation=r.activation, seed=r.seed,
                             epoch=e, train_acc=min(1.0, 0.5 + 0.25 * e), val_acc=0.5 + 0.1 * e,
                             source="mnist"))
    return pd.DataFrame(rows)


def test_config_table_mean_and_sd():
    runs = _runs(lambda d, w, bn, a, s: 0.90 + 0.02 * s)  # seeds 0/1: 90 %, 92 %
    t = config_table(runs)
    assert len(t) == 16
    row = t.loc[("mnist", 2, 8, False, "relu")]
    assert row["test acc mean (%)"] == pytest.approx(91.0)
    assert row["test acc sd (%)"] == pytest.approx(1.41, abs=0.01)  # sd of (90, 92)
    assert row["seeds"] == 2


def test_relu_minus_sigmoid_and_slope():
    runs = _runs(lambda d, w, bn, a, s: (0.95 if a == "relu" else 0.90) - 0.01 * d)
    diff = relu_minus_sigmoid(runs)
    assert diff["relu − sigmoid (pts)"].tolist() == pytest.approx([5.0] * 8)
    # one ReLU seed missing in one configuration: that gap waits for it
    first = runs[(runs.activation == "relu")].index[0]
    partial = relu_minus_sigmoid(runs.drop(index=first), seeds=2)["relu − sigmoid (pts)"]
    assert partial.isna().sum() == 1 and partial.notna().sum() == 7
    # accuracy falls 1 point per layer
    assert depth_slope(runs, "mnist", 8, False, "sigmoid") == pytest.approx(-1.0)


def test_mean_curves_carry_early_stopped_runs_forward():
    runs = _runs(lambda *a: 0.9)
    curves = mean_curves(_histories(runs), "mnist", 8)
    last = curves[(curves.epoch == 3) & (curves.split == "validation")]
    # seed 0 at epoch 3: 80 %; seed 1 stopped at epoch 2 (70 %) and is carried forward
    assert last["mean"].tolist() == pytest.approx([75.0] * len(last))
    assert (last["seeds"] == 2).all()


def test_claim_checks_use_the_claims_module():
    runs = _runs(lambda d, w, bn, a, s: (0.99 if a == "relu" else 0.97)
                 + (0.001 * d if bn else -0.001 * d) + 0.001 * s)
    checks = claim_checks(runs, _histories(runs)).set_index("id")
    up = checks.loc["fig2-sigmoid-bn-deeper-better-mnist"]
    assert up["verdict"] == "agrees" and up["ours"] == "0.10 ± 0.00 pts/layer"
    down = checks.loc["fig2-sigmoid-nobn-deeper-worse-mnist"]
    assert down["verdict"] == "agrees" and down["ours"] == "slope ×8: -0.10 ± 0.00 pts/layer; " \
        "slope ×16: -0.10 ± 0.00 pts/layer"
    # ReLU is 2 points better everywhere, so it is not "comparable" at the wide width
    assert checks.loc["conclusion-wide-comparable-mnist", "verdict"] == "disagrees"
    # no CIFAR-10 runs, or no best_val_acc column: those claims wait for their inputs
    assert checks.loc["cifar-bn-deeper-better", "verdict"] == "pending"
    assert checks.loc["fig1-relu-validates-better", "verdict"] == "agrees"
    no_val = claim_checks(runs.drop(columns="best_val_acc"), _histories(runs)).set_index("id")
    assert no_val.loc["fig1-relu-validates-better", "verdict"] == "pending"
    # a grid that should have depth 6 makes the depth claims pending, not smaller
    partial = claim_checks(runs, _histories(runs), layout=dict(depths=[2, 4, 6]))
    assert partial.set_index("id").loc["fig2-sigmoid-bn-deeper-better-mnist",
                                       "verdict"] == "pending"


def test_figures_render():
    runs = _runs(lambda *a: 0.9)
    assert len(plot_fig1(_histories(runs), "mnist").axes) == 4
    # the y axis starts half a point below the lowest mean curve from `from_epoch` on
    # (validation: 50 % at epoch 0, +10 points an epoch), so the plateaus' gaps show
    assert plot_fig1(_histories(runs), "mnist", from_epoch=1).axes[0].get_ylim() == \
        pytest.approx((59.5, 100.2))
    assert plot_fig1(_histories(runs), "mnist", from_epoch=2).axes[0].get_ylim() == \
        pytest.approx((69.5, 100.2))
    assert len(plot_fig2(runs).axes) == 1
    # two panels, width 16 only in the first: the one figure legend still names it
    two = pd.concat([runs, runs[runs.width == 8].assign(dataset="cifar10")])
    fig = plot_fig2(two)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(fig.axes) == 2 and "ReLU, width 16, BN" in labels and len(labels) == 8


class _Results:
    def __init__(self, runs, label="MNIST"):
        self.runs, self.label = runs, label
        self.histories = pd.DataFrame()  # no full-length runs to replay


class _Spec:
    seeds = (0, 1)

    @staticmethod
    def n_final():
        return 64


def test_headline_best_configuration_needs_all_its_seeds():
    """A configuration with one lucky seed does not beat complete ones; the best complete
    one is quoted with its seed count."""
    runs = _runs(lambda d, w, bn, a, s: 0.95 if (d, w, bn, a) == (4, 16, True, "relu")
                 else 0.90)
    lucky = runs[(runs.depth == 2) & (runs.width == 8) & ~runs.batch_norm
                 & (runs.activation == "sigmoid") & (runs.seed == 0)].index
    runs.loc[lucky, ["test_acc", "best_val_acc"]] = 0.99
    runs = runs.drop(index=lucky + 1)  # its seed 1 is missing
    nums = headline_numbers({"mnist": _Results(runs)}, _Spec, pd.DataFrame())
    assert nums["mnist_best"] == "95.00 %"
    assert nums["mnist_best_config"] == "ReLU 4×16 with BN, mean of 2 seeds"
    assert nums["mnist_final"] == str(len(runs)) and nums["planned"] == "64"
    # chosen on validation, quoted on test: 2×16 ReLU validates best (97 %) but tests at 90
    chosen = runs.assign(best_val_acc=runs["best_val_acc"].where(
        ~((runs.depth == 2) & (runs.width == 16) & ~runs.batch_norm
          & (runs.activation == "relu")), 0.97))
    nums_val = headline_numbers({"mnist": _Results(chosen)}, _Spec, pd.DataFrame())
    assert (nums_val["mnist_best"], nums_val["mnist_best_config"]) == \
        ("90.00 %", "ReLU 2×16, mean of 2 seeds")
    # while no configuration is complete, the best incomplete one is quoted as such
    only = runs[runs.seed == 0]
    nums = headline_numbers({"mnist": _Results(only)}, _Spec, pd.DataFrame())
    assert nums["mnist_best"] == "99.00 %"
    assert nums["mnist_best_config"] == ("sigmoid 2×8, 1 seed; no configuration has all its "
                                         "seeds yet")
    assert nums["halt_bn_mean"] == "pending"
    assert nums["halt_compare"] == "pending"
    assert nums["status"] == ("So far 16 of the 64 final MNIST runs exist in this profile. Every "
                              "figure and table below is drawn from those runs only; a "
                              "configuration that has no runs yet is simply absent, and the "
                              "claim checks call it pending.")


def test_headline_status_and_halting_comparison_when_complete():
    """Every planned run there: the status says so; halting costs compared across BN."""
    runs = _runs(lambda d, w, bn, a, s: 0.9)

    class Spec(_Spec):
        @staticmethod
        def n_final():
            return 32  # as many as _runs makes

    halting = pd.DataFrame({"mean loss (pts)": [0.10, 0.30], "worst loss (pts)": [0.2, 0.5],
                            "runs": [4, 4]}, index=pd.Index([False, True], name="batch_norm"))
    nums = headline_numbers({"mnist": _Results(runs), "cifar10": _Results(
        runs.assign(dataset="cifar10"), "CIFAR-10 (JPEG copy)")}, Spec, halting)
    assert nums["status"] == ("All 32 final runs of each dataset (MNIST and CIFAR-10 (JPEG "
                              "copy)) exist in this profile, and every figure and table below "
                              "is drawn from them.")
    assert nums["halt_compare"] == "larger with it than without"
    close = halting.assign(**{"mean loss (pts)": [0.10, 0.14]})
    assert headline_numbers({"mnist": _Results(runs)}, Spec, close)["halt_compare"] == \
        "about the same with and without it (within 0.05 points)"


def test_bn_lead_reading_by_hand():
    """ReLU leads sigmoid by 3 points without BN and 1 with it in three shapes, the other
    way round (1 and 2) in the fourth: larger without BN in 3 of 4, means 2.5 and 1.25."""
    def acc(d, w, bn, a, s):
        if a == "sigmoid":
            return 0.5
        lead = (1, 2) if (d, w) == (4, 16) else (3, 1)
        return 0.5 + lead[bn] / 100

    class Spec(_Spec):
        depths, widths = (2, 4), (8, 16)

    runs = _runs(acc).assign(dataset="cifar10")
    assert bn_lead_reading(runs, Spec) == (
        "Across the 4 shapes, ReLU's lead is larger without BN than with it in 3 (mean 2.50 "
        "points without BN, 1.25 with it): the reverse of the sentence.")
    # a shape missing a seed drops out, and the count says of how many
    part = runs.drop(index=runs[(runs.depth == 2) & (runs.width == 8) & (runs.seed == 1)].index)
    assert bn_lead_reading(part, Spec).startswith(
        "Across the 3 of the 4 shapes run so far, ReLU's lead is larger without BN than with it "
        "in 2 (mean 2.33")
    assert bn_lead_reading(runs, Spec, dataset="mnist") == "Which lead is the larger is pending."
    assert bn_lead_reading(runs.iloc[:0], Spec) == "Which lead is the larger is pending."


def test_rates_by_depth_text_by_hand():
    idx = pd.MultiIndex.from_tuples(
        [("cifar10", 4, 8, True), ("cifar10", 2, 8, True), ("cifar10", 2, 16, True)],
        names=["dataset", "depth", "width", "batch_norm"])
    chosen = pd.DataFrame({"relu": [1e-3, 1e-3, 1e-3], "sigmoid": [3e-3, 1e-4, 1e-2]}, idx)

    class Spec(_Spec):
        widths = (8, 16)

    assert rates_by_depth_text(chosen.sort_index(), Spec) == (
        "For the 8-wide CIFAR-10 sigmoid networks with BN, for example, it chose 2 layers "
        "0.0001, 4 layers 0.003.")
    assert rates_by_depth_text(chosen, Spec, dataset="mnist") == ""


def test_choices_table_gives_every_datasets_split():
    mnist = {"source_label": "MNIST", "data": dict(n_train=50_000, n_val=10_000, n_test=10_000)}
    cifar = {"source_label": "CIFAR-10 (JPEG copy)",
             "data": dict(n_train=40_000, n_val=10_000, n_test=10_000)}
    row = choices_table(get_spec("paper"), mnist, more=[cifar]).loc[
        "training / validation / test images", "this book"]
    assert row.startswith("MNIST: 50,000 / 10,000 / 10,000; CIFAR-10 (JPEG copy): 40,000 / "
                          "10,000 / 10,000 (fixed seeded split")
    assert choices_table(get_spec("paper"), {}).loc[
        "training / validation / test images", "this book"].startswith("— (")


def test_choices_table_names_the_adam_kernels_of_the_sessions():
    manifest = {"sessions": [{"device": "cpu: X (2 cores)"}, {"device": "cpu: X (2 cores)"},
                             {"device": "cpu: X (2 cores)", "adam": "fused"}]}
    row = choices_table(get_spec("paper"), manifest).loc["Adam kernel", "this book"]
    assert row.startswith("the single-tensor formula in 2 sessions; torch's fused kernel in 1 "
                          "session.")
    assert choices_table(get_spec("paper"), {}).loc["Adam kernel", "this book"].startswith(
        "no sessions yet")


def _search():
    """A 2-deep MNIST search: ReLU and sigmoid (no BN), two seeds, coarse rates 1e-3/1e-2,
    and one extension rate 1e-1 for sigmoid; histories give val_acc at epochs 0-3."""
    rows, hist = [], []
    acc = {("relu", 1e-3): [0.90, 0.92], ("relu", 1e-2): [0.88, 0.90],
           ("sigmoid", 1e-3): [0.50, 0.60], ("sigmoid", 1e-2): [0.80, 0.84],
           ("sigmoid", 1e-1): [0.10, 0.10]}
    for (act, lr), accs in acc.items():
        for seed, a in enumerate(accs):
            key = dict(dataset="mnist", depth=2, width=8, batch_norm=False, activation=act,
                       seed=seed, lr=lr)
            rows.append(key | dict(source="mnist", extension=lr == 1e-1, diverged=False,
                                   epochs=10))
            for e in range(11):  # epoch 3 holds the accuracy; others are decoys
                hist.append(key | dict(epoch=e, val_acc=a if e == 3 else 0.0,
                                       phase="search"))
    return pd.DataFrame(rows), pd.DataFrame(hist)


def test_lr_sensitivity_and_spread_by_hand():
    search, hist = _search()
    sens = lr_sensitivity(search, hist, 3)
    assert len(sens) == 10 and sens["val acc (%)"].notna().all()
    relu = sens[(sens.activation == "relu") & (sens.lr == 1e-3)]
    assert list(relu["val acc (%)"].round(6)) == [90.0, 92.0]
    spread = lr_spread(sens).loc[("mnist", 2, 8, False)]
    # relu: means 91 (1e-3) and 89 (1e-2) -> 2 points; sigmoid: 55 and 82 -> 27 points; the
    # extension (10 %) is left out
    assert spread.loc["relu", "spread (pts)"] == pytest.approx(2.0)
    assert spread.loc["sigmoid", "spread (pts)"] == pytest.approx(27.0)
    assert spread.loc["sigmoid", "best lr"] == 1e-2 and spread.loc["relu", "best lr"] == 1e-3
    nums = lr_spread_numbers(lr_spread(sens))
    assert (nums["relu"], nums["sigmoid"], nums["relu_bn"]) == ("2.0", "27.0", "pending")
    assert (nums["widest"], nums["widest_config"]) == ("27.0", "sigmoid 2×8 on MNIST")
    assert spread.loc["sigmoid", "worst lr"] == 1e-3  # 55 % against 82 % at 1e-2
    assert nums["widest_worst"] == "its worst rate, 0.001, is the smallest of the coarse grid"
    # against a coarse grid that reaches lower, 1e-3 lies inside it
    assert lr_spread_numbers(lr_spread(sens), (1e-4, 1e-3, 1e-2))["widest_worst"] == \
        "its worst rate, 0.001, lies inside the coarse grid"
    # a configuration whose search has tried one rate so far has no spread (not 0 points)
    partial = sens[~((sens.activation == "relu") & (sens.lr == 1e-2))]
    assert list(lr_spread(partial).index.get_level_values("activation")) == ["sigmoid"]


def test_lr_sensitivity_missing_epoch_is_nan_and_bad_epoch_refused():
    search, hist = _search()
    hist = hist[~((hist.activation == "sigmoid") & (hist.lr == 1e-1) & (hist.epoch == 3))]
    sens = lr_sensitivity(search, hist, 3)  # e.g. diverged before epoch 3
    assert sens["val acc (%)"].isna().sum() == 2
    with pytest.raises(ValueError, match="epoch=0; accepted: an integer >= 1"):
        lr_sensitivity(search, hist, 0)
    empty = lr_sensitivity(search.iloc[:0], hist, 3)
    assert len(empty) == 0 and lr_spread_numbers(lr_spread(empty))["widest"] == "pending"


def test_lr_sensitivity_figure_renders_with_an_empty_depth():
    search, hist = _search()
    more = search.assign(depth=4, dataset="cifar10", source="cifar10-jpeg")
    sens = lr_sensitivity(pd.concat([search, more]), pd.concat(
        [hist, hist.assign(depth=4, dataset="cifar10")]), 3)
    fig = plot_lr_sensitivity(sens, 3)
    assert len(fig.axes) == 4  # 2 rows (MNIST, CIFAR-10) x 2 depths
    assert fig.axes[1].texts[0].get_text() == "4×8: no search runs yet"  # MNIST has no 4-deep
    assert fig.axes[0].get_title() == "MNIST, 2×8"


def test_exercise_helpers_by_hand():
    """Chapter 4's exercise answers: the lead among the second-round rates (ReLU's flips
    from 1e-3 to 1e-2, sigmoid's stays at 1e-2; the extension 1e-1 never reached epoch 10),
    the chosen rates compared per BN setting, and which ReLU − sigmoid gaps clear two
    standard errors (10 points against sqrt(2), yes; 0.5 against sqrt(2), no)."""
    from helpers.learning_curves import (
        chosen_rates,
        exercise_numbers,
        gap_noise,
        rank_flips,
        rate_comparison,
    )

    search, hist = _search()
    hist = hist[~((hist.lr == 1e-1) & (hist.epoch == 10))].copy()
    for (act, lr), v in {("relu", 1e-3): 0.95, ("relu", 1e-2): 0.97,
                         ("sigmoid", 1e-3): 0.85, ("sigmoid", 1e-2): 0.90}.items():
        hist.loc[(hist.activation == act) & (hist.lr == lr) & (hist.epoch == 10),
                 "val_acc"] = v
    flips = rank_flips(search, hist, (3, 10))
    relu, sig = (flips.xs(a, level="activation").iloc[0] for a in ("relu", "sigmoid"))
    assert (relu["ahead after rung 1"], relu["ahead after rung 2"]) == (1e-3, 1e-2)
    assert relu["flipped"] and not sig["flipped"]
    assert sig["ahead after rung 1"] == sig["ahead after rung 2"] == 1e-2

    search["selected"] = [(a, lr) in {("relu", 1e-3), ("sigmoid", 1e-2)}
                          for a, lr in zip(search.activation, search.lr)]
    bn = search[search.selected].assign(batch_norm=True, lr=1e-2)  # BN: the same rate
    chosen = chosen_rates(pd.concat([search, bn]))
    assert chosen.loc[("mnist", 2, 8, False), "sigmoid"] == 1e-2
    cmp = rate_comparison(chosen)
    assert cmp.loc[False].tolist() == [1, 0, 0] and cmp.loc[True].tolist() == [0, 1, 0]

    # per seed, ReLU − sigmoid: depth 2: 20 and 22 points (mean 21, se 1: clears Student's
    # t for 1 degree of freedom, 12.7 se); depth 4: 0.5 and 2.5 (mean 1.5, se 1: noise)
    runs = _runs(lambda d, w, bn, a, s: 0.90 + 0.02 * s if a == "relu"
                 else (0.70 if d == 2 else 0.895))
    noise = gap_noise(runs)
    assert noise["se (pts)"].round(6).eq(1.0).all() and noise["seeds"].eq(2).all()
    assert noise.xs(2, level="depth")["gap (pts)"].round(6).eq(21).all()
    assert noise.xs(4, level="depth")["gap (pts)"].round(6).eq(1.5).all()
    assert noise.xs(2, level="depth")["beyond noise"].all()
    assert not noise.xs(4, level="depth")["beyond noise"].any()
    # unpaired, same seeds: ReLU 90/92 (sd sqrt 2), sigmoid constant (sd 0): se 1 as well;
    # depth 2 (21 > t for 2 degrees of freedom, 4.3) clears it, depth 4 (1.5) does not
    assert noise["se unpaired (pts)"].round(6).eq(1.0).all()
    assert noise["beyond noise unpaired"].tolist() == noise["beyond noise"].tolist()
    # a seed that only one activation has is left out: one shared seed is too few
    assert gap_noise(runs[~((runs.activation == "sigmoid") & (runs.seed == 1))]).empty

    out = exercise_numbers(runs, hist, pd.concat([search, bn]), get_spec("quick"))
    assert out["gaps"] == ("4 of 8 configurations with at least two seeds run with both "
                           "activations by the paired rule (4 of them with ReLU ahead), and 4 "
                           "of 8 by the unpaired test; the paired standard error is the "
                           "larger one in 0 of the 8")
    assert out["patience"] == out["patience_compare"] == "pending"  # no test_acc per epoch
    assert out["strict_patience"] == "1"  # a quarter of quick's 4
    with pytest.raises(ValueError, match="strict_patience=4; accepted: 1 to 3"):
        exercise_numbers(runs, hist, search, get_spec("quick"), strict_patience=4)
    assert out["rates"] == ("without BN: sigmoid got a larger rate than ReLU in 1, the same "
                            "in 0 and a smaller one in 0 shapes; with BN: sigmoid got a "
                            "larger rate than ReLU in 0, the same in 1 and a smaller one in "
                            "0 shapes")


def test_fit_numbers_leave_out_the_papers_exceptions():
    """CIFAR-10, depths 2-8, widths 200/800: the 6- and 8-layer 200-wide sigmoid nets
    without BN (best training accuracy 0.5) are left out of the range; the lowest judged
    configuration is 2x200 sigmoid no BN at (0.9 + 0.8) / 2 = 85 %, the highest 100 %."""
    from helpers.learning_curves import fit_numbers

    rows, runs = [], []
    for d, w, bn, act, seed in itertools.product([2, 4, 6, 8], [200, 800], [False, True],
                                                 ["relu", "sigmoid"], [0, 1]):
        cfg = dict(dataset="cifar10", depth=d, width=w, batch_norm=bn, activation=act,
                   seed=seed, phase="final")
        weak = act == "sigmoid" and not bn and w == 200
        best = 0.5 if weak and d >= 6 else ((0.9, 0.8)[seed] if weak else 1.0)
        rows += [{**cfg, "epoch": e, "train_acc": v} for e, v in
                 enumerate([0.99, 0.3, best])]  # epoch 0 (before training) is ignored
        runs.append({**cfg, "epochs": 10 + d})
    checks = pd.DataFrame({"id": ["every-other-net-fits"], "verdict": ["mixed"]})
    spec = get_spec("paper")
    out = fit_numbers(checks, pd.DataFrame(runs), pd.DataFrame(rows), spec)
    assert (out["verdict"], out["low"], out["high"], out["epochs"]) == \
        ("mixed", "85.0", "100.0", "15")
    assert (out["gain_low"], out["gain_high"]) == ("pending", "pending"), \
        "two trained epochs: no gain over the last 10"
    assert out["climbing"].startswith("No run trained more than 10 epochs")
    # over the last epoch: 0.3 -> 0.9/0.8 (mean 55 points) for 2x200 sigmoid no BN, 0.3 -> 1.0
    # (70) elsewhere; the exempt nets' 0.3 -> 0.5 (20) is left out
    out = fit_numbers(checks, pd.DataFrame(runs), pd.DataFrame(rows), spec, window=1)
    assert (out["gain_low"], out["gain_high"], out["gain_configs"]) == \
        ("+55.0", "+70.0", "30 of 30")
    assert out["climbing"].startswith("None of them had levelled off: over the last 1 epochs")
    flat = pd.DataFrame(rows).assign(train_acc=0.5)
    assert fit_numbers(checks, pd.DataFrame(runs), flat, spec, window=1)["climbing"] \
        .startswith("All of them had levelled off:")
    fell = pd.DataFrame(rows).assign(train_acc=lambda d: 1 - 0.1 * d.epoch)  # 0.9 -> 0.8
    assert fit_numbers(checks, pd.DataFrame(runs), fell, spec, window=1)["climbing"] \
        .startswith("Not all of them were still climbing:")
    none = fit_numbers(checks.iloc[:0], pd.DataFrame(runs).iloc[:0],
                       pd.DataFrame(rows).iloc[:0], spec)
    assert none == {"verdict": "pending", "low": "pending", "high": "pending",
                    "epochs": "pending", "gain_low": "pending", "gain_high": "pending",
                    "gain_configs": "pending", "window": "10",
                    "climbing": "Whether they had levelled off is pending."}


def test_chapter4_numbers_before_any_run(tmp_path):
    """A results folder the grid has not written yet (a fresh fork): the numbers chapter 4
    quotes read "pending" and the chosen-rate table keeps its index levels, so looking a
    configuration up is a KeyError (handled), not a TypeError."""
    from helpers.grid import load_results
    from helpers.learning_curves import chosen_rates, fit_numbers

    res = load_results("paper", "cifar10", root=tmp_path, missing_ok=True)
    checks = pd.DataFrame({"id": [], "verdict": []})
    assert fit_numbers(checks, res.runs, res.histories, get_spec("paper")) == {
        "verdict": "pending", "low": "pending", "high": "pending", "epochs": "pending",
        "gain_low": "pending", "gain_high": "pending", "gain_configs": "pending", "window": "10",
        "climbing": "Whether they had levelled off is pending."}
    chosen = chosen_rates(res.lr_search)
    assert chosen.empty and chosen.index.names == ["dataset", "depth", "width", "batch_norm"]
    with pytest.raises(KeyError):
        chosen.xs(("cifar10", 200, True), level=["dataset", "width", "batch_norm"])


def test_halting_cost_and_summary_by_hand():
    """Two full-length runs, epochs 0-6. Validation 10/50/60/60/60/70/70 %: patience 2 halts
    at epoch 4 keeping epoch 2, the full run keeps epoch 5 (its first maximum). Test accuracy
    at epochs 2 and 5: 60 and 66 % (no BN: 6 points lost), 60 and 59 % with BN (-1: halting
    helped). A search row and a run without per-epoch test accuracy are left out."""
    from helpers.learning_curves import halting_cost, halting_summary

    val = [0.1, 0.5, 0.6, 0.6, 0.6, 0.7, 0.7]
    rows = []
    for bn, test5 in ((False, 0.66), (True, 0.59)):
        test = [0.1, 0.5, 0.6, 0.6, 0.6, test5, test5]
        cfg = dict(dataset="mnist", depth=2, width=8, batch_norm=bn, activation="relu",
                   seed=0, phase="final")
        rows += [dict(cfg, epoch=e, val_acc=v, test_acc=t) for e, (v, t) in
                 enumerate(zip(val, test))]
    rows += [dict(rows[0], phase="search", test_acc=0.0)]
    rows += [dict(rows[0], seed=1, test_acc=float("nan"))]
    cost = halting_cost(pd.DataFrame(rows), patience=2).set_index("batch_norm")
    assert cost.loc[False, ["halt_epoch", "halt_best_epoch", "full_best_epoch"]].tolist() \
        == [4, 2, 5]
    assert cost["loss_pts"].round(9).tolist() == [6.0, -1.0]
    s = halting_summary(cost.reset_index())
    assert s["runs"].tolist() == [1, 1]
    assert s.loc[False, "mean loss (pts)"] == 6.0 and s.loc[True, "worst loss (pts)"] == -1.0
    assert s.loc[True, "halted at (epoch)"] == 4.0 and s.loc[True, "full best epoch"] == 5.0
    # the same runs read under patience 2: best epoch 2, validation 60 %, test 60 %; the run
    # without per-epoch test accuracy (seed 1) keeps what it recorded
    from helpers.learning_curves import halted_runs

    runs = pd.DataFrame([dict(dataset="mnist", depth=2, width=8, batch_norm=bn,
                              activation="relu", seed=seed, phase="final", best_epoch=5,
                              best_val_acc=0.7, test_acc=0.66)
                         for bn in (False, True) for seed in (0, 1)])
    h = halted_runs(runs, pd.DataFrame(rows), patience=2).set_index(["batch_norm", "seed"])
    assert h.loc[(False, 0), ["best_epoch", "best_val_acc", "test_acc"]].tolist() == \
        [2, 0.6, 0.6]
    assert h.loc[(False, 0), "halted_replay"] and not h.loc[(False, 1), "halted_replay"]
    assert h.loc[(False, 1), ["best_epoch", "test_acc"]].tolist() == [5, 0.66]


def test_search_summary_by_hand():
    """MNIST: two configurations searched, one with an edge extension; the losing rates
    trained 3 + 10 + 3 epochs, the selected ones are not counted; the final runs trained
    40 + 40 epochs: search / final = 16 / 80 = 0.2."""
    from helpers.learning_curves import search_summary

    def row(act, lr, epochs, selected, extension=False):
        return dict(dataset="mnist", depth=2, width=8, activation=act, batch_norm=False,
                    lr=lr, epochs=epochs, selected=selected, extension=extension)

    search = pd.DataFrame([row("relu", 1e-3, 3, False), row("relu", 3e-3, 10, True),
                           row("sigmoid", 1e-3, 10, False), row("sigmoid", 3e-3, 3, False),
                           row("sigmoid", 1e-2, 10, True, extension=True)])
    runs = pd.DataFrame([dict(dataset="mnist", depth=2, width=8, activation=a,
                              batch_norm=False, epochs=40) for a in ("relu", "sigmoid")])
    s = search_summary(search, runs, get_spec("quick")).loc["mnist"]
    assert s["configurations searched"] == 2 and s["with final runs"] == 2
    assert s["edge extensions"] == "1 of 2"
    # sigmoid chose its extension, 1e-2, the largest rate tried: not bracketed; ReLU chose
    # 3e-3, also the largest of its two rates
    assert s["chosen at an edge"] == "2 of 2"
    bracketed = pd.concat([search, pd.DataFrame([row("relu", 1e-2, 3, False)])])
    assert search_summary(bracketed, runs, get_spec("quick")).loc["mnist",
                                                                  "chosen at an edge"] == "1 of 2"
    assert (s["search extra model-epochs"], s["final model-epochs"]) == (16, 80)
    assert s["search / final"] == 0.2


def test_manifest_summary_reads_compute_and_session_time():
    import types

    from helpers.learning_curves import manifest_summary

    m = {"source_label": "MNIST", "n_final_runs": 2, "n_final_planned": 4, "n_diverged": 0,
         "n_search_runs": 6, "complete": False, "torch_version": "2.x", "git_commit": "a" * 40,
         "compute_s": 7200.0, "wall_time_s": 5400.0,
         "sessions": [{"device": "cpu: X"}, {"device": "cuda: Y"}, {"device": "cpu: X"}]}
    row = manifest_summary(types.SimpleNamespace(manifest=m, profile="paper", dataset="mnist"))
    assert row["compute (h)"] == 2.0 and row["sessions (h)"] == 1.5
    assert row["devices"] == "cpu: X; cuda: Y" and row["git commit"] == "a" * 12
    assert row["final runs"] == "2 of 4 (diverged: 0)" and row.name == "paper / mnist"
