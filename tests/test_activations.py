"""Hand-written activations, their derivatives, the sigmoid window, the zero-centring
example and the timing helpers."""

import dataclasses
import math

import matplotlib
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.activation_cost import (
    device_label,
    plot_timings,
    time_activations,
    time_per_epoch,
    time_sparse_matmul,
    time_to_target,
)
from helpers.activations import (
    BOOK_ACTIVATIONS,
    REGISTRY,
    HandWritten,
    autograd_derivative,
    closed_form,
    collapse_linear,
    derivative_check,
    derivative_product_bound,
    function_table,
    plot_functions,
    plot_saturation_map,
    plot_sparsity,
    saturation_eps,
    sigmoid_window,
    spec,
    window_fraction,
    window_table,
)
from helpers.models import ACTIVATIONS, MLP
from helpers.train import TrainResult
from helpers.zero_centring import (
    busiest_weights,
    per_sample_weight_grads,
    plot_gradient_quadrants,
    quadrant_table,
    same_sign_rows,
    zero_centring_example,
)

matplotlib.use("Agg")


TORCH_MODULES = {
    "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "relu": nn.ReLU(),
    "leaky_relu": nn.LeakyReLU(0.01), "elu": nn.ELU(), "gelu": nn.GELU(),
    "selu": nn.SELU(), "silu": nn.SiLU(),
}
X = torch.linspace(-8, 8, 1601, dtype=torch.float64)


def test_every_network_activation_has_a_hand_written_twin():
    assert set(BOOK_ACTIVATIONS) <= set(ACTIVATIONS) == set(TORCH_MODULES) <= set(REGISTRY)


@pytest.mark.parametrize("name", list(TORCH_MODULES))
def test_hand_written_forward_matches_torch_nn(name):
    assert torch.allclose(spec(name).fn(X), TORCH_MODULES[name](X), atol=1e-12)
    # and the module the book's MLP uses
    assert torch.allclose(HandWritten(name)(X.float()), ACTIVATIONS[name]()(X.float()),
                          atol=1e-6)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_closed_form_derivative_passes_gradcheck(name):
    # points away from 0, where ReLU and leaky ReLU have their kink
    x = torch.tensor([-3.1, -1.2, -0.4, 0.3, 0.9, 2.7], dtype=torch.float64,
                     requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: closed_form(t, name), (x,))


@pytest.mark.parametrize("name", list(REGISTRY))
def test_closed_form_matches_autograd_on_torch(name):
    s = spec(name)
    assert torch.allclose(s.derivative(X), autograd_derivative(s.reference, X), atol=1e-12)


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma():
    x = torch.tensor([-2.0, 0.0, 1.5], dtype=torch.float64)
    by_hand = torch.tensor([math.exp(-t) / (1 + math.exp(-t)) ** 2 for t in x.tolist()],
                           dtype=torch.float64)
    s = torch.sigmoid(x)
    assert torch.allclose(autograd_derivative(torch.sigmoid, x), s * (1 - s))
    assert torch.allclose(autograd_derivative(torch.sigmoid, x), by_hand)
    assert autograd_derivative(torch.sigmoid, torch.zeros(1)).item() == 0.25


def test_relu_derivative_is_zero_at_zero_like_torch():
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert spec("relu").derivative(x).tolist() == [0.0, 0.0, 1.0]
    assert autograd_derivative(F.relu, x).tolist() == [0.0, 0.0, 1.0]


def test_hand_written_module_gives_the_same_network_gradients():
    torch.manual_seed(0)
    ref = MLP(6, depth=2, width=5, activation="gelu")
    hand = MLP(6, depth=2, width=5, activation="gelu")
    hand.load_state_dict(ref.state_dict())
    hand.act = HandWritten("gelu")
    x, y = torch.randn(8, 6), torch.randint(0, 10, (8,))
    for m in (ref, hand):
        F.cross_entropy(m(x), y).backward()
    for p, q in zip(ref.parameters(), hand.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)


def test_tables_and_checks():
    t = function_table(["relu", "sigmoid"], torch.linspace(-2, 2, 5))
    assert len(t) == 2 * 2 * 5 and set(t.quantity) == {"f(x)", "f'(x)"}
    d = t[(t.activation == "relu") & (t.quantity == "f'(x)")].value.tolist()
    assert d == [0, 0, 0, 1, 1]
    check = derivative_check(list(REGISTRY), X)
    assert (check.iloc[:, 1:] < 1e-12).all().all()


def test_window_table_peaks():
    w = window_table(["sigmoid", "tanh", "sigmoid4", "relu"])
    assert w.loc["sigmoid", "max f'(x)"] == pytest.approx(0.25)
    assert w.loc["sigmoid", "argmax x"] == pytest.approx(0.0, abs=1e-3)
    assert w.loc["tanh", "max f'(x)"] == pytest.approx(1.0)
    assert w.loc["sigmoid4", "max f'(x)"] == pytest.approx(1.0)
    # window lengths agree with the closed form
    assert w.loc["sigmoid", "length where f' > 0.1"] == pytest.approx(
        2 * sigmoid_window(0.1), abs=1e-3)
    assert w.loc["sigmoid4", "length where f' > 0.1"] == pytest.approx(
        2 * sigmoid_window(0.1, scale=4), abs=1e-3)
    assert not w.loc["sigmoid", "both signs"] and w.loc["tanh", "both signs"]


def test_sigmoid_window_by_hand():
    # s(1-s) = 0.1  ->  s = (1 + sqrt(0.6)) / 2  ->  z = ln(s / (1 - s))
    s = (1 + math.sqrt(0.6)) / 2
    assert sigmoid_window(0.1) == pytest.approx(math.log(s / (1 - s)))
    assert sigmoid_window(0.1) == pytest.approx(2.0634, abs=1e-4)
    z = sigmoid_window(0.1)
    assert spec("sigmoid").derivative(torch.tensor([z, -z])).tolist() == pytest.approx(
        [0.1, 0.1])
    assert spec("sigmoid4").derivative(torch.tensor(sigmoid_window(0.1, 4))).item() == \
        pytest.approx(0.1)
    assert sigmoid_window(0.25) == 0.0 and sigmoid_window(0.3) == 0.0
    assert saturation_eps(0.1) == pytest.approx((1 - math.sqrt(0.6)) / 2)
    with pytest.raises(ValueError, match="threshold"):
        sigmoid_window(0)
    with pytest.raises(ValueError, match="scale"):
        sigmoid_window(0.1, scale=-1)


def test_derivative_product_bound():
    b = derivative_product_bound([1, 2, 3])
    assert b.bound.tolist() == [0.25, 0.0625, 1 / 64]


def test_window_fraction_by_hand():
    pre = [torch.tensor([[-3.0, 0.5], [1.0, 2.5]]), torch.tensor([[0.0, 0.0]])]
    assert window_fraction(pre, 2.0) == [50.0, 100.0]


def test_collapse_linear_by_hand():
    model = MLP(1, depth=2, width=1, activation="relu", n_classes=1)
    model.act = HandWritten("linear")
    with torch.no_grad():
        for lin, (w, b) in zip([*model.linears, model.out], [(2.0, 1.0), (3.0, -1.0),
                                                               (0.5, 0.0)]):
            lin.weight.fill_(w)
            lin.bias.fill_(b)
    weight, bias = collapse_linear(model)
    # 0.5 * (3 * (2x + 1) - 1) = 3x + 1
    assert weight.item() == pytest.approx(3.0) and bias.item() == pytest.approx(1.0)
    x = torch.tensor([[0.0], [2.0]])
    assert model(x).squeeze().tolist() == pytest.approx([1.0, 7.0])
    bn = MLP(3, depth=1, width=2, batch_norm=True)
    with pytest.raises(ValueError, match="batch norm"):
        collapse_linear(bn)


def test_per_sample_grads_match_one_sample_at_a_time():
    torch.manual_seed(1)
    model = MLP(5, depth=2, width=4, activation="sigmoid")
    x, y = torch.randn(3, 5), torch.tensor([0, 3, 9])
    g = per_sample_weight_grads(model, x, y, layer=2)
    assert g.shape == (3, 4, 4)
    for i in range(3):
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        assert torch.allclose(g[i], model.linears[1].weight.grad, atol=1e-6)
    with pytest.raises(ValueError, match="layer=3"):
        per_sample_weight_grads(model, x, y, layer=3)


def test_per_sample_grads_work_through_hand_written_activations():
    torch.manual_seed(2)
    model = MLP(5, depth=2, width=4, activation="sigmoid")
    model.act = HandWritten("sigmoid4")
    x, y = torch.randn(3, 5), torch.tensor([1, 2, 3])
    g = per_sample_weight_grads(model, x, y, layer=1)
    model.zero_grad()
    F.cross_entropy(model(x[1:2]), y[1:2]).backward()
    assert torch.allclose(g[1], model.linears[0].weight.grad, atol=1e-6)


def test_same_sign_rows_and_quadrants_by_hand():
    g = torch.tensor([[1.0, 2.0, 0.0],      # one sign (zeros ignored)
                      [-1.0, -3.0, -2.0],   # one sign
                      [1.0, -1.0, 0.0],     # mixed
                      [0.0, 0.0, 0.0]])     # all zero: ignored
    assert same_sign_rows(g) == pytest.approx(2 / 3)
    q = quadrant_table(torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-2.0, -1.0], [3.0, -1.0],
                                     [1.0, 2.0], [0.0, 1.0]]))
    assert q["share (%)"].tolist() == pytest.approx([40.0, 20.0, 20.0, 20.0])


def test_zero_centring_on_real_mnist(mnist_small):
    x, y = mnist_small.train.x[:64], mnist_small.train.y[:64]
    models = {a: MLP(784, depth=2, width=16, activation=a) for a in ["sigmoid", "tanh"]}
    points, summary = zero_centring_example(models, x, y)
    # positive inputs to layer 2: every per-sample row has one sign, no II/IV quadrants
    assert summary.loc["sigmoid", "per-sample rows with one sign (%)"] == 100.0
    assert summary.loc["sigmoid", "2-weight samples in II or IV (%)"] == 0.0
    assert summary.loc["tanh", "per-sample rows with one sign (%)"] < 50.0
    assert len(points) == 2 * (64 + 1)
    # an explicit unit and pair of weights is honoured
    g = per_sample_weight_grads(models["tanh"], x, y, layer=2)
    points, summary = zero_centring_example({"tanh": models["tanh"]}, x, y, unit=3,
                                            inputs=(5, 7))
    assert summary.loc["tanh", "unit, weights plotted"] == "3, (5, 7)"
    assert points.g1.iloc[:64].tolist() == pytest.approx(g[:, 3, 5].tolist())


def test_busiest_weights_by_hand():
    g = torch.zeros(3, 2, 4)
    g[:, 1, 2] = 1.0  # unit 1, weight 2: non-zero for all 3 samples
    g[0, 1, 0] = -1.0  # unit 1, weight 0: one sample
    g[:2, 0, 3] = 1.0  # unit 0: two entries in total
    assert busiest_weights(g) == (1, (2, 0))
    assert busiest_weights(g, unit=0)[0] == 0 and busiest_weights(g, unit=0)[1][0] == 3


def test_timing_tables_have_the_promised_shape():
    t = time_activations(["relu", "sigmoid"], 1000, min_run_time=0.01)
    assert set(t["pass"]) == {"forward", "forward+backward"} and len(t) == 4
    assert (t[t.activation == "relu"]["x ReLU time"] == 1.0).all()
    assert (t["median (ms)"] > 0).all()
    with pytest.raises(ValueError, match="n_elements"):
        time_activations(["relu"], 0)
    with pytest.raises(ValueError, match="num_threads"):
        time_activations(["relu"], 10, num_threads=0)
    with pytest.raises(ValueError, match="rounds=0"):
        time_activations(["relu"], 10, rounds=0)
    with pytest.raises(ValueError, match="activation='swish'"):
        time_activations(["swish"], 10)


def test_time_per_epoch_and_sparse_matmul():
    models = {a: MLP(20, depth=2, width=8, activation=a) for a in ["relu", "sigmoid"]}
    x, y = torch.randn(32, 20), torch.randint(0, 10, (32,))
    before = [p.clone() for p in models["relu"].parameters()]
    t = time_per_epoch(models, x, y, batch_size=16, n_train=160, min_run_time=0.01)
    assert list(t.index) == ["relu", "sigmoid"] and t.loc["relu", "x first"] == 1.0
    assert t.loc["relu", "epoch (s)"] == pytest.approx(10 * t.loc["relu", "step median (ms)"]
                                                       / 1e3)
    assert all(torch.equal(p, q) for p, q in zip(before, models["relu"].parameters()))
    with pytest.raises(ValueError, match="batch_size=64"):
        time_per_epoch(models, x, y, batch_size=64)
    h = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    s = time_sparse_matmul(h, torch.ones(3, 2), min_run_time=0.01)
    assert s.attrs["zeros (%)"] == 50.0 and len(s) == 3


def test_time_to_target_by_hand():
    model = MLP(4, 1, 2, "relu")
    history = pd.DataFrame({"epoch": [0, 1, 2, 3], "train_acc": [0.1, 0.8, 0.95, 0.99]})
    r = TrainResult(model, history, best_epoch=2, best_val_acc=0.9, test_loss=0.0,
                    test_acc=0.9, diverged=False, wall_time=1.0)
    t = time_to_target({"a": r}, {"relu": 2.0}, target=0.95)
    assert t.loc["a", "epochs to 95 % train acc"] == 2.0
    assert t.loc["a", "seconds to target"] == 4.0
    assert t.loc["a", "train acc at best (%)"] == 95.0
    assert math.isnan(time_to_target({"a": r}, {"relu": 2.0}, 0.999).iloc[0, 0])
    with pytest.raises(ValueError, match="target"):
        time_to_target({"a": r}, {"relu": 2.0}, 95)
    stored = dataclasses.replace(r, model=None)  # a run stored without its network
    t = time_to_target({"relu, lr=0.001": stored}, {"relu": 3.0}, target=0.95)
    assert t.loc["relu, lr=0.001", "seconds to target"] == 6.0


def test_device_label_names_the_device():
    assert device_label("cpu").startswith("CPU") and "1 thread" in device_label("cpu")


def test_figures_build(mnist_small):
    plot_functions(function_table(["relu", "sigmoid"], torch.linspace(-3, 3, 31)))
    plot_saturation_map({"layer 1": torch.randn(100)}, mnist_small.source)
    x, y = mnist_small.train.x[:16], mnist_small.train.y[:16]
    points, _ = zero_centring_example({"relu": MLP(784, 2, 8, "relu")}, x, y)
    plot_gradient_quadrants(points, mnist_small.source)
    plot_timings(time_activations(["relu", "sigmoid"], 100, min_run_time=0.01), "CPU")
    plot_sparsity(pd.DataFrame({"layer": [1, 1], "condition": ["a", "b"],
                                "sparsity (%)": [50.0, 80.0]}), mnist_small.source)
    matplotlib.pyplot.close("all")


def test_relative_time_says_when_a_difference_is_within_the_scatter():
    """Medians 12 and 10 ms: 1.20 times ReLU's time. With IQRs of 1 ms (mean 1 < the 2 ms
    difference) that is a difference; with IQRs of 5 and 3 ms (mean 4 > 2) it is not."""
    from helpers.activation_cost import relative_time

    def table(iqr_sig, iqr_relu):
        return pd.DataFrame({"activation": ["relu", "sigmoid"], "pass": "forward",
                             "median (ms)": [10.0, 12.0], "IQR (ms)": [iqr_relu, iqr_sig]})

    assert relative_time(table(1.0, 1.0), "sigmoid", "forward") == "1.20 times ReLU's time"
    assert relative_time(table(5.0, 3.0), "sigmoid", "forward") == \
        "1.20 times ReLU's time (within the repetitions' scatter)"
    with pytest.raises(ValueError, match="accepted: one of"):
        relative_time(table(1.0, 1.0), "sigmoid", "forward+backward")


def test_resolved_steps_by_hand():
    from helpers.activation_cost import resolved_steps

    t = pd.DataFrame({"step median (ms)": [10.0, 12.0, 30.0], "step IQR (ms)": [3.0, 1.0, 4.0]},
                     index=pd.Index(["relu", "sigmoid", "elu"], name="model"))
    # sigmoid: +2 ms inside ReLU's 3 ms spread; elu: +20 ms beyond both spreads
    assert resolved_steps(t) == ("1 of the 2 other networks' steps differ from the relu "
                                 "network's by more than the step-to-step spread (IQR): "
                                 "elu (+20.0 ms)")
    assert resolved_steps(t.iloc[:2]).startswith("none of the 1 other networks' steps")
