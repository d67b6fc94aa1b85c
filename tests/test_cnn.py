"""The vanilla CNN (helpers.models.CNN) and the chapter-10 metrics, verdicts and training."""

import json
import math
import warnings

import pandas as pd
import pytest
import torch

from helpers import cnn_sigmoid_vs_relu as cnn
from helpers.models import CNN, make_cnn

# --- the network ---------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn_output_and_hidden_shapes(activation, batch_norm):
    model = CNN(activation, batch_norm=batch_norm)
    logits, hidden = model(torch.randn(5, 3, 32, 32), return_hidden=True)
    assert logits.shape == (5, 10)
    assert [tuple(h.shape) for h in hidden] == [(5, 32, 32, 32), (5, 64, 16, 16),
                                                (5, 64, 8, 8), (5, 128)]
    assert model(torch.randn(5, 3 * 32 * 32)).shape == (5, 10)  # flattened rows work too


def test_cnn_bn_free_by_default_and_activation_used():
    model = CNN("sigmoid")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert isinstance(model.act, torch.nn.Sigmoid)
    _, hidden = model(torch.randn(2, 3, 32, 32), return_hidden=True)
    assert all(((h > 0) & (h < 1)).all() for h in hidden)  # sigmoid outputs
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in CNN("relu", batch_norm=True).modules())


def test_cnn_parameter_count_and_small_config():
    # convs 3*32*9+32, 32*64*9+64, 64*64*9+64; dense 1024*128+128; out 128*10+10
    assert sum(p.numel() for p in CNN().parameters()) == 188_810
    small = CNN("relu", channels=(8,), hidden=16, image_size=8)
    assert small(torch.randn(3, 3, 8, 8)).shape == (3, 10)


def test_cnn_init_follows_init_scheme():
    torch.manual_seed(0)
    relu, sig = CNN("relu"), CNN("sigmoid")
    fan_in = 64 * 9
    # He-normal: sd sqrt(2/fan_in); Xavier-uniform: sd sqrt(2/(fan_in+fan_out))
    assert relu.convs[2].weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert sig.convs[2].weight.std().item() == pytest.approx(
        math.sqrt(2 / (fan_in + 64 * 9)), rel=0.05)
    assert sig.convs[2].weight.abs().max() <= math.sqrt(6 / (fan_in + 64 * 9))
    assert (relu.dense.bias == 0).all() and (sig.convs[0].bias == 0).all()


def test_make_cnn_is_seeded_and_leaves_global_rng():
    state = torch.get_rng_state()
    a, b = make_cnn("relu", seed=3), make_cnn("relu", seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.dense.weight, make_cnn("relu", seed=4).dense.weight)


@pytest.mark.parametrize("kwargs, name", [
    (dict(activation="swish"), "activation"),
    (dict(channels=()), "channels"),
    (dict(channels=(32, 0)), "channels"),
    (dict(channels=(32.5,)), "channels"),
    (dict(hidden=0), "hidden"),
    (dict(n_classes=True), "n_classes"),
    (dict(image_size=30), "image_size"),
    (dict(batch_norm="yes"), "batch_norm"),
])
def test_cnn_argument_errors_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CNN(**kwargs)


def test_chapter_argument_errors():
    with pytest.raises(ValueError, match="profile"):
        cnn.settings("slow")
    with pytest.raises(ValueError, match="target_val_acc"):
        cnn.epochs_to_reach(pd.DataFrame({"epoch": [1], "val_acc": [0.5]}), 50)
    with pytest.raises(ValueError, match="repeats"):
        cnn.time_activations([(2, 2)], repeats=0)
    with pytest.raises(ValueError, match="activation"):
        cnn.time_activations([(2, 2)], repeats=1, activations=("swish",))
    with pytest.raises(ValueError, match="shape"):
        cnn.images(torch.zeros(2, 784))


# --- metrics by hand ----------------------------------------------------------------------

def _history():
    rows = []
    for seed, (sig, rel) in enumerate([((0.2, 0.3, 0.45), (0.4, 0.55, 0.6)),
                                       ((0.1, 0.35, 0.5), (0.5, 0.6, 0.62)),
                                       ((0.15, 0.3, 0.4), (0.45, 0.52, 0.58))]):
        for a, vals, secs, train in (("sigmoid", sig, 2.0 + seed * 0.1, 0.0),
                                     ("relu", rel, 1.0, 0.1)):
            for e, v in enumerate(vals, 1):
                rows.append(dict(activation=a, seed=seed, epoch=e, train_loss=1.0,
                                 train_acc=v + train * e, val_loss=1.0, val_acc=v,
                                 epoch_s=secs))
    return pd.DataFrame(rows)


def test_epochs_to_reach_by_hand():
    h = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_acc": [0.3, 0.5, 0.45, 0.6]})
    assert cnn.epochs_to_reach(h, 0.5) == 2  # first epoch at or above the target
    assert cnn.epochs_to_reach(h, 0.55) == 4
    assert cnn.epochs_to_reach(h, 0.7) is None
    assert cnn.epochs_to_reach(h.iloc[::-1], 0.45) == 2  # row order does not matter


def test_train_val_gap_by_hand():
    h = pd.DataFrame({"train_acc": [0.5, 0.8], "val_acc": [0.45, 0.6]})
    assert cnn.train_val_gap(h)["gap"].tolist() == pytest.approx([0.05, 0.2])


def test_val_loss_turn_by_hand():
    h = pd.DataFrame({"activation": ["relu"] * 4 + ["sigmoid"] * 3, "seed": [0] * 7,
                      "epoch": [1, 2, 3, 4, 1, 2, 3],
                      "val_loss": [1.2, 0.9, 0.9, 1.05, 1.5, 1.4, 1.3]})
    t = cnn.val_loss_turn(h.iloc[::-1]).set_index("activation")  # row order does not matter
    assert t.loc["relu", "min_epoch"] == 2  # first of the tied minima
    assert t.loc["relu", "rise"] == pytest.approx(0.15)
    assert t.loc["sigmoid", "min_epoch"] == 3 and t.loc["sigmoid", "rise"] == 0


def test_mean_se_by_hand():
    assert cnn.mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / math.sqrt(3)))
    mean, se = cnn.mean_se([4.0])
    assert mean == 4.0 and math.isnan(se)
    with pytest.raises(ValueError, match="empty"):
        cnn.mean_se([])


def test_time_ratio_by_hand():
    r = cnn.time_ratio(_history())
    # per seed: 2.0/1.0, 2.1/1.0, 2.2/1.0 -> mean 2.1, sd 0.1, se 0.1/sqrt(3)
    assert r["per_seed"] == pytest.approx([2.0, 2.1, 2.2])
    assert r["mean"] == pytest.approx(2.1)
    assert r["se"] == pytest.approx(0.1 / math.sqrt(3))


def test_convergence_table_censors_runs_that_never_reach():
    t = cnn.convergence_table(_history(), 0.5).set_index(["activation", "seed"])
    assert t.loc[("relu", 0), "epochs"] == 2 and t.loc[("relu", 1), "epochs"] == 1
    assert t.loc[("sigmoid", 1), "epochs"] == 3 and not t.loc[("sigmoid", 1), "censored"]
    # seed 0 tops out at 0.45: never reached -> 3 epochs + 1, censored
    assert t.loc[("sigmoid", 0), "epochs"] == 4 and t.loc[("sigmoid", 0), "censored"]


def test_time_to_reach_and_sweep_by_hand():
    """Target 0.5 in _history(): ReLU gets there at epochs 2, 1, 2 (1 s epochs: 2, 1, 2 s);
    sigmoid at epoch 3 of seed 1 (3 x 2.1 = 6.3 s) and never in seeds 0 and 2 (charged 3
    epochs + 1 mean epoch: 4 x 2.0 = 8.0 and 4 x 2.2 = 8.8 s). Paired ratios 4, 6.3, 4.4."""
    t = cnn.time_to_reach(_history(), 0.5).set_index(["activation", "seed"])
    assert t["seconds"].to_dict() == pytest.approx({
        ("relu", 0): 2.0, ("relu", 1): 1.0, ("relu", 2): 2.0,
        ("sigmoid", 0): 8.0, ("sigmoid", 1): 6.3, ("sigmoid", 2): 8.8})
    sweep = cnn.convergence_sweep(_history(), (0.5, 0.6))
    row = sweep.loc[50.0]
    assert row["ReLU epochs"] == pytest.approx(5 / 3) and row["sigmoid epochs"] == \
        pytest.approx(11 / 3)
    assert row["ReLU there at epoch 1"] == 1 and row["sigmoid never"] == 2
    assert row["ReLU never"] == 0 and sweep.loc[60.0, "ReLU never"] == 1
    assert row["time sigmoid / ReLU"] == pytest.approx(4.9)
    assert row["SE"] == pytest.approx(math.sqrt(1.51) / math.sqrt(3))
    # 0.6: ReLU seed 0 at epoch 3, seed 1 at 2, seed 2 never (3 + 1); sigmoid never
    assert sweep.loc[60.0, "ReLU epochs"] == pytest.approx(3.0)
    assert sweep.loc[60.0, "sigmoid never"] == 3
    # 4.09 SE above 2 (short of 4.30); at 0.6 some ReLU run never got there: no verdict
    assert (row["more than double?"], sweep.loc[60.0, "more than double?"]) == (
        "inconclusive", "—")


def test_ratio_judge_respects_the_bounds_of_censored_runs():
    """A sigmoid run that never got there makes the ratio a lower bound (it can be
    supported, never refuted); a ReLU run that never got there an upper bound."""
    sig = pd.DataFrame({"activation": ["sigmoid", "relu"], "censored": [True, False]})
    relu = sig.assign(censored=[False, True])
    none = sig.assign(censored=False)
    high = dict(mean=5.0, se=0.1, per_seed=[4.9, 5.0, 5.1])
    low = dict(mean=1.0, se=0.1, per_seed=[0.9, 1.0, 1.1])
    assert cnn.ratio_judge(high, 2.0, sig) == "supported"
    assert cnn.ratio_judge(low, 2.0, sig) == "inconclusive"
    assert cnn.ratio_judge(low, 2.0, relu) == "not supported"
    assert cnn.ratio_judge(high, 2.0, relu) == "inconclusive"
    assert cnn.ratio_judge(low, 2.0, none) == "not supported"
    both = sig.assign(censored=True)
    assert cnn.ratio_judge(high, 2.0, both) == cnn.ratio_judge(low, 2.0, both) == "inconclusive"


def test_censored_judge_bounds_a_difference_too():
    """Epochs to target, sigmoid − ReLU: a ReLU run that never got there makes the
    difference an upper bound, so a large difference cannot count as support."""
    relu_never = pd.DataFrame({"activation": ["sigmoid", "relu"], "censored": [False, True]})
    assert cnn.censored_judge(3.0, 0.1, 0.0, relu_never, n=3) == "inconclusive"
    assert cnn.censored_judge(-3.0, 0.1, 0.0, relu_never, n=3) == "not supported"


def test_epoch_ratio_spread_by_hand():
    h = pd.DataFrame({"activation": ["sigmoid", "relu"] * 4, "seed": [0, 0, 0, 0, 1, 1, 1, 1],
                      "epoch": [1, 1, 2, 2, 1, 1, 2, 2],
                      "epoch_s": [3.0, 2.0, 2.0, 2.0, 5.0, 4.0, 2.0, 4.0]})
    spread = cnn.epoch_ratio_spread(h)  # ratios: seed 0: 1.5, 1.0; seed 1: 1.25, 0.5
    assert spread["median"] == pytest.approx([1.25, 0.875])
    assert (spread["low"], spread["high"]) == pytest.approx((0.5, 1.5))
    assert (spread["fastest"], spread["slowest"]) == (2.0, 5.0)


def test_judge_uses_students_t_for_the_seeds():
    """Three seeds: 4.303 standard errors (0.86 for se 0.2) around the threshold 2."""
    assert cnn.judge(3.0, 0.2, 2.0, n=3) == "supported"  # 1.0 > 0.86
    assert cnn.judge(2.8, 0.2, 2.0, n=3) == "inconclusive"  # 0.8 < 0.86
    assert cnn.judge(1.0, 0.2, 2.0, n=3) == "not supported"  # 1.0 short
    assert cnn.judge(2.8, 0.2, 2.0, n=10) == "supported"  # 9 seeds: t = 2.262, 0.45
    assert cnn.judge(1.0, 0.0, n=3) == "supported"  # identical seeds: no noise
    assert cnn.judge(1.0, float("nan"), n=1) == "inconclusive"


def test_verdicts_by_hand():
    h = _history()
    runs = pd.DataFrame({"activation": ["sigmoid", "relu"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                         "test_acc": [0.40, 0.60, 0.42, 0.61, 0.41, 0.62]})
    v = cnn.verdicts({"history": h, "runs": runs}, 0.5).set_index("claim")
    # time ratio 2.1 +- 0.058: 0.1 < 4.3 SE -> inconclusive
    assert v.loc["sigmoid takes more than double the time per epoch", "verdict"] == "inconclusive"
    # epochs sigmoid - relu per seed: 4-2, 3-1, 4-2 (sigmoid seeds 0 and 2 censored at 4)
    assert v.loc["ReLU converges faster", "ours"] == pytest.approx(2.0)
    assert v.loc["ReLU converges faster", "SE over seeds"] == pytest.approx(0.0)
    assert v.loc["ReLU converges faster", "verdict"] == "supported"
    # last-epoch gap: ReLU train 0.3 above val, sigmoid 0 -> 30 points in every seed
    assert v.loc["ReLU overfits more", "ours"] == pytest.approx(30.0)
    assert v.loc["ReLU overfits more", "verdict"] == "supported"
    assert v.loc["ReLU performs better", "ours"] == pytest.approx(20.0)
    # time to 0.5: paired ratios 4, 6.3, 4.4 (test_time_to_reach_and_sweep_by_hand): 4.9
    # +- 0.71, 4.09 SE above 2: short of Student's t for 3 seeds (4.30)
    to_target = v.loc[cnn.TIME_TO_CONVERGE_CLAIM]
    assert to_target["ours"] == pytest.approx(4.9) and to_target["verdict"] == "inconclusive"
    # flat validation losses: no turn for either -> 0 +- 0, not a difference
    assert v.loc["ReLU's validation loss turns up more", "ours"] == 0
    assert v.loc["ReLU's validation loss turns up more", "verdict"] == "inconclusive"


def test_activation_share_by_hand():
    result = {"activation_timing": pd.DataFrame({"activation": ["relu"] * 3 + ["sigmoid"] * 3,
                                                 "seconds": [0.01, 0.02, 0.03, 0.1, 0.2, 0.9]}),
              "history": _history(), "batches_per_epoch": 10}
    share = cnn.activation_share(result)
    assert share.loc["relu", "activation s/epoch"] == pytest.approx(0.2)
    assert share.loc["relu", "share (%)"] == pytest.approx(20.0)
    assert share.loc["sigmoid", "share (%)"] == pytest.approx(100 * 2.0 / 2.1)


def test_time_activations_interleaves_and_counts():
    t = cnn.time_activations([(4, 3, 8, 8), (4, 16)], repeats=3)
    assert len(t) == 6 and set(t["activation"]) == {"sigmoid", "relu"}
    assert (t["seconds"] > 0).all()


def test_activation_shapes_match_the_network():
    s = cnn.settings("quick")
    assert cnn.activation_shapes(s, batch=7) == [(7, 32, 32, 32), (7, 64, 16, 16),
                                                 (7, 64, 8, 8), (7, 128)]


# --- training on real images --------------------------------------------------------------

def test_training_smoke_on_real_cifar(cifar_tiny):
    s = cnn.settings("quick") | dict(epochs=2, batch_size=64, eval_batch=64,
                                     channels=(8, 8, 8), hidden=16)
    out = cnn.train_runs(cifar_tiny, ("sigmoid", "relu"), 0, s)
    assert len(cifar_tiny.train) == 256 and cifar_tiny.label.startswith("CIFAR-10")
    for run in out:
        h = run["history"]
        assert list(h.columns) == cnn.HISTORY_COLUMNS and h["epoch"].tolist() == [1, 2]
        assert h[["train_loss", "val_loss"]].notna().all().all()
        assert ((h["val_acc"] >= 0) & (h["val_acc"] <= 1)).all()
        assert (h["epoch_s"] > 0).all() and 0 <= run["test_acc"] <= 1
        assert run["best_epoch"] in (1, 2)
        assert run["best_val_acc"] == h["val_acc"].max()
    relu = out[1]["history"]
    assert relu["train_loss"].iloc[1] < relu["train_loss"].iloc[0]  # it learns


def test_training_is_reproducible(cifar_tiny):
    s = cnn.settings("quick") | dict(epochs=1, batch_size=64, channels=(4, 4, 4), hidden=8)
    a = cnn.train_runs(cifar_tiny, ("relu",), 1, s)[0]["history"]
    b = cnn.train_runs(cifar_tiny, ("relu",), 1, s)[0]["history"]
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


class _Interrupt(Exception):
    pass


def _interrupt_at(monkeypatch, call):
    """Make the ``call``-th validation (1-based) raise, as a crash would."""
    real, calls = cnn.evaluate, []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise _Interrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(cnn, "evaluate", evaluate)


def test_interrupted_training_resumes_exactly(cifar_tiny, monkeypatch, tmp_path):
    """A crash in epoch 3 loses only that epoch: the rerun resumes from the snapshot of
    epoch 2 and ends with the same histories, best epochs and test accuracies as a run that
    was never interrupted; the snapshot is removed at the end."""
    s = cnn.settings("quick") | dict(epochs=3, batch_size=64, eval_batch=64,
                                     channels=(4, 4, 4), hidden=8)
    acts, snap = ("sigmoid", "relu"), tmp_path / "seed0.partial.pt"
    whole = cnn.train_runs(cifar_tiny, acts, 0, s)
    with monkeypatch.context() as m:
        _interrupt_at(m, 5)  # epochs 1 and 2 of both nets done, then the crash
        with pytest.raises(_Interrupt):
            cnn.train_runs(cifar_tiny, acts, 0, s, snapshot=snap)
    assert torch.load(snap, weights_only=False)["epoch"] == 2
    resumed = cnn.train_runs(cifar_tiny, acts, 0, s, snapshot=snap)
    assert not snap.exists()
    cols = ["activation", "epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    for a, b in zip(whole, resumed):
        pd.testing.assert_frame_equal(a["history"][cols], b["history"][cols])
        assert (a["best_epoch"], a["test_acc"]) == (b["best_epoch"], b["test_acc"])


def test_snapshot_of_other_activations_is_refused(cifar_tiny, tmp_path):
    s = cnn.settings("quick") | dict(epochs=1, batch_size=128, channels=(4, 4, 4), hidden=8)
    snap = tmp_path / "snap.pt"
    cnn._save_snapshot([dict(activation="tanh", rows=[], best=0.0, best_epoch=0, state=None,
                             load_before=0.0, model=torch.nn.Linear(1, 1),
                             opt=torch.optim.Adam(torch.nn.Linear(1, 1).parameters()),
                             gen=torch.Generator())], 1, snap)
    with pytest.raises(ValueError, match="remove it to start over"):
        cnn.train_runs(cifar_tiny, ("relu",), 0, s, snapshot=snap)


def test_experiment_keeps_finished_seeds(cifar_tiny, monkeypatch, tmp_path):
    """A crash in the second seed keeps the first: the rerun loads seed 0 from its file
    (training nothing for it) and gives the result of an uninterrupted experiment."""
    s = cnn.settings("quick") | dict(epochs=1, batch_size=64, eval_batch=64, seeds=(0, 1),
                                     channels=(4, 4, 4), hidden=8, timing_repeats=1)
    whole = cnn.run_experiment(s, data=cifar_tiny, progress=False)
    with monkeypatch.context() as m:
        _interrupt_at(m, 5)  # seed 0: 2 validations, 2 tests; seed 1's first one crashes
        with pytest.raises(_Interrupt):
            cnn.run_experiment(s, data=cifar_tiny, progress=False, resume_dir=tmp_path)
    assert (tmp_path / "seed0.pt").exists() and not (tmp_path / "seed1.pt").exists()
    trained = []
    real = cnn.train_runs
    monkeypatch.setattr(cnn, "train_runs", lambda *a, **k: trained.append(a[2]) or real(*a, **k))
    resumed = cnn.run_experiment(s, data=cifar_tiny, progress=False, resume_dir=tmp_path)
    assert trained == [1]
    cols = ["activation", "seed", "epoch", "train_loss", "val_loss", "val_acc"]
    pd.testing.assert_frame_equal(whole["history"][cols], resumed["history"][cols])
    pd.testing.assert_series_equal(whole["runs"]["test_acc"], resumed["runs"]["test_acc"])


def test_training_refused_when_disabled(cifar_tiny, monkeypatch):
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    with pytest.raises(RuntimeError, match="training is disabled"):
        cnn.train_runs(cifar_tiny, ("relu",), 0, cnn.settings("quick"))


def test_committed_paper_result_loads_without_training(monkeypatch):
    """The paper-profile result of chapter 10, once committed, loads with training disabled
    and holds 2 activations x 3 seeds on the full splits."""
    from helpers.chapter_results import result_path

    s = cnn.settings("paper")
    if not result_path(cnn.RESULT_NAME, s).exists():
        pytest.skip("chapter 10's paper result is not committed yet (make results)")
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    r = cnn.results("paper")
    assert len(r["runs"]) == 6 and r["sizes"] == dict(train=40_000, val=10_000, test=10_000)
    assert len(r["history"]) == 6 * s["epochs"] and "CIFAR-10" in r["label"]
    assert set(cnn.verdicts(r, 0.5)["verdict"]) <= {"supported", "not supported",
                                                    "inconclusive"}


def test_gpu_timing_by_hand(tmp_path):
    """Seconds per epoch and the paired ratio are recomputed from the per-seed values."""
    report = {"device": "cuda: X", "torch": "2", "batches_per_epoch": 313, "epochs": 5,
              "seeds": 3, "data": {"label": "CIFAR-10 (JPEG copy)", "subset": {"train": 5}},
              "per_activation": {
                  "relu": {"epoch_s_per_seed": [1.0, 2.0, 3.0],
                           "activation_alone_s_per_epoch": {"mean": 0.5}},
                  "sigmoid": {"epoch_s_per_seed": [2.0, 2.0, 6.0],
                              "activation_alone_s_per_epoch": {"mean": 1.0}}}}
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(report))
    g = cnn.gpu_timing(path)
    assert g["table"].loc["relu", "s/epoch"] == pytest.approx(2.0)
    assert g["table"].loc["relu", "SE"] == pytest.approx(1 / math.sqrt(3))
    assert g["table"].loc["relu", "share (%)"] == pytest.approx(25.0)
    assert g["table"].loc["sigmoid", "share (%)"] == pytest.approx(100 / 3.333333333)
    assert g["ratio"]["per_seed"] == pytest.approx([2.0, 1.0, 2.0])
    assert g["ratio"]["mean"] == pytest.approx(5 / 3)
    assert cnn.gpu_timing(tmp_path / "absent.json") is None


def test_committed_gpu_timing_is_consistent():
    g = cnn.gpu_timing()
    if g is None:
        pytest.skip("no GPU timing committed (benchmarks/cnn_epoch_time.py)")
    assert g["device"].startswith("cuda") and g["batches"] == 313
    assert set(g["table"].index) == {"sigmoid", "relu"} and g["seeds"] == 3
    assert len(g["ratio"]["per_seed"]) == 3 and (g["table"]["s/epoch"] > 0).all()


def test_gpu_benchmark_subset_roundtrip(tmp_path):
    """benchmarks/cnn_epoch_time.py: the exported uint8 subset restores the normalised real
    images exactly, and tiling gives full-size epochs of the same images."""
    import importlib.util

    path = cnn.PROJECT_ROOT / "benchmarks" / "cnn_epoch_time.py"
    spec = importlib.util.spec_from_file_location("cnn_epoch_time", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sizes = dict(train=40, val=8, test=8)
    bench.export(tmp_path / "sub.pt", sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cnn.load_data(cnn.settings("paper") | {f"n_{k}": v for k, v in sizes.items()})
    data = bench.load_subset(tmp_path / "sub.pt", epoch_images=100)
    torch.testing.assert_close(data.val.x, ref.val.x, rtol=0, atol=1e-5)
    assert torch.equal(data.test.y, ref.test.y) and data.label == ref.label
    assert len(data.train) == 100
    torch.testing.assert_close(data.train.x[40:80], ref.train.x, rtol=0, atol=1e-5)
    assert torch.equal(data.train.y[80:], ref.train.y[:20])


# --- the numbers the chapter quotes, by hand -------------------------------------------

def _runs(**columns):
    base = {"activation": ["sigmoid", "relu"] * 3, "seed": [0, 0, 1, 1, 2, 2],
            "test_acc": [0.40, 0.60, 0.42, 0.61, 0.41, 0.62]}
    return pd.DataFrame(base | columns)


def test_timing_and_convergence_numbers_by_hand():
    t = cnn.timing_numbers(_history())
    # 2.0/2.1/2.2 s against 1 s: ratio 2.10 +- 0.058, 1.1 above 1 by 19 SE
    assert (t["s_sigmoid"], t["s_relu"], t["ratio"]) == ("2.1", "1.0", "2.10 ± 0.06")
    assert t["ratio_reading"] == "sigmoid 110 % slower per epoch"
    assert t["epoch_spread"] == ("single epochs took 1.0 to 2.2 s, and the ratio of a seed's "
                                 "two epochs trained side by side ranged from 2.00 to 2.20 "
                                 "(median per seed 2.00, 2.10, 2.20)")
    same = _history().assign(epoch_s=1.0)
    assert cnn.timing_numbers(same)["ratio_reading"] == ("no difference between the "
                                                         "activations beyond the seed noise")
    c = cnn.convergence_numbers(_history(), 0.5, (0.5, 0.6))
    # to 0.5 (test_convergence_table_censors_runs_that_never_reach): ReLU epochs 2, 1, 2
    assert c["reach_relu"] == "in 3 of 3 seeds, after 1.7 epochs on average"
    assert c["reach_sigmoid"] == "in 1 of 3 seeds, after 3.0 epochs on average"
    assert (c["conv_diff"], c["epoch_factor"]) == ("2.0 ± 0.0", "2.3")  # 4/2, 3/1, 4/2
    assert (c["val1_sigmoid"], c["val1_relu"]) == ("15.0", "45.0")
    assert (c["vallast_sigmoid"], c["vallast_relu"]) == ("45.0", "60.0")
    assert (c["time_to_target"], c["relu_first"], c["target"]) == ("4.9 ± 0.7", "1 of 3", "50")
    assert c["sweep_reading"] == ("50 %: 4.9 ± 0.7 times as long at least (some sigmoid runs "
                                  "never got there), more than double: inconclusive; 60 %: not "
                                  "measurable (some ReLU runs never got there)")


def test_overfitting_share_and_verdict_numbers_by_hand():
    h = _history()
    runs = _runs(best_epoch=[3, 2, 3, 3, 3, 1], best_val_acc=[0.45, 0.6, 0.5, 0.62, 0.4, 0.58])
    o = cnn.overfitting_numbers(h, runs)
    # last epoch: ReLU's train accuracy 0.3 above validation, sigmoid's equal to it
    assert (o["gap_relu"], o["gap_sigmoid"], o["gap_diff"]) == ("30.0", "0.0", "30.0 ± 0.0")
    assert (o["best_relu"], o["bestval_relu"]) == ("2.0", "60.0")
    assert o["turn_relu"] == "kept falling to the last epoch in all 3 seeds (no turn within " \
        "3 epochs)"  # a flat validation loss did not turn
    turned = h.assign(val_loss=h["epoch"].map({1: 1.0, 2: 0.8, 3: 0.9}).where(
        h["activation"] == "relu", 1.0))
    assert cnn.overfitting_numbers(turned, runs)["turn_relu"] == (
        "was lowest at epoch 2.0 on average and had risen by 0.100 nats by epoch 3 (3 of 3 "
        "seeds turned up)")
    result = {"activation_timing": pd.DataFrame({"activation": ["relu"] * 3 + ["sigmoid"] * 3,
                                                 "seconds": [0.01, 0.02, 0.03, 0.1, 0.2, 0.9]}),
              "history": h, "batches_per_epoch": 10, "shapes": [(4, 3, 8, 8), (4, 16)]}
    s = cnn.share_numbers(result)
    # per epoch: sigmoid 2.0 s of activations in a 2.1 s epoch, ReLU 0.2 s: without the
    # sigmoid's own time the epoch would take 2.1 - 2.0 + 0.2 = 0.3 s, a bound of 7.0
    assert (s["act_sigmoid"], s["act_relu"], s["act_ratio"]) == ("2.00", "0.20", "10.0")
    assert (s["act_extra"], s["step_extra"], s["act_extra_ms"]) == ("1.80", "1.10", "180.0")
    assert (s["ratio_bound"], s["shapes"]) == ("7.00", "4×3×8×8; 4×16")
    assert s["bound_reading"].startswith("The measured ratio, 2.10 ± 0.06, is below that bound")
    # a sigmoid of 0.125 s a batch: 1.25 - 0.2 = 1.05 s of an epoch of 2.1, a bound of 2.0;
    # per-seed ratios 2.0, 2.1, 2.2: above it in 2 seeds, 1.7 SE from it
    near = {**result, "activation_timing": result["activation_timing"].assign(
        seconds=[0.01, 0.02, 0.03, 0.1, 0.125, 0.9])}
    assert cnn.share_numbers(near)["bound_reading"] == (
        "The measured ratio, 2.10 ± 0.06, is above that bound in 2 of 3 seeds, 1.7 standard "
        "errors from it, short of the 4.30 the book's rule asks: within the seed noise.")
    v = cnn.verdict_numbers(cnn.verdicts({"history": h, "runs": runs}, 0.5), runs)
    assert (v["v_time"], v["v_conv"], v["v_better"]) == ("inconclusive", "supported",
                                                         "supported")
    assert v["time_conv_reading"] == "Read with the report's own factor of two, the seed " \
        "noise leaves \"much less time\" undecided."
    assert v["conv_reading"].startswith("This part of the folklore survives")
    assert (v["test_relu"], v["test_sigmoid"]) == ("61.0 ± 1.0", "41.0 ± 1.0")  # sd
    # the doubling holds over time to target while a sigmoid epoch costs 1.6 ReLU epochs
    # (beyond noise, so not "about as much"); then with a per-epoch ratio within noise of 1
    claims = pd.DataFrame({
        "claim": [cnn.TIME_CLAIM, cnn.TIME_TO_CONVERGE_CLAIM, cnn.CONVERGE_CLAIM,
                  "ReLU overfits more", "ReLU's validation loss turns up more",
                  "ReLU performs better"],
        "ours": [1.6, 2.5, 3.0, 1.0, 1.0, 1.0], "SE over seeds": [0.05, 0.1, 0.2, 0.1, 0.1, 0.1],
        "verdict": ["not supported", "supported", "supported", "supported", "supported",
                    "supported"]})
    v = cnn.verdict_numbers(claims, runs)
    assert v["time_conv_reading"] == (
        "Read with the report's own factor of two, \"much less time\" holds, and not because "
        "of the exponential: a sigmoid epoch costs 1.60 times a ReLU epoch, but the sigmoid "
        "network needs 3.0 more epochs on average to reach the target.")
    near = claims.assign(ours=[1.1, 2.5, 3.0, 1.0, 1.0, 1.0])
    assert "1.10 times a ReLU epoch (no difference beyond seed noise)" in \
        cnn.verdict_numbers(near, runs)["time_conv_reading"]
    no = claims.assign(verdict=["inconclusive", "not supported"] + ["supported"] * 4)
    assert cnn.verdict_numbers(no, runs)["time_conv_reading"] == \
        "Read with the report's own factor of two, \"much less time\" does not hold here."


def test_run_numbers_by_hand():
    s = {"lr": 1e-3, "batch_size": 128, "epochs": 3, "seeds": (0, 1, 2)}
    quick = {"n_train": 2000, "epochs": 2, "seeds": (0, 1)}
    runs = _runs(best_epoch=[3, 2, 2, 3, 3, 1], train_s=[1800.0] * 6,
                 load_before=[1.0, 1.0, 2.0, 2.0, 1.5, 1.5], load_after=[3.0] * 6)
    result = {"runs": runs, "sizes": {"train": 45000, "val": 5000, "test": 10000},
              "label": "CIFAR-10", "device": "cpu"}
    n = cnn.run_numbers(result, s, quick)
    assert (n["lr"], n["train_hours"], n["sizes"]) == ("0.001", "3.0", "45 000 / 5 000 / 10 000")
    assert n["sigmoid_still"] == "2 of 3"  # best epoch = last in seeds 0 and 2
    assert n["length_reading"].startswith("That is long enough for 2 of 3 ReLU networks to "
                                          "pass their best validation epoch (epoch 2.0 on")
    assert "not long enough for the sigmoid: 2 of 3" in n["length_reading"]
    assert n["quick"] == "2 000 training images for 2 epochs, seeds 0, 1"
    assert n["load"].startswith("1-minute load average of the machine 1.0 to 3.0")
    done = cnn.run_numbers(dict(result, runs=runs.assign(best_epoch=1)), s, quick)
    assert done["length_reading"].endswith("Every sigmoid network, too, had passed its best "
                                           "validation epoch.")
    assert set(cnn.gpu_numbers(None, result).values()) == {"not measured"}
