import math

import pytest
import torch

from helpers import class_probes as cp
from helpers.class_probes import ClassInfoProbe, UpdateRecorder, linear_probe, update_ratio
from helpers.models import make_model


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
