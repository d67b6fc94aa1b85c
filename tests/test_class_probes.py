import math

import pytest
import torch

from helpers import class_probes as cp
from helpers.class_probes import ClassInfoProbe, UpdateRecorder, linear_probe, update_ratio
from helpers.metrics import (
    dead_units,
    hidden_activations,
    layer_sparsity,
    node_perplexity,
    saturation_fraction,
)
from helpers.models import make_model


def test_probe_separable_problem_reaches_accuracy_one():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    y = torch.arange(3).repeat(50)
    x = centres[y] + 0.3 * torch.randn(150, 2, generator=g)
    r = linear_probe(x[:90], y[:90], x[120:], y[120:], 3, val_x=x[90:120], val_y=y[90:120])
    assert r.train_acc == 1.0 and r.val_acc == 1.0 and r.test_acc == 1.0
    assert r.l2 == max(cp.PROBE_L2)  # every strength separates: the tie keeps the strongest


def test_probe_without_information_predicts_the_majority_class():
    # constant features carry no information: the probe learns the training prior and
    # predicts its majority class (0) for everything -> test accuracy = share of class 0
    x_train, y_train = torch.ones(10, 4), torch.tensor([0] * 6 + [1] * 4)
    x_test, y_test = torch.ones(5, 4), torch.tensor([0, 0, 0, 1, 1])
    r = linear_probe(x_train, y_train, x_test, y_test, n_classes=2, l2=(0.1,))
    assert r.test_acc == pytest.approx(0.6)
    assert r.train_acc == pytest.approx(0.6)
    # its loss is the entropy of the prior (0.6, 0.4), reached to convergence
    assert r.loss == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)), abs=1e-6)
    assert r.converged and math.isnan(r.val_acc)


@pytest.mark.parametrize("l2", [0.01, 0.1, 1.0])
def test_probe_reaches_the_penalised_optimum_by_hand(l2):
    """Two points, x = -1 (class 0) and x = +1 (class 1), already standardised. By symmetry
    the optimum has w = (-a, a) and equal biases: mean cross-entropy log(1 + exp(-2a)) plus
    l2/2 * 2a^2, stationary where a * l2 * (1 + exp(2a)) = 1; solved here by bisection."""
    lo, hi = 0.0, 50.0
    for _ in range(200):
        a = (lo + hi) / 2
        lo, hi = (a, hi) if a * l2 * (1 + math.exp(2 * a)) < 1 else (lo, a)
    x, y = torch.tensor([[-1.0], [1.0]]), torch.tensor([0, 1])
    r = linear_probe(x, y, x, y, 2, l2=(l2,))
    assert r.converged and r.train_acc == 1.0
    assert r.loss == pytest.approx(math.log1p(math.exp(-2 * a)), rel=1e-3)


def test_probe_keeps_the_strength_best_on_validation():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 20, generator=g)
    y = (x[:, 0] + 1.5 * torch.randn(300, generator=g) > 0).long()  # one useful feature
    split = dict(val_x=x[100:200], val_y=y[100:200])
    alone = {l2: linear_probe(x[:100], y[:100], x[200:], y[200:], 2, l2=(l2,), **split)
             for l2 in cp.PROBE_L2}
    chosen = linear_probe(x[:100], y[:100], x[200:], y[200:], 2, **split)
    best = max(r.val_acc for r in alone.values())
    assert chosen.val_acc == best
    assert chosen.l2 == max(l2 for l2, r in alone.items() if r.val_acc == best)
    assert chosen.test_acc == alone[chosen.l2].test_acc


def test_probe_rejects_bad_arguments():
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"max_iter=0.*accepted: int >= 1"):
        linear_probe(x, y, x, y, 2, max_iter=0, l2=(0.1,))
    with pytest.raises(ValueError, match=r"l2=\(\).*accepted"):
        linear_probe(x, y, x, y, 2, l2=())
    with pytest.raises(ValueError, match=r"l2=.*one strength without a validation split"):
        linear_probe(x, y, x, y, 2)
    with pytest.raises(ValueError, match=r"val_x=.*together"):
        linear_probe(x, y, x, y, 2, val_x=x)
    with pytest.raises(ValueError, match=r"features.*accepted"):
        linear_probe(x, y, x[:, :1], y, 2, l2=(0.1,))


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
    assert set(row0) == {f"{m}/{k}" for m in cp.PROBE_METRICS for k in (1, 2)}
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
    # every other value is the metric function's on the probe's samples
    hidden = hidden_activations(model, x)
    for k, h in enumerate(hidden, start=1):
        assert row1[f"sparsity/{k}"] == pytest.approx(layer_sparsity([h]).item())
        assert row1[f"dead/{k}"] == pytest.approx(100 * dead_units([h]).item())
        assert row1[f"perplexity/{k}"] == pytest.approx(
            torch.nanmean(node_perplexity(h, y, 2, 0.0)).item(), nan_ok=True)
    # sigmoid: saturation within eps = 0.01 of 0 or 1, and "on" above 0.5
    sig = make_model(3, depth=2, width=4, activation="sigmoid", seed=0)
    row = ClassInfoProbe(x, y, 2, "sigmoid")(sig, 0)
    for k, h in enumerate(hidden_activations(sig, x), start=1):
        assert row[f"saturation/{k}"] == pytest.approx(
            100 * saturation_fraction([h], 0.01).item())
        assert row[f"perplexity/{k}"] == pytest.approx(
            torch.nanmean(node_perplexity(h, y, 2, 0.5)).item(), nan_ok=True)
