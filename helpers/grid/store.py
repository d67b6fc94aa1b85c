"""Where grid results live and how they are written: tables, parts, checkpoints, snapshots.

Under ``data/results/<profile>/<dataset>/`` (committed for ``paper``):

* ``runs.csv``: one row per final run (:data:`RUN_COLUMNS`; accuracies are fractions;
  ``train_*`` = one eval-mode pass of the best state, ``val_*`` = the best epoch);
* ``lr_search.csv``: one row per search run (its last rung), plus ``mean_val_acc`` (over the
  seeds of that config and rate, at that rung), ``selected`` and ``extension``;
* ``histories.csv.gz``: tidy per-epoch curves of every run (row 0 = untrained; the
  training columns are running means over the epoch's batches; full-length runs also hold
  ``test_loss``/``test_acc``);
* ``layers.csv.gz``: per final run and hidden layer, on the test split at the best state:
  sparsity, saturation, dead units (all in %) and the mean output;
* ``checkpoints/d4_w<width>_<act>_<bn|nobn>_s<seed>.pt``: best states of the 4-layer nets;
* ``manifest.json``: spec, protocol, precision, data source, sessions (device, torch,
  commit, wall time), counts and the cost plan. ``data/results/<profile>/manifest.json``
  summarises the datasets.

Each finished piece of work is first written atomically to ``parts/<key>.json``
(checkpoint before record), then merged into the tables (atomic replace) and removed from
``parts/``: a crash never loses a finished run. Snapshots of paused runs are a local cache
(``data/cache/grid_state/``, not committed); without one, a run restarts from scratch,
which on CPU reproduces it exactly.

Several grid processes may write one folder, each training its own shapes: a shape is held
by one process (:func:`shape_lock`), and every read-modify-write of the tables or a
manifest holds :func:`tables_lock` for its fraction of a second.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..data import PROJECT_ROOT, check_dataset_name, source_label
from ..engine import Snapshot, StackedResult
from ..models import MLP
from ..profiles import check_profile
from .spec import checkpoint_name

TABLES_LOCK = ".tables.lock"


class ShapeBusy(RuntimeError):
    """Another live process is training this shape of this results folder."""


def shape_lock_name(depth: int, width: int) -> str:
    return f".shape_d{depth}_w{width}.lock"


@contextmanager
def shape_lock(out: Path, depth: int, width: int) -> Iterator[None]:
    """Hold one shape (``depth`` x ``width``) of the results folder ``out`` for training:
    one grid process per shape at a time, so two processes never train the same runs, while
    processes on other shapes of the same folder go on beside it. An exclusive ``flock`` on
    ``out/.shape_d<depth>_w<width>.lock`` (the operating system drops it when the process
    ends, however it ends); the file names the holder. Raises :class:`ShapeBusy` at once
    when another process holds it. Readers (the book) need no lock."""
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / shape_lock_name(depth, width), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ShapeBusy(f"{out} {depth}x{width} is being trained by {holder}; accepted: one "
                        "grid process per shape (wait for it, or stop it with SIGTERM)"
                        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        handle.write(f"pid {os.getpid()}, started {started}\n")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def shapes_in_training(root: str | os.PathLike | None = None) -> list[str]:
    """The shapes some live process trains under ``root`` (default :data:`RESULTS_ROOT`),
    as ``"<folder> DxW"``: those whose lock file (:func:`shape_lock`) is held. Probed with a
    shared, non-blocking lock that is dropped at once."""
    base = Path(root or RESULTS_ROOT)
    held = []
    for path in sorted(base.glob("**/.shape_d*_w*.lock")):
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                d, w = path.stem.removeprefix(".shape_d").split("_w")
                held.append(f"{path.parent.relative_to(base).as_posix()} {d}x{w}")
            else:
                fcntl.flock(handle, fcntl.LOCK_UN)
    return held


@contextmanager
def tables_lock(folder: Path) -> Iterator[None]:
    """Hold the shared files of ``folder`` (its tables and manifest) for one
    read-modify-write: an exclusive ``flock`` on ``folder/.tables.lock`` that *waits* for
    another holder (they hold it for well under a second). Every writer of the tables
    (:func:`consolidate`) and of a manifest takes it, so processes on different shapes of a
    folder, or on different folders of one profile (the summary manifest), never overwrite
    each other's updates. Readers need no lock (:func:`read_records`)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / TABLES_LOCK, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


PHASES = ("search", "final")

RESULTS_ROOT = PROJECT_ROOT / "data" / "results"
STATE_ROOT = PROJECT_ROOT / "data" / "cache" / "grid_state"
ROOT_STATE_FOLDER = ".grid_state"  # snapshots of a results root given explicitly
CONFIG_COLUMNS = ["dataset", "source", "phase", "depth", "width", "batch_norm", "activation",
                  "seed", "lr"]
RUN_COLUMNS = CONFIG_COLUMNS + [
    "best_epoch", "epochs", "best_val_acc", "train_loss", "train_acc", "val_loss", "val_acc",
    "test_loss", "test_acc", "diverged", "wall_time", "device", "git_commit", "profile", "key",
]
HISTORY_TABLE_COLUMNS = CONFIG_COLUMNS + ["epoch", "train_loss", "train_acc", "val_loss",
                                          "val_acc", "epoch_lr", "test_loss", "test_acc"]
LAYER_COLUMNS = CONFIG_COLUMNS + ["layer", "sparsity", "saturation", "grad_saturation", "dead",
                                  "perplexity", "mean", "key"]
_STR = ("dataset", "source", "phase", "activation", "device", "git_commit", "profile", "key")
_INT = ("depth", "width", "seed", "best_epoch", "epochs", "epoch", "layer")
_BOOL = ("batch_norm", "diverged", "selected", "extension", "finished")


def grid_folder(profile: str, grid: str = "paper") -> Path:
    """Where ``grid``'s datasets live, relative to a results root: ``<profile>`` for the
    paper grid, ``<profile>/<grid>`` for an extension (e.g. ``paper/activations``)."""
    from .spec import check_grid
    base = Path(check_profile(profile))
    return base if check_grid(grid) == "paper" else base / grid


def results_dir(profile: str, dataset: str, root: str | os.PathLike | None = None,
                grid: str = "paper") -> Path:
    """``<root>/<profile>/<dataset>``, or ``<root>/<profile>/<grid>/<dataset>`` for an
    extension grid (root defaults to ``data/results``)."""
    return Path(root or RESULTS_ROOT) / grid_folder(profile, grid) / \
        check_dataset_name(dataset)


def state_dir(profile: str, dataset: str, state_root: str | os.PathLike | None = None,
              grid: str = "paper") -> Path:
    """Where unfinished runs keep their snapshots (git-ignored)."""
    return Path(state_root or STATE_ROOT) / grid_folder(profile, grid) / \
        check_dataset_name(dataset)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)``, flushed to disk, then renamed over ``path`` (a crash leaves the old
    file or the new one, never a torn or empty one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1, default=str)))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


_CSV_KW = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_csv(path: Path) -> pd.DataFrame:
    """Floats read back bit-exactly (resume picks the same learning rates)."""
    return pd.read_csv(path, **_CSV_KW)


def save_part(out: Path, record: dict) -> None:
    """Persist one finished or rung-reached run (atomic): ``parts/<key>.json``. Under
    :func:`tables_lock`, so that a merge never deletes a part replaced after it read it."""
    with tables_lock(out):
        write_json(out / "parts" / f"{record['row']['key']}.json", record)


def history_frame(row: dict, history: list[dict]) -> pd.DataFrame:
    h = pd.DataFrame(history).rename(columns={"lr": "epoch_lr"})
    h = h.reindex(columns=[c for c in HISTORY_TABLE_COLUMNS if c not in CONFIG_COLUMNS])
    for col in reversed(CONFIG_COLUMNS):
        h.insert(0, col, row[col])
    return h


def layer_frame(row: dict, layers: list[dict] | None) -> pd.DataFrame:
    if not layers:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    f = pd.DataFrame(layers)
    for col in reversed(CONFIG_COLUMNS):
        f.insert(0, col, row[col])
    f["key"] = row["key"]
    return f.reindex(columns=LAYER_COLUMNS)


def _dtype(column: str) -> str:
    return ("object" if column in _STR else "int64" if column in _INT
            else "bool" if column in _BOOL else "float64")


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Fixed dtypes and row order, whether rows came from the tables or from ``parts/``
    (an empty table keeps typed columns, so concatenating it changes no dtype)."""
    if df.empty:
        return df.astype({c: _dtype(c) for c in df.columns}).reset_index(drop=True)
    df = df.astype({c: t for cols, t in ((_STR, str), (_INT, "int64"), (_BOOL, bool))
                    for c in cols if c in df})
    floats = [c for c in df if c not in _STR + _INT + _BOOL]
    df[floats] = df[floats].astype("float64")
    order = {p: i for i, p in enumerate(PHASES)}
    keys = ["phase", "depth", "width", "activation", "batch_norm", "seed", "lr"]
    keys += [k for k in ("epoch", "layer") if k in df]
    df = df.sort_values(keys, key=lambda s: s.map(order) if s.name == "phase" else s,
                        kind="stable")
    return df.reset_index(drop=True)


@dataclass
class Records:
    """Everything recorded for one dataset: runs (final and search), histories, layers."""

    runs: pd.DataFrame
    histories: pd.DataFrame
    layers: pd.DataFrame


def read_records(out: Path, attempts: int = 5) -> Records:
    """All recorded runs: merged tables plus pending ``parts/``.

    A search run appears once per rung it reached; the latest record of a key wins.

    Safe while a grid process merges ``parts/`` into the tables of the same folder (the
    book reads while ``make grid`` runs): the parts are listed before the tables are read,
    so a part merged meanwhile is in the tables or still read as a part; a part that
    disappears before it is read means a merge ran in between, and the whole read starts
    again (at most ``attempts`` times).
    """
    for attempt in range(attempts):
        try:
            return _read_records(out)
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def _read_records(out: Path) -> Records:
    parts = sorted((out / "parts").glob("*.json")) if (out / "parts").exists() else []
    runs, hists, layers = [], [], []
    for name in ("runs.csv", "lr_search.csv"):
        if (out / name).exists():
            runs.append(read_csv(out / name).reindex(columns=RUN_COLUMNS + ["finished"]))
    if (out / "histories.csv.gz").exists():
        hists.append(read_csv(out / "histories.csv.gz"))
    if (out / "layers.csv.gz").exists():
        # tables written before grad_saturation and perplexity existed read as NaN there
        layers.append(read_csv(out / "layers.csv.gz").reindex(columns=LAYER_COLUMNS))
    recorded = []  # (row, history) of each readable part, in order
    for part in parts:
        try:
            rec = json.loads(part.read_text())
        except json.JSONDecodeError as err:  # torn by a crash: every other record stays readable
            warnings.warn(f"{part} is unreadable ({err}) and is left out; delete it, and "
                          "the grid trains that run again", stacklevel=3)
            continue
        runs.append(pd.DataFrame([rec["row"]]).reindex(columns=RUN_COLUMNS + ["finished"]))
        recorded.append(history_frame(rec["row"], rec["history"]))
        layers.append(layer_frame(rec["row"], rec.get("layers")))
    run_df = pd.concat(runs, ignore_index=True) if runs else \
        pd.DataFrame(columns=RUN_COLUMNS + ["finished"])
    run_df = run_df.drop_duplicates("key", keep="last")
    if hists and recorded:
        # a part holds its run's whole history: it replaces the tables' (a shorter history
        # must not leave the older one's tail behind)
        ident = ["phase", "depth", "width", "activation", "batch_norm", "seed", "lr"]
        new = pd.concat([h[ident] for h in recorded], ignore_index=True).drop_duplicates()
        old = hists[0]
        hists[0] = old[~pd.MultiIndex.from_frame(old[ident]).isin(
            pd.MultiIndex.from_frame(new))]
    hists += recorded
    hist_df = pd.concat(hists, ignore_index=True) if hists else \
        pd.DataFrame(columns=HISTORY_TABLE_COLUMNS)
    hist_df = hist_df.drop_duplicates(["phase", "depth", "width", "activation", "batch_norm",
                                       "seed", "lr", "epoch"], keep="last")
    lay_df = pd.concat([f for f in layers if len(f)], ignore_index=True) \
        if any(len(f) for f in layers) else pd.DataFrame(columns=LAYER_COLUMNS)
    lay_df = lay_df.drop_duplicates(["key", "layer"], keep="last")
    return Records(tidy(run_df), tidy(hist_df), tidy(lay_df))


def plain_rows(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (numpy scalars -> numbers, NaN -> null)."""
    return json.loads(df.to_json(orient="records"))


def record_from_tables(rec: Records, key: str) -> dict:
    """The ``parts/`` record of run ``key`` rebuilt from merged tables: ``row``, its
    ``history`` (per-epoch rows) and ``layers`` (``None`` when it has none). A final run
    counts as finished."""
    runs = rec.runs[rec.runs.key == key]
    if not len(runs):
        raise KeyError(f"key={key!r} is not recorded here")
    row = plain_rows(runs.iloc[[-1]])[0]
    if row["phase"] == "final":
        row["finished"] = True
    h = rec.histories
    same = ["phase", "depth", "width", "activation", "batch_norm", "seed", "lr"]
    for col in same:
        h = h[h[col] == runs.iloc[-1][col]]
    history = h.drop(columns=CONFIG_COLUMNS).rename(columns={"epoch_lr": "lr"})
    lay = rec.layers[rec.layers.key == key].drop(columns=CONFIG_COLUMNS + ["key"])
    return {"row": row, "history": plain_rows(history),
            "layers": plain_rows(lay) if len(lay) else None}


def consolidate(out: Path, search_table: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]
                ) -> None:
    """Merge ``parts/`` into the tables (atomic replaces), then delete the merged parts;
    under :func:`tables_lock`, so concurrent writers of one folder merge one at a time.

    ``search_table(runs, histories)`` returns the search rows with the protocol's columns.
    """
    with tables_lock(out):  # one merge at a time: another would delete parts unmerged here
        _consolidate(out, search_table)


def _consolidate(out: Path, search_table: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]
                 ) -> None:
    parts = sorted((out / "parts").glob("*.json")) if (out / "parts").exists() else []
    if not parts:
        return
    rec = read_records(out)
    final = rec.runs[rec.runs["phase"] == "final"].drop(columns="finished")
    atomic_write(out / "runs.csv", lambda p: final.to_csv(p, index=False))
    search = search_table(rec.runs, rec.histories)
    atomic_write(out / "lr_search.csv", lambda p: search.to_csv(p, index=False))
    atomic_write(out / "histories.csv.gz",
                 lambda p: rec.histories.to_csv(p, index=False, compression="gzip"))
    atomic_write(out / "layers.csv.gz",
                 lambda p: rec.layers.to_csv(p, index=False, compression="gzip"))
    for part in parts:
        try:
            json.loads(part.read_text())
        except json.JSONDecodeError:
            continue  # unreadable, left out of the tables above: kept for a person to see
        part.unlink()


# ------------------------------------------------------------------------- checkpoints
def save_checkpoint(out: Path, res: StackedResult, dtype: str, test_acc_stored: float | None
                    ) -> None:
    cfg = res.config
    state = {k: (v.to(getattr(torch, dtype)) if v.is_floating_point() else v)
             for k, v in res.state_dict.items()}
    blob = dict(config=cfg, state_dict=state, dtype=dtype, seed=res.seed, lr=res.lr,
                best_epoch=res.best_epoch, test_acc=res.test_acc)
    if test_acc_stored is not None:
        blob["test_acc_stored"] = test_acc_stored
    name = checkpoint_name(cfg["depth"], cfg["width"], res.activation, res.batch_norm,
                           res.seed)
    atomic_write(out / "checkpoints" / name, lambda p: torch.save(blob, p))


def stored_state(res: StackedResult, dtype: str) -> dict:
    """The best state as it will be stored (rounded to ``dtype``), back in float32."""
    return {k: (v.to(getattr(torch, dtype)).float() if v.is_floating_point() else v)
            for k, v in res.state_dict.items()}


def load_checkpoint(path: Path) -> tuple[MLP, dict]:
    """A stored net (CPU, float32, eval mode) and its blob."""
    blob = torch.load(path, weights_only=True)
    model = MLP(**blob["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in blob["state_dict"].items()})
    return model.eval(), blob


# --------------------------------------------------------------------------- snapshots
def snapshot_path(state_dir: Path, key: str) -> Path:
    return state_dir / f"{key}.pt"


def save_snapshot(state_dir: Path, key: str, snap: Snapshot) -> None:
    atomic_write(snapshot_path(state_dir, key), lambda p: torch.save(vars(snap), p))


def load_snapshot(state_dir: Path, key: str) -> Snapshot | None:
    path = snapshot_path(state_dir, key)
    if not path.exists():
        return None
    try:
        return Snapshot(**torch.load(path, weights_only=False))
    except Exception as err:  # a torn or stale cache file: start that run afresh
        print(f"ignoring unreadable snapshot {path.name}: {err}")
        return None


def drop_snapshot(state_dir: Path, key: str) -> None:
    snapshot_path(state_dir, key).unlink(missing_ok=True)


@dataclass
class GridResults:
    """The tables of one profile and dataset (see the module docstring for columns)."""

    profile: str
    dataset: str
    path: Path
    runs: pd.DataFrame
    histories: pd.DataFrame
    lr_search: pd.DataFrame
    layers: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LAYER_COLUMNS))
    manifest: dict = field(default_factory=dict)
    new_runs: int = 0  # runs finished by the run_grid call that returned this
    busy: list[str] = field(default_factory=list)  # shapes that call skipped: held elsewhere
    postponed: list[str] = field(default_factory=list)  # no run fitted before its deadline

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

    @property
    def n_final_planned(self) -> int:
        return int(self.manifest.get("n_final_planned", 0))
