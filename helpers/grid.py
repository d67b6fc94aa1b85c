"""The paper's experiment grid: learning-rate search, then the final runs; resumable.

Grid (``paper`` profile): datasets MNIST and CIFAR-10 x depths {2, 4, 6, 8} x widths
{200, 800} x batch norm {off, on} x {sigmoid, relu} x seeds {0, 1, 2}: 96 final runs per
dataset. Every shape (depth, width) is trained as three stacks of
:func:`helpers.engine.train_stacked` (all activation x BN combinations together):

1. ``coarse``: learning rates 1e-4, 3e-4, 1e-3, 3e-3 (half-decade grid) x 3 seeds,
   ``search_epochs`` = 20 epochs (early stopping with the final patience).
2. ``refine``: best coarse rate x 10**-0.25 and x 10**+0.25 (quarter-decade neighbours,
   rounded to 3 significant digits) x 3 seeds, same budget.
3. ``final``: the best rate among coarse best and refined ones, 3 seeds, up to 300 epochs,
   patience 20, learning rate x0.99 per epoch, batch 128, Adam.

"Best" = highest mean best-validation accuracy over the seeds (ties: the smaller rate); a
rate where any seed diverged only wins if every rate diverged somewhere.
The ``quick`` profile keeps the schema on a 2-core CPU budget: 1 000/500/500-sample
subsets, widths 16 and 32, rates 1e-3 and 3e-3 (no refinement), 2 search epochs, up to
10 final epochs, patience 4 (see :data:`SPECS`).

Results, under ``data/results/<profile>/<dataset>/``:

* ``runs.csv``: one row per final run (config, seed, lr, best epoch, train/val/test loss and
  accuracy at the best epoch, diverged flag, amortised wall time, device, data source,
  git commit, key);
* ``lr_search.csv``: one row per search run, same columns plus ``mean_val_acc`` (over the
  seeds of that config and rate) and ``selected``;
* ``histories.csv.gz``: tidy per-epoch curves of every run (config columns + ``epoch``,
  ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``epoch_lr``; row 0 =
  untrained);
* ``checkpoints/d4_w<width>_<act>_<bn|nobn>_s<seed>.pt``: the trained (best) state of the
  4-layer nets (``paper``: width 200 only, stored as float16 to keep git small; ``quick``:
  all widths, float32). Untrained nets are not stored: ``make_model(seed=...)`` rebuilds
  them exactly (the engine starts from it), see :func:`checkpoint`;
* ``manifest.json``: spec (grids, epochs, patience, batch size, subsets), data source,
  git commit(s), device(s), torch version, wall time, progress. ``data/results/<profile>/
  manifest.json`` summarises the datasets.

Each finished run is first written atomically to ``parts/<key>.json`` (checkpoint before
record), then merged into the tables (atomic replace) and removed from ``parts/``. A rerun
skips every run already recorded, so an interrupted grid resumes where it stopped; a
diverged (NaN) run is recorded with ``diverged=True`` and the grid goes on.

CLI: ``python -m helpers.grid run --profile quick --dataset mnist [--device cuda]`` and
``python -m helpers.grid status``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import engine
from .data import DATASETS, PROJECT_ROOT, Dataset, check_dataset_name, load_dataset, source_label
from .engine import Layout, StackedResult
from .models import MLP, check_activation, make_model
from .profiles import PROFILES, check_profile
from .train import HISTORY_COLUMNS

RESULTS_ROOT = PROJECT_ROOT / "data" / "results"
PHASES = ("coarse", "refine", "final")
CONFIG_COLUMNS = ["dataset", "source", "phase", "depth", "width", "batch_norm", "activation",
                  "seed", "lr"]
RUN_COLUMNS = CONFIG_COLUMNS + [
    "best_epoch", "epochs", "best_val_acc", "train_loss", "train_acc", "val_loss", "val_acc",
    "test_loss", "test_acc", "diverged", "wall_time", "device", "git_commit", "profile", "key",
]
HISTORY_TABLE_COLUMNS = CONFIG_COLUMNS + ["epoch", "train_loss", "train_acc", "val_loss",
                                          "val_acc", "epoch_lr"]


# -------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class GridSpec:
    """Everything that defines a grid (stored in the manifest)."""

    profile: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    coarse_lrs: tuple[float, ...]
    refine_factors: tuple[float, ...]
    search_epochs: int
    max_epochs: int
    patience: int
    activations: tuple[str, ...] = ("sigmoid", "relu")
    batch_norms: tuple[bool, ...] = (False, True)
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 128
    lr_decay: float = 0.99
    subset: tuple[int | None, int | None, int | None] | None = None  # train, val, test
    subset_seed: int = 0
    checkpoint_depth: int = 4
    checkpoint_widths: tuple[int, ...] = ()
    checkpoint_dtype: str = "float32"

    def combos(self) -> list[tuple[str, bool]]:
        """(activation, batch_norm) pairs, in stack order."""
        return [(a, bn) for a in self.activations for bn in self.batch_norms]

    def shapes(self) -> list[tuple[int, int]]:
        return [(d, w) for w in self.widths for d in self.depths]

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def check(self) -> GridSpec:
        """Raise ``ValueError`` naming the first bad field."""
        check_profile(self.profile)
        for name in ("depths", "widths"):
            for v in getattr(self, name):
                if not isinstance(v, int) or v < 1:
                    raise ValueError(f"{name} contains {v!r}; accepted: integers >= 1")
        for a in self.activations:
            check_activation(a)
        if not self.coarse_lrs or any(not lr > 0 for lr in self.coarse_lrs):
            raise ValueError(f"coarse_lrs={self.coarse_lrs!r}; accepted: non-empty, all > 0")
        if self.checkpoint_dtype not in ("float16", "float32"):
            raise ValueError(f"checkpoint_dtype={self.checkpoint_dtype!r}; accepted: "
                             "'float16', 'float32'")
        return self


SPECS: dict[str, GridSpec] = {
    "paper": GridSpec(
        profile="paper", depths=(2, 4, 6, 8), widths=(200, 800),
        coarse_lrs=(1e-4, 3e-4, 1e-3, 3e-3), refine_factors=(10 ** -0.25, 10 ** 0.25),
        search_epochs=20, max_epochs=300, patience=20,
        checkpoint_widths=(200,), checkpoint_dtype="float16",
    ),
    "quick": GridSpec(
        profile="quick", depths=(2, 4, 6, 8), widths=(16, 32),
        coarse_lrs=(1e-3, 3e-3), refine_factors=(),
        search_epochs=2, max_epochs=10, patience=4, subset=(1000, 500, 500),
        checkpoint_widths=(16, 32), checkpoint_dtype="float32",
    ),
}


def get_spec(profile: str) -> GridSpec:
    """The grid of ``profile`` (``quick`` or ``paper``)."""
    return SPECS[check_profile(profile)]


def round_lr(lr: float) -> float:
    """Learning rates are kept to 3 significant digits (stable keys and table values)."""
    return float(f"{lr:.3g}")


def run_key(phase: str, depth: int, width: int, activation: str, batch_norm: bool, seed: int,
            lr: float) -> str:
    """The unique name of a run within a dataset (the lr only for search phases)."""
    base = f"{phase}_d{depth}_w{width}_{activation}_{'bn' if batch_norm else 'nobn'}_s{seed}"
    return base if phase == "final" else f"{base}_lr{round_lr(lr):.3g}"


def checkpoint_name(depth: int, width: int, activation: str, batch_norm: bool,
                    seed: int) -> str:
    return f"d{depth}_w{width}_{activation}_{'bn' if batch_norm else 'nobn'}_s{seed}.pt"


# ------------------------------------------------------------------------------ store
def results_dir(profile: str, dataset: str, root: str | os.PathLike | None = None) -> Path:
    """``<root>/<profile>/<dataset>`` (root defaults to ``data/results``)."""
    return Path(root or RESULTS_ROOT) / check_profile(profile) / check_dataset_name(dataset)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, obj: dict) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1, default=str)))


def _save_run(out: Path, record: dict) -> None:
    """Persist one finished run (atomic): ``parts/<key>.json``."""
    _write_json(out / "parts" / f"{record['row']['key']}.json", record)


_CSV_KW = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _read_csv(path: Path) -> pd.DataFrame:
    """Floats read back bit-exactly (resume picks the same learning rates)."""
    return pd.read_csv(path, **_CSV_KW)


@dataclass
class GridResults:
    """The tables of one profile and dataset (see the module docstring for columns)."""

    profile: str
    dataset: str
    path: Path
    runs: pd.DataFrame
    histories: pd.DataFrame
    lr_search: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    new_runs: int = 0  # runs trained by the run_grid call that returned this

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete", False))

    @property
    def source(self) -> str:
        return self.manifest.get("source", "")

    @property
    def label(self) -> str:
        """Human-readable data source, e.g. ``CIFAR-10 (JPEG copy)``; use it in titles."""
        return source_label(self.source) if self.source else ""


def _records(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All recorded runs and histories: merged tables plus pending ``parts/``."""
    runs, hists = [], []
    for name in ("runs.csv", "lr_search.csv"):
        if (out / name).exists():
            runs.append(_read_csv(out / name).reindex(columns=RUN_COLUMNS))
    if (out / "histories.csv.gz").exists():
        hists.append(_read_csv(out / "histories.csv.gz"))
    for part in sorted((out / "parts").glob("*.json")) if (out / "parts").exists() else []:
        rec = json.loads(part.read_text())
        runs.append(pd.DataFrame([rec["row"]], columns=RUN_COLUMNS))
        hists.append(_history_frame(rec["row"], rec["history"]))
    run_df = pd.concat(runs, ignore_index=True) if runs else pd.DataFrame(columns=RUN_COLUMNS)
    hist_df = (pd.concat(hists, ignore_index=True) if hists
               else pd.DataFrame(columns=HISTORY_TABLE_COLUMNS))
    run_df = run_df.drop_duplicates("key", keep="last")
    hist_df = hist_df.drop_duplicates(["phase", "depth", "width", "activation", "batch_norm",
                                       "seed", "lr", "epoch"], keep="last")
    return _sorted(run_df), _sorted(hist_df)


def _history_frame(row: dict, history: list[dict]) -> pd.DataFrame:
    h = pd.DataFrame(history, columns=HISTORY_COLUMNS).rename(columns={"lr": "epoch_lr"})
    for col in reversed(CONFIG_COLUMNS):
        h.insert(0, col, row[col])
    return h[HISTORY_TABLE_COLUMNS]


_STR = ("dataset", "source", "phase", "activation", "device", "git_commit", "profile", "key")
_INT = ("depth", "width", "seed", "best_epoch", "epochs", "epoch")
_BOOL = ("batch_norm", "diverged", "selected")


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    """Fixed dtypes and row order, whether rows came from the tables or from ``parts/``."""
    if df.empty:
        return df.reset_index(drop=True)
    df = df.astype({c: t for cols, t in ((_STR, str), (_INT, "int64"), (_BOOL, bool))
                    for c in cols if c in df})
    floats = [c for c in df if c not in _STR + _INT + _BOOL]
    df[floats] = df[floats].astype("float64")
    order = {p: i for i, p in enumerate(PHASES)}
    keys = ["phase", "depth", "width", "activation", "batch_norm", "seed", "lr"]
    keys += ["epoch"] if "epoch" in df else []
    df = df.sort_values(keys, key=lambda s: s.map(order) if s.name == "phase" else s,
                        kind="stable")
    return df.reset_index(drop=True)


def _lr_search_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Search rows plus ``mean_val_acc`` per (config, lr) and the ``selected`` flag."""
    search = runs[runs["phase"] != "final"].copy()
    if search.empty:
        return search.assign(mean_val_acc=pd.Series(dtype=float), selected=pd.Series(dtype=bool))
    cfg = ["depth", "width", "activation", "batch_norm"]
    search["mean_val_acc"] = search.groupby(cfg + ["lr"])["best_val_acc"].transform("mean")
    search["selected"] = False
    for _, grp in search.groupby(cfg):
        best = _best_lr(grp)
        search.loc[grp.index[grp["lr"] == best], "selected"] = True
    return search


def _best_lr(rows: pd.DataFrame) -> float:
    """Highest mean best-validation accuracy over seeds; ties go to the smaller rate.

    A rate where any seed diverged ranks below every rate where none did.
    """
    score = {lr: (bool(g["diverged"].astype(bool).any()),
                  -sum(sorted(g["best_val_acc"].tolist())) / len(g), lr)
             for lr, g in rows.groupby("lr")}
    return min(score, key=score.get)


def consolidate(out: Path) -> None:
    """Merge ``parts/`` into the tables (atomic replaces), then delete the merged parts."""
    parts = sorted((out / "parts").glob("*.json")) if (out / "parts").exists() else []
    if not parts:
        return
    runs, hists = _records(out)
    final = runs[runs["phase"] == "final"]
    _atomic_write(out / "runs.csv", lambda p: final.to_csv(p, index=False))
    search = _lr_search_table(runs)
    _atomic_write(out / "lr_search.csv", lambda p: search.to_csv(p, index=False))
    _atomic_write(out / "histories.csv.gz",
                  lambda p: hists.to_csv(p, index=False, compression="gzip"))
    for part in parts:
        part.unlink()


def load_results(profile: str, dataset: str,
                 root: str | os.PathLike | None = None) -> GridResults:
    """Read the results of ``profile``/``dataset`` (including runs not yet merged)."""
    out = results_dir(profile, dataset, root)
    if not out.exists():
        raise FileNotFoundError(
            f"no results in {out}; run: python -m helpers.grid run --profile {profile} "
            f"--dataset {dataset}")
    runs, hists = _records(out)
    manifest = json.loads((out / "manifest.json").read_text()) \
        if (out / "manifest.json").exists() else {}
    return GridResults(profile, dataset, out, runs[runs["phase"] == "final"].reset_index(
        drop=True), hists, _lr_search_table(runs).reset_index(drop=True), manifest)


def checkpoint(profile: str, dataset: str, activation: str, batch_norm: bool, seed: int,
               trained: bool = True, width: int | None = None, depth: int = 4,
               root: str | os.PathLike | None = None) -> MLP:
    """A 4-layer net of the grid as an :class:`MLP` (CPU, float32, eval mode).

    ``trained=True`` loads the stored best state of the final run; ``trained=False``
    rebuilds the untrained net with ``make_model(seed=seed)``, exactly the engine's start.
    ``width`` defaults to the first stored width (200 in ``paper``).
    """
    check_activation(activation)
    out = results_dir(profile, dataset, root)
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no grid results in {out}; run: python -m helpers.grid run "
                                f"--profile {profile} --dataset {dataset}")
    manifest = json.loads(manifest_path.read_text())
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
    blob = torch.load(path, weights_only=True)
    model = MLP(**blob["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in blob["state_dict"].items()})
    return model.eval()


def _save_checkpoint(out: Path, res: StackedResult, dtype: str, data: Dataset) -> None:
    cfg = res.config
    state = {k: (v.to(getattr(torch, dtype)) if v.is_floating_point() else v)
             for k, v in res.state_dict.items()}
    blob = dict(config=cfg, state_dict=state, dtype=dtype, seed=res.seed, lr=res.lr,
                best_epoch=res.best_epoch, test_acc=res.test_acc)
    if dtype != "float32":  # say what storage costs: test accuracy of the stored copy
        model = MLP(**cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})
        from .train import evaluate
        blob["test_acc_stored"] = evaluate(model, data.test.to("cpu"))[1]
    name = checkpoint_name(cfg["depth"], cfg["width"], res.activation, res.batch_norm,
                           res.seed)
    _atomic_write(out / "checkpoints" / name, lambda p: torch.save(blob, p))


# ---------------------------------------------------------------------------- running
def git_commit() -> str:
    """``HEAD`` of the project (``+dirty`` with uncommitted changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: str | torch.device) -> str:
    """A readable name for ``device``: the GPU model or the CPU model and core count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model} ({os.cpu_count()} cores)"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when present, else CPU; raise ``ValueError`` for unusable devices."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is invalid; accepted: 'cpu', 'cuda', "
                         "'cuda:N'") from err
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not supported; accepted: 'cpu', 'cuda'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but no CUDA GPU is visible; "
                         "accepted here: 'cpu'")
    return dev


def grid_data(spec: GridSpec, dataset: str) -> Dataset:
    """The dataset the grid trains on (the profile's seeded subset, CPU)."""
    data = load_dataset(check_dataset_name(dataset))
    if spec.subset is not None:
        data = data.subset(*spec.subset, seed=spec.subset_seed)
    return data


def model_epoch_flops(layout: Layout, n_train: int, n_val: int) -> float:
    """Matmul FLOPs of one model-epoch: train (fwd+bwd) plus eval of train and val."""
    return 2.0 * layout.n_weights * (3 * n_train + n_train + n_val)


class _Runner:
    """One ``run_grid`` call for one dataset (internal)."""

    def __init__(self, spec, dataset, data, device, out, progress, time_budget, cuda_graph):
        self.spec, self.dataset, self.data, self.device = spec, dataset, data, device
        self.out, self.progress, self.cuda_graph = out, progress, cuda_graph
        self.commit, self.dev_name = git_commit(), device_name(device)
        self.start = time.perf_counter()
        self.deadline = None if time_budget is None else self.start + time_budget
        runs, _ = _records(out)
        self.done = {k: r for k, r in zip(runs["key"], runs.to_dict("records"))}
        self.n_new, self.trained_work = 0, 0.0
        self.bar = None

    def stop(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def fits(self, work: float) -> bool:
        """Whether ``work`` (TFLOP) likely ends before the deadline, at this session's rate.

        A stack cut by the deadline loses its unfinished runs, so one that will not fit is
        left for the next call (the first stack of a session always starts).
        """
        if self.deadline is None or self.trained_work == 0:
            return not self.stop()
        rate = (time.perf_counter() - self.start) / self.trained_work
        return time.perf_counter() + work * rate < self.deadline

    def expected_epochs(self, phase: str) -> float:
        """Final runs: mean length of the final runs recorded so far (else the maximum)."""
        if phase != "final":
            return self.spec.search_epochs
        done = [r["epochs"] for r in self.done.values() if r["phase"] == "final"]
        return sum(done) / len(done) if done else self.spec.max_epochs

    def work(self, depth: int, width: int) -> float:
        layout = Layout(self.data.n_features, depth, width, self.data.n_classes)
        return model_epoch_flops(layout, len(self.data.train), len(self.data.val)) / 1e12

    def n_total(self) -> int:
        s = self.spec
        per_shape = len(s.combos()) * len(s.seeds) * (len(s.coarse_lrs)
                                                      + len(s.refine_factors) + 1)
        return per_shape * len(s.shapes())

    def run(self) -> bool:
        """Train everything not yet recorded; True when the grid is complete."""
        s = self.spec
        total = sum(self.work(d, w) * len(s.combos()) * len(s.seeds)
                    * ((len(s.coarse_lrs) + len(s.refine_factors)) * s.search_epochs
                       + s.max_epochs) for d, w in s.shapes())
        self.bar = tqdm(total=total, disable=not self.progress, unit="TF",
                        desc=f"{s.profile}/{self.dataset}",
                        bar_format="{l_bar}{bar}| {percentage:3.0f}% "
                                   "[{elapsed}<{remaining}]{postfix}")
        try:
            for depth, width in s.shapes():
                if not self.run_shape(depth, width):
                    return False
            return True
        finally:
            self.bar.close()

    def run_shape(self, depth: int, width: int) -> bool:
        s, combos = self.spec, self.spec.combos()
        coarse = {c: [round_lr(lr) for lr in s.coarse_lrs] for c in combos}
        if not self.run_phase("coarse", depth, width, coarse):
            return False
        best = {c: self.best(depth, width, c, coarse[c]) for c in combos}
        refine = {c: [lr for lr in dict.fromkeys(round_lr(best[c] * f)
                                                 for f in s.refine_factors)
                      if lr not in coarse[c]] for c in combos}
        if not self.run_phase("refine", depth, width, refine):
            return False
        final = {c: [self.best(depth, width, c, coarse[c] + refine[c])] for c in combos}
        return self.run_phase("final", depth, width, final)

    def best(self, depth: int, width: int, combo: tuple[str, bool], lrs: list[float]) -> float:
        rows = [self.done[run_key(ph, depth, width, *combo, seed, lr)]
                for ph in ("coarse", "refine") for lr in lrs for seed in self.spec.seeds
                if run_key(ph, depth, width, *combo, seed, lr) in self.done]
        return _best_lr(pd.DataFrame(rows))

    def run_phase(self, phase: str, depth: int, width: int,
                  lrs: dict[tuple[str, bool], list[float]]) -> bool:
        s = self.spec
        members = [(a, bn, seed, lr) for (a, bn), values in lrs.items() for lr in values
                   for seed in s.seeds]
        epochs = s.max_epochs if phase == "final" else s.search_epochs
        unit = self.work(depth, width)
        todo = [m for m in members if run_key(phase, depth, width, *m[:3], m[3])
                not in self.done]
        self.bar.update(unit * epochs * (len(members) - len(todo)))
        if not todo:
            return True
        if not self.fits(unit * self.expected_epochs(phase) * len(todo)):
            return False
        self.bar.set_postfix_str(f" {phase} {depth}x{width} K={len(todo)}, "
                                 f"{len(self.done)}/{self.n_total()} runs")

        def finished(i: int, res: StackedResult) -> None:
            self.record(phase, depth, width, res)
            self.bar.update(unit * (epochs - (len(res.history) - 1)))
            self.bar.set_postfix_str(f" {phase} {depth}x{width}, "
                                     f"{len(self.done)}/{self.n_total()} runs")

        results = engine.train_stacked(
            self.data, depth, width, [m[0] for m in todo], [m[1] for m in todo],
            [m[2] for m in todo], [m[3] for m in todo], batch_size=s.batch_size,
            max_epochs=epochs, patience=s.patience, lr_decay=s.lr_decay, device=self.device,
            cuda_graph=self.cuda_graph, progress=self.progress,
            desc=f"{phase} {depth}x{width}", on_finish=finished,
            on_epoch=lambda n: self.epoch_done(unit * n), should_stop=self.stop)
        return all(r is not None for r in results)

    def epoch_done(self, work: float) -> None:
        self.trained_work += work
        self.bar.update(work)

    def record(self, phase: str, depth: int, width: int, res: StackedResult) -> None:
        s, h = self.spec, res.history
        best = h.iloc[res.best_epoch]
        row = dict(
            dataset=self.dataset, source=self.data.source, phase=phase, depth=depth,
            width=width, batch_norm=res.batch_norm, activation=res.activation, seed=res.seed,
            lr=res.lr, best_epoch=res.best_epoch, epochs=len(h) - 1,
            best_val_acc=res.best_val_acc, train_loss=float(best["train_loss"]),
            train_acc=float(best["train_acc"]), val_loss=float(best["val_loss"]),
            val_acc=float(best["val_acc"]), test_loss=res.test_loss, test_acc=res.test_acc,
            diverged=res.diverged, wall_time=res.wall_time, device=self.dev_name,
            git_commit=self.commit, profile=s.profile,
            key=run_key(phase, depth, width, res.activation, res.batch_norm, res.seed, res.lr),
        )
        if (phase == "final" and depth == s.checkpoint_depth
                and width in s.checkpoint_widths):
            _save_checkpoint(self.out, res, s.checkpoint_dtype, self.data)
        _save_run(self.out, {"row": row, "history": h.to_dict("records")})
        self.done[row["key"]] = row
        self.n_new += 1


def _manifest(spec: GridSpec, dataset: str, data: Dataset, out: Path) -> dict:
    """The stored manifest, checked against this run, or a fresh one."""
    path = out / "manifest.json"
    if path.exists():
        manifest = json.loads(path.read_text())
        if manifest.get("spec") != spec.to_dict():
            raise ValueError(f"{out} holds results of a different grid spec; accepted: the "
                             "same spec (move the folder away to start afresh)")
        if manifest.get("source") != data.source:
            raise ValueError(f"{out} holds results on source {manifest.get('source')!r}, "
                             f"this data is {data.source!r}; accepted: one source per folder")
        return manifest
    return dict(profile=spec.profile, dataset=dataset, source=data.source,
                source_label=data.label, spec=spec.to_dict(),
                data=dict(n_train=len(data.train), n_val=len(data.val),
                          n_test=len(data.test), n_features=data.n_features,
                          n_classes=data.n_classes, location=data.location),
                checkpoints=dict(
                    depth=spec.checkpoint_depth, widths=list(spec.checkpoint_widths),
                    dtype=spec.checkpoint_dtype, trained="best state of each final run",
                    untrained="not stored: helpers.models.make_model(seed=seed) rebuilds it "
                              "exactly (helpers.grid.checkpoint(trained=False))"),
                wall_time_s=0.0, sessions=[])


def _write_manifest(out: Path, manifest: dict, runner: _Runner, complete: bool) -> None:
    runs, _ = _records(out)
    elapsed = time.perf_counter() - runner.start
    manifest["wall_time_s"] = manifest.get("wall_time_s", 0.0) + elapsed
    manifest["sessions"].append(dict(
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        wall_time_s=round(elapsed, 2), device=runner.dev_name, git_commit=runner.commit,
        torch_version=torch.__version__, python=platform.python_version(),
        new_runs=runner.n_new))
    manifest.update(
        git_commit=runner.commit, device=runner.dev_name, torch_version=torch.__version__,
        n_runs_done=len(runs), n_runs_planned=runner.n_total(),
        n_final_runs=int((runs["phase"] == "final").sum()) if len(runs) else 0,
        n_diverged=int(runs["diverged"].astype(bool).sum()) if len(runs) else 0,
        complete=complete,
        updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _write_json(out / "manifest.json", manifest)
    summary_path = out.parent / "manifest.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {
        "profile": manifest["profile"], "datasets": {}}
    summary["datasets"][manifest["dataset"]] = {
        k: manifest[k] for k in ("source", "source_label", "complete", "n_runs_done",
                                 "n_runs_planned", "wall_time_s", "git_commit", "updated")}
    _write_json(summary_path, summary)


def run_grid(
    profile: str,
    dataset: str,
    device: str | torch.device | None = None,
    progress: bool = True,
    *,
    spec: GridSpec | None = None,
    root: str | os.PathLike | None = None,
    data: Dataset | None = None,
    time_budget: float | None = None,
    cuda_graph: bool = False,
    threads: int | None = None,
) -> GridResults:
    """Run (or resume) the grid of ``profile`` on ``dataset``; return its results.

    Runs already recorded under ``root/<profile>/<dataset>`` are skipped. ``time_budget``
    (seconds) stops cleanly between epochs; finished runs are kept, a rerun resumes.
    ``spec``/``data`` override the profile's grid and dataset (tests, experiments).
    ``threads``: CPU threads for torch while the grid runs (default 1 on CPU: on the shared
    2-core machines one thread was 4-7x faster than two under load; the small matmuls gain
    little from a second thread anyway). Results do not depend on it.
    """
    check_profile(profile)
    check_dataset_name(dataset)
    spec = (spec or get_spec(profile)).check()
    if spec.profile != profile:
        raise ValueError(f"spec.profile={spec.profile!r} does not match profile={profile!r}")
    dev = resolve_device(device)
    if cuda_graph and dev.type != "cuda":
        raise ValueError(f"cuda_graph=True with device={str(dev)!r}; accepted: a CUDA device")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget={time_budget!r}; accepted: seconds > 0 or None")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads={threads!r}; accepted: an integer >= 1 or None")
    data = data if data is not None else grid_data(spec, dataset)
    out = results_dir(profile, dataset, root)
    manifest = _manifest(spec, dataset, data, out)
    out.mkdir(parents=True, exist_ok=True)
    runner = _Runner(spec, dataset, data.to(dev), dev, out, progress, time_budget, cuda_graph)
    complete = False
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads or (1 if dev.type == "cpu" else old_threads))
    try:
        complete = runner.run()
    finally:
        torch.set_num_threads(old_threads)
        consolidate(out)
        if runner.n_new or complete != manifest.get("complete"):
            _write_manifest(out, manifest, runner, complete)
    results = load_results(profile, dataset, root)
    results.new_runs = runner.n_new
    return results


# -------------------------------------------------------------------------------- CLI
def status(root: str | os.PathLike | None = None, profiles: Sequence[str] = PROFILES) -> str:
    """One line per profile and dataset: progress, source, time, device."""
    lines = []
    for profile in profiles:
        for dataset in DATASETS:
            out = results_dir(profile, dataset, root)
            if not out.exists():
                lines.append(f"{profile:6} {dataset:8} no results")
                continue
            runs, _ = _records(out)
            m = json.loads((out / "manifest.json").read_text()) \
                if (out / "manifest.json").exists() else {}
            phases = ", ".join(f"{p} {int((runs['phase'] == p).sum())}" for p in PHASES)
            state = "complete" if m.get("complete") else "incomplete"
            lines.append(
                f"{profile:6} {dataset:8} {state:10} runs {len(runs)}/"
                f"{m.get('n_runs_planned', '?')} ({phases}); diverged "
                f"{int(runs['diverged'].astype(bool).sum()) if len(runs) else 0}; source "
                f"{m.get('source_label', '?')}; {m.get('wall_time_s', 0):.0f} s; "
                f"{m.get('device', '?')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grid",
                                     description="Run the paper's grid (resumable).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run or resume a grid")
    run.add_argument("--profile", required=True, choices=PROFILES)
    run.add_argument("--dataset", required=True, choices=[*DATASETS, "all"])
    run.add_argument("--device", default=None,
                     help="cpu, cuda or cuda:N (default: cuda when present)")
    run.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                     help="stop cleanly after this many minutes (rerun to resume)")
    run.add_argument("--cuda-graph", action="store_true",
                     help="capture each training step in a CUDA graph (CUDA only)")
    run.add_argument("--threads", type=int, default=None,
                     help="CPU threads (default 1 on CPU; see run_grid)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--root", default=None, help=f"results root (default {RESULTS_ROOT})")
    st = sub.add_parser("status", help="show what is done")
    st.add_argument("--profile", choices=PROFILES, default=None)
    st.add_argument("--root", default=None)
    args = parser.parse_args(argv)
    if args.command == "status":
        print(status(args.root, [args.profile] if args.profile else PROFILES))
        return 0
    if args.time_budget is not None and args.time_budget <= 0:
        parser.error(f"--time-budget {args.time_budget}: accepted: minutes > 0")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads {args.threads}: accepted: an integer >= 1")
    try:
        dev = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.cuda_graph and dev.type != "cuda":
        parser.error(f"--cuda-graph needs a CUDA device, not {str(dev)!r}")
    datasets = DATASETS if args.dataset == "all" else (args.dataset,)
    start = time.perf_counter()
    for dataset in datasets:
        budget = None if args.time_budget is None else \
            args.time_budget * 60 - (time.perf_counter() - start)
        if budget is not None and budget <= 0:
            break
        t0 = time.perf_counter()
        res = run_grid(args.profile, dataset, args.device, progress=not args.no_progress,
                       root=args.root, time_budget=budget, cuda_graph=args.cuda_graph,
                       threads=args.threads)
        m = res.manifest
        print(f"{args.profile}/{dataset} ({res.label}): {res.new_runs} new runs in "
              f"{time.perf_counter() - t0:.1f} s; {m['n_runs_done']}/"
              f"{m['n_runs_planned']} runs, {'complete' if res.complete else 'INCOMPLETE'}, "
              f"{m['wall_time_s']:.1f} s in all -> {res.path}")
        if not res.complete:
            print("stopped early; run the same command again to resume", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
