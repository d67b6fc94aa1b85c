"""Variants, pre-activations, init-time measurements, the epoch probe and the
dead-versus-sparse metrics, on hand-made networks where the answer is known."""

import math

import matplotlib
import pandas as pd
import pytest
import torch
from torch import nn

from helpers.dynamics import (
    EpochProbe,
    activation_scale,
    config_label,
    configs_product,
    dead_vs_sparse,
    gain_saturation,
    gradient_ratio,
    init_gradient_norms,
    make_variant,
    mean_derivative,
    plot_activation_bands,
    plot_activation_scale,
    plot_dead_fraction,
    plot_dead_vs_accuracy,
    plot_gain_saturation,
    plot_gradient_ratio,
    plot_init_gradients,
    plot_layer_metric,
    plot_learning_curves,
    plot_off_fractions,
    pre_activations,
    probe_long,
    resolved_init,
    revived_units,
    run_configs,
    sparsity_by_condition,
)
from helpers.metrics import gradient_norms
from helpers.models import MLP, make_model

matplotlib.use("Agg")


# Four samples, two features; a one-layer ReLU net with three hand-set units:
# unit 0: w=(0,0), b=-1  -> always -1   -> off 4/4 (dead)
# unit 1: w=(1,0), b=0   -> 1, 0, -1, 0 -> off 3/4
# unit 2: w=(0,0), b=1   -> always 1    -> off 0/4
X4 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
Y4 = torch.tensor([0, 1, 0, 1])


def _hand_model(activation="relu", biases=(-1.0, 0.0, 1.0)):
    model = MLP(2, depth=1, width=3, activation=activation, n_classes=2)
    with torch.no_grad():
        model.linears[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
        model.linears[0].bias.copy_(torch.tensor(biases))
    return model


def test_default_variant_equals_make_model():
    for act in ["relu", "sigmoid"]:
        a, b = make_variant(30, 2, 8, act, seed=4), make_model(30, 2, 8, act, seed=4)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_init_schemes_and_gain():
    std = make_variant(400, 1, 400, "sigmoid", init="standard", seed=0).linears[0].weight
    assert std.abs().max() <= 1 / 20 + 1e-7  # U(-1/sqrt(400), 1/sqrt(400))
    assert std.var().item() == pytest.approx(1 / (3 * 400), rel=0.03)
    he = make_variant(400, 1, 400, "sigmoid", init="he", seed=0).linears[0].weight
    assert he.var().item() == pytest.approx(2 / 400, rel=0.03)
    x1 = make_variant(50, 2, 20, "relu", init="xavier", seed=1)
    x3 = make_variant(50, 2, 20, "relu", init="xavier", init_gain=3.0, seed=1)
    for a, b in zip(x1.linears, x3.linears):
        assert torch.allclose(3 * a.weight, b.weight)
    assert torch.equal(x1.out.weight, x3.out.weight)  # the output layer is untouched
    assert resolved_init("linear") == "xavier" and resolved_init("prelu") == "he"
    assert resolved_init("sigmoid4") == "xavier"


def test_extra_activations():
    lin = make_variant(3, 2, 4, "linear", seed=0)
    x = torch.randn(5, 3)
    h = lin.linears[1](lin.linears[0](x))
    assert torch.allclose(lin(x), lin.out(h), atol=1e-6)
    s4 = make_variant(3, 1, 4, "sigmoid4", seed=0)
    _, hidden = s4(x, return_hidden=True)
    assert torch.allclose(hidden[0], torch.sigmoid(4 * s4.linears[0](x)), atol=1e-6)
    pr = make_variant(3, 2, 4, "prelu", seed=0)
    assert isinstance(pr.act, nn.PReLU) and pr.act.weight.item() == pytest.approx(0.25)
    assert any(p is pr.act.weight for p in pr.parameters())  # the optimizer will see it


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(activation="swish"), "activation='swish'"),
    (dict(init="orthogonal"), "init='orthogonal'"),
    (dict(init_gain=0.0), "init_gain=0.0"),
])
def test_bad_variant_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_variant(3, 1, 2, **({"activation": "relu"} | kwargs))


def test_pre_activations_by_hand_and_with_bn():
    model = _hand_model()
    pre = pre_activations(model, X4)
    assert pre[0].tolist() == [[-1, 1, 1], [-1, 0, 1], [-1, -1, 1], [-1, 0, 1]]
    bn = MLP(2, depth=2, width=3, batch_norm=True).eval()
    pre = pre_activations(bn, X4, batch_size=3)
    assert torch.allclose(pre[0], bn.norms[0](bn.linears[0](X4)), atol=1e-6)
    assert all(len(n._forward_hooks) == 0 for n in bn.norms)  # hooks removed


def test_mean_derivative_by_hand():
    model = make_variant(4, 3, 5, "sigmoid", seed=0)
    with torch.no_grad():
        for lin in model.linears:
            lin.weight.zero_()
            lin.bias.zero_()
    assert mean_derivative(model, torch.randn(7, 4)) == pytest.approx([0.25] * 3)
    relu = _hand_model()  # derivative 1 where pre-activation > 0: 0, 1/4, 1 -> mean 5/12
    assert mean_derivative(relu, X4) == pytest.approx([5 / 12])


def test_gradient_norm_of_a_hand_computed_sigmoid_chain():
    # x=2 -> z1 = 0 -> h1 = 1/2 -> z2 = h1 = 1/2 -> h2 = s(1/2); logits (h2, -h2); class 0
    model = MLP(1, depth=2, width=1, activation="sigmoid", n_classes=2)
    with torch.no_grad():
        model.linears[0].weight.fill_(0.0)
        model.linears[0].bias.fill_(0.0)
        model.linears[1].weight.fill_(1.0)
        model.linears[1].bias.fill_(0.0)
        model.out.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model.out.bias.zero_()
    s = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    h1, h2 = 0.5, s(0.5)
    p0 = s(2 * h2)                       # softmax of (h2, -h2) for class 0
    dh2 = (p0 - 1) * 1 + (1 - p0) * -1   # dL/dlogits = p - onehot, times out weights
    dz2 = dh2 * h2 * (1 - h2)
    dw2 = dz2 * h1
    dz1 = dz2 * 1.0 * 0.25               # through w2 = 1, then sigmoid'(0) = 1/4
    dw1 = dz1 * 2.0                      # input x = 2
    x, y = torch.tensor([[2.0]]), torch.tensor([0])
    assert gradient_norms(model, x, y).tolist() == pytest.approx([abs(dw1), abs(dw2)])
    probe = EpochProbe(x, y, metrics=["grad_norm"])
    assert probe(model, 0) == pytest.approx({"grad_norm/1": abs(dw1), "grad_norm/2": abs(dw2)})


def test_probe_by_hand_relu():
    model = _hand_model()
    probe = EpochProbe(X4, Y4, metrics=["dead", "sparsity", "act_mean", "act_std", "update"])
    row = probe(model, 0)
    outputs = torch.tensor([0.0] * 4 + [1.0, 0, 0, 0] + [1.0] * 4)
    assert row["dead/1"] == pytest.approx(100 / 3)
    assert row["sparsity/1"] == pytest.approx(100 * (1 + 0.75 + 0) / 3)
    assert row["act_mean/1"] == pytest.approx(5 / 12)
    assert row["act_std/1"] == pytest.approx(outputs.std().item())
    assert math.isnan(row["update/1"])
    with torch.no_grad():
        model.linears[0].weight.mul_(3)  # |3W - W| / |W| = 2
    assert probe(model, 1)["update/1"] == pytest.approx(2.0)
    assert [m.tolist() for m in probe.dead_masks[0]] == [[True, False, False]]


def test_probe_saturation_by_hand():
    # sigmoid outputs s(-5) = 0.0067 and s(3) = 0.953 are saturated (sigmoid' < 0.1),
    # s(0) = 0.5 is not; unit 1 sees x1 in {1, 0, -1, 0}: s(1), s(-1) = 0.73, 0.27 are not
    model = _hand_model("sigmoid", biases=(-5.0, 0.0, 3.0))
    row = EpochProbe(X4, Y4, metrics=["saturation"])(model, 0)
    assert row["saturation/1"] == pytest.approx(100 * 8 / 12)


def test_probe_leaves_the_model_unchanged(mnist_small):
    model = make_variant(784, 2, 16, "relu", batch_norm=True, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    EpochProbe(mnist_small.train.x[:300], mnist_small.train.y[:300])(model, 0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="metrics='loss'"):
        EpochProbe(X4, Y4, metrics=["loss"])


def test_probe_long_and_configs_product():
    h = pd.DataFrame({"epoch": [0, 1], "train_acc": [0.1, 0.5], "dead/1": [0.0, 5.0],
                      "dead/2": [1.0, 2.0]})
    long = probe_long(h)
    assert len(long) == 4 and set(long.metric) == {"dead"} and set(long.layer) == {1, 2}
    assert long[(long.epoch == 1) & (long.layer == 1)].value.item() == 5.0
    c = configs_product(activation=["relu", "sigmoid"], lr=[1e-3, 1e-2, 0.1])
    assert len(c) == 6 and c[0] == {"activation": "relu", "lr": 1e-3}


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


def test_run_configs_and_summaries(mnist_small):
    cfg = configs_product(activation=["relu"], depth=[2], width=[8], lr=[1e-3, 0.5])
    tiny = mnist_small.subset(500, 200, 200)
    summary, long, runs = run_configs(tiny, cfg, mnist_small.train.x[:200],
                                      mnist_small.train.y[:200], max_epochs=2,
                                      metrics=["dead", "grad_norm"], progress=False)
    assert list(summary.label) == ["ReLU (He), lr=0.001", "ReLU (He), lr=0.5"]
    assert set(long.metric) == {"dead", "grad_norm"} and set(long.layer) == {1, 2}
    assert set(long.epoch) == {0, 1, 2} and (summary.epochs == 2).all()
    run = runs["ReLU (He), lr=0.001"]
    assert len(run.result.history) == 3 and set(run.probe.dead_masks) == {0, 1, 2}
    assert summary["final dead (%)"].iloc[1] >= summary["final dead (%)"].iloc[0]
    with pytest.raises(ValueError, match="configs entry"):
        run_configs(mnist_small, [dict(activation="relu", depth=2)], mnist_small.train.x,
                    mnist_small.train.y, max_epochs=1)


def test_dead_vs_sparse_by_hand():
    layers, units = dead_vs_sparse({"hand": _hand_model()}, X4)
    row = layers.iloc[0]
    assert row["dead (%)"] == pytest.approx(100 / 3)
    assert row["sparsity (%)"] == pytest.approx(100 * 1.75 / 3)
    assert row["sparsity of live units (%)"] == pytest.approx(100 * 0.75 / 2)
    assert row["units off >= 90% (%)"] == pytest.approx(100 / 3)
    assert units["off fraction"].tolist() == [1.0, 0.75, 0.0]
    cond = sparsity_by_condition({"hand": (_hand_model(), X4)})
    assert cond["sparsity (%)"].item() == pytest.approx(100 * 1.75 / 3)


def test_revived_units_by_hand():
    probe = EpochProbe(X4, Y4, metrics=["dead"])
    probe.dead_masks = {1: [torch.tensor([True, True, False])],
                        5: [torch.tensor([True, False, True])]}
    r = revived_units(probe, from_epoch=1).iloc[0]
    assert r["dead at epoch 1"] == 2 and r["of those alive at epoch 5"] == 1
    assert r["newly dead by epoch 5"] == 1
    with pytest.raises(ValueError, match="from_epoch=3"):
        revived_units(probe, 3)


def test_labels():
    assert config_label("sigmoid") == "sigmoid (Xavier)"
    assert config_label("relu", batch_norm=True) == "ReLU (He) + BN"
    assert config_label("sigmoid", "standard", init_gain=4) == "sigmoid (standard x4)"


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
    plot_learning_curves(hist, mnist_small.source, hue="run", title="curves")
    _, units = dead_vs_sparse({"a": _hand_model()}, X4)
    plot_off_fractions(units, mnist_small.source)
    matplotlib.pyplot.close("all")
