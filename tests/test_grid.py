"""The grid runner: schema, LR selection, divergence, crash + resume, CLI validation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

import helpers.grid as grid
from helpers.models import make_model

# 2 seeds x 4 combos: coarse 2 rates (one absurd, to make runs diverge), one refinement
SPEC = grid.GridSpec(
    profile="quick", depths=(4,), widths=(16,), coarse_lrs=(1e-3, 1e30),
    refine_factors=(2.0,), search_epochs=2, max_epochs=3, patience=2, seeds=(0, 1),
    batch_size=64, checkpoint_widths=(16,), checkpoint_dtype="float16",
)
N_RUNS = 4 * 2 * (2 + 1 + 1)
TIMING = ["wall_time", "git_commit"]  # may differ between sessions


@pytest.fixture(scope="module")
def tiny(mnist):
    """512/256/256 real MNIST samples (``mnist`` is the session fixture in conftest)."""
    return mnist.subset(512, 256, 256, seed=2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("uninterrupted")
    return grid.run_grid("quick", "mnist", "cpu", progress=False, spec=SPEC, root=root,
                         data=tiny), root


def test_tables_schema_and_selection(reference):
    res, root = reference
    assert res.complete and len(res.runs) == 8 and len(res.lr_search) == N_RUNS - 8
    assert list(res.runs.columns) == grid.RUN_COLUMNS
    assert list(res.histories.columns) == grid.HISTORY_TABLE_COLUMNS
    assert (res.runs["source"] == "mnist").all() and res.manifest["source"] == "mnist"
    assert res.manifest["spec"] == SPEC.to_dict()
    for key in ("git_commit", "device", "torch_version", "wall_time_s", "data", "checkpoints"):
        assert key in res.manifest
    # every run has a history starting at the untrained model
    runs = pd.concat([res.runs, res.lr_search[grid.RUN_COLUMNS]])
    first = res.histories.groupby(["phase", "activation", "batch_norm", "seed", "lr"]).epoch
    assert len(first.min()) == N_RUNS and (first.min() == 0).all()
    # absurd rate: diverged runs are recorded and the grid went on without choosing it
    assert runs["diverged"].any() and res.lr_search.loc[res.lr_search.diverged, "lr"].eq(
        1e30).all()
    chosen = res.lr_search[res.lr_search.selected].groupby(["activation", "batch_norm"]).lr
    assert (chosen.nunique() == 1).all()
    final_lr = res.runs.groupby(["activation", "batch_norm"]).lr.first()
    assert (final_lr == chosen.first()).all()
    assert not res.lr_search[res.lr_search.selected].diverged.any()
    refine = res.lr_search[res.lr_search.phase == "refine"]
    relu = refine[refine.activation == "relu"]
    assert set(relu.lr) == {2e-3}  # best coarse rate x 2 (1e30 diverges with ReLU)


def test_checkpoints(reference, tiny):
    res, root = reference
    net = grid.checkpoint("quick", "mnist", "relu", True, 1, width=16, root=root)
    row = res.runs.query("activation == 'relu' and batch_norm and seed == 1").iloc[0]
    from helpers.train import evaluate
    assert evaluate(net, tiny.test)[1] == pytest.approx(row.test_acc, abs=0.02)  # float16
    untrained = grid.checkpoint("quick", "mnist", "sigmoid", False, 0, trained=False,
                                root=root)
    ref = make_model(784, 4, 16, "sigmoid", False, seed=0).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in untrained.state_dict().items())
    with pytest.raises(ValueError, match="seed"):
        grid.checkpoint("quick", "mnist", "relu", True, 7, root=root)
    with pytest.raises(ValueError, match="activation"):
        grid.checkpoint("quick", "mnist", "swish", True, 0, root=root)


def test_crash_then_resume_is_identical(tmp_path, monkeypatch, reference, tiny):
    ref, ref_root = reference
    save, calls = grid._save_run, []

    def crashing_save(out, record):
        if len(calls) == 11:
            raise RuntimeError("simulated crash")
        calls.append(record["row"]["key"])
        save(out, record)

    monkeypatch.setattr(grid, "_save_run", crashing_save)
    with pytest.raises(RuntimeError, match="simulated crash"):
        grid.run_grid("quick", "mnist", "cpu", progress=False, spec=SPEC, root=tmp_path,
                      data=tiny)
    before = grid.load_results("quick", "mnist", tmp_path)
    saved = pd.concat([before.runs, before.lr_search[grid.RUN_COLUMNS]]).set_index("key")
    assert set(saved.index) == set(calls) and not before.complete

    trained = []
    train_stacked = grid.engine.train_stacked

    def spy(*args, **kwargs):
        trained.extend(args[5])  # one seed per model trained
        return train_stacked(*args, **kwargs)

    monkeypatch.setattr(grid, "_save_run", save)
    monkeypatch.setattr(grid.engine, "train_stacked", spy)
    res = grid.run_grid("quick", "mnist", "cpu", progress=False, spec=SPEC, root=tmp_path,
                        data=tiny)
    assert res.complete and len(trained) == N_RUNS - len(calls)  # nothing recomputed
    after = pd.concat([res.runs, res.lr_search[grid.RUN_COLUMNS]]).set_index("key")
    pd.testing.assert_frame_equal(after.loc[saved.index], saved)  # old rows untouched
    for mine, theirs in ((res.runs, ref.runs), (res.lr_search, ref.lr_search),
                         (res.histories, ref.histories)):
        pd.testing.assert_frame_equal(mine.drop(columns=TIMING, errors="ignore"),
                                      theirs.drop(columns=TIMING, errors="ignore"))
    for path in sorted((ref_root / "quick" / "mnist" / "checkpoints").glob("*.pt")):
        a = torch.load(path, weights_only=True)["state_dict"]
        b = torch.load(tmp_path / "quick" / "mnist" / "checkpoints" / path.name,
                       weights_only=True)["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    manifest = json.loads((tmp_path / "quick" / "mnist" / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["complete"]
    assert not list((tmp_path / "quick" / "mnist" / "parts").glob("*.json"))
    assert "complete" in grid.status(tmp_path, ["quick"])


def test_time_budget_stops_cleanly(tmp_path, tiny):
    res = grid.run_grid("quick", "mnist", "cpu", progress=False, spec=SPEC, root=tmp_path,
                        data=tiny, time_budget=1e-9)
    assert not res.complete and res.manifest["n_runs_done"] < N_RUNS


def test_spec_or_source_change_is_refused(reference, tiny):
    _, root = reference
    other = dataclasses.replace(SPEC, max_epochs=4)
    with pytest.raises(ValueError, match="spec"):
        grid.run_grid("quick", "mnist", "cpu", progress=False, spec=other, root=root,
                      data=tiny)


@pytest.mark.parametrize("kwargs, name", [
    (dict(profile="huge"), "profile"),
    (dict(dataset="imagenet"), "dataset"),
    (dict(device="tpu"), "device"),
    (dict(time_budget=-1), "time_budget"),
    (dict(threads=0), "threads"),
])
def test_bad_arguments(tmp_path, kwargs, name):
    args = dict(profile="quick", dataset="mnist", device="cpu", root=tmp_path, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        grid.run_grid(**args)
    assert not any(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize("argv, message", [
    (["run", "--profile", "huge", "--dataset", "mnist"], "'huge'"),
    (["run", "--profile", "quick", "--dataset", "svhn"], "'svhn'"),
    (["run", "--profile", "quick", "--dataset", "mnist", "--time-budget", "0"],
     "--time-budget 0.0"),
    (["run", "--profile", "quick", "--dataset", "mnist", "--threads", "0"], "--threads 0"),
    (["run", "--profile", "quick", "--dataset", "mnist", "--device", "cpu", "--cuda-graph"],
     "--cuda-graph"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        grid.main(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


def test_paper_spec_is_the_papers_grid():
    spec = grid.get_spec("paper")
    assert (spec.depths, spec.widths, spec.seeds) == ((2, 4, 6, 8), (200, 800), (0, 1, 2))
    assert spec.max_epochs == 300 and spec.lr_decay == 0.99 and spec.batch_size == 128
    assert len(spec.shapes()) * len(spec.combos()) * len(spec.seeds) == 96  # per dataset
    assert np.allclose([grid.round_lr(1e-3 * f) for f in spec.refine_factors],
                       [5.62e-4, 1.78e-3])
