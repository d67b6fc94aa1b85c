"""The resumable grid runner: advances every configuration's search and final runs.

:func:`run_grid` works through one dataset's shapes in the spec's anytime order. For each
shape it asks :func:`helpers.grid.protocol.decide` what every (activation, BN)
configuration needs next, groups the runs that start from the same epoch and stop at the
same rung into stacks of :func:`helpers.engine.train_stacked`, and records what comes back:

* a run that reaches its rung is recorded as a search row and its snapshot is cached;
* a run that finishes (early stopping, ``max_epochs`` or divergence) is recorded as a
  final run when its rate is the selected one, else as a search row;
* a stack pauses (snapshot, nothing lost) after ``spec.unit_seconds`` or at the deadline.

Every record goes through ``parts/`` first (:mod:`helpers.grid.store`), so a crash never
loses a finished run, and a rerun skips everything already recorded; ``parts/`` is merged
into the tables every :data:`MERGE_EVERY_S` seconds (checked after a stack) and when the
call ends.

Processes share a dataset's folder shape by shape: a runner trains a shape only while it
holds that shape's lock (:func:`helpers.grid.store.shape_lock`) and first rereads the
records from disk, so it sees what another process recorded there before. Another process's
shape is skipped (``skip_busy``) or refused (:class:`~helpers.grid.store.ShapeBusy`).
"""

from __future__ import annotations

import math
import platform
import shutil
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from .. import engine
from ..data import Dataset, check_dataset_name, load_dataset
from ..engine import Snapshot, StackedResult
from ..models import MLP
from ..profiles import check_profile
from ..runtime import device_name, git_commit, resolve_device, torch_threads
from ..train import evaluate
from . import store
from .protocol import Decision, Trajectory, decide, rank_key
from .spec import GridSpec, checkpoint_name, get_spec, round_lr, run_key

Combo = tuple[str, bool]
CPU_SECONDS_PER_FLOP = 30.0 / 1e12  # a cautious prior for one core (make plan measures it)
# parts/ is merged into the tables after a stack when this long has passed since the last
# merge, and always when the call ends: short stacks (quick grids, GPUs) then do not rewrite
# the tables after every stack. Nothing waits on it: a record is safe once in parts/.
MERGE_EVERY_S = 120.0
# Adam's kernel, recorded in every session. Sessions recorded before the key existed ran
# the single-tensor formula on CPU and the fused kernel on CUDA: the same update to float
# rounding (tests/test_engine.py), the fused one in one pass over the parameters.
ADAM_KERNEL = "fused"
# On CPU a stack of narrow nets pays the per-operator overhead of a step once for all its
# models: at width 200 a stack of 4 trains each model about 1.3x faster than a stack of 1; at
# width 800 the matmuls dominate and stacking gains nothing (benchmarks/stack_size.py). A
# model's result does not depend on its stack mates, so this changes speed only.
CPU_NARROW_WIDTH, CPU_NARROW_MIN_STACK = 256, 4
# On CPU with a deadline (--time-budget), a stack takes only the runs expected to reach
# their stop (rung or end) before it, with this margin on the estimated time: snapshots are
# a local cache that a fresh checkout lacks, so a run left paused when a session ends may
# start again from scratch. A shape none of whose runs fits waits for the next call.
DEADLINE_MARGIN = 1.3


def grid_data(spec: GridSpec, dataset: str) -> Dataset:
    """The dataset the grid trains on (the profile's seeded subset, CPU)."""
    data = load_dataset(check_dataset_name(dataset))
    if spec.subset is not None:
        data = data.subset(*spec.subset, seed=spec.subset_seed)
    return data


def known_runs(records: store.Records, depth: int, width: int, combo: Combo
               ) -> dict[tuple[float, int], Trajectory]:
    """What the protocol knows of one configuration, from the recorded runs."""
    act, bn = combo
    runs, hist = records.runs, records.histories
    if runs.empty:
        return {}
    sel = runs[(runs.depth == depth) & (runs.width == width) & (runs.activation == act)
               & (runs.batch_norm == bn)]
    h = hist[(hist.depth == depth) & (hist.width == width) & (hist.activation == act)
             & (hist.batch_norm == bn)] if len(hist) else hist
    return _known(sel, h)


def _known(sel: pd.DataFrame, h: pd.DataFrame) -> dict[tuple[float, int], Trajectory]:
    """:func:`known_runs` from one configuration's runs ``sel`` and histories ``h``."""
    known: dict[tuple[float, int], Trajectory] = {}
    curves = {k: g.sort_values("epoch")["val_acc"].tolist()
              for k, g in h.groupby(["phase", "lr", "seed"])} if len(h) else {}
    for phase in ("search", "final"):  # a final record supersedes its search rows...
        for r in sel[sel.phase == phase].itertuples():
            finished = phase == "final" or bool(r.finished)
            # ...but the search's own curve, where it exists, keeps ranking the rates: a
            # final run restarted from scratch (its snapshot lost) in another stack can
            # differ from it in float rounding, and must not flip a decision already taken
            curve = curves.get(("search", r.lr, r.seed)) or curves.get((phase, r.lr, r.seed), ())
            known[(r.lr, r.seed)] = Trajectory(
                epochs=int(r.epochs), finished=finished, diverged=bool(r.diverged),
                val_acc=tuple(curve), final=phase == "final")
    return known


class _ByConfig:
    """The records split by configuration once, for many :func:`known_runs` lookups (the
    same answers, without filtering the whole tables for every configuration)."""

    CFG = ["depth", "width", "activation", "batch_norm"]

    def __init__(self, records: store.Records) -> None:
        runs, hist = records.runs, records.histories
        self.runs = dict(tuple(runs.groupby(self.CFG))) if len(runs) else {}
        self.hist = dict(tuple(hist.groupby(self.CFG))) if len(hist) else {}
        self.empty_runs, self.empty_hist = runs.iloc[:0], hist.iloc[:0]

    def known(self, depth: int, width: int, combo: Combo
              ) -> dict[tuple[float, int], Trajectory]:
        key = (depth, width, *combo)
        if key not in self.runs:
            return {}
        return _known(self.runs[key], self.hist.get(key, self.empty_hist))


def search_table(runs: pd.DataFrame, histories: pd.DataFrame, spec: GridSpec
                 ) -> pd.DataFrame:
    """The search rows of ``runs`` plus ``mean_val_acc`` (over seeds, at the row's rung),
    ``selected`` and ``extension`` (a rate outside the coarse grid), from the protocol."""
    search = runs[runs["phase"] == "search"].copy() if len(runs) else runs.copy()
    if search.empty:
        return search.assign(mean_val_acc=pd.Series(dtype=float),
                             selected=pd.Series(dtype=bool), extension=pd.Series(dtype=bool))
    cfg = ["depth", "width", "activation", "batch_norm"]
    search["mean_val_acc"] = search.groupby(cfg + ["lr", "epochs"])["best_val_acc"] \
        .transform("mean")
    search["selected"] = False
    coarse = {round_lr(lr) for lr in spec.coarse_lrs}
    search["extension"] = [round_lr(lr) not in coarse for lr in search.lr]
    recs = _ByConfig(store.Records(runs, histories, pd.DataFrame()))
    for (depth, width, act, bn), grp in search.groupby(cfg):
        dec = decide(spec, recs.known(depth, width, (act, bn)))
        chosen = dec.selected
        if chosen is not None:
            search.loc[grp.index[grp.lr == chosen], "selected"] = True
    return search


def _append(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (typed by :func:`helpers.grid.store.tidy`) after ``table``."""
    if not len(table):
        return rows.reset_index(drop=True)
    return pd.concat([table, rows.reindex(columns=table.columns)], ignore_index=True)


def _row(dataset: str, source: str, phase: str, depth: int, width: int, res, history: list[dict],
         spec: GridSpec, dev: str, commit: str) -> dict:
    best = history[res.best_epoch]
    finished = isinstance(res, StackedResult)
    row = dict(
        dataset=dataset, source=source, phase=phase, depth=depth, width=width,
        batch_norm=res.batch_norm, activation=res.activation, seed=res.seed, lr=res.lr,
        best_epoch=res.best_epoch, epochs=len(history) - 1, best_val_acc=res.best_val_acc,
        train_loss=float(best["train_loss"]), train_acc=float(best["train_acc"]),
        val_loss=float(best["val_loss"]), val_acc=float(best["val_acc"]),
        test_loss=res.test_loss if finished else math.nan,
        test_acc=res.test_acc if finished else math.nan,
        diverged=bool(getattr(res, "diverged", False)),
        wall_time=res.wall_time if finished else res.cost, device=dev, git_commit=commit,
        profile=spec.profile,
        key=run_key(phase, depth, width, res.activation, res.batch_norm, res.seed, res.lr),
        finished=finished)
    if finished and res.best_train_loss is not None:  # eval-mode pass of the best state
        row.update(train_loss=res.best_train_loss, train_acc=res.best_train_acc)
    return row


def section3_last(activation: str, batch_norm: bool) -> bool:
    """Anytime order within a shape: the nets Section 3 inspects (sigmoid, ReLU, ReLU+BN)
    before sigmoid+BN, which only Figs 1-2 need."""
    return batch_norm and activation == "sigmoid"


_STOP = threading.Event()


def request_stop() -> None:
    """Ask the running grid to pause at its next epoch boundary, as at its deadline: the
    snapshots of unfinished runs are saved, so a rerun resumes without loss."""
    _STOP.set()


def stop_requested() -> bool:
    """Whether :func:`request_stop` was called (in this process)."""
    return _STOP.is_set()


class Runner:
    """One :func:`run_grid` call for one dataset."""

    def __init__(self, spec: GridSpec, dataset: str, data: Dataset, device: torch.device,
                 out: Path, state_dir: Path, progress: bool, deadline: float | None,
                 cuda_graph: bool, log=print, skip_busy: bool = False) -> None:
        self.spec, self.dataset, self.data, self.device = spec, dataset, data, device
        self.skip_busy = skip_busy
        self.busy: list[str] = []  # the shapes skipped because another process held them
        self.postponed: list[str] = []  # the shapes with no run that fits before the deadline
        self.out, self.state_dir, self.progress = out, state_dir, progress
        self.deadline, self.cuda_graph, self.log = deadline, cuda_graph, log
        self.commit, self.dev_name = git_commit(), device_name(device)
        self.start = time.perf_counter()
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.session_id = uuid.uuid4().hex[:12]
        self.after_stack = lambda: None  # set by run_grid: write the manifest
        self.n_new = 0
        self.model_epochs = 0
        self.rates: dict[tuple[int, int], float] = {}  # seconds per model-epoch, measured
        self._records = store.read_records(out)
        self._pending: dict[str, tuple[dict, list[dict]]] = {}  # key -> (row, history)
        self.merged_at = time.perf_counter()

    def reread(self) -> None:
        """Take the records from disk again (tables and ``parts/``, this runner's own
        included, as they are saved before they are pending): what other processes
        recorded meanwhile, in other shapes or in a shape this one is about to take."""
        self._records = store.read_records(self.out)
        self._pending = {}

    @property
    def records(self) -> store.Records:
        """Everything recorded: what was there at the start plus this call's records.

        A record replaces the earlier one of its run (same key, same history rows). The
        records of a stack are added at the next read, in one step; the tables keep the
        order they were added in (the protocol does not depend on row order; the tables on
        disk are sorted when ``parts/`` is merged)."""
        if self._pending:
            rec, pending = self._records, list(self._pending.values())
            self._pending = {}
            rows = store.tidy(pd.DataFrame([row for row, _ in pending])
                              .reindex(columns=rec.runs.columns))
            runs = rec.runs[~rec.runs["key"].isin(rows["key"])] if len(rec.runs) else rec.runs
            rec.runs = _append(runs, rows)
            hist = rec.histories
            new = store.tidy(pd.concat([store.history_frame(row, h) for row, h in pending],
                                       ignore_index=True))
            if len(hist):
                ident = ["phase", "depth", "width", "activation", "batch_norm", "seed", "lr"]
                hist = hist[~pd.MultiIndex.from_frame(hist[ident]).isin(
                    pd.MultiIndex.from_frame(rows[ident]))]
            rec.histories = _append(hist, new)
        return self._records

    def out_of_time(self) -> bool:
        return stop_requested() or (self.deadline is not None
                                    and time.perf_counter() > self.deadline)

    def run(self, widths: tuple[int, ...] | None = None,
            shapes: tuple[tuple[int, int], ...] | None = None) -> bool:
        """Advance every shape (of ``widths``, of ``shapes``) in anytime order, each under
        its shape lock; True when all are done. A shape another process holds raises
        :class:`~helpers.grid.store.ShapeBusy`, or with ``skip_busy`` is noted in
        ``self.busy`` and passed over."""
        done = True
        for depth, width in self.spec.shapes():
            if (widths is not None and width not in widths) or \
                    (shapes is not None and (depth, width) not in shapes):
                continue
            self.reread()
            if self.shape_done(depth, width):
                self.drop_snapshots(depth, width)
                continue
            try:
                with store.shape_lock(self.out, depth, width):
                    self.reread()  # as the last holder left it
                    outcome = self.run_shape(depth, width)
                    if outcome is None:  # nothing there finishes before the deadline
                        self.postponed.append(f"{depth}x{width}")
                        done = False
                        continue
                    if not outcome:
                        return False
            except store.ShapeBusy as err:
                if not self.skip_busy:
                    raise
                self.busy.append(f"{depth}x{width}")
                self.log(f"{self.dataset} {depth}x{width}: skipped, {err}")
                done = False
        return done

    def shape_done(self, depth: int, width: int) -> bool:
        return all(d.done for d in self.decisions(depth, width).values())

    def decisions(self, depth: int, width: int) -> dict[Combo, Decision]:
        recs = _ByConfig(self.records)
        return {c: decide(self.spec, recs.known(depth, width, c)) for c in self.spec.combos()}

    def run_shape(self, depth: int, width: int) -> bool | None:
        """Train one shape until its final runs are recorded (True) or time is up (False);
        None when no run it needs would finish before the deadline (see
        :data:`DEADLINE_MARGIN`)."""
        while True:
            decisions = self.decisions(depth, width)
            if all(d.done for d in decisions.values()):
                self.drop_snapshots(depth, width)
                return True
            if self.out_of_time():
                return False
            groups: dict[tuple[int, int | None], list] = defaultdict(list)
            for combo, dec in decisions.items():
                for lr, seed in dec.train:
                    key = run_key("search", depth, width, *combo, seed, lr)
                    snap = store.load_snapshot(self.state_dir, key)
                    if snap is not None and dec.until is not None and snap.epoch > dec.until:
                        # the cache ran past the rung the records ask for (tables restored
                        # from git, another results root): it cannot be resumed to that rung
                        self.log(f"{self.dataset} {depth}x{width}: snapshot {key} is at epoch "
                                 f"{snap.epoch}, past the rung {dec.until} the records ask "
                                 "for; dropped, the run starts afresh")
                        store.drop_snapshot(self.state_dir, key)
                        snap = None
                    start = snap.epoch if snap is not None else 0
                    groups[(start, dec.until)].append((combo, lr, seed, snap, dec))
            for key, group in sorted(groups.items(), key=lambda kv: (
                    kv[0][1] is None, kv[0][1] or 0, -kv[0][0])):
                k = self.stack_size(depth, width, self.expected_epochs(width, *key))
                if k:
                    (start, until), members = key, group
                    break
            else:
                left = (self.deadline - time.perf_counter()) / 60
                self.log(f"{self.dataset} {depth}x{width}: postponed, no run it needs is "
                         f"expected to finish in the {left:.0f} min left")
                return None
            members.sort(key=lambda m: section3_last(*m[0]))
            self.run_stack(depth, width, members[:k], until)
            if time.perf_counter() - self.merged_at >= MERGE_EVERY_S:
                self.consolidate()
            self.after_stack()

    def stack_size(self, depth: int, width: int, epochs: float) -> int:
        """How many runs one stack takes. On CPU: as many as finish ``epochs`` more epochs
        within ``spec.unit_seconds`` at :meth:`rate`, so that units *finish* runs; at least
        one, and at least ``CPU_NARROW_MIN_STACK`` for nets up to ``CPU_NARROW_WIDTH`` wide,
        which train faster together (a stack still pauses with a snapshot after
        ``unit_seconds``). With a deadline, at most as many as finish before it (with
        :data:`DEADLINE_MARGIN`), which may be none. On a GPU: ``spec.max_stack``."""
        s = self.spec
        if self.device.type != "cpu":
            return s.max_stack
        cost = max(epochs * self.rate(depth, width), 1e-9)  # seconds per run
        least = CPU_NARROW_MIN_STACK if width <= CPU_NARROW_WIDTH else 1
        k = max(least, min(s.max_stack, int(s.unit_seconds // cost)))
        if self.deadline is not None:
            k = min(k, int((self.deadline - time.perf_counter()) // (DEADLINE_MARGIN * cost)))
        return max(k, 0)

    def rate(self, depth: int, width: int) -> float:
        """Seconds per model-epoch of this shape on this device: measured in this call, else
        the median of the runs recorded on this device (this shape's; else another shape's
        of the same width, then of any width, scaled by FLOPs), else a FLOP prior."""
        if (depth, width) in self.rates:
            return self.rates[(depth, width)]
        from .plan import epoch_flops

        def flops(d: int, w: int) -> float:
            full = self.spec.is_full_length(self.dataset, w)
            layout = engine.Layout(self.data.n_features, d, w, self.data.n_classes)
            return epoch_flops(layout, len(self.data.train), len(self.data.val),
                               len(self.data.test) if full else 0)

        runs = self.records.runs
        if len(runs):
            runs = runs[(runs["device"] == self.dev_name) & (runs["epochs"] > 0)
                        & (runs["wall_time"] > 0)]
        if len(runs):
            per_epoch = (runs["wall_time"] / runs["epochs"]).groupby(
                [runs["depth"], runs["width"]]).median()
            if (depth, width) in per_epoch.index:
                return float(per_epoch[(depth, width)])
            per_flop = pd.Series({dw: v / flops(*dw) for dw, v in per_epoch.items()})
            same = [dw for dw in per_flop.index if dw[1] == width]
            return float(per_flop[same or list(per_flop.index)].median()) * flops(depth, width)
        return flops(depth, width) * CPU_SECONDS_PER_FLOP

    def expected_epochs(self, width: int, start: int, until: int | None) -> float:
        """How many more epochs a run from epoch ``start`` trains: to its rung ``until``; to
        ``max_epochs`` when full-length; else to the mean length of the final runs recorded
        for this dataset (this width's if any; at least ``patience / 2`` more), or
        :data:`~helpers.grid.plan.PRIOR_FINAL_EPOCHS` before any."""
        s = self.spec
        if until is not None:
            return float(until - start)
        if s.is_full_length(self.dataset, width):
            return float(s.max_epochs - start)
        from .plan import PRIOR_FINAL_EPOCHS
        runs = self.records.runs
        final = runs[(runs["phase"] == "final") & ~runs["width"].isin(
            [w for d, w in s.full_length if d == self.dataset])] if len(runs) else runs
        if len(final) and (final["width"] == width).any():
            final = final[final["width"] == width]
        mean = float(final["epochs"].mean()) if len(final) else PRIOR_FINAL_EPOCHS
        return min(float(s.max_epochs - start), max(mean - start, s.patience / 2))

    def run_stack(self, depth: int, width: int, members: list, until: int | None) -> None:
        s = self.spec
        full = s.is_full_length(self.dataset, width)
        call_start = time.perf_counter()

        def should_stop() -> bool:
            return self.out_of_time() or time.perf_counter() - call_start > s.unit_seconds

        selected = {m[0]: m[4].selected for m in members}

        def finished(i: int, res: StackedResult) -> None:
            combo = members[i][0]
            phase = "final" if selected[combo] == res.lr else "search"
            self.record(phase, depth, width, res, res.history.to_dict("records"))
            store.drop_snapshot(self.state_dir, run_key("search", depth, width, *combo,
                                                        res.seed, res.lr))

        epochs_before = [m[3].epoch if m[3] is not None else 0 for m in members]
        model_epochs_before = self.model_epochs
        self.log(f"{self.dataset} {depth}x{width}: {len(members)} runs, epoch "
                 f"{epochs_before[0]} -> {until or 'end'}")
        results = engine.train_stacked(
            self.data, depth, width, [m[0][0] for m in members], [m[0][1] for m in members],
            [m[2] for m in members], [m[1] for m in members], batch_size=s.batch_size,
            max_epochs=s.max_epochs, patience=None if full else s.patience,
            lr_decay=s.lr_decay, device=self.device, fused_adam=ADAM_KERNEL == "fused",
            cuda_graph=self.cuda_graph, progress=self.progress,
            desc=f"{self.dataset} {depth}x{width}",
            on_finish=finished, should_stop=should_stop, train_metrics=s.train_metrics,
            test_every_epoch=full, layer_stats=True, until_epoch=until,
            resume=[m[3] for m in members])
        for m, res, e0 in zip(members, results, epochs_before):
            if isinstance(res, Snapshot):
                key = run_key("search", depth, width, *m[0], res.seed, res.lr)
                store.save_snapshot(self.state_dir, key, res)
                self.model_epochs += res.epoch - e0
                if until is not None and res.epoch == until:
                    self.record("search", depth, width, res, res.rows)
            elif res is not None:
                self.model_epochs += len(res.history) - 1 - e0
        trained = self.model_epochs - model_epochs_before
        if trained:
            self.rates[(depth, width)] = (time.perf_counter() - call_start) / trained
        self.log(f"  {time.perf_counter() - call_start:.0f} s; "
                 f"{len(self.records.runs)} records, {self.n_new} new this call")

    def record(self, phase: str, depth: int, width: int, res, history: list[dict]) -> None:
        s = self.spec
        row = _row(self.dataset, self.data.source, phase, depth, width, res, history, s,
                   self.dev_name, self.commit)
        layers = None
        if isinstance(res, StackedResult):
            layers = res.layer_stats
            if phase == "final" and depth == s.checkpoint_depth and width in \
                    s.checkpoint_widths:
                stored = None
                if s.checkpoint_dtype != "float32":  # what storage costs, measured
                    model = MLP(**res.config)
                    model.load_state_dict(store.stored_state(res, s.checkpoint_dtype))
                    stored = evaluate(model, self.data.test.to("cpu"))[1]
                store.save_checkpoint(self.out, res, s.checkpoint_dtype, stored)
        store.save_part(self.out, {"row": row, "history": history, "layers": layers})
        self._pending[row["key"]] = (row, history)  # in self.records at its next read
        if phase == "final":
            self.n_new += 1

    def consolidate(self) -> None:
        store.consolidate(self.out, lambda runs, hist: search_table(runs, hist, self.spec))
        self.merged_at = time.perf_counter()

    def drop_snapshots(self, depth: int, width: int) -> None:
        for path in self.state_dir.glob(f"search_d{depth}_w{width}_*.pt"):
            path.unlink(missing_ok=True)


def _manifest(spec: GridSpec, dataset: str, data: Dataset, out: Path) -> dict:
    """The stored manifest, checked against this run, or a fresh one."""
    manifest = store.read_json(out / "manifest.json")
    if manifest:
        if GridSpec.from_dict(manifest["spec"]) != spec:  # fields added later: defaults
            raise ValueError(f"{out} holds results of a different grid spec; accepted: the "
                             "same spec (move the folder away to start afresh)")
        if manifest.get("source") != data.source:
            raise ValueError(f"{out} holds results on source {manifest.get('source')!r}, "
                             f"this data is {data.source!r}; accepted: one source per folder")
        return manifest
    from . import protocol
    return dict(
        profile=spec.profile, grid=spec.grid, dataset=dataset, source=data.source,
        source_label=data.label,
        spec=spec.to_dict(), protocol=protocol.__doc__.strip(),
        precision=dict(weights="float32", matmul="float32",
                       note="no bf16 autocast: see benchmarks/results/bf16_matmul_cpu.json"),
        data=dict(n_train=len(data.train), n_val=len(data.val), n_test=len(data.test),
                  n_features=data.n_features, n_classes=data.n_classes,
                  location=getattr(data, "where", "")),
        checkpoints=dict(
            depth=spec.checkpoint_depth, widths=list(spec.checkpoint_widths),
            dtype=spec.checkpoint_dtype, trained="best state of each final run",
            untrained="not stored: helpers.models.make_model(seed=seed) rebuilds it "
                      "exactly (helpers.grid.checkpoint(trained=False))"),
        wall_time_s=0.0, sessions=[])


def adam_kernels(manifest: dict) -> dict[str, int]:
    """How many of the manifest's sessions ran each Adam kernel (``"fused"``, ``"formula"``);
    sessions from before the record inferred from their device (see ``ADAM_KERNEL``)."""
    counts: dict[str, int] = {}
    for s in manifest.get("sessions", []):
        kernel = s.get("adam", "fused" if s.get("device", "").startswith("cuda") else "formula")
        counts[kernel] = counts.get(kernel, 0) + 1
    return counts


def records_complete(spec: GridSpec, records: store.Records) -> bool:
    """Whether ``records`` hold every final run of every shape of ``spec`` (no training)."""
    recs = _ByConfig(records)
    return all(decide(spec, recs.known(depth, width, c)).done
               for depth, width in spec.shapes() for c in spec.combos())


def write_manifest(out: Path, manifest: dict, runner: Runner) -> dict:
    """Update the manifest with this call's session (one entry, updated in place) and the
    counts; also the profile's summary manifest. Written after every stack.

    The counts and ``complete`` come from everything recorded on disk (merged or still in
    ``parts/``, by any process); the manifest on disk, when there is one, is the one
    updated (``manifest`` is the fresh one otherwise), under :func:`store.tables_lock`, so
    processes on other shapes keep their sessions.

    ``wall_time_s`` sums the sessions that wrote a manifest; ``compute_s`` sums the
    recorded runs' own (amortised) training time: the final runs (their search epochs
    included) plus the search runs of the rates that lost.
    """
    with store.tables_lock(out):
        manifest = store.read_json(out / "manifest.json") or manifest
        records = store.read_records(out)
        manifest = _update_manifest(manifest, runner, records,
                                    records_complete(runner.spec, records))
        store.write_json(out / "manifest.json", manifest)
    _write_summary(out, manifest)
    return manifest


def _write_summary(out: Path, manifest: dict) -> None:
    """The dataset's line in the profile's summary manifest (``out.parent``)."""
    summary_path = out.parent / "manifest.json"
    with store.tables_lock(out.parent):  # the datasets' processes share the summary
        summary = store.read_json(summary_path) or {"profile": manifest["profile"],
                                                    "datasets": {}}
        summary["datasets"][manifest["dataset"]] = {
            k: manifest.get(k) for k in ("source", "source_label", "complete", "n_final_runs",
                                         "n_final_planned", "wall_time_s", "git_commit",
                                         "updated")}
        store.write_json(summary_path, summary)


def _update_manifest(manifest: dict, runner: Runner, records: store.Records, complete: bool
                     ) -> dict:
    runs = records.runs
    final = runs[runs["phase"] == "final"] if len(runs) else runs
    elapsed = time.perf_counter() - runner.start
    session = dict(
        id=runner.session_id, started=runner.started, finished=datetime.now(timezone.utc).isoformat(
            timespec="seconds"),
        wall_time_s=round(elapsed, 2), device=runner.dev_name, git_commit=runner.commit,
        torch_version=torch.__version__, python=platform.python_version(),
        threads=torch.get_num_threads(), adam=ADAM_KERNEL, new_final_runs=runner.n_new,
        model_epochs=runner.model_epochs)
    sessions = [s for s in manifest["sessions"] if s.get("id") != runner.session_id]
    trained = runner.model_epochs or runner.n_new
    manifest["sessions"] = sessions + ([session] if trained else [])
    manifest["wall_time_s"] = round(sum(s["wall_time_s"] for s in manifest["sessions"]), 2)
    if runner.device.type == "cuda":
        manifest["precision"]["matmul"] = "TF32 (CUDA)"
    search = runs[runs["phase"] == "search"] if len(runs) else runs
    selected = {(r.depth, r.width, r.activation, r.batch_norm, r.seed, r.lr)
                for r in final.itertuples()} if len(final) else set()
    losers = [r.wall_time for r in search.itertuples()
              if (r.depth, r.width, r.activation, r.batch_norm, r.seed, r.lr) not in selected]
    manifest.update(
        compute_s=round(float(final["wall_time"].sum() if len(final) else 0.0) + sum(losers),
                        1),
        git_commit=runner.commit, device=runner.dev_name, torch_version=torch.__version__,
        n_final_runs=len(final), n_final_planned=runner.spec.n_final(),
        n_search_runs=int((runs["phase"] == "search").sum()) if len(runs) else 0,
        n_diverged=int(final["diverged"].astype(bool).sum()) if len(final) else 0,
        complete=complete, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return manifest


def load_results(profile: str, dataset: str, root=None, missing_ok: bool = False,
                 grid: str = "paper") -> store.GridResults:
    """Read the results of ``grid`` in ``profile`` on ``dataset`` (including runs not yet
    merged).

    ``missing_ok``: no results yet gives empty tables instead of ``FileNotFoundError``.
    """
    out = store.results_dir(profile, dataset, root, grid)
    if not out.exists() and missing_ok:
        empty = store.read_records(out)
        runs = empty.runs.reindex(columns=store.RUN_COLUMNS)
        search = search_table(runs.assign(finished=pd.Series(dtype=bool)), empty.histories,
                              get_spec(profile, grid))
        return store.GridResults(profile, dataset, out, runs, empty.histories, search,
                                 empty.layers, {})
    if not out.exists():
        raise FileNotFoundError(
            f"no results in {out}; run: python -m helpers.grid run --profile {profile} "
            f"--grid {grid} --dataset {dataset}")
    rec = store.read_records(out)
    manifest = store.read_json(out / "manifest.json")
    runs = rec.runs
    final = runs[runs["phase"] == "final"].drop(columns="finished").reset_index(drop=True) \
        if len(runs) else runs.reindex(columns=store.RUN_COLUMNS)
    spec = GridSpec.from_dict(manifest["spec"]) if "spec" in manifest else \
        get_spec(profile, grid)
    return store.GridResults(profile, dataset, out, final, rec.histories,
                             search_table(runs, rec.histories, spec).reset_index(drop=True),
                             rec.layers, manifest)


def run_grid(
    profile: str,
    dataset: str,
    device: str | torch.device | None = None,
    progress: bool = True,
    *,
    spec: GridSpec | None = None,
    root=None,
    state_root=None,
    data: Dataset | None = None,
    time_budget: float | None = None,
    cuda_graph: bool = False,
    threads: int | None = None,
    widths: tuple[int, ...] | None = None,
    shapes: tuple[tuple[int, int], ...] | None = None,
    log=None,
    grid: str = "paper",
    skip_busy: bool = False,
) -> store.GridResults:
    """Run (or resume) ``grid`` (``paper`` or ``activations``) of ``profile`` on
    ``dataset``; return its results.

    Runs already recorded under :func:`helpers.grid.store.results_dir` are skipped. ``time_budget``
    (seconds) pauses cleanly between epochs (snapshots kept); a rerun resumes.
    ``spec``/``data`` override the profile's grid and dataset (tests, experiments). One
    process trains a shape at a time (:func:`helpers.grid.store.shape_lock`); others may
    train other shapes of the same folder beside it. A shape another process holds raises
    :class:`~helpers.grid.store.ShapeBusy` when this call reaches it, or with ``skip_busy``
    is passed over and named in the result's ``busy``. On CPU with ``time_budget``, a
    shape none of whose runs is expected to finish in the time left is passed over and
    named in ``postponed`` (:data:`DEADLINE_MARGIN`).
    ``threads``: torch CPU threads (default: :func:`helpers.runtime.torch_threads`'s).
    ``widths``: only these widths (the anytime order runs one width of every dataset
    before the next width); ``shapes``: only these ``(depth, width)`` (parallel processes on
    one GPU, each with its own ``root``, merged afterwards: :func:`merge_results`); the
    manifest's ``complete`` refers to the whole grid.
    """
    check_profile(profile)
    check_dataset_name(dataset)
    spec = (spec or get_spec(profile, grid)).check()
    if spec.profile != profile:
        raise ValueError(f"spec.profile={spec.profile!r} does not match profile={profile!r}")
    grid = spec.grid
    dev = resolve_device(device)
    if cuda_graph and dev.type != "cuda":
        raise ValueError(f"cuda_graph=True with device={str(dev)!r}; accepted: a CUDA device")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget={time_budget!r}; accepted: seconds > 0 or None")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads={threads!r}; accepted: an integer >= 1 or None")
    if widths is not None and any(w not in spec.widths for w in widths):
        raise ValueError(f"widths={widths!r}; accepted: a subset of {spec.widths}")
    if shapes is not None:
        shapes = check_shapes(spec, shapes)
    data = data if data is not None else grid_data(spec, dataset)
    out = store.results_dir(profile, dataset, root, grid)
    if state_root is None and root is not None:  # snapshots belong to their results root
        state_root = Path(root) / store.ROOT_STATE_FOLDER
    state_dir = store.state_dir(profile, dataset, state_root, grid)
    manifest = _manifest(spec, dataset, data, out)  # refused here, before any work
    deadline = None if time_budget is None else time.perf_counter() + time_budget
    runner = Runner(spec, dataset, data.to(dev), dev, out, state_dir, progress, deadline,
                    cuda_graph, log or (print if progress else (lambda *a: None)), skip_busy)
    runner.after_stack = lambda: write_manifest(out, manifest, runner)
    with torch_threads(threads, dev):
        try:
            runner.run(widths, shapes)
        finally:
            runner.consolidate()
            stored = store.read_json(out / "manifest.json")
            if runner.model_epochs or not stored or stored.get("complete") != \
                    records_complete(spec, store.read_records(out)):
                write_manifest(out, manifest, runner)
    results = load_results(profile, dataset, root, grid=grid)
    results.new_runs, results.busy = runner.n_new, runner.busy
    results.postponed = runner.postponed
    return results


def check_shapes(spec: GridSpec, shapes) -> tuple[tuple[int, int], ...]:
    """``shapes`` as ``(depth, width)`` pairs of ``spec``, or a ValueError naming them."""
    accepted = spec.shapes()
    out = tuple((int(d), int(w)) for d, w in shapes)
    wrong = [s for s in out if s not in accepted]
    if wrong or not out:
        raise ValueError(f"shapes={list(shapes)!r}; accepted: a non-empty subset of "
                         f"{', '.join(f'{d}x{w}' for d, w in accepted)}")
    return out


def pending_shapes(profile: str, dataset: str, root=None, grid: str = "paper",
                   full_length: bool = True, spec: GridSpec | None = None
                   ) -> list[tuple[int, int]]:
    """The shapes of ``grid`` on ``dataset`` whose final runs are not all recorded, in the
    anytime order (no data, no training). ``full_length=False`` leaves out the shapes whose
    final runs train the full 300 epochs (Fig 1's): they do not fit a short GPU call.
    ``spec``: the grid's (default: ``get_spec(profile, grid)``)."""
    check_profile(profile)
    spec = spec or get_spec(profile, grid)
    records = _ByConfig(store.read_records(store.results_dir(
        profile, check_dataset_name(dataset), root, grid)))
    return [(d, w) for d, w in spec.shapes()
            if (full_length or not spec.is_full_length(dataset, w))
            and not all(decide(spec, records.known(d, w, c)).done for c in spec.combos())]


class DataSourceMismatch(FileNotFoundError):
    """The grid trained its nets of a dataset on another copy of it than the one at hand
    (e.g. the CIFAR-10 JPEG copy against genuine CIFAR-10): for that copy they are missing."""


def checkpoint(profile: str, dataset: str, activation: str, batch_norm: bool, seed: int,
               trained: bool = True, width: int | None = None, depth: int = 4,
               root=None, source: str | None = None) -> MLP:
    """A 4-layer net of the grid as an :class:`MLP` (CPU, float32, eval mode).

    ``trained=True`` loads the stored best state of the final run; ``trained=False``
    rebuilds the untrained net with ``make_model(seed=seed)``, exactly the engine's start.
    ``width`` defaults to the first stored width (200 in ``paper``). ``source``: the data
    source (``Dataset.source``) the net is about to be inspected on; if the grid trained on
    another one, :class:`DataSourceMismatch` says so (a net is only read on its own data).
    """
    from ..data import relative_location, source_label
    from ..models import check_activation, make_model
    check_activation(activation)
    out = store.results_dir(profile, dataset, root)
    manifest = store.read_json(out / "manifest.json")
    if not manifest:
        raise FileNotFoundError(f"no grid results in {out}; run: python -m helpers.grid run "
                                f"--profile {profile} --dataset {dataset}")
    if source is not None and manifest.get("source") != source:
        raise DataSourceMismatch(
            f"the grid's {dataset} nets ({relative_location(out)}) were trained on "
            f"{source_label(str(manifest.get('source')))}, not on {source_label(source)}, "
            "the copy loaded here; a net is only inspected on the data it was trained on: "
            "point data_root (or ACTFN_DATA) at the copy the grid used, or compute the grid "
            "on this copy (python -m helpers.grid run --root <new folder>)")
    spec = manifest["spec"]
    widths, seeds = spec["checkpoint_widths"], spec["seeds"]
    width = widths[0] if width is None and widths else width
    if width not in widths or depth != spec["checkpoint_depth"]:
        raise ValueError(f"(depth, width)=({depth}, {width}) has no checkpoint; accepted: "
                         f"depth {spec['checkpoint_depth']}, width in {widths}")
    if seed not in seeds:
        raise ValueError(f"seed={seed!r} is not in the grid; accepted: {seeds}")
    if not trained:
        model = make_model(manifest["data"]["n_features"], depth, width, activation,
                           bool(batch_norm), manifest["data"]["n_classes"], seed=seed)
        return model.eval()
    path = out / "checkpoints" / checkpoint_name(depth, width, activation, batch_norm, seed)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet; finish the grid first")
    return store.load_checkpoint(path)[0]


def backfill_layer_stats(profile: str, dataset: str, root=None, grid: str = "paper",
                         data: Dataset | None = None, log=print) -> int:
    """Add ``grad_saturation`` and ``perplexity`` to the final runs recorded before those
    statistics existed, computed from their checkpoints on the test split (the stored
    float16 state; the recorded sparsity, saturation, dead share and mean are kept). Runs
    without a checkpoint stay NaN. Written as ``parts/``, which a running grid merges after
    its next stack (and any later ``run_grid`` call merges at once), so this is safe beside
    a running grid. Returns the number of runs filled."""
    from ..metrics import layer_stats
    out = store.results_dir(profile, dataset, root, grid)
    rec = store.read_records(out)
    lay = rec.layers[rec.layers.phase == "final"] if len(rec.layers) else rec.layers
    todo = lay[lay.grad_saturation.isna() | lay.perplexity.isna()].key.unique() \
        if len(lay) else []
    data = data if data is not None else load_dataset(check_dataset_name(dataset))
    filled = 0
    for key in todo:
        record = store.record_from_tables(rec, key)
        row = record["row"]
        path = out / "checkpoints" / checkpoint_name(row["depth"], row["width"],
                                                     row["activation"], row["batch_norm"],
                                                     row["seed"])
        if not path.exists():
            continue
        model, _ = store.load_checkpoint(path)
        new = pd.DataFrame(layer_stats(model, data.test.x, data.test.y)).set_index("layer")
        old = lay[lay.key == key].set_index("layer")
        kept = ["sparsity", "saturation", "dead", "mean"]
        layers = old[kept].join(new[["grad_saturation", "perplexity"]]).reset_index()
        record["layers"] = store.plain_rows(layers)
        store.save_part(out, record)
        filled += 1
        log(f"{dataset} {key}: grad_saturation and perplexity from {path.name}")
    return filled


def merge_results(source_root, profile: str, dataset: str, root=None, grid: str = "paper",
                  log=print, spec: GridSpec | None = None) -> int:
    """Merge the runs recorded under another results root (a GPU machine's unpacked
    ``results.tgz``, a second checkout) into ``root``: runs ``root`` lacks, and search runs
    that reached a later rung there, with their histories, layer statistics and checkpoints.
    Written as ``parts/`` and merged at once, so it is safe beside a grid running on this
    dataset (it skips what it then finds recorded). The source's sessions join the manifest.
    Refused, before anything is written, when the spec or the data source differ. Returns
    the number of records merged. ``spec``: the grid's (default: ``get_spec(profile,
    grid)``)."""
    spec = spec or get_spec(profile, grid)
    src = store.results_dir(profile, dataset, source_root, grid)
    out = store.results_dir(profile, dataset, root, grid)
    theirs = store.read_json(src / "manifest.json")
    if not theirs:
        raise FileNotFoundError(f"{src} holds no grid results (no manifest.json); accepted: "
                                "a results root with <profile>/<dataset>/ under it")
    if GridSpec.from_dict(theirs["spec"]) != spec:
        raise ValueError(f"{src} holds results of a different grid spec; accepted: the "
                         f"{profile} {grid} spec of this checkout")
    mine = store.read_json(out / "manifest.json")
    if mine and GridSpec.from_dict(mine["spec"]) != spec:
        raise ValueError(f"{out} holds results of a different grid spec; accepted: the "
                         f"{profile} {grid} spec of this checkout")
    if mine and mine.get("source") != theirs.get("source"):
        raise ValueError(f"{src} is on source {theirs.get('source')!r}, {out} on "
                         f"{mine.get('source')!r}; accepted: the same data source")
    there, here = store.read_records(src), store.read_records(out)
    epochs_here = dict(zip(here.runs.key, here.runs.epochs)) if len(here.runs) else {}
    merged = 0
    for r in there.runs.itertuples():
        if r.key in epochs_here and (r.phase == "final" or r.epochs <= epochs_here[r.key]):
            continue
        if r.phase == "final" and r.depth == spec.checkpoint_depth and \
                r.width in spec.checkpoint_widths:
            name = checkpoint_name(r.depth, r.width, r.activation, r.batch_norm, r.seed)
            if (src / "checkpoints" / name).exists():
                store.atomic_write(out / "checkpoints" / name, lambda p, n=name: shutil.copyfile(
                    src / "checkpoints" / n, p))
        store.save_part(out, store.record_from_tables(there, r.key))
        merged += 1
    store.consolidate(out, lambda runs, hist: search_table(runs, hist, spec))
    with store.tables_lock(out):  # a grid process on this folder may update it too
        mine = store.read_json(out / "manifest.json")
        manifest = mine or {k: v for k, v in theirs.items() if k != "sessions"} | \
            {"sessions": []}
        ids = {s.get("id") for s in manifest["sessions"]}
        manifest["sessions"] += [s for s in theirs.get("sessions", [])
                                 if s.get("id") not in ids]
        manifest["wall_time_s"] = round(sum(s["wall_time_s"] for s in manifest["sessions"]),
                                        2)
        rec = store.read_records(out)
        final = rec.runs[rec.runs.phase == "final"] if len(rec.runs) else rec.runs
        manifest.update(n_final_runs=len(final),
                        n_search_runs=int((rec.runs.phase == "search").sum())
                        if len(rec.runs) else 0, complete=records_complete(spec, rec),
                        updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        store.write_json(out / "manifest.json", manifest)
    _write_summary(out, manifest)
    log(f"{dataset}: merged {merged} records from {src}; {len(final)}/{spec.n_final()} "
        "final runs")
    return merged


__all__ = ["run_grid", "load_results", "checkpoint", "backfill_layer_stats", "merge_results",
           "grid_data", "pending_shapes", "check_shapes",
           "search_table",
           "known_runs", "rank_key", "Runner"]
