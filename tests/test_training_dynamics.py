import math

import numpy as np
import pandas as pd
import pytest

from helpers import training_dynamics as td


def test_dynamics_rows_are_appended_and_the_cli_picks_models(tmp_path, monkeypatch):
    path = tmp_path / "mnist_dynamics.csv.gz"
    td._append_rows(path, pd.DataFrame({"epoch": [0, 1], "model": "ReLU"}))
    td._append_rows(path, pd.DataFrame({"epoch": [0], "model": "sigmoid"}))
    assert pd.read_csv(path)["model"].tolist() == ["ReLU", "ReLU", "sigmoid"]
    calls = []
    monkeypatch.setattr(td, "run_dynamics", lambda *a, **k: calls.append((a, k)) or
                        pd.DataFrame())
    td.main(["dynamics", "--seeds", "0", "--models", "ReLU", "ReLU BN", "--lrs", "3e-4"])
    (args, kwargs), = calls
    assert args[2] == [0] and kwargs["lrs"] == [3e-4]
    assert kwargs["configs"] == [("relu", False), ("relu", True)]
    with pytest.raises(SystemExit):
        td.main(["dynamics", "--models", "tanh"])


def test_table1_gap_by_hand():
    # one ReLU run (best epoch 1 of 0..2) and one sigmoid run (ignored); 2 layers
    dyn = pd.DataFrame({
        "model": ["ReLU"] * 3 + ["sigmoid"], "run_lr": 1e-3, "patience": 20, "seed": 0,
        "best_epoch": [1, 1, 1, 0], "epoch": [0, 1, 2, 0],
        "sparsity/1": [50.0, 70.0, 80.0, 0.0], "sparsity/2": [50.0, 74.0, 84.0, 0.0]})
    gap = td.table1_gap(dyn).set_index("at")
    assert "mean dead (%)" not in gap  # no dead-node columns in this table
    dead = td.table1_gap(dyn.assign(**{"dead/1": [0.0, 2.0, 4.0, 0.0],
                                       "dead/2": [0.0, 0.0, 8.0, 0.0]})).set_index("at")
    assert dead.loc["best", "mean dead (%)"] == 1.0 and dead.loc["last", "mean dead (%)"] == 6.0
    assert gap.loc["best", "epoch"] == 1 and gap.loc["last", "epoch"] == 2
    assert gap.loc["best", "mean sparsity (%)"] == pytest.approx(72.0)
    assert gap.loc["last", "layer 2"] == pytest.approx(84.0)
    paper = (80.40 + 79.33 + 81.93 + 81.90) / 4  # the paper's Table 1, MNIST ReLU trained
    assert gap.loc["best", "paper (%)"] == pytest.approx(paper)
    assert gap.loc["last", "gap (pp)"] == pytest.approx(82.0 - paper)
    assert td.table1_gap(pd.DataFrame()).empty
    fig = td.plot_table1_gap(dyn.assign(patience=301), td.table1_gap(dyn.assign(patience=301)),
                             "mnist", full_length=301)
    assert len(fig.axes) == 2


def test_gap_verdicts_by_hand():
    rows = [dict(model="ReLU", run_lr=1e-3, patience=20, seed=s, at="best",
                 **{"mean sparsity (%)": v, "paper (%)": 81.0}) for s, v in enumerate([73, 74, 75])]
    rows += [dict(model="ReLU", run_lr=3e-4, patience=20, seed=0, at="best",
                  **{"mean sparsity (%)": 74.5, "paper (%)": 81.0}),
             dict(model="ReLU", run_lr=1e-3, patience=301, seed=0, at="last",
                  **{"mean sparsity (%)": 80.0, "paper (%)": 81.0}),
             dict(model="ReLU", run_lr=1e-3, patience=301, seed=0, at="best",
                  **{"mean sparsity (%)": 79.0, "paper (%)": 81.0})]
    v = td.gap_verdicts(pd.DataFrame(rows), {"ReLU": 1e-3, "ReLU BN": 3e-3}, 20, 301)
    assert len(v) == 1  # no ReLU BN runs yet
    r = v.iloc[0]
    assert r["ours (%)"] == pytest.approx(74.0) and r["seed sd (pp)"] == pytest.approx(1.0)
    assert r["gap (pp)"] == pytest.approx(-7.0)
    # the long run (seed 0) against seed 0's main run, 73 (not the 3-seed mean, 74):
    # (80 - 73) / (81 - 73) of the gap closed
    assert r["length: seeds"] == "0" and r["length: main, same seeds (%)"] == 73.0
    assert r["length: share closed"] == pytest.approx(7 / 8) and r["length: explains"]
    assert r["length: at best epoch (%)"] == 79.0
    # the sweep on the seed every rate has (0): 73.0 (1e-3) to 74.5 (3e-4); 81 is outside
    assert r["lr: seeds"] == "0" and r["lr: lowest (%)"] == pytest.approx(73.0)
    assert r["lr: highest at"] == 3e-4
    assert r["lrs tried"] == "0.0003, 0.001" and not r["lr: explains"]
    bracket = pd.DataFrame(rows + [dict(rows[3], run_lr=3e-3, **{"mean sparsity (%)": 90.0})])
    r = td.gap_verdicts(bracket, {"ReLU": 1e-3}, 20, 301).iloc[0]
    assert r["lr: highest (%)"] == 90.0 and r["lr: explains"]  # 81 lies within 73.0-90.0
    # without runs for a candidate, its columns are absent (pending), not "no"
    v = td.gap_verdicts(pd.DataFrame(rows[:3]), {"ReLU": 1e-3}, 20, 301)
    assert not {"length: explains", "lr: explains"} & set(v.columns)


def test_fit_point_by_hand():
    # epochs 0..4; the net first fits every training image at epoch 3
    h = pd.DataFrame({"model": "ReLU", "seed": 0, "epoch": [0, 1, 2, 3, 4],
                      "train_acc": [0.1, 0.9, 0.99, 1.0, 1.0],
                      "train_loss": [2.3, 0.3, 0.05, 1e-5, 1e-7],
                      "update/1": [np.nan, -2.0, -3.0, -5.0, -6.0],
                      "update/2": [np.nan, -4.0, -3.0, -5.0, -4.0]})
    sig = h.assign(model="sigmoid", train_acc=0.5)
    t = td.fit_point(pd.concat([h, sig]), window=2).set_index("model")
    assert t.loc["ReLU", "fit epoch"] == 3 and t.loc["ReLU", "train loss at fit"] == 1e-5
    assert t.loc["ReLU", "update before"] == pytest.approx(-3.0)  # epochs 1-2: -3, -3
    assert t.loc["ReLU", "update after"] == pytest.approx(-5.0)  # epochs 3-4: -5, -5
    assert t.loc["ReLU", "last train loss"] == 1e-7 and t.loc["ReLU", "last epoch"] == 4
    assert math.isnan(t.loc["sigmoid", "fit epoch"])
    assert t.loc["ReLU", "update epoch 1"] == pytest.approx(-3.0)  # (-2 - 4) / 2
    assert t.loc["ReLU", "update last"] == pytest.approx(-5.0)  # (-6 - 4) / 2


def test_update_ratio_plot_dashes_the_mean_once_a_run_has_stopped():
    """Seed 0 stops after epoch 3, seed 1 trains to epoch 5: the mean is drawn solid over
    epochs 1-3 (both seeds) and thin and dashed from 3 to 5 (seed 1 alone)."""
    rows = [dict(model="ReLU", layer=1, seed=s, epoch=e, update=-3.0 - 0.1 * e - s)
            for s, last in ((0, 3), (1, 5)) for e in range(1, last + 1)]
    fig = td.plot_update_ratio(pd.DataFrame(rows), "mnist", "t", x="epoch")
    solid, dashed = [line for line in fig.axes[0].lines if line.get_label() != "-3"]
    assert list(solid.get_xdata()) == [1, 2, 3] and solid.get_linestyle() == "-"
    assert solid.get_ydata()[0] == pytest.approx(-3.6)  # (-3.1 + -4.1) / 2
    assert list(dashed.get_xdata()) == [3, 4, 5] and dashed.get_linestyle() == "--"
    assert dashed.get_ydata()[-1] == pytest.approx(-4.5)  # seed 1 alone


def _study_history() -> pd.DataFrame:
    """Per-epoch rows by hand (one hidden layer). Main runs (patience 20): ReLU seed 0
    (fits at epoch 2) and seed 1 (never), ReLU BN seed 0 at 1e-3, sigmoid seed 0 at 3e-3.
    One more ReLU BN run at 3e-3 trained all epochs (patience 301), fitting at epoch 2."""
    def run(model, seed, lr, patience, acc, update, sparsity):
        n = len(acc)
        return pd.DataFrame({"model": model, "seed": seed, "run_lr": lr, "patience": patience,
                             "epoch": range(n), "train_acc": acc,
                             "train_loss": [2.0, 0.3, 1e-4, 1e-6][:n],
                             "update/1": update, "sparsity/1": sparsity})
    return pd.concat([
        run("ReLU", 0, 1e-3, 20, [0.1, 0.9, 1.0, 1.0], [np.nan, -2.5, -4.0, -5.0],
            [50.0, 60.0, 70.0, 80.0]),
        run("ReLU", 1, 1e-3, 20, [0.1, 0.9, 0.95], [np.nan, -2.7, -3.2], [52.0, 58.0, 62.0]),
        run("ReLU BN", 0, 1e-3, 20, [0.1, 0.8], [np.nan, -2.6], [50.0, 55.0]),
        run("sigmoid", 0, 3e-3, 20, [0.1, 0.5], [np.nan, -2.0], [0.0, 0.0]),
        run("ReLU BN", 0, 3e-3, 301, [0.5, 0.9, 1.0], [np.nan, -2.9, -3.5], [50.0, 52.0, 54.0]),
    ], ignore_index=True)


def test_dynamics_numbers_by_hand():
    history = _study_history()
    main = history[history["patience"] == 20]
    t = td.dynamics_numbers(td.epoch_long(main), td.fit_point(main), td.fit_point(history))
    assert t["upd_relu_1"] == "-2.60"  # (-2.5 - 2.7) / 2
    assert t["upd_relu_last"] == "-4.10"  # each seed at its own last epoch: (-5 - 3.2) / 2
    assert (t["sparsity_relu_0"], t["sparsity_relu_last"]) == ("51.0", "71.0")
    assert t["last_epochs"] == "1–3" and t["sat_sigmoid_last"] == "pending"
    assert t["upd_verdict"] == "at -4.10, 1.1 orders of magnitude below"  # |-4.1 + 3| > 0.5
    assert t["main_rates"] == "ReLU 0.001, ReLU BN 0.001, sigmoid 0.003"
    # ReLU seed 0 fits at epoch 2: ratio before (epoch 1) -2.5, after (2-3) -4.5
    assert (t["fit_relu_n"], t["fit_relu_epoch"], t["fit_relu_loss"]) == ("1 of 2", "2", "1e-04")
    assert (t["upd_relu_before"], t["upd_relu_after"]) == ("-2.50", "-4.50")
    assert t["fit_relu_bn_n"] == "0 of 1"
    # the early-stopped runs share 1e-3 (ReLU and ReLU BN: -2.60 each); the long run is left out
    assert t["upd_same_rate"] == "at 0.001, ReLU -2.60, ReLU BN -2.60"
    assert t["upd_rate_reading"].startswith("At the same rate the configurations start almost "
                                            "alike") and "mostly their learning rates" in \
        t["upd_rate_reading"]
    assert t["fit_others"] == ("ReLU BN fitted in 1 of 2 runs (seed 0 at 0.003 trained all "
                               "epochs (epoch 2)), not seed 0 at 0.001. sigmoid fitted in 0 of "
                               "1 runs, not seed 0 at 0.003")
    assert t["bn_fit_update"].startswith("-2.90 before, -3.50 after")
    # the quick profile records no rates: those readings say so; without a table, pending
    quick = main.drop(columns=["run_lr", "patience"])
    q = td.dynamics_numbers(td.epoch_long(quick), td.fit_point(quick), td.fit_point(quick))
    assert q["main_rates"] == q["upd_same_rate"] == "not recorded here"
    assert q["upd_relu_1"] == "-2.60" and "paper profile" in q["fit_others"]
    none = td.dynamics_numbers(None, None, None)
    assert none["upd_relu_1"] == none["fit_relu_n"] == none["last_epochs"] == "pending"
    fits_only = td.dynamics_numbers(None, td.fit_point(main), None)  # no epoch table
    assert fits_only["fit_relu_n"] == t["fit_relu_n"] and fits_only["upd_relu_1"] == "pending"


def test_gap_numbers_by_hand():
    verdicts = pd.DataFrame([
        {"model": "ReLU", "ours (%)": 76.12, "seed sd (pp)": 1.3, "length: share closed": -0.26,
         "length: explains": False, "lrs tried": "0.0003, 0.003", "lr: highest at": 3e-3,
         "lr: explains": True},
        {"model": "ReLU BN", "ours (%)": 59.8}])
    gap = pd.DataFrame([dict(model="ReLU", at="best", run_lr=3e-3, patience=20, seed=s,
                             **{"mean dead (%)": v}) for s, v in ((0, 15.14), (1, 3.0))])
    t = td.gap_numbers(verdicts, gap, patience=20)
    assert (t["relu_ours"], t["relu_sd"], t["relu_length_closed"]) == ("76.1", "1.3", "-26%")
    assert (t["relu_length_explains"], t["relu_lr_explains"]) == ("no", "yes")
    assert (t["relu_lrs"], t["relu_lr_high_at"]) == ("0.0003, 0.003", "0.003")
    assert t["relu_bn_ours"] == "59.8" and t["relu_bn_length_explains"] == "pending"
    assert t["relu_paper"] == "pending"  # no such column
    assert t["lr_dead"] == "ReLU at 0.003: 15.1 %"  # seed 0's run at that rate
    assert td.gap_numbers(pd.DataFrame(), pd.DataFrame(), 20)["lr_dead"] == "pending"
