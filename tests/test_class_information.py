import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import class_information as ci
from helpers.class_information import (
    ClassInfoProbe,
    UpdateRecorder,
    bn_pair_summary,
    bn_pairs,
    bootstrap_ci,
    check_training_allowed,
    layer_perplexity_summary,
    linear_probe,
    node_perplexity,
    on_threshold,
    perplexity_table,
    rank_correlations,
    sparsity_accuracy_table,
    spearman,
    update_ratio,
)
from helpers.models import make_model

# 8 samples, classes 0,0,0,0,1,1,2,2 (3 classes); 5 nodes
Y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
H = torch.tensor([
    # n0: on for class 0 only; n1: on for everything; n2: never on;
    # n3: on for three class-0 and one class-1 sample (3:1); n4: one sample of each class
    [1.0, 1.0, 0.0, 2.0, 0.5],
    [2.0, 1.0, 0.0, 2.0, 0.0],
    [3.0, 1.0, -1.0, 2.0, 0.0],
    [4.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 5.0, 0.7],
    [-1.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0, 0.9],
    [0.0, 1.0, 0.0, 0.0, 0.0],
])


def test_node_perplexity_by_hand():
    ppl = node_perplexity(H, Y, n_classes=3)
    assert ppl[0].item() == pytest.approx(1.0)  # one-class detector
    # always on: class distribution 4/8, 2/8, 2/8 -> H = 1.5 ln 2 -> exp = 2**1.5
    assert ppl[1].item() == pytest.approx(2 ** 1.5)
    assert math.isnan(ppl[2].item())  # never on
    # 3:1 split: H = -(3/4 ln 3/4 + 1/4 ln 1/4) -> 4 / 3**0.75 = 1.7548
    assert ppl[3].item() == pytest.approx(4 / 3 ** 0.75, rel=1e-6)
    assert ppl[3].item() == pytest.approx(1.7548, abs=1e-4)
    assert ppl[4].item() == pytest.approx(3.0)  # uniform over 3 classes -> 3


def test_balanced_perplexity_makes_an_always_on_node_class_agnostic():
    ppl = node_perplexity(H, Y, n_classes=3, balanced=True)
    assert ppl[1].item() == pytest.approx(3.0)
    # n4: one of 4 class-0, 1 of 2 class-1, 1 of 2 class-2 -> weights 1/4, 1/2, 1/2
    p = np.array([0.25, 0.5, 0.5]) / 1.25
    assert ppl[4].item() == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-6)


def test_uniform_over_k_classes_gives_k_and_threshold_is_used():
    y = torch.arange(10).repeat(3)
    h = torch.full((30, 1), 0.7)
    assert node_perplexity(h, y, 10).item() == pytest.approx(10.0)
    # sigmoid threshold 0.5: 0.7 is on; threshold 0.8: nothing is on -> NaN
    assert node_perplexity(h, y, 10, on_threshold("sigmoid")).item() == pytest.approx(10.0)
    assert math.isnan(node_perplexity(h, y, 10, on_threshold("sigmoid", 0.8)).item())
    # only the samples of class 4 on -> 1
    h2 = torch.where(y[:, None] == 4, 0.9, 0.1)
    assert node_perplexity(h2, y, 10, 0.5).item() == pytest.approx(1.0)


def test_on_threshold_and_bad_inputs_name_the_parameter():
    assert on_threshold("relu") == 0.0
    assert on_threshold("sigmoid", 0.3) == 0.3
    with pytest.raises(ValueError, match=r"activation='tanh'.*accepted values: \('relu', "):
        on_threshold("tanh")
    with pytest.raises(ValueError, match=r"threshold=1\.5.*accepted"):
        on_threshold("sigmoid", 1.5)
    with pytest.raises(ValueError, match=r"y holds labels.*accepted"):
        node_perplexity(H, Y + 1, n_classes=3)
    with pytest.raises(ValueError, match=r"h has shape.*accepted"):
        node_perplexity(H[:, 0], Y, n_classes=3)


def test_perplexity_table_and_layer_summary():
    t = perplexity_table([H, H[:, :2]], Y, n_classes=3)
    assert list(t["layer"]) == [1] * 5 + [2] * 2
    assert t.loc[1, "on (%)"] == pytest.approx(100.0)
    s = layer_perplexity_summary(t).set_index("layer")
    assert s.loc[1, "nodes"] == 5
    assert s.loc[1, "never on (%)"] == pytest.approx(20.0)
    # nodes on: 1, 2.828, 1.755, 3 -> median of 4 = (1.755 + 2.828) / 2
    assert s.loc[1, "median perplexity"] == pytest.approx((4 / 3 ** 0.75 + 2 ** 1.5) / 2)
    assert s.loc[1, "perplexity <= 2 (%)"] == pytest.approx(50.0)


def test_probe_separable_problem_reaches_accuracy_one():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    y = torch.arange(3).repeat(50)
    x = centres[y] + 0.3 * torch.randn(150, 2, generator=g)
    r = linear_probe(x[:90], y[:90], x[90:], y[90:], n_classes=3, iterations=200)
    assert r.train_acc == 1.0 and r.test_acc == 1.0
    r2 = linear_probe(x[:90], y[:90], x[90:], y[90:], n_classes=3, iterations=200,
                      batch_size=16, seed=3)
    assert r2.test_acc == 1.0


def test_probe_without_information_predicts_the_majority_class():
    # constant features carry no information: the probe learns the training prior and
    # predicts its majority class (0) for everything -> test accuracy = share of class 0
    x_train, y_train = torch.ones(10, 4), torch.tensor([0] * 6 + [1] * 4)
    x_test, y_test = torch.ones(5, 4), torch.tensor([0, 0, 0, 1, 1])
    r = linear_probe(x_train, y_train, x_test, y_test, n_classes=2, iterations=100)
    assert r.test_acc == pytest.approx(0.6)
    assert r.train_acc == pytest.approx(0.6)
    # its loss is the entropy of the prior (0.6, 0.4)
    assert r.loss == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)), abs=1e-3)


def test_probe_rejects_bad_arguments():
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"iterations=0.*accepted: int >= 1"):
        linear_probe(x, y, x, y, 2, iterations=0)
    with pytest.raises(ValueError, match=r"batch_size=0.*accepted"):
        linear_probe(x, y, x, y, 2, batch_size=0)
    with pytest.raises(ValueError, match=r"features.*accepted"):
        linear_probe(x, y, x[:, :1], y, 2)


def test_update_ratio_by_hand():
    before = torch.tensor([[1.0, 3.0], [1.0, 3.0]], dtype=torch.float64)  # std 1
    step = torch.tensor([[1e-3, -1e-3], [1e-3, -1e-3]], dtype=torch.float64)  # std 1e-3
    after = before + step  # ratio 1e-3 -> -3; second layer: x10 weights, /10 step -> -5
    r = update_ratio([before, 10 * before], [after, 10 * before + 1e-1 * step])
    assert r.tolist() == pytest.approx([-3.0, -5.0], abs=1e-6)
    assert update_ratio([before], [before]).item() == -math.inf
    with pytest.raises(ValueError, match="shapes"):
        update_ratio([before], [before[:1]])


def test_update_recorder_sees_the_actual_step():
    model = make_model(3, depth=2, width=4, activation="relu", seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    other = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    before = [lin.weight.detach().clone() for lin in model.linears]
    with UpdateRecorder(model) as rec:
        model(torch.randn(5, 3)).sum().backward()
        opt.step()
        other.param_groups[0]["params"][0].grad = torch.ones(2)
        other.step()  # an optimiser of other parameters is ignored
    opt.step()  # outside the context: not recorded
    assert len(rec.ratios) == 1
    # the recorded ratio is that of the first step alone
    lr_grad = [0.1 * lin.weight.grad for lin in model.linears]
    want = [math.log10(g.std().item() / b.std().item()) for g, b in zip(lr_grad, before)]
    assert rec.ratios[0].tolist() == pytest.approx(want, rel=1e-4)


def test_class_info_probe_records_every_metric_per_layer():
    model = make_model(3, depth=2, width=4, activation="relu", seed=0)
    x, y = torch.randn(20, 3), torch.arange(20) % 2
    probe = ClassInfoProbe(x, y, 2, "relu")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    row0 = probe(model, 0)
    assert set(row0) == {f"{m}/{k}" for m in ci.PROBE_METRICS for k in (1, 2)}
    assert math.isnan(row0["update/1"]) and math.isnan(row0["saturation/1"])
    with probe.recording(model):
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    row1 = probe(model, 1)
    steps = probe.steps
    assert len(steps) == 3 * 2 and set(steps["epoch"]) == {1}
    assert row1["update/2"] == pytest.approx(steps[steps["layer"] == 2]["update"].mean())
    assert -6 < row1["update/1"] < 0


def test_training_guard(monkeypatch):
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    with pytest.raises(RuntimeError, match="ACTFN_NO_TRAIN"):
        check_training_allowed()
    monkeypatch.setenv("ACTFN_NO_TRAIN", "0")
    check_training_allowed()


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


def _probed_net(seed: int, data) -> ci.ProbedNet:
    trained = make_model(data.n_features, 2, 8, "relu", n_classes=data.n_classes, seed=seed)
    untrained = make_model(data.n_features, 2, 8, "relu", n_classes=data.n_classes, seed=seed)
    return ci.ProbedNet(data.name, data.source, "relu", False, seed, untrained.eval(),
                        trained.eval(), None, "test")


def test_paper_probe_tables_are_stored_per_net_and_reused(tmp_path, monkeypatch, mnist_small):
    """paper: each net's probe rows are stored once (keyed by its weights) and reloaded;
    a net with other weights is probed anew; quick stores nothing."""
    import helpers.chapter_results as cr

    monkeypatch.setattr(cr, "RESULTS_DIR", tmp_path)
    monkeypatch.delenv("ACTFN_NO_TRAIN", raising=False)
    s = dict(probe_n_train=300, probe_iterations=5, probe_lr=0.05)
    data = mnist_small.subset(300, 100, 100, seed=0)
    nets = [_probed_net(0, data), _probed_net(1, data)]
    quick = ci.probe_table(nets, data, s)
    assert not list(tmp_path.iterdir())
    first = ci.probe_table(nets, data, s, profile="paper")
    pd.testing.assert_frame_equal(first, quick)
    stored = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.pt"))
    assert stored == ["08_input_probe", "08_layer_probes", "08_layer_probes"]
    calls = []
    monkeypatch.setattr(ci, "layer_probes", lambda *a, **k: calls.append(1) or 1 / 0)
    pd.testing.assert_frame_equal(ci.probe_table(nets, data, s, profile="paper"), first)
    assert not calls  # reloaded, not refitted
    with torch.no_grad():
        nets[1].trained.linears[0].weight.add_(0.1)  # other weights: another result
    assert ci.net_fingerprint(nets[1]) != ci.net_fingerprint(_probed_net(1, data))
    with pytest.raises(ZeroDivisionError):
        ci.probe_table(nets, data, s, profile="paper")


def test_dynamics_rows_are_appended_and_the_cli_picks_models(tmp_path, monkeypatch):
    path = tmp_path / "mnist_dynamics.csv.gz"
    ci._append_rows(path, pd.DataFrame({"epoch": [0, 1], "model": "ReLU"}))
    ci._append_rows(path, pd.DataFrame({"epoch": [0], "model": "sigmoid"}))
    assert pd.read_csv(path)["model"].tolist() == ["ReLU", "ReLU", "sigmoid"]
    calls = []
    monkeypatch.setattr(ci, "run_dynamics", lambda *a, **k: calls.append((a, k)) or
                        pd.DataFrame())
    ci.main(["dynamics", "--seeds", "0", "--models", "ReLU", "ReLU BN", "--lrs", "3e-4"])
    (args, kwargs), = calls
    assert args[2] == [0] and kwargs["lrs"] == [3e-4]
    assert kwargs["configs"] == [("relu", False), ("relu", True)]
    with pytest.raises(SystemExit):
        ci.main(["dynamics", "--models", "tanh"])


def test_table1_gap_by_hand():
    # one ReLU run (best epoch 1 of 0..2) and one sigmoid run (ignored); 2 layers
    dyn = pd.DataFrame({
        "model": ["ReLU"] * 3 + ["sigmoid"], "run_lr": 1e-3, "patience": 20, "seed": 0,
        "best_epoch": [1, 1, 1, 0], "epoch": [0, 1, 2, 0],
        "sparsity/1": [50.0, 70.0, 80.0, 0.0], "sparsity/2": [50.0, 74.0, 84.0, 0.0]})
    gap = ci.table1_gap(dyn).set_index("at")
    assert gap.loc["best", "epoch"] == 1 and gap.loc["last", "epoch"] == 2
    assert gap.loc["best", "mean sparsity (%)"] == pytest.approx(72.0)
    assert gap.loc["last", "layer 2"] == pytest.approx(84.0)
    paper = (80.40 + 79.33 + 81.93 + 81.90) / 4  # the paper's Table 1, MNIST ReLU trained
    assert gap.loc["best", "paper (%)"] == pytest.approx(paper)
    assert gap.loc["last", "gap (pp)"] == pytest.approx(82.0 - paper)
    assert ci.table1_gap(pd.DataFrame()).empty
    fig = ci.plot_table1_gap(dyn.assign(patience=301), ci.table1_gap(dyn.assign(patience=301)),
                             "mnist", full_length=301)
    assert len(fig.axes) == 2


def test_gap_verdicts_by_hand():
    rows = [dict(model="ReLU", run_lr=1e-3, patience=20, seed=s, at="best",
                 **{"mean sparsity (%)": v, "paper (%)": 81.0}) for s, v in enumerate([73, 74, 75])]
    rows += [dict(model="ReLU", run_lr=3e-4, patience=20, seed=0, at="best",
                  **{"mean sparsity (%)": 74.5, "paper (%)": 81.0}),
             dict(model="ReLU", run_lr=1e-3, patience=301, seed=0, at="last",
                  **{"mean sparsity (%)": 80.0, "paper (%)": 81.0})]
    v = ci.gap_verdicts(pd.DataFrame(rows), {"ReLU": 1e-3, "ReLU BN": 3e-3}, 20, 301)
    assert len(v) == 1  # no ReLU BN runs yet
    r = v.iloc[0]
    assert r["ours (%)"] == pytest.approx(74.0) and r["seed sd (pp)"] == pytest.approx(1.0)
    assert r["gap (pp)"] == pytest.approx(-7.0)
    assert r["length: share closed"] == pytest.approx(6 / 7) and r["length: explains"]
    # the sweep spans 74.0 (1e-3) to 74.5 (3e-4): the paper's 81 lies outside it
    assert r["lr: lowest (%)"] == pytest.approx(74.0) and r["lr: highest at"] == 3e-4
    assert r["lrs tried"] == "0.0003, 0.001" and not r["lr: explains"]
    bracket = pd.DataFrame(rows + [dict(rows[3], run_lr=3e-3, **{"mean sparsity (%)": 90.0})])
    r = ci.gap_verdicts(bracket, {"ReLU": 1e-3}, 20, 301).iloc[0]
    assert r["lr: highest (%)"] == 90.0 and r["lr: explains"]  # 81 lies within 74.0-90.0
    # without runs for a candidate, its columns are absent (pending), not "no"
    v = ci.gap_verdicts(pd.DataFrame(rows[:3]), {"ReLU": 1e-3}, 20, 301)
    assert not {"length: explains", "lr: explains"} & set(v.columns)


def test_fit_point_by_hand():
    # epochs 0..4; the net first fits every training image at epoch 3
    h = pd.DataFrame({"model": "ReLU", "seed": 0, "epoch": [0, 1, 2, 3, 4],
                      "train_acc": [0.1, 0.9, 0.99, 1.0, 1.0],
                      "train_loss": [2.3, 0.3, 0.05, 1e-5, 1e-7],
                      "update/1": [np.nan, -2.0, -3.0, -5.0, -6.0],
                      "update/2": [np.nan, -4.0, -3.0, -5.0, -4.0]})
    sig = h.assign(model="sigmoid", train_acc=0.5)
    t = ci.fit_point(pd.concat([h, sig]), window=2).set_index("model")
    assert t.loc["ReLU", "fit epoch"] == 3 and t.loc["ReLU", "train loss at fit"] == 1e-5
    assert t.loc["ReLU", "update before"] == pytest.approx(-3.0)  # epochs 1-2: -3, -3
    assert t.loc["ReLU", "update after"] == pytest.approx(-5.0)  # epochs 3-4: -5, -5
    assert t.loc["ReLU", "last train loss"] == 1e-7 and t.loc["ReLU", "last epoch"] == 4
    assert math.isnan(t.loc["sigmoid", "fit epoch"])
