"""Model variants: initialisation schemes and gains, extra activations, the mean
derivative and the labels."""

import pytest
import torch
from hand_nets import X4, hand_model
from torch import nn

from helpers.model_variants import config_label, make_variant, mean_derivative, resolved_init
from helpers.models import make_model


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
    # with the book's own scheme too, a gain scales the gain-1 weights (one draw): sigmoid
    # (Xavier) x4 is the sigmoid(4x) network's weights times 4, He x1.5 is He's times 1.5
    for act, gain in (("sigmoid", 4.0), ("relu", 1.5)):
        base, scaled = (make_variant(50, 2, 20, act, init_gain=g, seed=1) for g in (1.0, gain))
        for a, b in zip(base.linears, scaled.linears):
            assert torch.allclose(gain * a.weight, b.weight) and torch.equal(a.bias, b.bias)
    # sigmoid(4x) has the plain sigmoid's Xavier weights, so sigmoid x4 is it, rescaled
    s4 = make_variant(50, 2, 20, "sigmoid4", seed=1)
    sig4 = make_variant(50, 2, 20, "sigmoid", init_gain=4.0, seed=1)
    for a, b in zip(s4.linears, sig4.linears):
        assert torch.allclose(4 * a.weight, b.weight)
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


def test_mean_derivative_by_hand():
    model = make_variant(4, 3, 5, "sigmoid", seed=0)
    with torch.no_grad():
        for lin in model.linears:
            lin.weight.zero_()
            lin.bias.zero_()
    assert mean_derivative(model, torch.randn(7, 4)) == pytest.approx([0.25] * 3)
    relu = hand_model()  # derivative 1 where pre-activation > 0: 0, 1/4, 1 -> mean 5/12
    assert mean_derivative(relu, X4) == pytest.approx([5 / 12])


def test_labels():
    assert config_label("sigmoid") == "sigmoid (Xavier)"
    assert config_label("relu", batch_norm=True) == "ReLU (He) + BN"
    assert config_label("sigmoid", "standard", init_gain=4) == "sigmoid (standard x4)"
