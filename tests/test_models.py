import math

import pytest
import torch
from hand_nets import X4, hand_model

from helpers.models import ACTIVATIONS, MLP, make_model, pre_activations


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_shapes_and_hidden_outputs(activation, batch_norm):
    model = MLP(784, depth=3, width=32, activation=activation, batch_norm=batch_norm)
    logits, hidden = model(torch.randn(16, 784), return_hidden=True)
    assert logits.shape == (16, 10)
    assert [h.shape for h in hidden] == [(16, 32)] * 3


def test_batch_norm_sits_between_linear_and_activation():
    model = MLP(20, depth=2, width=8, activation="relu", batch_norm=True).eval()
    x = torch.randn(5, 20)
    expected = torch.relu(model.norms[0](model.linears[0](x)))
    assert torch.allclose(model(x, return_hidden=True)[1][0], expected)


def test_hidden_matches_manual_forward_without_bn():
    model = MLP(12, depth=2, width=6, activation="sigmoid")
    x = torch.randn(4, 12)
    h1 = torch.sigmoid(x @ model.linears[0].weight.T + model.linears[0].bias)
    h2 = torch.sigmoid(h1 @ model.linears[1].weight.T + model.linears[1].bias)
    _, hidden = model(x, return_hidden=True)
    assert torch.allclose(hidden[0], h1) and torch.allclose(hidden[1], h2)


def test_xavier_and_he_variances():
    fan_in, width = 800, 800
    sig = make_model(fan_in, 1, width, "sigmoid", seed=0).linears[0].weight
    relu = make_model(fan_in, 1, width, "relu", seed=0).linears[0].weight
    xavier_var = 2 / (fan_in + width)  # Glorot & Bengio (2010)
    he_var = 2 / fan_in  # He et al. (2015)
    assert math.isclose(sig.var().item(), xavier_var, rel_tol=0.02)
    assert math.isclose(relu.var().item(), he_var, rel_tol=0.02)
    assert sig.abs().max() <= math.sqrt(6 / (fan_in + width)) + 1e-6  # uniform bound


def test_bias_init_and_seed_repeatability():
    a = make_model(10, 2, 4, "relu", seed=7, bias_init=-0.5)
    b = make_model(10, 2, 4, "relu", seed=7, bias_init=-0.5)
    assert torch.all(a.linears[1].bias == -0.5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = make_model(10, 2, 4, "relu", seed=8)
    assert not torch.equal(a.linears[0].weight, c.linears[0].weight)


def test_make_model_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_model(10, 2, 4, "relu", seed=0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(activation="swish"), r"activation='swish'.*accepted values.*relu"),
        (dict(depth=0), r"depth=0.*>= 1"),
        (dict(width=0), r"width=0.*>= 1"),
        (dict(depth=2.5), r"depth=2.5"),
        (dict(width=True), r"width=True.*integer >= 1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, pattern):
    args = dict(in_features=10, depth=2, width=4, activation="relu") | kwargs
    with pytest.raises(ValueError, match=pattern):
        MLP(**args)


def test_init_weight_rejects_unknown_scheme():
    from helpers.models import init_weight

    with pytest.raises(ValueError, match=r"scheme='orthogonal'.*accepted values"):
        init_weight(torch.empty(3, 3), "orthogonal")


def test_pre_activations_by_hand_and_with_bn():
    model = hand_model()
    pre = pre_activations(model, X4)
    assert pre[0].tolist() == [[-1, 1, 1], [-1, 0, 1], [-1, -1, 1], [-1, 0, 1]]
    bn = MLP(2, depth=2, width=3, batch_norm=True).eval()
    pre = pre_activations(bn, X4, batch_size=3)
    assert torch.allclose(pre[0], bn.norms[0](bn.linears[0](X4)), atol=1e-6)
    assert all(len(n._forward_hooks) == 0 for n in bn.norms)  # hooks removed


def test_selu_gets_lecun_normal_and_silu_he():
    from helpers.models import init_scheme
    assert init_scheme("selu") == "lecun" and init_scheme("silu") == "he"
    model = make_model(784, depth=2, width=400, activation="selu", seed=0)
    w = model.linears[0].weight
    assert w.mean().item() == pytest.approx(0.0, abs=2e-3)
    assert w.std().item() == pytest.approx(1 / 784 ** 0.5, rel=0.02)  # std 1/sqrt(fan_in)
    he = make_model(784, depth=2, width=400, activation="silu", seed=0).linears[0].weight
    assert he.std().item() == pytest.approx((2 / 784) ** 0.5, rel=0.02)
