"""Train once, commit, load: the ``paper``-profile experiments of the chapters that train.

The grid (:mod:`helpers.grid`) computes the paper's nets; the basics chapters (0-3) train
their own small experiments (learning curves, sweeps, timings). In the ``paper`` profile
each such experiment runs once, through :func:`train_or_load`, and its result is committed
under ``data/results/paper/chapters/``, so that building the book only loads:

* ``quick``: ``compute()`` runs live (CI executes it); nothing is stored.
* ``paper``: the result is loaded from ``<name>-<hash>.pt``, where ``hash`` fingerprints
  ``settings`` (everything that changes the result: sizes, epochs, seed, data source).
  When that file is missing, ``compute()`` runs and its result is saved first, unless
  training is disabled (``ACTFN_NO_TRAIN``, as in ``make book`` and ``make test``), in
  which case a clear error says to run ``make results``. Either way the chapter gets the
  value *as loaded from disk*, so a fresh run and a reload print the same numbers.

``manifest.json`` beside the files records for each result its settings, the device it
ran on, the git commit, the compute seconds and the date. Networks are stored in float16
(their recorded accuracies come from the float32 originals). Results hold only what the
chapter reads: :func:`without_models` drops the trained networks a chapter does not
inspect, and the probe tensors of :class:`helpers.dynamics.ProbedRun`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from .profiles import check_profile
from .runtime import PROJECT_ROOT, device_name, git_commit, training_allowed

T = TypeVar("T")
RESULTS_DIR = PROJECT_ROOT / "data" / "results" / "paper" / "chapters"
MANIFEST = "manifest.json"
NAME_PATTERN = re.compile(r"^[0-9]{2}_[a-z0-9_]+$")


class ResultMissing(RuntimeError):
    """A ``paper`` result is not committed and training is disabled."""


def settings_hash(settings: Mapping) -> str:
    """A short fingerprint of ``settings`` (JSON with sorted keys; values by ``str``)."""
    text = json.dumps(dict(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def result_path(name: str, settings: Mapping, root: Path = RESULTS_DIR) -> Path:
    """Where the result ``name`` computed with ``settings`` is stored."""
    return Path(root) / f"{name}-{settings_hash(settings)}.pt"


def train_or_load(name: str, compute: Callable[[], T], profile: str, settings: Mapping,
                  device: str | torch.device = "cpu", root: Path | None = None,
                  trains: bool = True, verbose: bool = True) -> T:
    """``compute()`` in ``quick``; in ``paper`` load the committed result, computing and
    saving it first when it is missing (see the module docstring).

    ``name``: ``<chapter number>_<what>``, e.g. ``"01_runs"``. ``settings``: JSON-able
    values that determine the result. ``device``: where ``compute`` runs; loaded networks
    are moved there. ``trains=False`` marks an analysis that trains nothing (e.g. linear
    probes of committed nets): with training disabled, a missing result is then computed
    live and returned without being stored, instead of raising. ``root``: the store
    (default ``data/results/paper/chapters``). ``verbose=False`` skips
    the line that says where a loaded result came from.
    """
    if not NAME_PATTERN.match(name):
        raise ValueError(f"name={name!r} is invalid; accepted: '<2 digits>_<lowercase words>',"
                         " e.g. '01_runs'")
    check_profile(profile)
    if profile == "quick":
        return compute()
    path = result_path(name, settings, RESULTS_DIR if root is None else root)
    if not path.exists():
        if not trains and not training_allowed():
            value = compute()
            print(f"{name}: computed live, not stored (training is disabled; "
                  "`make results` stores it)")
            return value
        if not training_allowed():
            raise ResultMissing(
                f"the paper-profile result {name!r} for these settings is not committed "
                f"({path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path}"
                f"; settings {dict(settings)}). Compute it with `make results` (trains), or "
                "run the chapter with profile='quick'.")
        start = time.perf_counter()
        value = compute()
        save(path, value, name, settings, device, time.perf_counter() - start)
    value, meta = load(path, device)
    if verbose:
            print(f"{name}: loaded {path.name}, computed on {meta['device']} in "
              f"{meta['compute_s']:.0f} s ({meta['created'][:10]}, commit "
              f"{meta['commit'][:8]})")
    return value


def save(path: Path, value: object, name: str, settings: Mapping,
         device: str | torch.device, compute_s: float) -> None:
    """Write ``value`` (atomically) and its entry in the folder's manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(name=name, settings=json.loads(json.dumps(dict(settings), default=str)),
                device=device_name(device), commit=git_commit(),
                torch=torch.__version__.split("+")[0], compute_s=round(compute_s, 1),
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    tmp = path.with_suffix(".tmp")
    stored = _map_modules(value, lambda m: copy.deepcopy(m).to("cpu").half())
    torch.save({"meta": meta, "value": stored}, tmp)
    os.replace(tmp, path)
    manifest_path = path.parent / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[path.name] = meta | {"bytes": path.stat().st_size}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    os.replace(tmp, manifest_path)


def load(path: Path, device: str | torch.device = "cpu") -> tuple[object, dict]:
    """The stored value (networks moved to ``device``) and its metadata."""
    try:
        # The project's own files: they hold pickled results (tables, dataclasses, networks).
        stored = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a file from an older version of the helpers
        raise ResultMissing(f"{path} could not be loaded ({type(err).__name__}: {err}); "
                            "recompute it with `make results`") from err
    return _map_modules(stored["value"], lambda m: m.float().to(device)), stored["meta"]


def without_models(runs: Mapping[Hashable, object], keep: Iterable[Hashable] = ()
                   ) -> dict[Hashable, object]:
    """``runs`` (label -> :class:`~helpers.train.TrainResult` or
    :class:`~helpers.dynamics.ProbedRun`) with the networks dropped except those in
    ``keep``, and probes reduced to their recorded masks. Raises ``KeyError`` for a
    ``keep`` label that is not in ``runs``."""
    keep = set(keep)
    unknown = keep - set(runs)
    if unknown:
        raise KeyError(f"keep={sorted(unknown)} are not runs; accepted: {sorted(runs)}")
    return {label: _compact(run, label in keep) for label, run in runs.items()}


def _compact(run: object, keep_model: bool) -> object:
    from .dynamics import EpochProbe, ProbedRun
    from .train import TrainResult

    if isinstance(run, ProbedRun):
        probe = EpochProbe.__new__(EpochProbe)
        probe.__dict__ |= run.probe.__dict__ | dict(x=None, y=None, previous=None)
        return ProbedRun(_compact(run.result, keep_model), probe)
    if isinstance(run, TrainResult):
        return run if keep_model else dataclasses.replace(run, model=None)
    raise TypeError(f"runs values must be TrainResult or ProbedRun, not {type(run).__name__}")


def _map_modules(obj: object, fn: Callable[[nn.Module], nn.Module]) -> object:
    """Apply ``fn`` to every network inside dicts, lists, tuples and dataclasses."""
    if isinstance(obj, nn.Module):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_modules(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_modules(v, fn) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _map_modules(getattr(obj, f.name), fn)
                                           for f in dataclasses.fields(obj) if f.init})
    return obj
