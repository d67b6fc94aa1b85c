"""The benchmark scripts still import and parse their arguments (they are run by hand, so
nothing else would notice when a helper they use is renamed)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted(p for p in (Path(__file__).resolve().parent.parent / "benchmarks").glob(
    "*.py") if not p.name.startswith("_"))  # _shared.py: their common helpers


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_imports_and_shows_its_help(script: Path):
    run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "usage" in run.stdout


DEVICE_SESSION = BENCHMARKS[0].parent / "device_session.sh"


def test_device_session_refuses_an_unknown_step():
    run = subprocess.run(["bash", str(DEVICE_SESSION), "fly"], capture_output=True, text=True)
    assert run.returncode == 2 and "accepted: prepare, prepare-cifar, run, merge" in run.stderr


def test_device_session_dry_run_on_cpu_merges_back(tmp_path):
    """The GPU call's grid step, dry-run on the CPU in the quick profile: one shape from an
    empty results root, packed as the device tool would return it, then merged here."""
    env = dict(os.environ, DEVICE="cpu", PROFILE="quick", RESULTS=str(tmp_path / "none"),
               ROOTS=str(tmp_path / "roots"), OUT=str(tmp_path / "out"), LIMIT="100",
               SHAPES="2x16", ROOT=str(tmp_path / "merged"), STATES=str(tmp_path / "states"))
    (tmp_path / "out").mkdir()
    run = subprocess.run(["bash", str(DEVICE_SESSION), "run", "test"], capture_output=True,
                         text=True, env=env, timeout=300, cwd=DEVICE_SESSION.parent.parent)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["results_paper_mnist_2x16.tgz"]
    run = subprocess.run(["bash", str(DEVICE_SESSION), "merge", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=300,
                         cwd=DEVICE_SESSION.parent.parent)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    import helpers.grid as grid
    assert (2, 16) not in grid.pending_shapes("quick", "mnist", tmp_path / "merged")
    assert len(grid.load_results("quick", "mnist", tmp_path / "merged").runs) == 12


def test_adam_kernel_benchmark_times_both_kernels(tmp_path):
    script = BENCHMARKS[0].parent / "adam_kernel.py"
    run = subprocess.run([sys.executable, str(script), "--shapes", "1x8", "--rounds", "2",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    import json
    result = json.loads((tmp_path / "adam_kernel_cpu.json").read_text())["shapes"]["1x8"]
    assert set(result["step_ms"]) == set(result["adam_ms"]) == {"formula", "fused"}
    assert len(result["step_ms_rounds"]["fused"]) == 2
    assert result["n_params"] == 784 * 8 + 8 + 2 * 8 + 8 * 10 + 10  # weights, biases, BN
    assert result["one_step_update_gap_in_lr"] < 1e-3  # rounding, not another update


@pytest.mark.parametrize("args", [["--shapes", "0x8"], ["--shapes", "wide"],
                                  ["--rounds", "1"]])
def test_adam_kernel_benchmark_refuses_bad_arguments(args):
    script = BENCHMARKS[0].parent / "adam_kernel.py"
    run = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and "accepted" in run.stderr


def test_stack_size_benchmark_times_each_k(tmp_path):
    script = BENCHMARKS[0].parent / "stack_size.py"
    run = subprocess.run([sys.executable, str(script), "--shapes", "1x8", "--ks", "1,2",
                          "--rounds", "2", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    import json
    result = json.loads((tmp_path / "stack_size_cpu.json").read_text())["shapes"]["1x8"]
    assert set(result["model_step_ms"]) == {"1", "2"} and result["speedup_vs_k1"]["1"] == 1.0
    assert len(result["model_step_ms_rounds"]["2"]) == 2


@pytest.mark.parametrize("args", [["--ks", "2,4"], ["--ks", "0,1"], ["--shapes", "8"],
                                  ["--rounds", "1"]])
def test_stack_size_benchmark_refuses_bad_arguments(args):
    script = BENCHMARKS[0].parent / "stack_size.py"
    run = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and "accepted" in run.stderr


def test_grid_speed_estimate_follows_the_grid_spec():
    """grid_speed's full-grid estimate reads the paper spec's protocol (it once crashed on a
    field the successive-halving search removed): per configuration and seed, every coarse
    rate to the first rung, the best ``keep`` to the second, one edge extension; finals at
    the worst case of ``max_epochs``; each shape's seconds = model-epochs x its rate."""
    import importlib.util

    from helpers.grid import get_spec

    path = BENCHMARKS[0].parent / "grid_speed.py"
    spec_ = importlib.util.spec_from_file_location("grid_speed", path)
    gs = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(gs)
    est = gs.grid_estimate([(1e9, 2e-9)], {"mnist 4x200": 0.5}, {"mnist 4x200": 0.25}, 48, 12)
    paper = get_spec("paper")
    (e1, e2), runs = paper.rungs, len(paper.combos()) * len(paper.seeds)
    search = runs * (len(paper.coarse_lrs) * e1 + paper.keep * (e2 - e1) - e2
                     + paper.max_extensions * e1)
    row = next(r for r in est["configs"] if r["config"] == "mnist 4x200")
    assert row["model_epochs_search"] == search
    assert row["model_epochs_final"] == runs * paper.max_epochs
    assert row["seconds"] == search * 0.5 + runs * paper.max_epochs * 0.25
    assert len(est["configs"]) == 2 * len(paper.shapes())
    assert est["total_s"] == sum(r["seconds"] for r in est["configs"])
