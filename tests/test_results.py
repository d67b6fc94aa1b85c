"""The committed paper results (data/results/paper/) are consistent with themselves and
with the data they claim: counts, keys, histories, layer statistics, checkpoints."""

from __future__ import annotations

import json

import pytest

from helpers.data import load_dataset
from helpers.grid import GridSpec, get_spec, load_results, results_dir
from helpers.grid.spec import checkpoint_name
from helpers.grid.store import load_checkpoint
from helpers.train import evaluate

GRID_DATASETS = [(g, ds) for g in ("paper", "activations") for ds in ("mnist", "cifar10")
                 if results_dir("paper", ds, grid=g).exists()]
pytestmark = pytest.mark.skipif(not GRID_DATASETS, reason="no committed paper results yet")


@pytest.fixture(scope="module", params=GRID_DATASETS, ids=lambda p: "-".join(p))
def results(request):
    grid, dataset = request.param
    res = load_results("paper", dataset, grid=grid)
    res.grid = grid
    return res


def test_manifest_counts_and_unique_keys(results):
    m = results.manifest
    assert m["n_final_runs"] == len(results.runs)
    assert m["n_search_runs"] == len(results.lr_search)
    assert m["n_final_planned"] == get_spec("paper", results.grid).n_final()
    assert GridSpec.from_dict(m["spec"]) == get_spec("paper", results.grid)
    assert results.runs.key.is_unique and results.lr_search.key.is_unique
    assert not (results.path / "parts").exists() or not list(
        (results.path / "parts").glob("*.json")), "unmerged parts: run the grid to merge"
    summary = json.loads((results.path.parent / "manifest.json").read_text())
    assert summary["datasets"][results.dataset]["n_final_runs"] == len(results.runs)
    for key in ("device", "torch_version", "git_commit", "source", "precision", "protocol",
                "wall_time_s", "sessions"):
        assert key in m, key


def test_every_run_has_its_history_and_layers(results):
    h = results.histories
    for phase, table in (("final", results.runs), ("search", results.lr_search)):
        for r in table.itertuples():
            run = h[(h.phase == phase) & (h.depth == r.depth) & (h.width == r.width)
                    & (h.activation == r.activation) & (h.batch_norm == r.batch_norm)
                    & (h.seed == r.seed) & (h.lr == r.lr)]
            assert list(run.epoch) == list(range(r.epochs + 1)), r.key
            assert run.val_acc.max() == pytest.approx(r.best_val_acc), r.key
    layers = results.layers[results.layers.phase == "final"]
    counts = layers.groupby("key").layer.count()
    assert dict(counts) == dict(zip(results.runs.key, results.runs.depth))


def test_selected_rates_are_the_final_rates(results):
    s = results.lr_search
    chosen = s[s.selected].groupby(["depth", "width", "activation", "batch_norm"]).lr.unique()
    for r in results.runs.itertuples():
        assert list(chosen[(r.depth, r.width, r.activation, r.batch_norm)]) == [r.lr]


def test_checkpoints_reproduce_their_test_accuracy(results):
    """fp16 storage costs at most 0.1 points, on the data source the manifest names."""
    spec = get_spec("paper", results.grid)
    data = load_dataset(results.dataset)
    assert data.source == results.manifest["source"]
    runs = results.runs[(results.runs.depth == spec.checkpoint_depth)
                        & results.runs.width.isin(spec.checkpoint_widths)]
    for r in runs.itertuples():
        path = results.path / "checkpoints" / checkpoint_name(r.depth, r.width, r.activation,
                                                              r.batch_norm, r.seed)
        assert path.exists(), path.name
        model, blob = load_checkpoint(path)
        acc = evaluate(model, data.test)[1]
        assert abs(acc - r.test_acc) * 100 <= 0.1, (path.name, acc, r.test_acc)
        assert blob["test_acc_stored"] == pytest.approx(acc, abs=1e-9)


def test_committed_chapter_results_load_and_match_their_manifest():
    """data/results/paper/chapters/: every file is in the manifest under the name its settings
    hash to, records where it ran, and loads with the current helpers."""
    from helpers.chapter_results import RESULTS_DIR, load, settings_hash

    manifest_path = RESULTS_DIR / "manifest.json"
    if not manifest_path.exists():
        pytest.skip("no chapter results committed yet")
    manifest = json.loads(manifest_path.read_text())
    assert sorted(p.name for p in RESULTS_DIR.glob("*.pt")) == sorted(manifest)
    for name, entry in manifest.items():
        assert name == f"{entry['name']}-{settings_hash(entry['settings'])}.pt"
        assert entry["bytes"] == (RESULTS_DIR / name).stat().st_size
        assert entry["device"] and entry["compute_s"] >= 0
        _, meta = load(RESULTS_DIR / name)
        assert meta["settings"] == entry["settings"]
