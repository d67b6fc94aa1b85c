"""Init-time measurements, the dead-versus-sparse metrics and the chapter 1-3 figures, on
hand-made networks where the answer is known and on real MNIST."""

import math

import matplotlib
import pandas as pd
import pytest
import torch
from hand_nets import X4, hand_model

from helpers.dynamics import (
    activation_scale,
    dead_vs_sparse,
    gain_saturation,
    gradient_ratio,
    init_gradient_norms,
    plot_activation_bands,
    plot_activation_scale,
    plot_dead_fraction,
    plot_dead_vs_accuracy,
    plot_gain_saturation,
    plot_gradient_ratio,
    plot_init_gradients,
    plot_layer_metric,
    plot_off_fractions,
    sparsity_by_condition,
    update_numbers,
)
from helpers.metrics import gradient_norms
from helpers.model_variants import make_variant
from helpers.plots import plot_learning_curves
from helpers.training_probes import configs_product, run_configs

matplotlib.use("Agg")


def test_init_gradient_norms_match_metrics(mnist_small):
    x, y = mnist_small.train.x, mnist_small.train.y
    cfg = [dict(activation="sigmoid"), dict(activation="relu", batch_norm=True)]
    norms = init_gradient_norms(x, y, cfg, depths=[2, 3], width=16, batch_size=50,
                                n_batches=2)
    assert len(norms) == 2 * (2 + 3)
    model = make_variant(784, 3, 16, "sigmoid", seed=0)
    expected = torch.stack([gradient_norms(model, x[:50], y[:50]),
                            gradient_norms(model, x[50:100], y[50:100])]).mean(0)
    got = norms[(norms.config == "sigmoid (Xavier)") & (norms.depth == 3)].grad_norm
    assert got.tolist() == pytest.approx(expected.tolist(), rel=1e-5)
    last = norms[norms.layer == norms.depth]
    assert (last.relative == 1.0).all()
    ratio = gradient_ratio(norms)
    assert len(ratio) == 4
    with pytest.raises(ValueError, match="n_batches"):
        init_gradient_norms(x[:10], y[:10], cfg, [2], 8, batch_size=8, n_batches=2)


def test_gradient_ratio_by_hand():
    norms = pd.DataFrame({"config": ["a"] * 4, "batch_norm": [False] * 4, "depth": [2] * 4,
                          "seed": [0, 0, 1, 1], "layer": [1, 2, 1, 2],
                          "relative": [0.5, 1.0, 0.3, 1.0]})
    ratio = gradient_ratio(norms)
    assert ratio["layer 1 / layer L"].item() == pytest.approx(0.4)
    assert ratio["factor per layer"].item() == pytest.approx(0.4)  # depth 2: one step
    deeper = norms.assign(depth=3, layer=[1, 3, 1, 3], relative=[0.25, 1.0, 0.25, 1.0])
    assert gradient_ratio(deeper)["factor per layer"].item() == pytest.approx(0.5)


def test_scale_and_saturation_on_real_mnist(mnist_small):
    x = mnist_small.train.x[:500]
    scale = activation_scale(x, [dict(activation="relu"), dict(activation="relu",
                                                              init="xavier")], 6, 64)
    he = scale[scale.config == "ReLU (He)"]["output RMS"].to_numpy()
    xavier = scale[scale.config == "ReLU (Xavier)"]["output RMS"].to_numpy()
    assert he[-1] / he[0] > 0.5  # He keeps the scale ...
    assert xavier[-1] / xavier[0] < 0.4  # ... Xavier halves the variance every layer
    sat = gain_saturation(x, [0.5, 4.0], depth=2, width=32)
    s = sat.set_index(["gain", "layer"])["saturated (%)"]
    assert s[(4.0, 1)] > s[(0.5, 1)] + 20


def test_dead_vs_sparse_by_hand():
    layers, units = dead_vs_sparse({"hand": hand_model()}, X4)
    row = layers.iloc[0]
    assert row["dead (%)"] == pytest.approx(100 / 3)
    assert row["sparsity (%)"] == pytest.approx(100 * 1.75 / 3)
    assert row["sparsity of live units (%)"] == pytest.approx(100 * 0.75 / 2)
    assert row["units off >= 90% (%)"] == pytest.approx(100 / 3)
    assert units["off fraction"].tolist() == [1.0, 0.75, 0.0]
    cond = sparsity_by_condition({"hand": (hand_model(), X4)})
    assert cond["sparsity (%)"].item() == pytest.approx(100 * 1.75 / 3)


def test_figures_build(mnist_small):
    x, y = mnist_small.train.x, mnist_small.train.y
    norms = init_gradient_norms(x, y, [dict(activation="relu"),
                                       dict(activation="relu", batch_norm=True)], [2, 3], 8,
                                batch_size=32, n_batches=1)
    plot_init_gradients(norms, mnist_small.source, depth=3)
    plot_gradient_ratio(gradient_ratio(norms), mnist_small.source)
    plot_gain_saturation(gain_saturation(x[:100], [1.0, 2.0], 2, 8), mnist_small.source)
    plot_activation_scale(activation_scale(x[:100], [dict(activation="relu")], 2, 8),
                          mnist_small.source)
    cfg = configs_product(activation=["relu", "sigmoid"], depth=[2], width=[8],
                          batch_norm=[False, True])
    summary, long, runs = run_configs(mnist_small.subset(300, 100, 100), cfg, x[:100], y[:100],
                                   max_epochs=1, progress=False)
    plot_layer_metric(long, "grad_norm", mnist_small.source, "norm", logy=True)
    plot_activation_bands(long, mnist_small.source)
    plot_dead_fraction(long, mnist_small.source, col="lr", title="dead")
    plot_dead_vs_accuracy(summary, mnist_small.source)
    hist = pd.concat([r.result.history.assign(run=k) for k, r in runs.items()])
    plot_learning_curves(hist, mnist_small.source, hue="run", title="curves",
                         legend_outside=True)
    _, units = dead_vs_sparse({"a": hand_model()}, X4)
    plot_off_fractions(units, mnist_small.source)
    matplotlib.pyplot.close("all")


def test_dead_accuracy_correlation_uses_plain_relu_runs_only():
    from helpers.dynamics import dead_accuracy_correlation

    runs = pd.DataFrame({
        "activation": ["relu"] * 4 + ["leaky_relu", "relu"],
        "batch_norm": [False] * 4 + [False, True],
        "final dead (%)": [0.0, 10.0, 50.0, 90.0, 99.0, 0.0],
        "final train acc (%)": [99.0, 98.0, 99.5, 20.0, 100.0, 10.0]})
    rho, n = dead_accuracy_correlation(runs)
    # ReLU ranks: dead 1,2,3,4; accuracy 3,2,4,1 -> d = -2,0,-1,3 -> 1 - 6*14/(4*15) = -0.4
    assert n == 4 and rho == pytest.approx(-0.4)
    rho, n = dead_accuracy_correlation(runs.iloc[4:])
    assert n == 0 and math.isnan(rho)  # leaky ReLU and a BN net: no plain ReLU run


def test_distinct_runs_counts_a_shared_configuration_once():
    from helpers.dynamics import distinct_runs

    lr = pd.DataFrame({"activation": ["relu", "relu"], "lr": [1e-3, 1e-2],
                       "bias_init": [0.0, 0.0], "label": ["a", "b"]})
    bias = pd.DataFrame({"activation": ["relu", "relu"], "lr": [1e-3, 1e-3],
                         "bias_init": [0.0, -1.0], "label": ["c", "d"]})
    assert distinct_runs(lr, bias)["label"].tolist() == ["a", "b", "d"]


def test_chapter3_readings_by_hand():
    from helpers.dynamics import bias_text, lr_sweep_text

    summary = pd.DataFrame({
        "activation": ["relu", "leaky_relu"] * 3, "lr": [1e-3, 1e-3, 1e-2, 1e-2, 3e-2, 3e-2],
        "final train acc (%)": [99.0, 99.0, 98.0, 97.0, 60.0, 70.0],
        "final dead (%)": [1.0, 0.0, 30.0, 2.0, 90.0, 5.0]})
    t = lr_sweep_text(summary)
    assert t["leaky_vs_relu"] == ("at 0.01, ReLU 98.0 % and leaky ReLU 97.0 %; at 0.03, ReLU "
                                  "60.0 % and leaky ReLU 70.0 %")
    assert t["leaky_worse"] == "1 of the 2"
    assert t["leaky_lead"] == "Whether it buys accuracy depends on the rate"
    # at 0.01: 30 % dead (> 25) and 98 % accuracy (> 90): the dead count is not the accuracy
    assert t["dead_vs_acc"].startswith("Nor does the dead count predict accuracy one for one: "
                                       "at 0.01 ReLU had 30.0 %")
    fewer = summary.assign(**{"final dead (%)": 10.0})
    assert lr_sweep_text(fewer)["dead_vs_acc"].startswith("§3.6 measures")
    dead_end = pd.Series([36.5, 20.0, 10.0, 6.0], index=[1, 2, 3, 4])
    assert bias_text(99.8, dead_end).endswith("the last layer has 6.0 % dead units, layer 1 "
                                              "36.5 %).")
    assert bias_text(11.3, dead_end).startswith("and the network does not recover (11.3 %")


def test_update_numbers_by_hand():
    upd = pd.DataFrame({1: [0.30, 0.10], 2: [0.20, 0.12], 3: [0.25, 0.08]},
                       index=["sig", "relu"])
    long = pd.DataFrame({"label": ["sig"] * 3 + ["relu"] * 3, "metric": "update",
                         "epoch": [1, 2, 3] * 2, "value": [0.3, 0.02, 0.04, 0.1, 0.05, 0.07]})
    t = update_numbers(upd, long, 0.8, "sig", "relu")
    assert (t["sigmoid_first"], t["sigmoid_last"], t["first_vs_last"]) == (
        "0.300", "0.250", "at least as much as")
    assert (t["sigmoid_range"], t["relu_range"], t["cmp1"]) == ("0.20–0.30", "0.08–0.12", "more")
    # from epoch 2 on: medians 0.03 (sigmoid) and 0.06 (ReLU)
    assert (t["later_sigmoid"], t["later_relu"], t["cmp_later"]) == ("0.03", "0.06", "less")
    assert t["deficit"] == "its gradient deficit was gone after it"
    slow = upd.copy()
    slow[1] = [0.2, 0.1]  # layer 1 now below the top layer's 0.25
    lagging = update_numbers(slow, long, 0.01, "sig", "relu")
    assert lagging["first_vs_last"] == "less than"
    assert lagging["deficit"] == "its gradient was still 0.01 times the top layer's after it"


def test_layer1_text_and_dead_accuracy_reading():
    from helpers.dynamics import dead_accuracy_reading, layer1_text

    assert layer1_text(10.0, 30.0).startswith(
        "Layer 1, meanwhile, lost units during the first epoch (30.0 % dead after it, 10.0 % "
        "before). These probes do not record why")
    assert layer1_text(30.0, 30.0) == ("Layer 1 did not lose units during the first epoch "
                                       "(30.0 % dead after it, 30.0 % before).")
    assert dead_accuracy_reading(-0.85) == "more dead units go with lower accuracy"
    assert dead_accuracy_reading(0.2) == "more dead units do not go with lower accuracy"
    assert dead_accuracy_reading(math.nan).startswith("too few runs")


def test_sparsity_change_text():
    from helpers.dynamics import sparsity_change_text

    s = dict(depth=4, width=200, max_epochs=30)
    assert sparsity_change_text(50.0, 70.0, s, quick=False) == (
        "This run's 4×200 networks, trained for 30 epochs, went from 50.0 % to 70.0 % on MNIST, "
        "short of the paper's 80 % after a longer training")
    assert "close to the paper's" in sparsity_change_text(50.0, 79.0, s, quick=False)
    assert "above the paper's" in sparsity_change_text(50.0, 85.0, s, quick=False)
    assert sparsity_change_text(50.0, 85.0, s, quick=True).startswith("This run trained small")


def test_most_dead_fitting_and_fit_reading():
    from helpers.dynamics import fit_reading, most_dead_fitting

    runs = pd.DataFrame({"activation": ["relu", "relu", "relu", "leaky_relu"],
                         "batch_norm": [False, False, True, False],
                         "final dead (%)": [10.0, 60.5, 0.0, 90.0],
                         "final train acc (%)": [99.0, 98.1, 99.5, 99.9]})
    # the leaky ReLU and the BN run are not plain ReLU: the 60.5 % run is the answer
    assert most_dead_fitting(runs) == "60.5 % of its units dead and 98.1 % training accuracy"
    assert most_dead_fitting(runs, fits=99.9).startswith("no plain ReLU run reached 99.9 %")
    assert fit_reading(99.0, 97.0, 98.0).startswith("The sigmoid network had not fitted")
    assert fit_reading(99.8, 97.0, 98.0).endswith("lower validation accuracy (one seed).")
    assert fit_reading(99.8, 98.5, 98.0).endswith("at least as well as ReLU here.")
