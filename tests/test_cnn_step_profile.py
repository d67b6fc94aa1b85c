"""Chapter 10's step profile (helpers.cnn_step_profile): grouping, tables, the profiled
training loop on real CIFAR-10 images, and the max-pool micro-benchmark."""

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from helpers import cnn_step_profile as sp


def test_op_group_by_hand():
    assert sp.op_group("aten::sigmoid") == "activation"
    assert sp.op_group("aten::threshold_backward") == "activation"
    assert sp.op_group("aten::max_pool2d_with_indices_backward") == "max-pool"
    assert sp.op_group("aten::mkldnn_convolution") == "convolution"
    assert sp.op_group("aten::addmm") == "dense"
    assert sp.op_group("aten::_foreach_addcdiv_") == "Adam"
    assert sp.op_group("aten::nll_loss_forward") == "loss"
    assert sp.op_group("aten::index") == "other"  # the batch gather x[idx]
    # an unlisted operator counts towards the nearest listed event around it
    assert sp.op_group("aten::fill_", ["aten::max_pool2d_with_indices_backward",
                                       "autograd::engine::evaluate_function: "
                                       "MaxPool2DWithIndicesBackward0"]) == "max-pool"
    assert sp.op_group("aten::sum", ["autograd::engine::evaluate_function: AddmmBackward0"]
                       ) == "dense"
    assert sp.op_group("autograd::engine::evaluate_function: ReluBackward0") == "activation"
    assert sp.op_group("aten::empty", ["aten::autograd_thing"]) == "other"
    # the optimiser's arithmetic is ordinary operators: grouped by where they run
    assert sp.op_group("aten::lerp_", ["Optimizer.step#Adam.step"]) == "Adam"
    assert sp.op_group("aten::add_", ["aten::mul", "Optimizer.step#Adam.step"]) == "Adam"
    assert sp.op_group("Optimizer.zero_grad#Adam.zero_grad") == "Adam"
    assert sp.GROUP_ORDER[-1] == "other" and set(sp.OP_GROUPS) < set(sp.GROUP_ORDER)


def test_batch_stream_is_chapter_10s_batch_order():
    """One seeded permutation per epoch, cut into batches, the last one smaller: the order
    of :func:`helpers.cnn_sigmoid_vs_relu.train_runs`."""
    stream = sp.batch_stream(10, 4, torch.Generator().manual_seed(3))
    got = [next(stream) for _ in range(6)]
    g = torch.Generator().manual_seed(3)
    want = []
    for _ in range(2):
        order = torch.randperm(10, generator=g)
        want += [order[0:4], order[4:8], order[8:10]]
    assert [len(b) for b in got] == [4, 4, 2, 4, 4, 2]
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def _ops():
    """Two rounds at step 0: sigmoid 4+10 / 6+10 ms, ReLU 1+11 / 1+9 ms (activation +
    convolution), plus an op at another step that must be ignored."""
    rows = []
    for act, r, op, ms in [("sigmoid", 0, "aten::sigmoid", 4), ("sigmoid", 0,
                           "aten::mkldnn_convolution", 10), ("sigmoid", 1, "aten::sigmoid", 6),
                           ("sigmoid", 1, "aten::mkldnn_convolution", 10),
                           ("relu", 0, "aten::clamp_min", 1),
                           ("relu", 0, "aten::mkldnn_convolution", 11),
                           ("relu", 1, "aten::clamp_min", 1),
                           ("relu", 1, "aten::mkldnn_convolution", 9)]:
        rows.append(dict(activation=act, at_step=0, round=r, op=op, group=sp.op_group(op),
                         s_per_step=ms / 1e3))
    rows.append(dict(activation="relu", at_step=9, round=0, op="aten::relu",
                     group="activation", s_per_step=1.0))
    return pd.DataFrame(rows)


def test_group_table_by_hand():
    t = sp.group_table(_ops(), 0)
    assert list(t.index) == ["convolution", "activation", "total"]
    # activation: 5 vs 1 ms; per-round differences 3 and 5: mean 4, SE sd/sqrt(2) = 1
    assert t.loc["activation", "sigmoid ms"] == pytest.approx(5)
    assert t.loc["activation", "relu ms"] == pytest.approx(1)
    assert t.loc["activation", "difference ms"] == pytest.approx(4)
    assert t.loc["activation", "SE"] == pytest.approx(1)
    # convolution: differences -1 and 1; total: 14 - 12 = 2 and 16 - 10 = 6
    assert t.loc["convolution", "difference ms"] == pytest.approx(0)
    assert t.loc["convolution", "SE"] == pytest.approx(1)
    assert t.loc["total", "difference ms"] == pytest.approx(4)
    assert t.loc["total", "SE"] == pytest.approx(2)


def test_differences_by_hand():
    ops = _ops()
    d = sp.differences(ops[ops.at_step == 0])
    assert list(d.index) == [(0, "activation"), (0, "convolution"), (0, "total")]
    assert d.loc[(0, "activation"), "difference ms"] == pytest.approx(4)
    assert d.loc[(0, "total"), "SE"] == pytest.approx(2)
    with pytest.raises(ValueError, match="at_step=9: no profile of \\['sigmoid'\\]"):
        sp.differences(ops)  # at step 9 only ReLU was profiled


def test_zero_and_pool_tables_by_hand():
    zeros = pd.DataFrame([dict(activation="relu", at_step=0, block=1, zero_frac=0.5,
                               zero_windows=0.1),
                          dict(activation="relu", at_step=0, block=2, zero_frac=0.8,
                               zero_windows=0.4)])
    assert sp.zero_table(zeros).loc[("relu", 0), "all"] == pytest.approx(0.65)
    # weighted by elements 3:1 -> (3 * 0.5 + 0.8) / 4
    assert sp.zero_table(zeros, [3, 1]).loc[("relu", 0), "all"] == pytest.approx(0.575)
    assert sp.zero_table(zeros, column="zero_windows").loc[("relu", 0), 2] == 0.4
    pool = pd.DataFrame(dict(input=["sigmoid"] * 3 + ["relu, 50% zeros"] * 3,
                             zero_frac=[0.0] * 3 + [0.5] * 3,
                             seconds=[0.010, 0.030, 0.020, 0.004, 0.002, 0.009]))
    t = sp.pool_table(pool)
    assert list(t.index) == ["sigmoid", "relu, 50% zeros"]
    assert t.loc["sigmoid", "ms"] == pytest.approx(20) and t.loc["relu, 50% zeros",
                                                                 "ms"] == pytest.approx(4)


def _tiny(**kw):
    return sp.profile_settings("quick") | dict(at_steps=(0, 5), steps=2, rounds=2,
                                               batch_size=64, channels=(4, 4, 4),
                                               hidden=8) | kw


def test_profile_steps_on_real_cifar(cifar_tiny, monkeypatch):
    calls = []
    real = sp.train_step
    monkeypatch.setattr(sp, "train_step", lambda *a: calls.append(1) or real(*a))
    r = sp.profile_steps(cifar_tiny, _tiny())
    # per activation: 5 steps up to the last point (4 of them profiled at step 0), then
    # 2 rounds x 2 steps profiled there
    assert len(calls) == 2 * (5 + 2 * 2)
    ops = r["ops"]
    assert set(map(tuple, ops[["activation", "at_step", "round"]].drop_duplicates()
                   .to_numpy().tolist())) == {(a, at, k) for a in ("sigmoid", "relu")
                                             for at in (0, 5) for k in (0, 1)}
    sig, relu = set(ops[ops.activation == "sigmoid"].op), set(ops[ops.activation == "relu"].op)
    assert {"aten::sigmoid", "aten::sigmoid_backward"} <= sig and "aten::sigmoid" not in relu
    assert "aten::threshold_backward" in relu and "aten::threshold_backward" not in sig
    totals = sp.group_times(ops).groupby(["activation", "group"])["s_per_step"].sum()
    for a in ("sigmoid", "relu"):
        for group in ("convolution", "max-pool", "activation", "Adam"):
            assert totals[(a, group)] > 0
    adam_ops = set(ops[ops.group == "Adam"].op)  # Adam's own arithmetic, not only its label
    assert "Optimizer.step#Adam.step" in adam_ops and len(adam_ops) > 3
    assert len(r["rounds"]) == 8 and (r["rounds"]["wall_s_per_step"] > 0).all()
    z = r["zeros"]
    assert len(z) == 2 * 2 * 3  # activations x points x blocks
    assert (z[z.activation == "sigmoid"][["zero_frac", "zero_windows"]] == 0).all().all()
    rz = z[z.activation == "relu"]
    assert ((rz.zero_frac > 0) & (rz.zero_frac < 1)).all()
    assert (rz.zero_windows <= rz.zero_frac).all()
    assert r["batches_per_epoch"] == 4 and r["label"].startswith("CIFAR-10")


@pytest.mark.parametrize("kw, name", [(dict(at_steps=(3, 0)), "at_steps"),
                                      (dict(at_steps=()), "at_steps"),
                                      (dict(at_steps=(-1,)), "at_steps"),
                                      (dict(at_steps=(0, 3)), "at_steps"),
                                      (dict(steps=0), "steps"), (dict(rounds=1.5), "rounds"),
                                      (dict(device="cuda"), "device")])
def test_profile_argument_errors_name_the_parameter(cifar_tiny, kw, name):
    with pytest.raises(ValueError, match=name):
        sp.profile_steps(cifar_tiny, _tiny(**kw))


def test_profile_refused_when_training_disabled(cifar_tiny, monkeypatch):
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    with pytest.raises(RuntimeError, match="training is disabled"):
        sp.profile_steps(cifar_tiny, _tiny())


def test_pool_zero_fractions_by_hand():
    """A 'network' whose only block outputs a known tensor: 6 zeros of 8, and one of the
    two 2x2 windows all zero."""
    class Fixed(torch.nn.Module):
        def forward(self, x, return_hidden=False):
            h = torch.tensor([[[[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 2.0, 0.0]]]])
            return None, [h, torch.zeros(1, 3)]
    assert sp.pool_zero_fractions(Fixed(), torch.zeros(1)) == [(6 / 8, 0.5)]


def test_time_pool_hits_the_zero_fractions():
    t = sp.time_pool([(8, 4, 16, 16)], zero_fractions=(0.0, 0.5, 0.9), repeats=2)
    assert len(t) == 4 * 2 and (t["seconds"] > 0).all()
    frac = t.groupby("input", sort=False)["zero_frac"].first()
    assert list(frac.index) == ["sigmoid", "relu, 0% zeros", "relu, 50% zeros",
                                "relu, 90% zeros"]
    assert frac["sigmoid"] == 0 and frac["relu, 0% zeros"] == 0
    assert frac["relu, 50% zeros"] == pytest.approx(0.5, abs=0.03)
    assert frac["relu, 90% zeros"] == pytest.approx(0.9, abs=0.03)


@pytest.mark.parametrize("kw", [dict(zero_fractions=(1.0,)), dict(zero_fractions=()),
                                dict(repeats=0)])
def test_time_pool_argument_errors(kw):
    with pytest.raises(ValueError, match="zero_fractions|repeats"):
        sp.time_pool([(1, 1, 2, 2)], **kw)


def test_plots_draw_the_tables(cifar_tiny):
    s = _tiny()
    r = sp.profile_steps(cifar_tiny, s)
    r["pool"] = sp.time_pool([(2, 4, 8, 8)], zero_fractions=(0.5, 0.9), repeats=1)
    r["pool_shapes"] = [[2, 4, 8, 8]] * 3
    fig = sp.plot_step_profile(r, 5)
    left, right = fig.axes
    groups = [t.get_text() for t in left.get_yticklabels()]
    assert groups[:3] == ["convolution", "max-pool", "activation"]
    assert len(left.patches) == 2 * len(groups) and len(right.patches) == len(groups)
    fig2 = sp.plot_pool_sparsity(r)
    assert len(fig2.axes[0].lines) == 1 + 1 + 2  # ReLU curve, sigmoid line, 2 points
    labels = fig2.axes[0].get_legend_handles_labels()[1]
    assert labels[-2].startswith("ReLU network after 0 steps") and "after 5 steps" in labels[-1]
    plt.close("all")


def test_committed_paper_result_loads_without_training(monkeypatch):
    from helpers.chapter_results import result_path

    s = sp.profile_settings("paper")
    if not result_path(sp.RESULT_NAME, s).exists():
        pytest.skip("the step profile's paper result is not committed yet (make results)")
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    r = sp.results("paper")
    assert sorted(r["ops"]["at_step"].unique()) == list(s["at_steps"])
    assert r["ops"]["round"].nunique() == s["rounds"] and r["batches_per_epoch"] == 313
    assert "CIFAR-10" in r["label"] and len(r["pool_shapes"]) == 3
    t = sp.group_table(r["ops"], s["at_steps"][-1])
    parts = t.drop(index="total")
    assert math.isclose(parts["difference ms"].sum(), t.loc["total", "difference ms"])


def test_profile_and_pool_numbers_by_hand():
    """_ops() at step 0 plus max-pools: sigmoid 5 and 5 ms, ReLU 3 and 3.5 ms (differences
    2 and 1.5: 1.75 +- 0.25, 7 SE: more than Student's t for 2 rounds, 12.7, only if
    loosened)."""
    ops = _ops()
    ops = pd.concat([ops[ops.at_step == 0], pd.DataFrame([
        dict(activation=a, at_step=0, round=r, op="aten::max_pool2d_with_indices",
             group="max-pool", s_per_step=ms / 1e3)
        for a, r, ms in (("sigmoid", 0, 5), ("sigmoid", 1, 5), ("relu", 0, 3),
                         ("relu", 1, 3.5))])], ignore_index=True)
    ps = {"at_steps": (0,), "rounds": 2, "steps": 1}
    n = sp.profile_numbers({"ops": ops, "batches_per_epoch": 100}, ps, k=2.0)
    assert n["prof_activation"] == "4.0 ± 1.0" and n["prof_convolution"] == "0.0 ± 1.0"
    assert n["prof_maxpool"] == f"{1.75:.1f} ± {0.25:.1f}"
    assert n["prof_conv_reading"] == "cost the same for both activations within the noise"
    assert n["prof_pool_reading"].startswith("At the one point the max-pools took longer")
    # ReLU step: 15 and 13.5 ms; convolution 10, max-pool 3.25 of 14.25 ms
    assert (n["prof_conv_share"], n["prof_pool_share"]) == ("70", "23")
    assert n["prof_pool_s"] == f"{0.175:.1f}"  # 1.75 ms x 100 steps per epoch
    assert n["prof_both_s"] == f"{(4 + 1.75) / 10:.1f}"
    assert n["prof_points"] == "0" and n["prof_points_epochs"] == "0.0"
    assert n["prof_pool_reading"].endswith("by more than 2.00 standard errors (the timing "
                                           "noise)")
    strict = sp.profile_numbers({"ops": ops, "batches_per_epoch": 100}, ps)  # t: 12.71 SE
    assert (strict["prof_rounds"], strict["prof_noise"]) == ("2", "12.71")
    # the rounds stored in the result count, not the settings' (a result from another run)
    stale = sp.profile_numbers({"ops": ops, "batches_per_epoch": 100}, {**ps, "rounds": 8})
    assert (stale["prof_rounds"], stale["prof_noise"]) == ("2", "12.71")
    assert strict["prof_pool_reading"].startswith("At 0 of 1 points")
    assert "12.71 standard errors" in strict["prof_pool_reading"]
    assert sp.timing_noise(8) == pytest.approx(2.365, abs=1e-3)
    zeros = pd.DataFrame([dict(activation="relu", at_step=0, block=b, zero_frac=f,
                               zero_windows=w) for b, f, w in ((1, 0.6, 0.2), (2, 0.8, 0.6))])
    pool = pd.DataFrame(dict(input=["sigmoid", "relu, 0% zeros", "relu, 50% zeros",
                                    "relu, 95% zeros"], zero_frac=[0, 0, 0.5, 0.95],
                             seconds=[0.06, 0.044, 0.040, 0.020]))
    p = sp.pool_numbers({"pool": pool, "zeros": zeros, "pool_shapes": [(3, 1), (1, 1)]}, ps)
    assert (p["pool_sigmoid"], p["pool_none"], p["pool_50"], p["pool_95"]) == (
        "60", "44", "40", "20")
    # zeros weighted 3:1: (3 x 0.6 + 0.8) / 4 = 65 %; windows (3 x 0.2 + 0.6) / 4 = 30 %;
    # independent zeros would fill (3 x 0.6**4 + 0.8**4) / 4 = 20.0 % of the windows
    assert (p["net_zeros_last"], p["net_windows_last"]) == ("65", "30")
    assert p["net_windows_indep"] == "20"
