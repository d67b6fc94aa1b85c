"""The epoch probe, its tables, run_configs and revived units, on hand-made networks where
the answer is known and on real MNIST."""

import math
import re

import pandas as pd
import pytest
import torch
from hand_nets import X4, Y4, hand_model

from helpers.metrics import gradient_norms
from helpers.model_variants import make_variant
from helpers.models import MLP
from helpers.training_probes import (
    EpochProbe,
    configs_product,
    probe_long,
    revived_units,
    run_configs,
    run_label,
    select_run,
)


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
    model = hand_model()
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
    model = hand_model("sigmoid", biases=(-5.0, 0.0, 3.0))
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


def test_revived_units_by_hand():
    probe = EpochProbe(X4, Y4, metrics=["dead"])
    probe.dead_masks = {1: [torch.tensor([True, True, False])],
                        5: [torch.tensor([True, False, True])]}
    r = revived_units(probe, from_epoch=1).iloc[0]
    assert r["dead at epoch 1"] == 2 and r["of those alive at epoch 5"] == 1
    assert r["newly dead by epoch 5"] == 1
    with pytest.raises(ValueError, match="from_epoch=3"):
        revived_units(probe, 3)


def _summary():
    """Three configurations as run_configs summarises them (defaults filled in)."""
    base = dict(depth=2, width=8, batch_norm=False, init="default", init_gain=1.0,
                bias_init=0.0, lr=1e-3)
    rows = [base | dict(activation="relu", label="ReLU (He), lr=0.001"),
            base | dict(activation="relu", lr=3e-2, label="ReLU (He), lr=0.03"),
            base | dict(activation="relu", batch_norm=True, bias_init=-1.0,
                        label="ReLU (He) + BN, lr=0.001, bias=-1")]
    return pd.DataFrame(rows)


def test_run_label_and_select_run_find_a_run_by_its_configuration():
    summary = _summary()
    runs = {label: object() for label in summary.label}
    assert run_label(summary, activation="relu") == "ReLU (He), lr=0.001"  # defaults apply
    assert run_label(summary, activation="relu", lr=0.03) == "ReLU (He), lr=0.03"
    assert run_label(summary, activation="relu", batch_norm=True,
                     bias_init=-1.0) == "ReLU (He) + BN, lr=0.001, bias=-1"
    assert select_run(summary, runs, activation="relu", lr=3e-2) is runs["ReLU (He), lr=0.03"]


@pytest.mark.parametrize("config, message", [
    (dict(activation="sigmoid"), "0 runs match"),
    (dict(activation="relu", slope=0.1), "unknown keys ['slope']"),
])
def test_run_label_refuses_no_match_and_unknown_keys(config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_label(_summary(), **config)


def test_run_label_refuses_an_ambiguous_configuration():
    summary = pd.concat([_summary(), _summary().iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="2 runs match"):
        run_label(summary, activation="relu")
