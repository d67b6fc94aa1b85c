import numpy as np
import pytest
import torch

from helpers.metrics import (
    OUTPUT_SATURATION,
    class_activation_stats,
    class_medians,
    dead_units,
    gradient_norms,
    gradient_saturation,
    hidden_activations,
    layer_sparsity,
    layer_stats,
    node_perplexity,
    peak_slope,
    saturation_fraction,
)
from helpers.models import MLP, pre_activations

# Hand-made activations: 4 samples, 2 layers of 3 nodes. Classes: 0, 0, 1, 1.
L1 = torch.tensor([[0.0, 1.0, 2.0],
                   [0.0, 3.0, -1.0],
                   [0.0, 0.0, 4.0],
                   [0.0, 2.0, 6.0]])
L2 = torch.tensor([[0.5, 0.001, 0.999],
                   [0.2, 0.002, 0.3],
                   [0.7, 0.5, 1.0],
                   [0.1, 0.0, 0.995]])
Y = torch.tensor([0, 0, 1, 1])


def test_layer_sparsity_by_hand():
    # layer 1: node 0 inactive 4/4, node 1 1/4, node 2 1/4 -> mean 6/12 = 50 %
    # layer 2: only L2[3,1] == 0 is <= 0 -> node 1 1/4 -> 1/12 = 8.333 %
    assert layer_sparsity([L1, L2]).tolist() == pytest.approx([50.0, 100 / 12])


def test_dead_units_by_hand():
    # layer 1: node 0 is <= 0 for every sample -> 1/3; layer 2: none
    assert dead_units([L1, L2]).tolist() == pytest.approx([1 / 3, 0.0])


def test_saturation_fraction_by_hand():
    # eps 0.01 on layer 2: 0.001, 0.002, 0.999, 1.0, 0.0, 0.995 -> 6 of 12
    assert saturation_fraction([L2], eps=0.01).tolist() == pytest.approx([0.5])
    # eps 0.003 drops 0.995 -> 5 of 12
    assert saturation_fraction([L2], eps=0.003).tolist() == pytest.approx([5 / 12])
    with pytest.raises(ValueError, match="eps"):
        saturation_fraction([L2], eps=0.7)


def test_class_activation_stats_by_hand():
    s = class_activation_stats([L1, L2], Y, n_classes=2)
    assert s["median"].shape == (2, 2, 3)
    # class 0, layer 1, node 1: values 1, 3 -> median 2, mean 2, std 1 (population)
    assert s["median"][0, 0, 1].item() == pytest.approx(2.0)
    assert s["mean"][0, 0, 1].item() == pytest.approx(2.0)
    assert s["std"][0, 0, 1].item() == pytest.approx(1.0)
    # class 0, layer 1, node 2: values 2, -1 -> inactive 1/2
    assert s["inactive"][0, 0, 2].item() == pytest.approx(0.5)
    # class 1, layer 2, node 0: 0.7, 0.1 -> median 0.4
    assert s["median"][1, 1, 0].item() == pytest.approx(0.4)
    # agrees with numpy everywhere
    acts = torch.stack([L1, L2], 1).numpy()
    for c in (0, 1):
        a = acts[Y.numpy() == c]
        np.testing.assert_allclose(s["median"][c].numpy(), np.median(a, 0), rtol=1e-6)
        np.testing.assert_allclose(s["std"][c].numpy(), a.std(0), rtol=1e-5, atol=1e-7)


def test_class_medians_are_numbered_layer_after_layer():
    m = class_medians([L1, L2], Y, n_classes=2)
    assert m.shape == (2, 6)
    assert m[1, 3].item() == pytest.approx(0.4)  # node 4 = layer 2, node 1


def test_hidden_activations_match_forward():
    model = MLP(8, depth=2, width=5, activation="relu", batch_norm=True).eval()
    x = torch.randn(30, 8)
    hidden = hidden_activations(model, x, batch_size=7)  # batching must not matter
    _, ref = model(x, return_hidden=True)
    assert len(hidden) == len(ref) == 2
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(hidden, ref))


def test_gradient_norms_by_hand():
    # one hidden layer, identity-like: check against an explicit autograd computation
    torch.manual_seed(0)
    model = MLP(4, depth=2, width=3, activation="sigmoid")
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 4, 5])
    norms = gradient_norms(model, x, y)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    expected = [lin.weight.grad.norm().item() for lin in model.linears]
    assert norms.tolist() == pytest.approx(expected)
    # a hand case: with zero output weights no gradient reaches the hidden layers
    torch.nn.init.zeros_(model.out.weight)
    assert gradient_norms(model, x, y).tolist() == pytest.approx([0.0, 0.0])


@pytest.mark.parametrize("batch_norm", [False, True])
def test_backward_signal_by_hand(batch_norm: bool):
    """The RMS of d loss / d z per hidden layer, z the activation's input, against the
    gradients autograd leaves on z computed layer by layer; the last hidden layer's signal
    by hand: d loss / d h = W_out^T (softmax - onehot) / n, times sigma'(z)."""
    from helpers.metrics import backward_signal

    torch.manual_seed(0)
    model = MLP(4, depth=2, width=3, activation="sigmoid", batch_norm=batch_norm).train()
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 4, 5])
    got = backward_signal(model, x, y)
    h, zs = x, []
    for lin, norm in zip(model.linears, model.norms):
        z = norm(lin(h))
        z.retain_grad()
        zs.append(z)
        h = torch.sigmoid(z)
    logits = model.out(h)
    torch.nn.functional.cross_entropy(logits, y).backward()
    assert got.tolist() == pytest.approx([z.grad.pow(2).mean().sqrt().item() for z in zs])
    p = torch.softmax(logits, 1) - torch.nn.functional.one_hot(y, 10).float()
    s = torch.sigmoid(zs[-1])
    by_hand = (p @ model.out.weight / len(y) * s * (1 - s)).detach()
    assert got[-1].item() == pytest.approx(by_hand.pow(2).mean().sqrt().item())


def test_bad_hidden_input():
    with pytest.raises(ValueError, match="hidden"):
        layer_sparsity([])


def test_peak_slopes():
    assert peak_slope("sigmoid") == pytest.approx(0.25)
    assert peak_slope("relu") == peak_slope("tanh") == pytest.approx(1.0)
    # SELU: lambda * alpha * e^0 just left of 0
    assert peak_slope("selu") == pytest.approx(1.0507009873554805 * 1.6732632423543772,
                                               rel=1e-4)


def test_gradient_saturation_by_hand():
    z = torch.tensor([[-10.0, -1.0], [0.5, 10.0]])  # 4 (sample, node) pre-activations
    # ReLU: slope 0 for z <= 0 -> 2 of 4 saturated
    assert gradient_saturation([z], "relu").item() == pytest.approx(0.5)
    # sigmoid: slope at +-10 is 4.5e-5 < 0.04 * 0.25; at -1 and 0.5 it is ~0.2 -> 2 of 4
    assert gradient_saturation([z], "sigmoid").item() == pytest.approx(0.5)
    # leaky ReLU: slope 0.01 < 4 % of 1 on the negative side -> 2 of 4
    assert gradient_saturation([z], "leaky_relu").item() == pytest.approx(0.5)
    # tanh: slope 1 - tanh^2 at -1 is 0.42, at 0.5 is 0.79, at +-10 ~0 -> 2 of 4
    assert gradient_saturation([z], "tanh").item() == pytest.approx(0.5)
    # ELU: slope e^z at -10 is 4.5e-5 (saturated), at -1 is 0.37 (not) -> 1 of 4
    assert gradient_saturation([z], "elu").item() == pytest.approx(0.25)
    # the sigmoid's 4 % rule is the output rule "within 0.0101 of 0 or 1"
    zs = torch.linspace(-8, 8, 3201)[:, None]
    by_output = ((torch.sigmoid(zs) < 0.0101) | (torch.sigmoid(zs) > 1 - 0.0101)).float().mean()
    assert gradient_saturation([zs], "sigmoid").item() == pytest.approx(by_output.item(),
                                                                        abs=1e-3)
    with pytest.raises(ValueError, match="rel"):
        gradient_saturation([z], "relu", rel=1.5)
    with pytest.raises(ValueError, match="activation"):
        gradient_saturation([z], "swish")


def test_layer_stats_match_the_single_metrics():
    torch.manual_seed(0)
    model = MLP(6, depth=2, width=5, activation="selu", n_classes=3).eval()
    x, y = torch.randn(40, 6), torch.arange(40) % 3
    rows = layer_stats(model, x, y)
    hidden = hidden_activations(model, x)
    pre = pre_activations(model, x)
    assert [r["layer"] for r in rows] == [1, 2]
    for r, h, z in zip(rows, hidden, pre):
        assert r["sparsity"] == pytest.approx(layer_sparsity([h]).item())
        assert r["grad_saturation"] == pytest.approx(100 * gradient_saturation([z],
                                                                              "selu").item())
        assert r["perplexity"] == pytest.approx(torch.nanmean(node_perplexity(z, y, 3)).item())
        assert 1 <= r["perplexity"] <= 3
        assert r["mean"] == pytest.approx(h.mean().item(), abs=1e-6)
        assert r["saturation"] == pytest.approx(
            100 * saturation_fraction([h], OUTPUT_SATURATION).item())
        assert r["dead"] == pytest.approx(100 * dead_units([h]).item())
    # a ReLU net with a very negative bias: every node of every layer is dead (and sparse)
    dead_net = MLP(6, depth=2, width=5, activation="relu", n_classes=3, bias_init=-100.0)
    assert [(r["dead"], r["sparsity"]) for r in layer_stats(dead_net.eval(), x, y)] == \
        [(100.0, 100.0)] * 2


@pytest.mark.parametrize("batch_norm", [False, True])
def test_gradient_norms_and_signal_in_one_pass_equal_the_two_functions(batch_norm: bool):
    """One forward and backward give the same weight-gradient norms and backward signal as
    gradient_norms and backward_signal, and leave the .grad fields alone."""
    from helpers.metrics import backward_signal, gradient_norms_and_signal

    torch.manual_seed(1)
    model = MLP(5, depth=3, width=4, activation="relu", batch_norm=batch_norm).train()
    x, y = torch.randn(8, 5), torch.randint(0, 10, (8,))
    norms, signal = gradient_norms_and_signal(model, x, y)
    assert torch.allclose(norms, gradient_norms(model, x, y), rtol=1e-6, atol=0)
    assert torch.allclose(signal, backward_signal(model, x, y), rtol=1e-6, atol=0)
    assert all(p.grad is None for p in model.parameters())
