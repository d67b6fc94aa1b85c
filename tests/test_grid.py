"""The grid runner: schema, LR selection, divergence, crash + resume, pause + resume, CLI."""

from __future__ import annotations

import dataclasses
import json
import time
import types

import pandas as pd
import pytest
import torch

import helpers.grid as grid
from helpers.grid import cli, runner, store
from helpers.models import make_model
from helpers.train import evaluate

# 2 seeds x 4 combos; coarse rates 1e-3, 3e-3 and an absurd 1e30 (ReLU diverges), rungs
# at 1 and 2 epochs, keep 2. No edge extension here: past 1e30 the arithmetic overflows,
# and overflowing runs are not reproducible across stack compositions (sane ones are);
# tests/test_protocol.py covers extensions.
SPEC = grid.GridSpec(
    profile="quick", depths=(4,), widths=(16,), coarse_lrs=(1e-3, 3e-3, 1e30),
    rungs=(1, 2), max_epochs=4, patience=2, keep=2, max_extensions=0, seeds=(0, 1),
    batch_size=64, checkpoint_widths=(16,), checkpoint_dtype="float16",
)
TIMING = ["wall_time", "git_commit"]  # may differ between sessions


@pytest.fixture(scope="module")
def tiny(mnist):
    """512/256/256 real MNIST samples (``mnist`` is the session fixture in conftest)."""
    return mnist.subset(512, 256, 256, seed=2)


def run(root, data, spec=SPEC, **kw):
    return grid.run_grid("quick", "mnist", "cpu", progress=False, spec=spec, root=root / "r",
                         state_root=root / "s", data=data, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("uninterrupted")
    return run(root, tiny), root


def test_tables_schema_and_selection(reference):
    res, root = reference
    assert res.complete and len(res.runs) == 8
    assert list(res.runs.columns) == grid.RUN_COLUMNS
    assert list(res.histories.columns) == grid.HISTORY_TABLE_COLUMNS
    assert (res.runs["source"] == "mnist").all() and res.manifest["source"] == "mnist"
    assert res.manifest["spec"] == SPEC.to_dict()
    for key in ("git_commit", "device", "torch_version", "wall_time_s", "data", "checkpoints",
                "precision", "protocol"):
        assert key in res.manifest
    assert res.manifest["n_final_runs"] == len(res.runs) == res.manifest["n_final_planned"]
    # every run has a history starting at the untrained model
    first = res.histories.groupby(["phase", "activation", "batch_norm", "seed", "lr"]).epoch
    assert (first.min() == 0).all()
    # the absurd rate diverged, was recorded, and was never selected
    s = res.lr_search
    assert s.loc[(s.lr == 1e30) & (s.activation == "relu"), "diverged"].all()
    assert not s[s.selected].diverged.any()
    assert not (s[s.selected & (s.activation == "relu")].lr == 1e30).any()
    chosen = s[s.selected].groupby(["activation", "batch_norm"]).lr
    assert (chosen.nunique() == 1).all()
    final_lr = res.runs.groupby(["activation", "batch_norm"]).lr.first()
    pd.testing.assert_series_equal(final_lr, chosen.first(), check_names=False)
    # the selected runs continue their search trajectories: same curve up to the rung
    h = res.histories.set_index(["activation", "batch_norm", "seed", "epoch"])
    for r in res.runs.itertuples():
        fin = h[(h.phase == "final")].loc[(r.activation, r.batch_norm, r.seed)]
        srch = h[(h.phase == "search") & (h.lr == r.lr)].loc[(r.activation, r.batch_norm,
                                                             r.seed)]
        pd.testing.assert_frame_equal(fin.loc[srch.index].drop(columns="phase"),
                                      srch.drop(columns="phase"))
    # one layer-stats row per final run and hidden layer
    final_layers = res.layers[res.layers.phase == "final"]
    assert len(final_layers) == 4 * len(res.runs) and set(final_layers.key) == set(res.runs.key)
    assert res.layers[["sparsity", "saturation", "dead"]].stack().between(0, 100).all()


def test_running_train_metrics_and_best_state_pass(reference, tiny):
    res, root = reference
    r = res.runs.query("activation == 'relu' and not batch_norm and seed == 0").iloc[0]
    net = grid.checkpoint("quick", "mnist", "relu", False, 0, width=16, root=root / "r")
    loss, acc = evaluate(net, tiny.train)
    assert r.train_acc == pytest.approx(acc, abs=0.01)  # eval-mode pass (float16 copy)
    h = res.histories.query("phase == 'final' and activation == 'relu' and not batch_norm "
                            "and seed == 0").set_index("epoch")
    assert h.loc[r.best_epoch, "train_acc"] != r.train_acc  # running mean, not eval pass


def test_layer_stats_match_the_metrics(reference, tiny):
    res, root = reference
    from helpers.metrics import hidden_activations, layer_sparsity
    net = grid.checkpoint("quick", "mnist", "relu", True, 1, width=16, root=root / "r")
    mine = layer_sparsity(hidden_activations(net, tiny.test.x))
    rows = res.layers.query("phase == 'final' and activation == 'relu' and batch_norm "
                            "and seed == 1")
    assert torch.allclose(mine, torch.tensor(rows.sparsity.values, dtype=torch.float32),
                          atol=2.0)  # checkpoint is float16


def test_checkpoints(reference, tiny):
    res, root = reference
    net = grid.checkpoint("quick", "mnist", "relu", True, 1, width=16, root=root / "r")
    row = res.runs.query("activation == 'relu' and batch_norm and seed == 1").iloc[0]
    assert evaluate(net, tiny.test)[1] == pytest.approx(row.test_acc, abs=0.02)  # float16
    untrained = grid.checkpoint("quick", "mnist", "sigmoid", False, 0, trained=False,
                                root=root / "r")
    ref = make_model(784, 4, 16, "sigmoid", False, seed=0).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in untrained.state_dict().items())
    with pytest.raises(ValueError, match="seed"):
        grid.checkpoint("quick", "mnist", "relu", True, 7, root=root / "r")
    with pytest.raises(ValueError, match="activation"):
        grid.checkpoint("quick", "mnist", "swish", True, 0, root=root / "r")


def test_checkpoint_is_only_read_on_the_data_copy_it_was_trained_on(reference):
    """The reference grid ran on genuine MNIST: asked for as another copy (here the
    CIFAR-10 JPEG copy's source name), its nets are missing, and the error names both."""
    res, root = reference
    kw = dict(width=16, root=root / "r")
    net = grid.checkpoint("quick", "mnist", "relu", True, 1, source="mnist", **kw)
    assert net.config["activation"] == "relu"
    for trained in (True, False):
        with pytest.raises(grid.DataSourceMismatch,
                           match=r"trained on MNIST, not on CIFAR-10 \(JPEG copy\)"):
            grid.checkpoint("quick", "mnist", "relu", trained, 1, source="cifar10-jpeg", **kw)
    assert issubclass(grid.DataSourceMismatch, FileNotFoundError)  # callers: "missing"


def same_results(res, ref):
    for mine, theirs in ((res.runs, ref.runs), (res.lr_search, ref.lr_search),
                         (res.histories, ref.histories), (res.layers, ref.layers)):
        pd.testing.assert_frame_equal(mine.drop(columns=TIMING, errors="ignore"),
                                      theirs.drop(columns=TIMING, errors="ignore"))


def test_crash_then_resume_is_identical(tmp_path, monkeypatch, reference, tiny):
    ref, ref_root = reference
    save, calls = store.save_part, []

    def crashing_save(out, record):
        if len(calls) == 11:
            raise RuntimeError("simulated crash")
        calls.append(record["row"]["key"])
        save(out, record)

    monkeypatch.setattr(store, "save_part", crashing_save)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path, tiny)
    before = grid.load_results("quick", "mnist", tmp_path / "r")
    assert not before.complete
    keys = set(before.runs.key) | set(before.lr_search.key)
    assert keys == set(calls)  # every record written before the crash survived
    monkeypatch.setattr(store, "save_part", save)
    res = run(tmp_path, tiny)
    assert res.complete
    same_results(res, ref)
    for path in sorted((ref_root / "r" / "quick" / "mnist" / "checkpoints").glob("*.pt")):
        a = torch.load(path, weights_only=True)["state_dict"]
        b = torch.load(tmp_path / "r" / "quick" / "mnist" / "checkpoints" / path.name,
                       weights_only=True)["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    manifest = json.loads((tmp_path / "r" / "quick" / "mnist" / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["complete"]
    assert {s["adam"] for s in manifest["sessions"]} == {runner.ADAM_KERNEL} == {"fused"}
    assert not list((tmp_path / "r" / "quick" / "mnist" / "parts").glob("*.json"))
    assert "complete" in cli.status(tmp_path / "r", ["quick"])


@pytest.mark.parametrize("merge_every", [0.0, runner.MERGE_EVERY_S])
def test_records_in_memory_match_the_files_after_every_stack(tmp_path, monkeypatch, reference,
                                                            tiny, merge_every):
    """The runner adds a stack's records to its tables in memory and merges parts/ into the
    files only now and then (every stack with merge_every=0): after every stack what it
    holds equals what is on disk, tables plus parts/ (row order aside), and the results equal
    the reference run's."""
    monkeypatch.setattr(runner, "MERGE_EVERY_S", merge_every)
    real, checked = runner.write_manifest, []

    def check(out, manifest, r):
        disk, mem = store.read_records(out), r.records
        for a, b in ((mem.runs, disk.runs), (mem.histories, disk.histories)):
            pd.testing.assert_frame_equal(store.tidy(a), store.tidy(b))
        checked.append(len(list((out / "parts").glob("*.json"))))  # not merged yet
        return real(out, manifest, r)

    monkeypatch.setattr(runner, "write_manifest", check)
    res = run(tmp_path, tiny)
    assert len(checked) >= 4 and res.complete
    # merged after every stack, or (quick stacks, default interval) only at the end
    assert max(checked) == 0 if merge_every == 0 else max(checked) > 0
    same_results(res, reference[0])
    assert not list((tmp_path / "r" / "quick" / "mnist" / "parts").glob("*.json"))


def test_reading_while_another_process_merges_parts(tmp_path, monkeypatch, reference):
    """A reader (the book) that lists a part which a grid process then merges and removes
    reads again and gets the same records as a read without the race."""
    import shutil
    from pathlib import Path

    out = tmp_path / "quick" / "mnist"
    shutil.copytree(reference[1] / "r" / "quick" / "mnist", out)
    rec = store.read_records(out)
    for key in rec.runs.key[:3]:  # three records pending in parts/ again
        store.save_part(out, store.record_from_tables(rec, key))
    before = store.read_records(out)
    real, merged = Path.read_text, []

    def read_text(path, *args, **kwargs):
        if path.parent.name == "parts" and not merged:  # the merge wins the race
            merged.append(path)
            store.consolidate(out, lambda r, h: runner.search_table(r, h, SPEC))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    after = store.read_records(out)
    assert merged and not list((out / "parts").glob("*.json"))
    for a, b in ((before.runs, after.runs), (before.histories, after.histories),
                 (before.layers, after.layers)):
        pd.testing.assert_frame_equal(a, b)


def test_paused_units_resume_exactly(tmp_path, monkeypatch, reference, tiny):
    """Units pause after every epoch (unit_seconds=0) and continue from their snapshots:
    the same results as uninterrupted stacks."""
    ref, _ = reference
    calls = []
    train_stacked = runner.engine.train_stacked

    def spy(*args, **kwargs):
        calls.append(kwargs["resume"])
        return train_stacked(*args, **kwargs)

    monkeypatch.setattr(runner.engine, "train_stacked", spy)
    res = run(tmp_path, tiny, spec=dataclasses.replace(SPEC, unit_seconds=0.0))
    assert res.complete and any(s is not None for c in calls for s in c)
    same_results(res, ref)


def killed_after(stacks: int, monkeypatch, call) -> None:
    """``call()`` with the process killed (KeyboardInterrupt) as it starts stack number
    ``stacks + 1``; the engine is restored afterwards."""
    calls, train_stacked = [], runner.engine.train_stacked

    def killed(*args, **kwargs):
        if len(calls) == stacks:
            raise KeyboardInterrupt
        calls.append(1)
        return train_stacked(*args, **kwargs)

    monkeypatch.setattr(runner.engine, "train_stacked", killed)
    with pytest.raises(KeyboardInterrupt):
        call()
    monkeypatch.setattr(runner.engine, "train_stacked", train_stacked)


def test_killed_without_snapshots_restarts_exactly(tmp_path, monkeypatch, reference, tiny):
    """A kill after three stacks, then the snapshot cache is lost (a fresh clone): the
    unfinished runs restart from scratch and the results are the same."""
    ref, _ = reference
    killed_after(3, monkeypatch, lambda: run(tmp_path, tiny))
    assert list((tmp_path / "s").rglob("*.pt"))
    for p in (tmp_path / "s").rglob("*.pt"):
        p.unlink()
    res = run(tmp_path, tiny)
    assert res.complete
    same_results(res, ref)


def test_time_budget_pauses_cleanly(tmp_path, tiny):
    res = run(tmp_path, tiny, time_budget=1e-9)
    assert not res.complete and len(res.runs) < 8


def test_stop_request_pauses_at_an_epoch_boundary_and_resumes_exactly(
        tmp_path, monkeypatch, reference, tiny):
    """What the CLI does on SIGTERM: a stop requested during the second stack pauses it at
    the next epoch boundary with snapshots saved; the rerun gives the uninterrupted
    results."""
    ref, _ = reference
    calls = []
    train_stacked = runner.engine.train_stacked

    def stop_during_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            runner.request_stop()  # as if SIGTERM arrived while this stack trains
        return train_stacked(*args, **kwargs)

    monkeypatch.setattr(runner.engine, "train_stacked", stop_during_second)
    monkeypatch.setattr(runner, "_STOP", runner.threading.Event())
    paused = run(tmp_path, tiny)
    assert runner.stop_requested() and not paused.complete and len(calls) == 2
    assert list((tmp_path / "s").rglob("*.pt"))  # the unfinished runs' snapshots
    monkeypatch.setattr(runner, "_STOP", runner.threading.Event())
    monkeypatch.setattr(runner.engine, "train_stacked", train_stacked)
    res = run(tmp_path, tiny)
    assert res.complete
    same_results(res, ref)


def test_spec_or_source_change_is_refused(reference, tiny):
    _, root = reference
    other = dataclasses.replace(SPEC, max_epochs=5)
    with pytest.raises(ValueError, match="spec"):
        run(root, tiny, spec=other)


@pytest.mark.parametrize("kwargs, name", [
    (dict(profile="huge"), "profile"),
    (dict(dataset="imagenet"), "dataset"),
    (dict(device="tpu"), "device"),
    (dict(time_budget=-1), "time_budget"),
    (dict(threads=0), "threads"),
    (dict(widths=(17,)), "widths"),
    (dict(shapes=((3, 200),)), "shapes"),
    (dict(shapes=()), "shapes"),
])
def test_bad_arguments(tmp_path, kwargs, name):
    args = dict(profile="quick", dataset="mnist", device="cpu", root=tmp_path,
                state_root=tmp_path, progress=False)
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
    (["plan", "--profile", "huge"], "'huge'"),
    (["run", "--profile", "paper", "--dataset", "mnist", "--shapes", "3x200"],
     "--shapes 3x200: accepted: a comma-separated list of 4x200, 2x200"),
    (["run", "--profile", "paper", "--dataset", "mnist", "--shapes", "4x200x1"], "--shapes"),
    (["pending", "--dataset", "svhn"], "'svhn'"),
    (["run", "--profile", "quick", "--dataset", "mnist", "--workers", "0"], "--workers 0"),
    (["merge", "/nonexistent/results", "--dataset", "mnist"], "no manifest.json"),
    (["merge", "/nonexistent/results", "--dataset", "svhn"], "'svhn'"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


def test_paper_spec_is_the_papers_grid():
    spec = grid.get_spec("paper")
    assert (spec.depths, spec.widths, spec.seeds) == ((2, 4, 6, 8), (200, 800), (0, 1, 2))
    assert spec.max_epochs == 300 and spec.lr_decay == 0.99 and spec.batch_size == 128
    assert spec.n_final() == 96  # per dataset
    assert spec.is_full_length("mnist", 200) and not spec.is_full_length("cifar10", 200)
    order = spec.work_order()
    assert order[:4] == [("mnist", 4, 200), ("mnist", 2, 200), ("mnist", 6, 200),
                         ("mnist", 8, 200)]
    assert [o[0] for o in order[4:8]] == ["cifar10"] * 4 and order[8] == ("mnist", 4, 800)
    assert grid.GridSpec.from_dict(spec.to_dict()) == spec


def test_cpu_stacks_are_sized_to_finish_within_a_unit(tmp_path, tiny):
    spec = dataclasses.replace(SPEC, unit_seconds=600.0, max_stack=24)
    r = runner.Runner(spec, "mnist", tiny, torch.device("cpu"), tmp_path / "r", tmp_path / "s",
                      False, None, False, log=lambda *a: None)
    r.rates[(4, 16)] = 2.0  # seconds per model-epoch, as if measured
    r.rates[(4, 800)] = 2.0
    narrow = runner.CPU_NARROW_MIN_STACK
    assert narrow > 1 and 16 <= runner.CPU_NARROW_WIDTH < 800
    assert r.stack_size(4, 800, 300) == 1  # 300 epochs x 2 s > 600 s: one run per unit
    assert r.stack_size(4, 16, 300) == narrow  # narrow nets: never fewer than this
    assert r.stack_size(4, 800, 30) == r.stack_size(4, 16, 30) == 10  # 600 // (30 x 2)
    assert r.stack_size(4, 16, 3) == 24  # capped by max_stack
    assert narrow <= r.stack_size(2, 16, 300) <= 24  # unmeasured shape: estimated from FLOPs


def test_with_a_deadline_cpu_stacks_take_only_runs_that_finish_before_it(tmp_path, tiny,
                                                                         monkeypatch):
    """Snapshots are a local cache: a run still paused when a session's budget ends may
    restart from scratch in a fresh checkout, so a stack starts no run expected to
    overrun the deadline (with DEADLINE_MARGIN), not even the narrow minimum. The runner's
    clock is frozen, so a loaded machine cannot move the boundaries."""
    spec = dataclasses.replace(SPEC, unit_seconds=600.0, max_stack=24)
    margin = runner.DEADLINE_MARGIN
    assert margin > 1
    now = 1000.0
    frozen = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time)
                                      if not n.startswith("_")})
    frozen.perf_counter = lambda: now
    monkeypatch.setattr(runner, "time", frozen)

    def sized(left: float, width: int, epochs: float) -> int:
        r = runner.Runner(spec, "mnist", tiny, torch.device("cpu"), tmp_path / "r",
                          tmp_path / "s", False, now + left, False, log=lambda *a: None)
        r.rates[(4, width)] = 2.0
        return r.stack_size(4, width, epochs)

    # 30 epochs x 2 s = 60 s a run: 10 per unit, and as many as fit in the time left
    assert sized(1e6, 800, 30) == 10
    assert sized(5 * 60 * margin + 1, 800, 30) == 5
    assert sized(5 * 60 * margin + 1, 16, 30) == 5
    assert sized(2 * 60 * margin + 1, 16, 30) == 2  # the narrow minimum yields to the deadline
    assert sized(60 * margin - 1, 800, 30) == sized(60, 16, 30) == 0  # none fits


def test_rates_and_run_lengths_come_from_the_recorded_runs(reference, tiny):
    """Before a shape is measured in a call, its seconds per model-epoch are the median of
    its recorded runs on this device (other shapes' scaled by FLOPs); a halted final run is
    expected to last as long as the recorded final runs do on average."""
    res, root = reference
    r = runner.Runner(SPEC, "mnist", tiny, torch.device("cpu"), res.path, root / "s",
                      False, None, False, log=lambda *a: None)
    runs = r.records.runs
    runs = runs[(runs.device == r.dev_name) & (runs.epochs > 0)]
    assert len(runs) > 8  # search rows and final runs
    measured = float((runs.wall_time / runs.epochs)[(runs.depth == 4) & (runs.width == 16)]
                     .median())
    assert r.rate(4, 16) == pytest.approx(measured)
    from helpers.engine import Layout
    from helpers.grid.plan import epoch_flops

    def flops(depth):
        return epoch_flops(Layout(tiny.n_features, depth, 16, tiny.n_classes),
                           len(tiny.train), len(tiny.val))
    assert r.rate(8, 16) == pytest.approx(measured * flops(8) / flops(4))
    r.rates[(4, 16)] = 0.5  # measured in this call: wins
    assert r.rate(4, 16) == 0.5
    # run lengths: to the rung; else the mean of the recorded final runs (at least
    # patience / 2 more, at most to max_epochs)
    assert r.expected_epochs(16, 1, 2) == 1
    mean = float(res.runs.epochs.mean())
    assert r.expected_epochs(16, 0, None) == pytest.approx(min(SPEC.max_epochs, mean))
    assert r.expected_epochs(16, SPEC.max_epochs - 1, None) == 1
    full = dataclasses.replace(SPEC, full_length=(("mnist", 16),))
    r_full = runner.Runner(full, "mnist", tiny, torch.device("cpu"), res.path, root / "s",
                           False, None, False, log=lambda *a: None)
    assert r_full.expected_epochs(16, 1, None) == SPEC.max_epochs - 1
    empty = runner.Runner(SPEC, "mnist", tiny, torch.device("cpu"), root / "none",
                          root / "s", False, None, False, log=lambda *a: None)
    from helpers.grid.plan import PRIOR_FINAL_EPOCHS
    assert empty.expected_epochs(16, 0, None) == min(SPEC.max_epochs, PRIOR_FINAL_EPOCHS)


def test_a_shape_with_no_run_that_fits_the_budget_is_postponed(tmp_path, tiny, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("trained although no run fits the time left")
    monkeypatch.setattr(runner.engine, "train_stacked", never)
    monkeypatch.setattr(runner.Runner, "rate", lambda self, depth, width: 1e6)
    res = run(tmp_path, tiny, time_budget=3600.0)
    assert res.postponed == ["4x16"] and not res.complete and res.runs.empty


def test_missing_results_are_typed_empty_tables(tmp_path, reference):
    """A dataset without results concatenates with one that has them without turning the
    numeric columns into objects (the chapters concatenate both datasets)."""
    empty = grid.load_results("quick", "cifar10", tmp_path, missing_ok=True)
    assert empty.runs.empty and empty.histories.empty and not empty.manifest
    res, _ = reference
    for a, b in ((res.runs, empty.runs), (res.histories, empty.histories)):
        both = pd.concat([a, b], ignore_index=True)
        assert both.select_dtypes("number").columns.tolist() == \
            a.select_dtypes("number").columns.tolist()
    with pytest.raises(FileNotFoundError, match="no results"):
        grid.load_results("quick", "cifar10", tmp_path)


def test_work_queue_puts_the_extension_before_cifar_800():
    q = grid.work_queue("paper")
    assert q == [("paper", "mnist", 200), ("paper", "cifar10", 200), ("paper", "mnist", 800),
                 ("activations", "mnist", 200), ("activations", "cifar10", 200),
                 ("paper", "cifar10", 800)]
    assert grid.work_queue("paper", ("paper",)) == [q[i] for i in (0, 1, 2, 5)]
    assert grid.work_queue("paper", datasets=("mnist",))[-1] == ("activations", "mnist", 200)
    with pytest.raises(ValueError, match="grid"):
        grid.work_queue("paper", ("newer",))


def test_activations_spec():
    spec = grid.get_spec("paper", "activations").check()
    assert set(spec.activations) == {"tanh", "leaky_relu", "elu", "selu", "gelu", "silu"}
    assert ("selu", True) not in spec.combos() and ("selu", False) in spec.combos()
    assert len(spec.combos()) == 11 and spec.shapes() == [(4, 200), (8, 200)]
    assert spec.n_final() == 66  # per dataset
    # the same protocol as the paper grid
    paper = grid.get_spec("paper")
    for field in ("coarse_lrs", "rungs", "max_epochs", "patience", "keep", "seeds",
                  "batch_size", "lr_decay", "train_metrics"):
        assert getattr(spec, field) == getattr(paper, field)
    assert store.results_dir("paper", "mnist", "R", "activations").as_posix() == \
        "R/paper/activations/mnist"
    assert store.results_dir("paper", "mnist", "R").as_posix() == "R/paper/mnist"
    with pytest.raises(ValueError, match="bn_exempt"):
        dataclasses.replace(spec, bn_exempt=("relu",)).check()


def test_a_manifest_written_before_new_spec_fields_still_matches():
    old = {k: v for k, v in grid.get_spec("paper").to_dict().items()
           if k not in ("grid", "bn_exempt")}
    assert grid.GridSpec.from_dict(old) == grid.get_spec("paper")


def test_extension_grid_runs_in_its_own_folder(tmp_path, tiny):
    spec = dataclasses.replace(
        grid.get_spec("quick", "activations"), depths=(2,), activations=("selu", "silu"),
        bn_exempt=("selu",), coarse_lrs=(1e-3,), keep=1, seeds=(0,), max_epochs=2,
        rungs=(1, 1), patience=1)
    res = run(tmp_path, tiny, spec=spec)
    assert res.path == tmp_path / "r" / "quick" / "activations" / "mnist"
    assert res.complete and len(res.runs) == 3  # SELU, SiLU, SiLU + BN
    assert set(zip(res.runs.activation, res.runs.batch_norm)) == set(spec.combos())
    assert res.manifest["grid"] == "activations"
    lay = res.layers[res.layers.phase == "final"]
    assert lay[["grad_saturation", "perplexity"]].notna().all().all()
    assert lay.perplexity.between(1, 10).all()
    assert "activations" in cli.status(tmp_path / "r", ["quick"], ["activations"])


def test_backfill_adds_the_new_layer_statistics(tmp_path, reference, tiny):
    import shutil
    res, root = reference
    src = res.path
    out = tmp_path / "r" / "quick" / "mnist"
    shutil.copytree(src, out)
    lay = store.read_records(out).layers
    lay.loc[lay.phase == "final", ["grad_saturation", "perplexity"]] = float("nan")
    store.atomic_write(out / "layers.csv.gz",
                       lambda p: lay.to_csv(p, index=False, compression="gzip"))
    n = runner.backfill_layer_stats("quick", "mnist", tmp_path / "r", data=tiny,
                                    log=lambda *a: None)
    assert n == len(res.runs)  # every final run of this spec has a checkpoint
    store.consolidate(out, lambda runs, hist: runner.search_table(runs, hist, SPEC))
    after = grid.load_results("quick", "mnist", tmp_path / "r")
    final = after.layers[after.layers.phase == "final"].set_index(["key", "layer"])
    before = res.layers[res.layers.phase == "final"].set_index(["key", "layer"])
    assert final.grad_saturation.notna().all()
    # recomputed from the float16 checkpoints: close to what the run recorded (the sigmoid
    # nets of this spec may select the absurd rate 1e30, whose weights overflow float16)
    relu = [k for k in final.index.get_level_values("key") if "_relu_" in k]
    assert final.loc[relu].perplexity.notna().all()
    assert (final.loc[relu].perplexity - before.loc[relu].perplexity).abs().max() < 0.2
    # the recorded statistics and the runs themselves are untouched
    pd.testing.assert_series_equal(final.sparsity, before.sparsity)
    pd.testing.assert_frame_equal(after.runs.drop(columns=TIMING),
                                  res.runs.drop(columns=TIMING))
    assert len(after.histories) == len(res.histories)


def test_merge_rebuilds_another_roots_runs_exactly(tmp_path, reference):
    """Runs recorded elsewhere (a GPU machine) merge into a root that lacks them: the result
    equals the uninterrupted grid's; a second merge adds nothing; a foreign spec is refused."""
    import shutil
    res, root = reference
    out = tmp_path / "r" / "quick" / "mnist"
    shutil.copytree(res.path, out)
    rec = store.read_records(out)  # keep one final run and the search rows of one config
    final = rec.runs[rec.runs.phase == "final"]
    keep = set(final.key[:1])
    mask = rec.runs.key.isin(keep) | ((rec.runs.phase == "search")
                                      & (rec.runs.activation == "relu") & ~rec.runs.batch_norm)
    kept = rec.runs[mask]
    hist = rec.histories.merge(kept[["phase", "depth", "width", "activation", "batch_norm",
                                     "seed", "lr"]], how="inner")
    runs = kept[kept.phase == "final"].drop(columns="finished")
    store.atomic_write(out / "runs.csv", lambda p: runs.to_csv(p, index=False))
    search = runner.search_table(kept, hist, SPEC)
    store.atomic_write(out / "lr_search.csv", lambda p: search.to_csv(p, index=False))
    store.atomic_write(out / "histories.csv.gz",
                       lambda p: hist.to_csv(p, index=False, compression="gzip"))
    lay = rec.layers[rec.layers.key.isin(kept.key)]
    store.atomic_write(out / "layers.csv.gz",
                       lambda p: lay.to_csv(p, index=False, compression="gzip"))
    for path in (out / "checkpoints").glob("*.pt"):
        if not any(path.stem in k for k in keep):
            path.unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["sessions"] = []
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert len(grid.load_results("quick", "mnist", tmp_path / "r").runs) == 1

    n = grid.merge_results(root / "r", "quick", "mnist", tmp_path / "r", log=lambda *a: None,
                           spec=SPEC)
    assert n == len(res.runs) - 1 + (len(res.lr_search) - (search.phase == "search").sum())
    after = grid.load_results("quick", "mnist", tmp_path / "r")
    same_results(after, res)
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == sorted(
        p.name for p in (res.path / "checkpoints").glob("*.pt"))
    assert after.manifest["n_final_runs"] == len(res.runs) and after.manifest["complete"]
    assert len(after.manifest["sessions"]) == len(res.manifest["sessions"])
    assert grid.merge_results(root / "r", "quick", "mnist", tmp_path / "r",
                              log=lambda *a: None, spec=SPEC) == 0

    other = tmp_path / "o" / "quick" / "mnist"
    shutil.copytree(res.path, other)
    m = json.loads((other / "manifest.json").read_text())
    m["spec"]["max_epochs"] = 99
    (other / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="different grid spec"):
        grid.merge_results(tmp_path / "o", "quick", "mnist", tmp_path / "r", spec=SPEC)
    with pytest.raises(FileNotFoundError, match="no manifest"):
        grid.merge_results(tmp_path / "nothing", "quick", "mnist", tmp_path / "r", spec=SPEC)


def test_shapes_in_separate_roots_merge_into_the_whole_grid(tmp_path, tiny):
    """Parallel processes on one GPU, one shape each in its own root (as
    benchmarks/device_session.sh runs them), merge into the grid that one process computes;
    ``pending_shapes`` lists what is left at each step."""
    spec = dataclasses.replace(SPEC, depths=(2, 4), checkpoint_widths=())

    def pending(name):
        return grid.pending_shapes("quick", "mnist", tmp_path / name / "r", spec=spec)

    assert pending("w") == [(4, 16), (2, 16)]  # the anytime order: depth 4 first
    whole = run(tmp_path / "w", tiny, spec=spec)
    assert whole.complete and len(whole.runs) == 16 and pending("w") == []
    parts = [run(tmp_path / name, tiny, spec=spec, shapes=(shape,))
             for name, shape in (("a", (2, 16)), ("b", (4, 16)))]
    assert [len(p.runs) for p in parts] == [8, 8] and not any(p.complete for p in parts)
    assert pending("a") == [(4, 16)]
    for name in ("a", "b"):
        grid.merge_results(tmp_path / name / "r", "quick", "mnist", tmp_path / "m",
                           log=lambda *a: None, spec=spec)
        summary = json.loads((tmp_path / "m" / "quick" / "manifest.json").read_text())
        # the profile's summary follows each merge: incomplete after one shape, then whole
        assert summary["datasets"]["mnist"]["complete"] == (name == "b")
    merged = grid.load_results("quick", "mnist", tmp_path / "m")
    assert merged.manifest["complete"]
    key = ["phase", "depth", "activation", "batch_norm", "seed", "lr"]
    for mine, theirs in ((merged.runs, whole.runs), (merged.histories, whole.histories)):
        pd.testing.assert_frame_equal(
            mine.drop(columns=TIMING, errors="ignore").sort_values(key + (
                ["epoch"] if "epoch" in mine else [])).reset_index(drop=True),
            theirs.drop(columns=TIMING, errors="ignore").sort_values(key + (
                ["epoch"] if "epoch" in theirs else [])).reset_index(drop=True))


def test_pending_cli_prints_the_unfinished_shapes(tmp_path, capsys):
    assert cli.main(["pending", "--profile", "paper", "--dataset", "mnist",
                     "--root", str(tmp_path), "--no-full-length"]) == 0
    assert capsys.readouterr().out.split() == ["4x800", "2x800", "6x800", "8x800"]
    assert cli.main(["pending", "--profile", "paper", "--dataset", "mnist",
                     "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split()[:2] == ["4x200", "2x200"]


def test_adam_kernels_counts_sessions_and_infers_the_old_ones():
    """Sessions recorded before the key: the formula on CPU, the fused kernel on CUDA."""
    manifest = {"sessions": [{"device": "cpu: AMD EPYC (2 cores)"},
                             {"device": "cuda: NVIDIA H200"},
                             {"device": "cpu: AMD EPYC (2 cores)", "adam": "fused"},
                             {"device": "cpu: AMD EPYC (2 cores)", "adam": "fused"}]}
    assert grid.adam_kernels(manifest) == {"formula": 1, "fused": 3}
    assert grid.adam_kernels({}) == {}


def test_one_process_per_shape(tmp_path, tiny):
    """The shape lock is exclusive (also within one process), names its holder, leaves the
    folder's other shapes free and is free again once released; a run reaching a held shape
    is refused before any work, or with ``skip_busy`` passes over it and says so."""
    out = store.results_dir("quick", "mnist", tmp_path / "r", "paper")
    with store.shape_lock(out, 4, 16):
        with pytest.raises(store.ShapeBusy, match=r"4x16 is being trained by pid \d+, "
                                                  "started .*accepted: one grid process "
                                                  "per shape"):
            with store.shape_lock(out, 4, 16):
                pass
        with store.shape_lock(out, 2, 16):  # another shape of the same folder
            pass
        with pytest.raises(store.ShapeBusy):
            run(tmp_path, tiny)
        assert not (out / "runs.csv").exists() and not list(out.glob("parts/*.json"))
        skipped = run(tmp_path, tiny, skip_busy=True)
        assert skipped.busy == ["4x16"] and len(skipped.runs) == 0 and not skipped.complete
    with store.shape_lock(out, 4, 16):  # released: free again
        pass


def test_shapes_in_training_are_those_whose_lock_is_held(tmp_path):
    """What the book's executor checks before a paper build: a held shape lock is reported
    (folder and shape), a released one is not, and probing does not take the lock."""
    out = store.results_dir("paper", "mnist", tmp_path, "paper")
    assert store.shapes_in_training(tmp_path) == []
    with store.shape_lock(out, 8, 200):
        with store.shape_lock(out, 4, 800):
            assert store.shapes_in_training(tmp_path) == ["paper/mnist 4x800",
                                                          "paper/mnist 8x200"]
        assert store.shapes_in_training(tmp_path) == ["paper/mnist 8x200"]
        with pytest.raises(store.ShapeBusy):  # still held by its owner
            with store.shape_lock(out, 8, 200):
                pass
    assert store.shapes_in_training(tmp_path) == []


def test_processes_share_a_folder_shape_by_shape(tmp_path, tiny):
    """While another process holds one shape, a run trains the folder's other shape; once
    it is free, a second run trains it: together they give exactly the grid one process
    computes, and the manifest keeps both sessions."""
    spec = dataclasses.replace(SPEC, depths=(2, 4), checkpoint_widths=())
    whole = run(tmp_path / "w", tiny, spec=spec)
    out = store.results_dir("quick", "mnist", tmp_path / "r", "paper")
    with store.shape_lock(out, 4, 16):
        first = run(tmp_path, tiny, spec=spec, skip_busy=True)
    assert first.busy == ["4x16"] and set(first.runs.depth) == {2} and len(first.runs) == 8
    assert not first.complete and first.manifest["n_final_runs"] == 8
    second = run(tmp_path, tiny, spec=spec, skip_busy=True)
    assert second.busy == [] and second.complete and len(second.runs) == 16
    assert len(second.manifest["sessions"]) == 2
    key = ["phase", "depth", "activation", "batch_norm", "seed", "lr"]
    for mine, theirs in ((second.runs, whole.runs), (second.histories, whole.histories)):
        sort = key + (["epoch"] if "epoch" in mine else [])
        pd.testing.assert_frame_equal(
            mine.drop(columns=TIMING, errors="ignore").sort_values(sort).reset_index(drop=True),
            theirs.drop(columns=TIMING, errors="ignore").sort_values(sort)
            .reset_index(drop=True))


def test_manifest_updates_keep_every_process_session(tmp_path):
    """Two runners that read the manifest before either wrote it (processes on two shapes of
    one folder) both keep their session: each update starts from the manifest on disk."""
    from types import SimpleNamespace
    out = tmp_path / "quick" / "mnist"
    out.mkdir(parents=True)
    stale = {"profile": "quick", "dataset": "mnist", "source": "mnist", "source_label": "MNIST",
             "sessions": [], "precision": {}}
    store.write_json(out / "manifest.json", stale)

    def fake_runner(session_id):
        return SimpleNamespace(start=0.0, session_id=session_id, started="t", dev_name="cpu",
                               commit="c", n_new=1, model_epochs=3, spec=SPEC,
                               device=torch.device("cpu"))

    for session_id in ("a", "b"):
        runner.write_manifest(out, dict(stale, sessions=[]), fake_runner(session_id))
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["id"] for s in manifest["sessions"]] == ["a", "b"]
    summary = json.loads((out.parent / "manifest.json").read_text())
    assert summary["datasets"]["mnist"]["n_final_runs"] == 0


def _fake_results(dataset, busy=(), postponed=()):
    from types import SimpleNamespace
    return SimpleNamespace(label=dataset, new_runs=0, runs=pd.DataFrame(),
                           complete=not busy and not postponed, path=f"/r/{dataset}",
                           busy=list(busy), postponed=list(postponed))


@pytest.mark.parametrize("skip", [False, True])
def test_cli_skips_a_busy_shape_only_when_told(monkeypatch, capsys, skip):
    calls = []

    def fake_run_grid(profile, dataset, device, **kw):
        calls.append((kw["grid"], dataset))
        if dataset == "mnist":
            if not kw["skip_busy"]:
                raise store.ShapeBusy("/r/mnist 4x16 is being trained by pid 1; accepted: "
                                      "one grid process per shape")
            return _fake_results(dataset, busy=["4x16"])
        return _fake_results(dataset, postponed=["2x16"])

    monkeypatch.setattr(cli, "run_grid", fake_run_grid)
    argv = ["run", "--profile", "quick", "--grid", "paper", "--dataset", "all", "--device",
            "cpu"] + (["--skip-busy"] if skip else [])
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    if skip:  # mnist's busy shape skipped at every width, cifar10 run
        assert rc == 0 and "incomplete; skipped 4x16 (another process)" in out
        assert "postponed 2x16 (no run fits in the time left)" in out
        assert ("paper", "cifar10") in calls
    else:  # the first busy shape stops the command with the reason
        assert rc == 2 and "accepted: one grid process per shape" in err
        assert calls == [("paper", "mnist")]


@pytest.mark.parametrize("argv", [
    ["run", "--profile", "paper", "--workers", "2", "--dataset", "all"],
    ["run", "--profile", "paper", "--workers=2", "--dataset", "all"],
])
def test_worker_argv_runs_one_worker_that_skips_busy_shapes(argv):
    assert cli.worker_argv(argv) == ["run", "--profile", "paper", "--dataset", "all",
                                     "--workers", "1", "--skip-busy"]


def test_two_workers_share_the_queue_without_clashing(tmp_path):
    """``run --workers 2`` on the quick grid for a few seconds: both workers exit cleanly at
    the budget, and every folder holds one writer's consistent tables (unique keys). Which
    worker took which folder depends on timing, so that is not asserted."""
    import subprocess
    import sys
    argv = [sys.executable, "-m", "helpers.grid", "run", "--profile", "quick", "--grid",
            "paper", "--dataset", "all", "--device", "cpu", "--time-budget", "0.1",
            "--workers", "2", "--no-progress", "--root", str(tmp_path / "r"),
            "--state-root", str(tmp_path / "s")]
    run_ = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert run_.returncode == 0, run_.stdout[-2000:] + run_.stderr[-2000:]
    assert "error" not in run_.stderr.lower()
    for dataset in ("mnist", "cifar10"):
        path = store.results_dir("quick", dataset, tmp_path / "r", "paper")
        if path.exists():
            res = grid.load_results("quick", dataset, tmp_path / "r")
            assert res.runs.key.is_unique and res.lr_search.key.is_unique


# ------------------------------------------------- consistency of records, parts and cache
def _copy_reference(reference, tmp_path):
    import shutil
    out = tmp_path / "quick" / "mnist"
    shutil.copytree(reference[1] / "r" / "quick" / "mnist", out)
    return out


def test_a_part_replaces_its_runs_whole_history(tmp_path, reference):
    """A record written again with a shorter history (a run retrained, a merge) leaves no
    tail of the older history in the tables, before and after the merge."""
    out = _copy_reference(reference, tmp_path)
    rec = store.read_records(out)
    r = rec.runs[rec.runs.phase == "final"].iloc[0]
    record = store.record_from_tables(rec, r.key)
    assert len(record["history"]) > 2
    record["history"] = [h for h in record["history"] if h["epoch"] <= 1]
    store.save_part(out, record)
    for _ in range(2):  # with the part pending, then merged
        h = store.read_records(out).histories
        h = h[(h.phase == "final") & (h.activation == r.activation)
              & (h.batch_norm == r.batch_norm) & (h.seed == r.seed) & (h.lr == r.lr)]
        assert sorted(h.epoch) == [0, 1]
        store.consolidate(out, lambda a, b: runner.search_table(a, b, SPEC))
    # the other runs' histories are untouched
    others = rec.histories[rec.histories.phase == "search"]
    after = store.read_records(out).histories
    pd.testing.assert_frame_equal(
        after[after.phase == "search"].reset_index(drop=True), others.reset_index(drop=True))


def test_an_unreadable_part_is_left_out_and_kept(tmp_path, reference):
    out = _copy_reference(reference, tmp_path)
    before = store.read_records(out)
    bad = out / "parts" / "torn.json"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text('{"row": {"key"')  # a write torn by a crash
    with pytest.warns(UserWarning, match="torn.json is unreadable"):
        after = store.read_records(out)
    pd.testing.assert_frame_equal(before.runs, after.runs)
    with pytest.warns(UserWarning):
        store.consolidate(out, lambda a, b: runner.search_table(a, b, SPEC))
    assert bad.exists()  # kept for a person to look at, never merged


def test_save_part_waits_for_a_merge_in_progress(tmp_path, reference):
    """A merge reads parts/ and then deletes what it read: a part written meanwhile would be
    deleted unmerged, so writing one waits for the tables lock."""
    import threading
    out = _copy_reference(reference, tmp_path)
    rec = store.read_records(out)
    record = store.record_from_tables(rec, rec.runs.key.iloc[0])
    part = out / "parts" / f"{record['row']['key']}.json"
    held, release = threading.Event(), threading.Event()

    def merge():
        with store.tables_lock(out):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=merge)
    holder.start()
    held.wait(30)
    writer = threading.Thread(target=store.save_part, args=(out, record))
    writer.start()
    writer.join(0.5)
    assert writer.is_alive() and not part.exists()  # waiting for the lock
    release.set()
    writer.join(30)
    holder.join(30)
    assert part.exists()


def test_a_snapshot_past_the_recorded_rung_is_dropped(tmp_path, monkeypatch, reference, tiny):
    """The tables go back (restored from git) while the snapshot cache does not: a snapshot
    past the rung the records ask for is dropped and its run starts afresh, and the results
    are the reference's (without the check the runner would loop, resuming it forever)."""
    spec = dataclasses.replace(SPEC, unit_seconds=0.0)  # pause after every epoch
    killed_after(8, monkeypatch, lambda: run(tmp_path, tiny, spec=spec))
    epochs = [torch.load(p, weights_only=False)["epoch"]
              for p in (tmp_path / "s").rglob("*.pt")]
    assert max(epochs) > SPEC.rungs[0]  # the precondition: a snapshot past rung 1
    import shutil
    shutil.rmtree(tmp_path / "r")  # the records go back to none
    log = []
    res = run(tmp_path, tiny, spec=spec, time_budget=300, log=log.append)
    assert res.complete
    assert any("past the rung" in line for line in log)
    same_results(res, reference[0])


def test_snapshots_live_beside_an_explicit_results_root(tmp_path, tiny):
    """Without ``state_root``, a call with its own ``root`` keeps its snapshots under it,
    never in the checkout's cache that the real grid resumes from."""
    grid.run_grid("quick", "mnist", "cpu", progress=False, root=tmp_path / "r", data=tiny,
                  spec=dataclasses.replace(SPEC, unit_seconds=0.0), time_budget=0.5)
    assert list((tmp_path / "r" / store.ROOT_STATE_FOLDER).rglob("*.pt"))


def test_workers_run_in_their_own_sessions(monkeypatch):
    """A signal to the parent's process group reaches each worker once, through the parent
    (which forwards it), not twice (a second signal stops a worker without pausing)."""
    started = []

    class FakeProc:
        def __init__(self, argv, **kwargs):
            started.append(kwargs)

        def poll(self):
            return 0

        def wait(self):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakeProc)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    assert cli.run_workers(["run", "--profile", "quick"], 2) == 0
    assert started == [{"start_new_session": True}] * 2


def test_a_restarted_final_run_does_not_flip_the_selected_rate(reference):
    """A final run that restarted from scratch (its snapshot lost) can differ from its search
    curve in float rounding; the rates keep being ranked on the search curves, so the
    selection, and the final runs it asked for, stay as they were."""
    res, _ = reference
    rec = store.Records(pd.concat([res.lr_search.drop(columns=["mean_val_acc", "selected",
                                                                "extension"]),
                                   res.runs.assign(finished=True)], ignore_index=True),
                        res.histories, pd.DataFrame())
    combo = ("relu", False)
    before = runner.decide(SPEC, runner.known_runs(rec, 4, 16, combo))
    h = rec.histories.copy()  # the finals' early epochs drift far below every other rate
    final = (h.phase == "final") & (h.activation == "relu") & ~h.batch_norm & (h.epoch > 0)
    h.loc[final, "val_acc"] = 0.0
    after = runner.decide(SPEC, runner.known_runs(store.Records(rec.runs, h, rec.layers),
                                                  4, 16, combo))
    assert before.done and after.done and after.selected == before.selected
