import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import class_information as ci
from helpers.class_information import layer_perplexity_summary, perplexity_table
from helpers.class_probes import on_threshold
from helpers.metrics import node_perplexity
from helpers.models import make_model
from helpers.runtime import check_training_allowed

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


def test_training_guard(monkeypatch):
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    with pytest.raises(RuntimeError, match="ACTFN_NO_TRAIN"):
        check_training_allowed()
    monkeypatch.setenv("ACTFN_NO_TRAIN", "0")
    check_training_allowed()


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
    s = dict(probe_n_train=300, probe_max_iter=5, probe_l2=(0.1, 1.0))
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


def test_grid_nets_leave_out_nets_trained_on_another_data_copy(monkeypatch, mnist_small,
                                                               capsys):
    """Chapter 8 reads a grid checkpoint only on the copy of the data it was trained on:
    the nets of another copy are missing, and one line says why."""
    from helpers import grid
    from helpers.grid import DataSourceMismatch

    asked = []

    def checkpoint(profile, dataset, activation, batch_norm, seed, trained=True, width=None,
                   source=None):
        asked.append(source)
        if batch_norm:
            raise DataSourceMismatch("the grid's mnist nets were trained on MNIST-C")
        return make_model(784, 4, 8, activation, batch_norm, seed=seed)

    monkeypatch.setattr(grid, "checkpoint", checkpoint)
    nets, missing = ci.grid_nets("paper", mnist_small, (("relu", False), ("relu", True)), (0,))
    assert list(nets) == [("relu", False, 0)] and missing == [("relu", True, 0)]
    assert set(asked) == {mnist_small.source}
    assert capsys.readouterr().out.strip() == \
        f"{mnist_small.label}: not read here: the grid's mnist nets were trained on MNIST-C"


def test_perplexity_numbers_by_hand():
    rows = [("mnist", "trained", "ReLU", 1, 4.0), ("mnist", "trained", "ReLU", 2, 3.0),
            ("mnist", "trained", "ReLU BN", 1, 5.0), ("mnist", "trained", "ReLU BN", 2, 3.5),
            ("mnist", "trained", "sigmoid", 1, 2.0), ("mnist", "trained", "sigmoid", 2, 4.0),
            ("mnist", "untrained", "ReLU", 2, 6.0),
            ("cifar10", "trained", "ReLU", 1, 2.0), ("cifar10", "trained", "ReLU", 2, 2.0),
            ("cifar10", "trained", "sigmoid", 1, 1.0), ("cifar10", "trained", "sigmoid", 2, 1.0)]
    ppl = pd.DataFrame(rows, columns=["source", "state", "model", "layer",
                                      "median perplexity"])
    t = ci.perplexity_numbers(ppl, last=2, sources=["mnist"])
    assert (t["ppl_relu_l1"], t["ppl_relu_last"], t["ppl_relu_bn_last"]) == (
        "4.00", "3.00", "3.50")
    assert (t["ppl_relu_trend"], t["ppl_bn_vs_relu"]) == ("falls", "higher")
    assert t["ppl_learnt"].startswith("above the trained value")  # untrained 6 > 3
    assert t["ppl_untrained_sigmoid_last"] == "pending"
    # the sigmoid's median is lower in layer 1 (2 < 4), not in layer 2 (4 > 3)
    assert t["ppl_sigmoid_vs_relu"] == "1 of 2 layers on MNIST"
    assert t["ppl_sigmoid_reading"].startswith("By this measure neither")  # a tie, 1 of 2
    relu = ci.perplexity_numbers(ppl.assign(**{"median perplexity": ppl["median perplexity"]
                                               .where(ppl["model"] != "sigmoid", 9.0)}),
                                 last=2, sources=["mnist"])
    assert relu["ppl_sigmoid_reading"].startswith("By this measure the ReLU nodes")  # 0 of 2
    both = ci.perplexity_numbers(ppl, last=2, sources=["mnist", "cifar10"])
    assert both["ppl_sigmoid_vs_relu"] == "1 of 2 layers on MNIST and 2 of 2 layers on CIFAR-10"
    assert both["ppl_sigmoid_reading"].startswith("By this on/off measure the sigmoid nodes")
    empty = ci.perplexity_numbers(pd.DataFrame(), last=2, sources=["mnist"])
    assert set(empty.values()) == {"pending"}


def test_probe_numbers_by_hand():
    s = {"probe_l2": (1e-4, 1e-2, 1.0), "probe_max_iter": 100}
    rows = [("mnist", "input", "input", 0, 90.0), ("mnist", "input", "input", 0, 92.0)]
    for source, accs in (("mnist", {"ReLU BN": (97, 97), "ReLU": (96, 98), "sigmoid": (95, 95)}),
                         ("cifar10", {"ReLU BN": (50, 52), "ReLU": (49, 51),
                                      "sigmoid": (40, 40)})):
        rows += [(source, "trained", m, 2, float(a)) for m, pair in accs.items() for a in pair]
    probes = pd.DataFrame(rows, columns=["source", "state", "model", "layer", "test acc (%)"])
    probes["l2"] = [1e-4] * 3 + [1e-2] * (len(probes) - 4) + [1.0]
    probes["converged"] = [True] * 4 + [False] + [True] * (len(probes) - 5)  # MNIST ReLU seed 0
    t = ci.probe_numbers(probes, s, last=2, cifar_source="cifar10")
    assert (t["probe_input"], t["probe_relu_trained_last"]) == ("91.0", "97.0")
    assert t["probe_relu_trained_l1"] == "pending"  # no layer-1 probe here
    assert t["probe_edges"] == ("3 of the 14 probes at the weakest strength tried (0.0001) and "
                                "1 at the strongest (1)")
    assert t["probe_converged"] == "13 of 14"
    assert t["probe_unconverged"] == "MNIST trained ReLU layer 2 (1 of 2)"
    # seed sd of the trained probes: 0, 1.41, 0 on each source
    assert t["probe_sd"] == "CIFAR-10 0.00 to 1.41; MNIST 0.00 to 1.41"
    assert t["probe_summary"].startswith("On MNIST the three configurations' last trained "
                                         "layers end within 2.0 points of each other (95.0 to "
                                         "97.0 %). On CIFAR-10 the last trained layer is "
                                         "linearly readable to 51.0 % (ReLU BN), 50.0 % (ReLU), "
                                         "40.0 % (sigmoid); the ReLU")
    # ReLU's lead over the sigmoid, 10 points, exceeds 4 x the largest seed sd (5.7)
    assert "by more than four times" in t["probe_summary"]
    close = probes.assign(**{"test acc (%)": probes["test acc (%)"].where(
        ~((probes["source"] == "cifar10") & (probes["model"] == "sigmoid")), 48.0)})
    assert "four times" not in ci.probe_numbers(close, s, 2, "cifar10")["probe_summary"]
    assert "pending" in t["probe_cifar_sentence"]  # no CIFAR-10 pixel probe here
    mnist_only = ci.probe_numbers(probes, s, last=2)
    assert mnist_only["probe_cifar_sentence"] == "(This profile probes MNIST networks only.)"
    none = ci.probe_numbers(None, s, last=2)
    assert none["probe_edges"] == none["probe_summary"] == "pending"
    assert none["probe_max_iter"] == "100"


def test_on_rate_matched_by_hand():
    # MNIST, trained: in the 0-10 % band sigmoid 2.0 (median of 1, 2, 3) against ReLU 4.0;
    # in the 30-50 % band sigmoid 6.0 against ReLU 5.0; a never-on node is left out
    rows = [("sigmoid", 5.0, p) for p in (1.0, 2.0, 3.0)] + [("ReLU", 8.0, 4.0)] * 3
    rows += [("sigmoid", 40.0, 6.0)] * 3 + [("ReLU", 45.0, 5.0)] * 3
    rows += [("ReLU", 0.0, math.nan)]
    sel = pd.DataFrame(rows, columns=["model", "on (%)", "perplexity"]).assign(
        source="mnist", state="trained")
    m = ci.on_rate_matched(sel)
    low = m[m["on-rate band"] == "0–10 %"].set_index("model")
    assert low.loc["sigmoid", "median perplexity"] == 2.0 and low.loc["ReLU", "nodes"] == 3
    assert set(m["on-rate band"]) == {"0–10 %", "30–50 %"}
    r = ci.matched_reading(m, min_nodes=3)
    assert r["ppl_matched"] == "1 of 2 on-rate bands on MNIST"
    assert r["ppl_matched_reading"] == "so at equal on-rate neither activation's nodes are " \
        "the more selective ones"  # 1 of 2 bands
    higher = ci.matched_reading(m[m["on-rate band"] == "30–50 %"], min_nodes=3)
    assert higher["ppl_matched_reading"] == "so at equal on-rate the ReLU nodes are the more " \
        "selective ones"  # 0 of 1
    lower = ci.matched_reading(m[m["on-rate band"] == "0–10 %"], min_nodes=3)
    assert lower["ppl_matched_reading"].startswith("so at equal on-rate the sigmoid nodes are "
                                                   "the more selective ones: their lower")
    assert ci.matched_reading(m, min_nodes=4)["ppl_matched"] == "pending"  # too few nodes
    assert ci.matched_reading(m.iloc[:0])["ppl_matched_reading"] == "pending"  # no nodes yet


def test_seed_agreement_by_hand():
    """Layer 1: the sigmoid lower in both seeds; layer 2: ReLU lower in both; layer 3: the
    seeds disagree. Never-on nodes (NaN) are left out; untrained rows are ignored."""
    rows = []
    for seed in (0, 1):
        for layer, sig, relu in ((1, 2.0, 4.0), (2, 5.0, 3.0), (3, 2.0 + 4 * seed, 4.0)):
            rows += [("sigmoid", seed, layer, sig), ("ReLU", seed, layer, relu),
                     ("ReLU", seed, layer, math.nan)]
    sel = pd.DataFrame(rows, columns=["model", "seed", "layer", "perplexity"]).assign(
        source="mnist", state="trained")
    sel = pd.concat([sel, sel.assign(state="untrained", perplexity=1.0)])
    assert ci.seed_agreement(sel) == ("on MNIST sigmoid's median is the lower in every seed "
                                      "in 1 of 3 layers, ReLU's in 1, and the seeds disagree "
                                      "in 1")
    assert ci.seed_agreement(None) == "pending"


def test_seed_agreement_by_band():
    """Two seeds, two on-rate bands with 10 nodes of each model per seed: in the 0-10 % band
    the sigmoid's median is lower in both seeds, in the 30-50 % band in one only; a third
    band with too few nodes per seed is left out."""
    rows = []
    for seed in (0, 1):
        rows += [("sigmoid", seed, 5.0, 2.0)] * 10 + [("ReLU", seed, 5.0, 3.0)] * 10
        rows += [("sigmoid", seed, 40.0, 4.0 + 2 * seed)] * 10 + [("ReLU", seed, 40.0, 5.0)] * 10
        rows += [("sigmoid", seed, 95.0, 1.0), ("ReLU", seed, 95.0, 9.0)]
    sel = pd.DataFrame(rows, columns=["model", "seed", "on (%)", "perplexity"]).assign(
        source="mnist", state="trained")
    assert ci.seed_agreement(sel, by="band") == (
        "on MNIST sigmoid's median is the lower in every seed in 1 of 2 on-rate bands, "
        "ReLU's in 0, and the seeds disagree in 1")
    with pytest.raises(ValueError, match="by="):
        ci.seed_agreement(sel, by="node")


def test_stored_tables_stand_in_for_nets_on_another_copy(monkeypatch, tmp_path):
    """paper, default settings: CIFAR-10's tables are kept (MNIST's not: it has one copy)
    and read back only for the copy the committed grid trained on and the same settings;
    a status row says where they came from; quick and other settings never store."""
    import types

    import helpers.grid as grid

    jpeg = "cifar10-jpeg"
    monkeypatch.setattr(grid, "load_results", lambda *a, **k: types.SimpleNamespace(
        runs=pd.DataFrame({"source": [jpeg, jpeg]})))
    key = ci.DEFAULT_STORED
    assert key == ci.stored_settings((0, 1, 2), 0.5, ci.settings("paper"))

    def rows(ds, source, **cols):
        return pd.DataFrame({"dataset": [ds] * 2, "source": [source] * 2, **cols})

    tables = {
        "accuracy": pd.concat([rows("mnist", "mnist", model=["ReLU", "sigmoid"]),
                               rows("cifar10", jpeg, model=["ReLU", "sigmoid"])]),
        "selectivity": rows("cifar10", jpeg, perplexity=[1.5, float("nan")]),
        "probes": rows("cifar10", jpeg, layer=[0, 1])}
    assert ci.keep_tables(tables, "quick", key, root=tmp_path) == []
    assert ci.keep_tables(tables, "paper", ci.stored_settings((0,), 0.5, ci.settings("paper")),
                          root=tmp_path) == []
    written = ci.keep_tables(tables, "paper", key, root=tmp_path)
    assert sorted(p.name for p in written) == ["cifar10_accuracy.csv", "cifar10_probes.csv",
                                               "cifar10_selectivity.csv.gz", "settings.json"]
    back = ci.stored_tables("paper", "cifar10", key, root=tmp_path)
    assert set(back) == {"accuracy", "selectivity", "probes"}
    pd.testing.assert_frame_equal(back["selectivity"], tables["selectivity"])
    assert ci.stored_tables("paper", "mnist", key, root=tmp_path) == {}
    assert ci.stored_tables("paper", "cifar10", {**key, "threshold": 0.9}, root=tmp_path) == {}
    monkeypatch.setattr(grid, "load_results", lambda *a, **k: types.SimpleNamespace(
        runs=pd.DataFrame({"source": ["cifar10"]})))  # the grid retrained on genuine data
    assert ci.stored_tables("paper", "cifar10", key, root=tmp_path) == {}

    status = ci.net_status("cifar10", {}, [("relu", False, 0)], back)
    assert status == {"dataset": "cifar10", "nets found": 2, "nets expected": 2,
                      "origin": "tables stored from CIFAR-10 (JPEG copy)", "pending": "none"}
    acc = ci.accuracy_table({}, {"cifar10": back})
    assert list(acc["model"]) == ["ReLU", "sigmoid"]
    assert ci.selectivity_tables({}, {}, 0.5) is None
    assert len(ci.selectivity_tables({}, {"cifar10": back}, 0.5)) == 2
