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
