"""helpers.chapter_results: train once in ``paper``, then load; never store in ``quick``."""

import json

import pandas as pd
import pytest
import torch

from helpers.chapter_results import (
    ResultMissing,
    result_path,
    settings_hash,
    train_or_load,
    without_models,
)
from helpers.models import make_model
from helpers.runtime import NO_TRAIN_ENV
from helpers.train import TrainResult
from helpers.training_probes import EpochProbe, ProbedRun

SETTINGS = {"n_train": None, "max_epochs": 30, "seed": 0, "data": "mnist"}


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def _result(seed: int = 0) -> TrainResult:
    model = make_model(6, 2, 5, "relu", seed=seed)
    history = pd.DataFrame({"epoch": [0, 1], "train_acc": [0.1, 0.5]})
    return TrainResult(model, history, 1, 0.5, 1.0, 0.4, False, 2.0)


def test_quick_computes_every_time_and_stores_nothing(tmp_path):
    compute = Counter({"a": 1})
    assert train_or_load("01_runs", compute, "quick", SETTINGS, root=tmp_path) == {"a": 1}
    train_or_load("01_runs", compute, "quick", SETTINGS, root=tmp_path)
    assert compute.calls == 2
    assert list(tmp_path.iterdir()) == []


def test_paper_computes_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.delenv(NO_TRAIN_ENV, raising=False)
    table = pd.DataFrame({"x": [1.5, 2.5]})
    table.attrs["zeros (%)"] = 42.0
    compute = Counter((table, "cpu label"))
    first = train_or_load("01_timings", compute, "paper", SETTINGS, root=tmp_path)
    second = train_or_load("01_timings", compute, "paper", SETTINGS, root=tmp_path)
    assert compute.calls == 1
    for loaded_table, label in (first, second):
        pd.testing.assert_frame_equal(loaded_table, table)
        assert loaded_table.attrs["zeros (%)"] == 42.0
        assert label == "cpu label"
    path = result_path("01_timings", SETTINGS, tmp_path)
    assert path.name == f"01_timings-{settings_hash(SETTINGS)}.pt"
    entry = json.loads((tmp_path / "manifest.json").read_text())[path.name]
    assert entry["settings"] == SETTINGS
    assert entry["name"] == "01_timings"
    assert entry["device"].startswith("cpu")
    assert entry["compute_s"] >= 0 and entry["bytes"] == path.stat().st_size


def test_other_settings_are_another_result(tmp_path, monkeypatch):
    monkeypatch.delenv(NO_TRAIN_ENV, raising=False)
    assert settings_hash(SETTINGS) != settings_hash(SETTINGS | {"seed": 1})
    assert settings_hash(SETTINGS) == settings_hash(dict(reversed(SETTINGS.items())))
    train_or_load("00_runs", lambda: 0, "paper", SETTINGS, root=tmp_path)
    assert train_or_load("00_runs", lambda: 1, "paper", SETTINGS | {"seed": 1},
                         root=tmp_path) == 1
    assert train_or_load("00_runs", lambda: 2, "paper", SETTINGS, root=tmp_path) == 0


def test_paper_without_training_raises_before_computing(tmp_path, monkeypatch):
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    compute = Counter(0)
    with pytest.raises(ResultMissing, match="make results"):
        train_or_load("02_runs", compute, "paper", SETTINGS, root=tmp_path)
    assert compute.calls == 0
    monkeypatch.setenv(NO_TRAIN_ENV, "0")  # a committed result loads with training disabled
    train_or_load("02_runs", compute, "paper", SETTINGS, root=tmp_path)
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    assert train_or_load("02_runs", compute, "paper", SETTINGS, root=tmp_path) == 0
    assert compute.calls == 1


def test_an_analysis_that_trains_nothing_runs_live_when_training_is_disabled(
        tmp_path, monkeypatch):
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    compute = Counter(7)
    assert train_or_load("08_probes", compute, "paper", SETTINGS, root=tmp_path,
                         trains=False) == 7
    assert compute.calls == 1 and list(tmp_path.iterdir()) == []  # computed, not stored
    monkeypatch.setenv(NO_TRAIN_ENV, "0")
    train_or_load("08_probes", compute, "paper", SETTINGS, root=tmp_path, trains=False)
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    assert train_or_load("08_probes", compute, "paper", SETTINGS, root=tmp_path,
                         trains=False) == 7
    assert compute.calls == 2  # stored once, then loaded


@pytest.mark.parametrize("name", ["runs", "1_runs", "01-runs", "01_Runs", ""])
def test_bad_name_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="name="):
        train_or_load(name, lambda: 0, "paper", SETTINGS, root=tmp_path)


def test_bad_profile_is_refused(tmp_path):
    with pytest.raises(ValueError, match="profile="):
        train_or_load("01_runs", lambda: 0, "full", SETTINGS, root=tmp_path)


def test_networks_are_stored_in_float16_and_come_back_float32(tmp_path, monkeypatch):
    monkeypatch.delenv(NO_TRAIN_ENV, raising=False)
    runs = {"relu": _result()}
    x = torch.randn(4, 6)
    with torch.no_grad():
        expected = runs["relu"].model(x)
    loaded = train_or_load("00_nets", lambda: runs, "paper", SETTINGS, root=tmp_path)
    model = loaded["relu"].model
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model is not runs["relu"].model
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, atol=2e-3, rtol=2e-3)
    # the trained original is left as it was (float32)
    assert all(p.dtype == torch.float32 for p in runs["relu"].model.parameters())


def test_without_models_keeps_only_the_named_nets():
    runs = {"a": _result(0), "b": _result(1)}
    slim = without_models(runs, keep=["b"])
    assert slim["a"].model is None and slim["b"].model is runs["b"].model
    assert slim["a"].history is runs["a"].history and slim["a"].test_acc == 0.4
    assert runs["a"].model is not None  # the input is not modified
    with pytest.raises(KeyError, match="keep="):
        without_models(runs, keep=["c"])
    with pytest.raises(TypeError, match="TrainResult or ProbedRun"):
        without_models({"a": 1})


def test_without_models_reduces_probes_to_their_masks():
    x, y = torch.randn(8, 6), torch.randint(0, 10, (8,))
    probe = EpochProbe(x, y, metrics=("dead",))
    result = _result()
    probe(result.model, 0)
    slim = without_models({"r": ProbedRun(result, probe)})["r"]
    assert slim.result.model is None
    assert slim.probe.x is None and slim.probe.y is None
    assert slim.probe.dead_masks.keys() == probe.dead_masks.keys()
    assert probe.x is x  # the original probe is untouched


def _classes(obj) -> set[str]:
    """Modules of every object's class inside plain containers."""
    if isinstance(obj, dict):
        return {m for v in obj.values() for m in _classes(v)}
    if isinstance(obj, (list, tuple)):
        return {m for v in obj for m in _classes(v)}
    return {type(obj).__module__}


def test_stored_files_hold_no_helpers_classes_and_round_trip(tmp_path, monkeypatch):
    """Renaming a helpers class must never break a committed result: the file holds plain
    containers, tensors and tables; loading rebuilds the results and networks."""
    from helpers.model_variants import make_variant

    monkeypatch.delenv(NO_TRAIN_ENV, raising=False)
    x, y = torch.randn(8, 6), torch.randint(0, 10, (8,))
    prelu = make_variant(6, 2, 5, "prelu", batch_norm=True, init="xavier", seed=3)
    probe = EpochProbe(x, y, metrics=("dead", "sparsity"))
    probe(prelu, 0)
    result = TrainResult(prelu, pd.DataFrame({"epoch": [0]}), 0, 0.5, 1.0, 0.25, False, 1.0)
    value = {"a": ProbedRun(result, probe), (1, "b"): [_result(1)]}
    loaded = train_or_load("03_mixed", lambda: value, "paper", SETTINGS, root=tmp_path)
    raw = torch.load(result_path("03_mixed", SETTINGS, tmp_path), weights_only=False)
    assert not {m for m in _classes(raw["value"]) if m.startswith("helpers")}
    run = loaded["a"]
    assert isinstance(run, ProbedRun) and isinstance(run.result, TrainResult)
    assert run.result.test_acc == 0.25 and run.probe.metrics == ("dead", "sparsity")
    assert run.probe.x is None and run.probe.dead_masks.keys() == probe.dead_masks.keys()
    net = run.result.model
    assert net.config == prelu.config and isinstance(net.act, torch.nn.PReLU)
    with torch.no_grad():
        prelu.eval(), net.eval()
        torch.testing.assert_close(net(x), prelu(x), atol=5e-3, rtol=5e-3)
    assert isinstance(loaded[(1, "b")][0], TrainResult)


def test_an_unloadable_file_says_to_recompute(tmp_path, monkeypatch):
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    path = result_path("01_runs", SETTINGS, tmp_path)
    torch.save({"meta": {}, "value": 1}, path)  # no format: an older encoding
    with pytest.raises(ResultMissing, match="make results"):
        train_or_load("01_runs", lambda: 0, "paper", SETTINGS, root=tmp_path)
