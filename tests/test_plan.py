"""The grid's cost model on hand-computed cases (no training; the calibration clock faked)."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.engine import Layout
from helpers.grid import GridSpec
from helpers.grid.plan import PRIOR_FINAL_EPOCHS, epoch_flops, measured_rates, plan_table
from helpers.grid.store import Records

SPEC = GridSpec(profile="quick", depths=(2,), widths=(8,), coarse_lrs=(1e-3, 1e-2),
                rungs=(1, 2), max_epochs=5, patience=2, keep=1, max_extensions=0,
                seeds=(0,), full_length=(("cifar10", 8),))
SIZES = {"mnist": (10, 100, 20, 30), "cifar10": (10, 100, 20, 30)}
RATES = {("mnist", 8): 3600.0, ("cifar10", 8): 7200.0}  # seconds per TFLOP


def test_epoch_flops_by_hand():
    layout = Layout(10, 2, 8, 10)  # 10*8 + 8*8 + 8*10 = 224 weights
    assert layout.n_weights == 224
    assert epoch_flops(layout, 100, 20) == 224 * (6 * 100 + 2 * 20)
    assert epoch_flops(layout, 100, 20, 30) == 224 * (6 * 100 + 2 * 50)


def test_plan_without_records_by_hand():
    t = plan_table(SPEC, SIZES, RATES, {}).set_index(["dataset", "phase"])
    # 4 configurations x 1 seed; search extra = 2 rates x 1 epoch + 1 x (2 - 1) - 2 = 1 each
    assert t.loc[("mnist", "search"), "model_epochs"] == 4 * 1
    assert t.loc[("mnist", "final"), "model_epochs"] == 4 * PRIOR_FINAL_EPOCHS
    assert t.loc[("cifar10", "final"), "model_epochs"] == 4 * 5  # full length
    flops = 224 * (6 * 100 + 2 * 20)
    assert t.loc[("mnist", "final"), "tflop"] == pytest.approx(4 * 70 * flops / 1e12)
    assert t.loc[("mnist", "final"), "hours"] == pytest.approx(4 * 70 * flops / 1e12)
    cifar_flops = 224 * (6 * 100 + 2 * 50)  # full-length runs evaluate test every epoch
    assert t.loc[("cifar10", "final"), "hours"] == pytest.approx(4 * 5 * cifar_flops / 1e12 * 2)
    assert (t.hours_left == t.hours).all()


def test_plan_counts_what_is_recorded():
    runs = pd.DataFrame(dict(
        phase=["final"] * 4 + ["search"] * 8, depth=2, width=8,
        activation=(["relu", "sigmoid"] * 2) + ["relu", "sigmoid"] * 4,
        batch_norm=[False, False, True, True] + [False, False, True, True] * 2,
        lr=[1e-3] * 4 + [1e-3] * 4 + [1e-2] * 4, epochs=[40] * 4 + [2] * 4 + [1] * 4))
    rec = Records(runs, pd.DataFrame(), pd.DataFrame())
    t = plan_table(SPEC, SIZES, RATES, {"mnist": rec}).set_index(["dataset", "phase"])
    assert t.loc[("mnist", "final"), "model_epochs"] == 4 * 40  # measured mean length
    assert t.loc[("mnist", "final"), "hours_left"] == 0  # all final runs recorded
    assert t.loc[("mnist", "search"), "hours_left"] == 0  # 8 + 4 - 8 = 4 = planned
    assert t.loc[("cifar10", "final"), "hours_left"] > 0


def test_calibrate_takes_the_fastest_of_its_timings(monkeypatch):
    """The rate is seconds / TFLOP of the fastest repeat (a load spike in one timing does
    not inflate it); the clock is faked: the repeats take 5, 2 and 9 seconds."""
    import helpers.grid.plan as plan
    from helpers.grid import get_spec
    calls = []
    monkeypatch.setattr(plan, "train_stacked", lambda *a, **kw: calls.append(kw["until_epoch"]))
    ticks = iter([0.0, 5.0, 10.0, 12.0, 20.0, 29.0])
    monkeypatch.setattr(plan.time, "perf_counter", lambda: next(ticks))
    spec = get_spec("quick")
    rate = plan.calibrate(spec, "mnist", 16, "cpu", epochs=1, k=2, n_train=256, repeat=3)
    assert calls == [1, 1, 1, 1]  # one warm-up, three timed
    n_val = min(512, len(plan.grid_data(spec, "mnist").val))  # the subset's validation split
    layout = Layout(784, 4, 16, 10)
    assert rate == pytest.approx(2.0 / (2 * epoch_flops(layout, 256, n_val) / 1e12))


def test_measured_rates_are_wall_time_over_flops_of_the_runs_on_this_device():
    """Two MNIST runs on this device (3 s for 2 epochs of 2x8, 5 s for 1 epoch of 4x8), one
    elsewhere (ignored), one without epochs (ignored); the CIFAR-10 width is full length, so
    its FLOPs count the test split."""
    runs = pd.DataFrame(dict(
        dataset="mnist", phase="final", depth=[2, 4, 2, 2], width=8, epochs=[2, 1, 5, 0],
        wall_time=[3.0, 5.0, 99.0, 7.0], device=["here", "here", "gpu", "here"]))
    cifar = runs.iloc[:1].assign(dataset="cifar10")
    rates = measured_rates(SPEC, SIZES, {"mnist": Records(runs, pd.DataFrame(), pd.DataFrame()),
                                         "cifar10": Records(cifar, pd.DataFrame(),
                                                            pd.DataFrame())}, "here")
    f2 = 224 * (6 * 100 + 2 * 20)  # 2x8 on 10 features: 224 weights
    f4 = (10 * 8 + 3 * 8 * 8 + 8 * 10) * (6 * 100 + 2 * 20)
    assert rates[("mnist", 8)] == pytest.approx((3.0 + 5.0) / ((2 * f2 + f4) / 1e12))
    assert rates[("cifar10", 8)] == pytest.approx(3.0 / (2 * 224 * (6 * 100 + 2 * 50) / 1e12))
    assert measured_rates(SPEC, SIZES, {}, "here") == {}
