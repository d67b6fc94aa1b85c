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
inspect, and the probe tensors of :class:`helpers.training_probes.ProbedRun`.
"""

from __future__ import annotations

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
        print(f"{name}: loaded {path.name}, computed on {meta['device']} (the call that "
              f"stored it ran {meta['compute_s']:.0f} s; {meta['created'][:10]}, commit "
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
    torch.save({"format": FORMAT, "meta": meta, "value": encode(value)}, tmp)
    os.replace(tmp, path)
    manifest_path = path.parent / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[path.name] = meta | {"bytes": path.stat().st_size}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    os.replace(tmp, manifest_path)


def load(path: Path, device: str | torch.device = "cpu") -> tuple[object, dict]:
    """The stored value (networks rebuilt on ``device``) and its metadata."""
    try:
        # The project's own files: plain containers, tables, tensors (see encode).
        stored = torch.load(path, map_location="cpu", weights_only=False)
        if stored.get("format") != FORMAT:
            raise ValueError(f"format {stored.get('format')!r}, expected {FORMAT}")
        return decode(stored["value"], device), stored["meta"]
    except Exception as err:  # a file from an older version of the helpers
        raise ResultMissing(f"{path} could not be loaded ({type(err).__name__}: {err}); "
                            "recompute it with `make results`") from err


# --- storage format: plain containers, so that renaming a class never breaks a result ----
# A stored value holds only dicts, lists, tuples, numbers, strings, tensors and pandas
# tables. Networks become their config and a float16 state dict; the result types of the
# helpers become tagged dicts. FORMAT changes whenever this encoding does.
FORMAT = 1


def _result_types() -> dict[str, type]:
    from .train import TrainResult
    from .training_probes import ProbedRun
    return {"TrainResult": TrainResult, "ProbedRun": ProbedRun}


def encode(obj: object) -> object:
    """``obj`` as plain containers (see the comment above :data:`FORMAT`)."""
    from .models import MLP
    from .training_probes import EpochProbe

    if isinstance(obj, MLP):
        state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
                 for k, v in obj.state_dict().items()}
        return {"__network__": dict(obj.config), "state_dict": state,
                "training": obj.training}
    if isinstance(obj, nn.Module):
        raise TypeError(f"cannot store a {type(obj).__name__}; accepted networks: MLP")
    if isinstance(obj, EpochProbe):
        return {"__probe__": {"metrics": list(obj.metrics), "grad_batch": obj.grad_batch,
                              "eps": obj.eps, "dead_masks": obj.dead_masks}}
    for tag, cls in _result_types().items():
        if isinstance(obj, cls):
            return {"__result__": tag, "fields": {f.name: encode(getattr(obj, f.name))
                                                  for f in dataclasses.fields(obj)}}
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(encode(v) for v in obj)
    return obj


def decode(obj: object, device: str | torch.device = "cpu") -> object:
    """The inverse of :func:`encode`; networks are rebuilt in float32 on ``device``."""
    from .model_variants import make_variant
    from .training_probes import EpochProbe

    if isinstance(obj, dict) and "__network__" in obj:
        cfg = obj["__network__"]
        model = make_variant(cfg["in_features"], cfg["depth"], cfg["width"],
                             cfg.get("variant", cfg["activation"]), cfg["batch_norm"],
                             bias_init=cfg["bias_init"], n_classes=cfg["n_classes"])
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in obj["state_dict"].items()})
        model.config = dict(cfg)
        return model.train(obj["training"]).to(device)
    if isinstance(obj, dict) and "__probe__" in obj:
        probe = EpochProbe.__new__(EpochProbe)
        probe.__dict__.update(obj["__probe__"], x=None, y=None, previous=None)
        probe.metrics = tuple(probe.metrics)
        return probe
    if isinstance(obj, dict) and "__result__" in obj:
        fields = {k: decode(v, device) for k, v in obj["fields"].items()}
        return _result_types()[obj["__result__"]](**fields)
    if isinstance(obj, dict):
        return {k: decode(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(decode(v, device) for v in obj)
    return obj


def without_models(runs: Mapping[Hashable, object], keep: Iterable[Hashable] = ()
                   ) -> dict[Hashable, object]:
    """``runs`` (label -> :class:`~helpers.train.TrainResult` or
    :class:`~helpers.training_probes.ProbedRun`) with the networks dropped except those in
    ``keep``, and probes reduced to their recorded masks. Raises ``KeyError`` for a
    ``keep`` label that is not in ``runs``."""
    keep = set(keep)
    unknown = keep - set(runs)
    if unknown:
        raise KeyError(f"keep={sorted(unknown)} are not runs; accepted: {sorted(runs)}")
    return {label: _compact(run, label in keep) for label, run in runs.items()}


def _compact(run: object, keep_model: bool) -> object:
    from .train import TrainResult
    from .training_probes import EpochProbe, ProbedRun

    if isinstance(run, ProbedRun):
        probe = EpochProbe.__new__(EpochProbe)
        probe.__dict__ |= run.probe.__dict__ | dict(x=None, y=None, previous=None)
        return ProbedRun(_compact(run.result, keep_model), probe)
    if isinstance(run, TrainResult):
        return run if keep_model else dataclasses.replace(run, model=None)
    raise TypeError(f"runs values must be TrainResult or ProbedRun, not {type(run).__name__}")
