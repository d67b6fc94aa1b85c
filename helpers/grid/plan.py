"""The grid's cost model: runs, model-epochs, TFLOP and hours, per dataset x shape x phase.

A model-epoch costs ``6 * n_weights * n_train`` FLOP of training (forward + backward of the
matmuls) plus ``2 * n_weights`` per validation sample (and per test sample for full-length
runs, which record test metrics every epoch). Expected epochs per run:

* search (extra cost only; the selected rate's search epochs are the start of its final
  runs): ``seeds * (n_coarse * e1 + keep * (e2 - e1) - e2)``, plus ``seeds * e1`` for an
  edge extension, weighted by how often extensions happened so far (prior 0.5);
* final: ``max_epochs`` for full-length runs, else the mean length of the final runs
  recorded for that dataset so far (prior :data:`PRIOR_FINAL_EPOCHS`, measured with the
  paper's protocol on MNIST 2x200: runs stopped after 57-96 epochs).

Hours come from a short calibration on the device (training steps of a stack of each
width, timed) and so depend on the load of the machine at that moment.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from ..data import DATASETS
from ..engine import Layout, train_stacked
from ..runtime import device_name, torch_threads
from . import store
from .runner import grid_data
from .spec import GridSpec, get_spec

PRIOR_FINAL_EPOCHS = 70.0
PRIOR_EXTENSION_RATE = 0.5


def epoch_flops(layout: Layout, n_train: int, n_val: int, n_test: int = 0) -> float:
    """Matmul FLOPs of one model-epoch under the grid's protocol (running train metrics)."""
    return layout.n_weights * (6.0 * n_train + 2.0 * (n_val + n_test))


def calibrate(spec: GridSpec, dataset: str, width: int, device: torch.device,
              epochs: int = 1, k: int = 4, n_train: int = 2560) -> float:
    """Seconds per TFLOP of one 4-layer stack of ``k`` models of ``width`` on ``device``
    (``epochs`` epochs over ``n_train`` real training samples)."""
    data = grid_data(spec, dataset)
    data = data.subset(min(n_train, len(data.train)), 512, 512, seed=0)
    depth = 4
    kw = dict(batch_size=spec.batch_size, max_epochs=epochs + 1, patience=None,
              device=device, progress=False, train_metrics=spec.train_metrics)
    acts = [spec.activations[i % len(spec.activations)] for i in range(k)]
    train_stacked(data, depth, width, acts, False, list(range(k)), 1e-3, until_epoch=1, **kw)
    t0 = time.perf_counter()
    train_stacked(data, depth, width, acts, False, list(range(k)), 1e-3, until_epoch=epochs,
                  **kw)
    seconds = time.perf_counter() - t0
    layout = Layout(data.n_features, depth, width, data.n_classes)
    return seconds / (k * epochs * epoch_flops(layout, len(data.train), len(data.val)) / 1e12)


def plan_table(spec: GridSpec, sizes: dict[str, tuple[int, int, int, int]],
               rates: dict[tuple[str, int], float], records: dict[str, store.Records]
               ) -> pd.DataFrame:
    """One row per dataset x (depth, width) x phase: runs, model-epochs, TFLOP, hours, and
    what remains given ``records``. ``sizes[ds] = (n_features, n_train, n_val, n_test)``;
    ``rates[(ds, width)]`` = seconds per TFLOP."""
    rows = []
    n_cfg, seeds = len(spec.combos()), len(spec.seeds)
    (e1, e2), n_coarse = spec.rungs, len(spec.coarse_lrs)
    for ds, depth, width in spec.work_order(tuple(sizes)):
        n_features, n_train, n_val, n_test = sizes[ds]
        full = spec.is_full_length(ds, width)
        layout = Layout(n_features, depth, width, 10)
        flops = epoch_flops(layout, n_train, n_val, n_test if full else 0)
        rec = records.get(ds)
        runs = rec.runs if rec is not None else pd.DataFrame()
        shape_runs = runs[(runs.depth == depth) & (runs.width == width)] if len(runs) else runs
        finals = runs[runs.phase == "final"] if len(runs) else runs
        search = runs[runs.phase == "search"] if len(runs) else runs
        ext_rate = PRIOR_EXTENSION_RATE
        if len(search):
            cfgs = search.groupby(["depth", "width", "activation", "batch_norm"])
            coarse = set(spec.coarse_lrs)
            ext_rate = float(cfgs.lr.apply(lambda s, c=coarse: bool(set(s) - c)).mean())
        if full:
            final_epochs = float(spec.max_epochs)
        elif len(finals[~finals.width.isin([w for d, w in spec.full_length if d == ds])]):
            f = finals[~finals.width.isin([w for d, w in spec.full_length if d == ds])]
            final_epochs = float(f.epochs.mean())
        else:
            final_epochs = PRIOR_FINAL_EPOCHS
        search_me = n_cfg * seeds * (n_coarse * e1 + spec.keep * (e2 - e1) - e2
                                     + ext_rate * e1)
        final_me = n_cfg * seeds * final_epochs
        done_final = shape_runs[shape_runs.phase == "final"] if len(shape_runs) else shape_runs
        done_search = shape_runs[shape_runs.phase == "search"] if len(shape_runs) else \
            shape_runs
        done_final_me = float(done_final.epochs.sum()) if len(done_final) else 0.0
        done_search_me = float(done_search.epochs.sum()) if len(done_search) else 0.0
        # a selected rate's search epochs belong to its final runs
        sel_prefix = min(done_search_me, len(done_final) * e2)
        for phase, me, done, n in (
                ("search", search_me, done_search_me - sel_prefix, n_cfg * seeds * (
                    n_coarse + spec.keep)),
                ("final", final_me, done_final_me + (0 if len(done_final) else 0),
                 n_cfg * seeds)):
            left = max(me - done, 0.0) if not (phase == "final" and len(done_final) ==
                                               n_cfg * seeds) else 0.0
            rate = rates[(ds, width)]
            rows.append(dict(dataset=ds, depth=depth, width=width, phase=phase, runs=n,
                             model_epochs=me, tflop=me * flops / 1e12,
                             hours=me * flops / 1e12 * rate / 3600,
                             hours_left=left * flops / 1e12 * rate / 3600,
                             full_length=full))
    return pd.DataFrame(rows)


def plan_report(profile: str = "paper", device: str | torch.device = "cpu",
                threads: int | None = None, root=None, save: bool = True) -> str:
    """Calibrate, tabulate and (``save``) store the plan in the profile's manifests."""
    spec = get_spec(profile)
    dev = torch.device(device)
    sizes, rates, records = {}, {}, {}
    with torch_threads(threads, dev):
        for ds in DATASETS:
            data = grid_data(spec, ds)
            sizes[ds] = (data.n_features, len(data.train), len(data.val), len(data.test))
            out = store.results_dir(profile, ds, root)
            if out.exists():
                records[ds] = store.read_records(out)
            for w in spec.widths:
                rates[(ds, w)] = calibrate(spec, ds, w, dev)
    table = plan_table(spec, sizes, rates, records)
    by = table.groupby(["dataset", "width", "phase"], sort=False)[
        ["runs", "model_epochs", "tflop", "hours", "hours_left"]].sum()
    total = table[["tflop", "hours", "hours_left"]].sum()
    w_min = min(spec.widths)
    narrow = table[table.width == w_min][["hours", "hours_left"]].sum()
    lines = [f"Plan for the {profile} grid on {device_name(dev)} "
             f"(calibrated now; seconds per TFLOP: "
             + ", ".join(f"{ds} w{w}: {r:.0f}" for (ds, w), r in rates.items()) + ")",
             by.round(2).to_string(), "",
             f"total: {total.tflop:.0f} TFLOP, {total.hours:.1f} h; remaining "
             f"{total.hours_left:.1f} h",
             f"width {w_min} (both datasets): {narrow.hours:.1f} h; remaining "
             f"{narrow.hours_left:.1f} h"]
    if save:
        summary_path = store.results_dir(profile, DATASETS[0], root).parent / "manifest.json"
        summary = store.read_json(summary_path) or {"profile": profile, "datasets": {}}
        summary["plan"] = dict(
            device=device_name(dev), calibrated=time.strftime("%Y-%m-%d %H:%M UTC",
                                                              time.gmtime()),
            seconds_per_tflop={f"{ds} w{w}": r for (ds, w), r in rates.items()},
            total_tflop=float(total.tflop), total_hours=float(total.hours),
            remaining_hours=float(total.hours_left),
            rows=table.round(4).to_dict("records"))
        store.write_json(summary_path, summary)
    return "\n".join(lines)
