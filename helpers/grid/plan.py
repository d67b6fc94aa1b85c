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
width, timed) and so depend on the load of the machine at that moment. The report also
gives the remaining hours at the rates the grid's own recorded runs took on the device
(:func:`measured_rates`): niced, one thread per worker, beside other work, so usually
slower than the calibration, and the better forecast of what ``make grid`` will take.
"""

from __future__ import annotations

import math
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
              epochs: int = 1, k: int = 4, n_train: int = 2560, repeat: int = 3) -> float:
    """Seconds per TFLOP of one 4-layer stack of ``k`` models of ``width`` on ``device``
    (``epochs`` epochs over ``n_train`` real training samples): the fastest of ``repeat``
    timings, so that a load spike from another process does not inflate the plan."""
    data = grid_data(spec, dataset)
    data = data.subset(min(n_train, len(data.train)), 512, 512, seed=0)
    depth = 4
    kw = dict(batch_size=spec.batch_size, max_epochs=epochs + 1, patience=None,
              device=device, progress=False, train_metrics=spec.train_metrics)
    acts = [spec.activations[i % len(spec.activations)] for i in range(k)]
    train_stacked(data, depth, width, acts, False, list(range(k)), 1e-3, until_epoch=1, **kw)
    seconds = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        train_stacked(data, depth, width, acts, False, list(range(k)), 1e-3,
                      until_epoch=epochs, **kw)
        seconds = min(seconds, time.perf_counter() - t0)
    layout = Layout(data.n_features, depth, width, data.n_classes)
    return seconds / (k * epochs * epoch_flops(layout, len(data.train), len(data.val)) / 1e12)


def measured_rates(spec: GridSpec, sizes: dict[str, tuple[int, int, int, int]],
                   records: dict[str, store.Records], device: str
                   ) -> dict[tuple[str, int], float]:
    """Seconds per TFLOP that the grid's own runs on ``device`` took, per (dataset, width):
    their summed wall time over their summed FLOPs (search rows and final runs; niced, one
    thread per worker, under whatever else ran beside them). Missing where no run of that
    width is recorded on ``device``."""
    rates = {}
    for ds, rec in records.items():
        runs = rec.runs
        if not len(runs) or "wall_time" not in runs:
            continue
        n_features, n_train, n_val, n_test = sizes[ds]
        runs = runs[(runs["device"] == device) & (runs["epochs"] > 0)
                    & (runs["wall_time"] > 0)]
        for w, group in runs.groupby("width"):
            full = spec.is_full_length(ds, int(w))
            flops = sum(r.epochs * epoch_flops(Layout(n_features, int(r.depth), int(w), 10),
                                               n_train, n_val, n_test if full else 0)
                        for r in group.itertuples())
            rates[(ds, int(w))] = float(group["wall_time"].sum()) / (flops / 1e12)
    return rates


def plan_table(spec: GridSpec, sizes: dict[str, tuple[int, int, int, int]],
               rates: dict[tuple[str, int], float], records: dict[str, store.Records]
               ) -> pd.DataFrame:
    """One row per dataset x (depth, width) x phase: runs, model-epochs, TFLOP, hours, and
    what remains given ``records``. ``sizes[ds] = (n_features, n_train, n_val, n_test)``;
    ``rates[(ds, width)]`` = seconds per TFLOP."""
    cols = ["phase", "depth", "width", "activation", "batch_norm", "lr", "epochs"]
    n_cfg, seeds = len(spec.combos()), len(spec.seeds)
    (e1, e2), n_coarse = spec.rungs, len(spec.coarse_lrs)
    rows = []
    for ds, depth, width in spec.work_order(tuple(sizes)):
        n_features, n_train, n_val, n_test = sizes[ds]
        full = spec.is_full_length(ds, width)
        flops = epoch_flops(Layout(n_features, depth, width, 10), n_train, n_val,
                            n_test if full else 0)
        rec = records.get(ds)
        runs = rec.runs.reindex(columns=cols) if rec is not None else pd.DataFrame(columns=cols)
        search, finals = runs[runs.phase == "search"], runs[runs.phase == "final"]
        ext_rate = PRIOR_EXTENSION_RATE if spec.max_extensions else 0.0
        if len(search) and spec.max_extensions:
            coarse = set(spec.coarse_lrs)
            cfgs = search.groupby(["depth", "width", "activation", "batch_norm"])
            ext_rate = float(cfgs.lr.apply(lambda s, c=coarse: bool(set(s) - c)).mean())
        halted = finals[~finals.width.isin([w for d, w in spec.full_length if d == ds])]
        final_epochs = (float(spec.max_epochs) if full else
                        float(halted.epochs.mean()) if len(halted) else PRIOR_FINAL_EPOCHS)
        planned = {
            "search": n_cfg * seeds * (n_coarse * e1 + spec.keep * (e2 - e1) - e2
                                       + ext_rate * e1),
            "final": n_cfg * seeds * final_epochs}
        here = (runs.depth == depth) & (runs.width == width)
        done_final = finals[here[finals.index]] if len(finals) else finals
        done_search = float(search[here[search.index]].epochs.sum()) if len(search) else 0.0
        done = {  # a selected rate's search epochs belong to its final runs
            "search": done_search - min(done_search, len(done_final) * e2),
            "final": float(done_final.epochs.sum())}
        all_final = len(done_final) == n_cfg * seeds
        for phase, n in (("search", n_cfg * seeds * (n_coarse + spec.keep)),
                         ("final", n_cfg * seeds)):
            me = planned[phase]
            left = 0.0 if all_final else max(me - done[phase], 0.0)
            hours = flops / 1e12 * rates[(ds, width)] / 3600
            rows.append(dict(dataset=ds, depth=depth, width=width, phase=phase, runs=n,
                             model_epochs=me, tflop=me * flops / 1e12, hours=me * hours,
                             hours_left=left * hours, full_length=full))
    return pd.DataFrame(rows)


def plan_report(profile: str = "paper", device: str | torch.device = "cpu",
                threads: int | None = None, root=None, save: bool = True,
                grid: str = "paper") -> str:
    """Calibrate, tabulate and (``save``) store the plan of ``grid`` in its manifests."""
    spec = get_spec(profile, grid)
    dev = torch.device(device)
    sizes, rates, records = {}, {}, {}
    with torch_threads(threads, dev):
        for ds in DATASETS:
            data = grid_data(spec, ds)
            sizes[ds] = (data.n_features, len(data.train), len(data.val), len(data.test))
            out = store.results_dir(profile, ds, root, grid)
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
    lines = [f"Plan for the {grid} grid ({profile} profile) on {device_name(dev)} "
             f"(calibrated now; seconds per TFLOP: "
             + ", ".join(f"{ds} w{w}: {r:.0f}" for (ds, w), r in rates.items()) + ")",
             by.round(2).to_string(), "",
             f"total: {total.tflop:.0f} TFLOP, {total.hours:.1f} h; remaining "
             f"{total.hours_left:.1f} h",
             f"width {w_min} (both datasets): {narrow.hours:.1f} h; remaining "
             f"{narrow.hours_left:.1f} h"]
    measured = measured_rates(spec, sizes, records, device_name(dev))
    left_measured = None
    if measured:  # the calibration is a short, quiet timing; the grid's runs are not
        ratio = sum(measured[k] / rates[k] for k in measured) / len(measured)
        per_tflop = {k: measured.get(k, rates[k] * ratio) for k in rates}
        left_measured = float(sum(
            r.hours_left * per_tflop[(r.dataset, r.width)] / rates[(r.dataset, r.width)]
            for r in table.itertuples()))
        lines.append(
            "at the rates the grid's own runs on this device took (seconds per TFLOP: "
            + ", ".join(f"{ds} w{w}: {r:.0f}" for (ds, w), r in measured.items())
            + f"; elsewhere the calibration x {ratio:.2f}): remaining {left_measured:.1f} "
            "h of one core")
    if save:
        summary_path = store.results_dir(profile, DATASETS[0], root, grid).parent / \
            "manifest.json"
        summary = store.read_json(summary_path) or {"profile": profile, "datasets": {}}
        summary["plan"] = dict(
            device=device_name(dev), calibrated=time.strftime("%Y-%m-%d %H:%M UTC",
                                                              time.gmtime()),
            seconds_per_tflop={f"{ds} w{w}": r for (ds, w), r in rates.items()},
            total_tflop=float(total.tflop), total_hours=float(total.hours),
            remaining_hours=float(total.hours_left),
            seconds_per_tflop_measured={f"{ds} w{w}": r for (ds, w), r in measured.items()},
            remaining_hours_measured=left_measured,
            rows=table.round(4).to_dict("records"))
        store.write_json(summary_path, summary)
    return "\n".join(lines)
