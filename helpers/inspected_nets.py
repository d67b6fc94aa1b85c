"""The 4-layer networks that Section 3 of the paper looks inside ("train or load").

:func:`section3_networks` returns, for every (activation, batch norm, seed), the trained
network and its *untrained* twin: the same architecture built by
:func:`helpers.models.make_model` with the same seed, i.e. the trained net's initial state.

Where the trained nets come from, first match wins:

1. ``paper`` profile only: the paper grid's checkpoints (``helpers.grid.checkpoint``), when
   that module exists and holds a matching 4-layer net;
2. nets this module trained before, cached as state dicts under
   ``data/cache/section3/<profile>/`` (keyed by data, configuration, seed and settings);
3. training them now with :func:`helpers.train.train_mlp` (Adam, early stopping on the
   validation split), then caching them. Nets trained here keep their training history,
   which also records the layer sparsity on the validation split after every epoch.
   They use the learning rate the grid's search selected for the same configuration
   (depth, width, activation, batch norm) when the grid of the profile has a final run of
   it, else the profile's default rate; ``Section3Net.lr`` and ``lr_source`` say which.
   ``train=False`` raises :class:`FileNotFoundError` instead of training.

:func:`summarise_nets` runs a per-layer summary of chapters 5-6
(:mod:`helpers.activation_distributions`, :mod:`helpers.class_medians`) on every net and
state; :func:`mean_sd` and :func:`accuracy_table` format what the chapters print.

Profiles (:data:`SECTION3_SETTINGS`): ``quick`` trains 4x100 nets on seeded subsets for a
few epochs (seconds on a CPU); ``paper`` is the paper's 4x200 nets on the full splits, up to
300 epochs with patience 20 (GPU recommended; about an hour or more on two CPU cores).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .activation_registry import net_name
from .data import (
    DATA_HOME,
    PROJECT_ROOT,
    Dataset,
    check_dataset_name,
    load_dataset,
    source_label,
)
from .grid import DataSourceMismatch, checkpoint, load_results
from .metrics import hidden_activations, layer_sparsity
from .models import MLP, check_activation, default_device, make_model
from .profiles import check_profile
from .runtime import torch_threads
from .train import evaluate, train_mlp

SECTION3_SETTINGS: dict[str, dict] = {
    "quick": dict(depth=4, width=100, n_train=5_000, n_val=1_000, n_test=2_000,
                  subset_seed=0, lr=1e-3, batch_size=128, max_epochs=15, patience=5,
                  cpu_threads=1),
    "paper": dict(depth=4, width=200, n_train=None, n_val=None, n_test=None,
                  subset_seed=0, lr=1e-3, batch_size=128, max_epochs=300, patience=20,
                  cpu_threads=None),
}
# cpu_threads: torch threads while training on a CPU (None: one, helpers.runtime says why).
STATES = ("untrained", "trained")
CACHE_FORMAT = 2  # bump when the cached blob changes shape
ORIGINS = ("grid checkpoint", "cache", "trained now")


@dataclass
class InspectedNet:
    """One configuration and seed of a 4-layer net: the trained net and its initial
    (untrained) state, with where they came from. Chapters 5-8 inspect these."""

    dataset: str
    source: str
    activation: str
    batch_norm: bool
    seed: int
    untrained: MLP
    trained: MLP
    test_acc: float | None

    @property
    def model_name(self) -> str:
        """``sigmoid``, ``ReLU``, ``ReLU BN``..., as the paper's tables name them."""
        return net_name(self.activation, self.batch_norm)

    def model(self, state: str) -> MLP:
        """The ``"untrained"`` or ``"trained"`` network."""
        if state not in STATES:
            raise ValueError(f"state={state!r} is invalid; accepted values: {STATES}")
        return self.trained if state == "trained" else self.untrained


@dataclass
class Section3Net(InspectedNet):
    """A net of chapters 5-7: also its untrained test accuracy and training record."""

    untrained_test_acc: float = float("nan")
    origin: str = ""
    best_epoch: int | None = None
    history: pd.DataFrame | None = None  # training history; None for grid checkpoints
    lr: float | None = None  # learning rate it was trained with (None: unknown)
    lr_source: str = ""  # "grid search" or "default"


def section3_settings(profile: str) -> dict:
    """A copy of the settings of ``profile`` (``quick`` or ``paper``)."""
    return dict(SECTION3_SETTINGS[check_profile(profile)])


def section3_data(dataset: str, profile: str, root: str | os.PathLike | None = None) -> Dataset:
    """The data Section 3 uses: the full splits (``paper``) or seeded subsets (``quick``)."""
    s = section3_settings(profile)
    data = load_dataset(check_dataset_name(dataset), root=root)
    return data.subset(s["n_train"], s["n_val"], s["n_test"], seed=s["subset_seed"])


def data_fingerprint(data: Dataset) -> str:
    """A short hash of the data's source, split sizes and labels (part of the cache key)."""
    h = hashlib.sha1(f"{data.source}:{len(data.train)}:{len(data.val)}:{len(data.test)}".encode())
    for split in (data.train, data.val, data.test):
        h.update(split.y.cpu().numpy().tobytes())
        h.update(f"{split.x[:64].double().sum().item():.6e}".encode())
    return h.hexdigest()[:10]


def cache_path(data: Dataset, profile: str, activation: str, batch_norm: bool, seed: int,
               cache_dir: str | os.PathLike | None = None, lr: float | None = None) -> Path:
    """Where the trained state dict of one configuration is cached (``lr``: the rate it is
    trained with, if not the profile's default)."""
    s = section3_settings(profile)
    s["lr"] = s["lr"] if lr is None else lr
    key = json.dumps({**s, "data": data_fingerprint(data)}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    folder = Path(cache_dir) if cache_dir else DATA_HOME / "cache" / "section3" / profile
    name = (f"{data.source}_{activation}{'_bn' if batch_norm else ''}_seed{seed}_"
            f"{s['depth']}x{s['width']}_{digest}.pt")
    return folder / name


def _check_configs(activations: Sequence[str], batch_norms: Sequence[bool],
                   seeds: Sequence[int]) -> None:
    if isinstance(activations, str) or not activations:
        raise ValueError(f"activations={activations!r} is invalid; accepted: a non-empty "
                         "sequence such as ('sigmoid', 'relu')")
    for a in activations:
        check_activation(a)
    if not batch_norms or any(not isinstance(b, bool) for b in batch_norms):
        raise ValueError(f"batch_norms={batch_norms!r} is invalid; accepted: a non-empty "
                         "sequence of booleans such as (False, True)")
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds={seeds!r} is invalid; accepted: a non-empty sequence of ints")


def _grid_checkpoint(profile: str, data: Dataset, activation: str, batch_norm: bool, seed: int,
                     trained: bool, depth: int, width: int) -> MLP | None:
    """The paper grid's checkpoint (:func:`helpers.grid.checkpoint`), or None when the grid
    cannot provide this net (module or results missing, or no such width, depth or seed).
    :class:`~helpers.grid.DataSourceMismatch` passes through: the grid trained it on
    another copy of ``data``."""
    try:
        return checkpoint(profile, data.name, activation, batch_norm, seed, trained=trained,
                          width=width, depth=depth, source=data.source)
    except DataSourceMismatch:
        raise
    except FileNotFoundError:  # not computed yet
        return None
    except ValueError:  # the grid stores no checkpoint of this shape or seed
        return None


def grid_learning_rates(profile: str, dataset: str, depth: int,
                        width: int) -> dict[tuple[str, bool], float]:
    """``{(activation, batch_norm): lr}``: the rates the grid of ``profile`` selected for
    its ``depth`` x ``width`` nets (those of its final runs); empty without such runs."""
    runs = load_results(profile, dataset, missing_ok=True).runs
    if runs is None or runs.empty:
        return {}
    rows = runs[(runs["depth"] == depth) & (runs["width"] == width)]
    if "phase" in rows:
        rows = rows[rows["phase"] == "final"]
    return {(str(a), bool(b)): float(g["lr"].iloc[0])
            for (a, b), g in rows.groupby(["activation", "batch_norm"])}


def grid_best_epoch(profile: str, dataset: str, activation: str, batch_norm: bool, seed: int,
                    depth: int, width: int) -> int | None:
    """The epoch whose state the grid kept for this final run, or None without the run."""
    runs = load_results(profile, dataset, missing_ok=True).runs
    if runs is None or runs.empty:
        return None
    rows = runs[(runs["depth"] == depth) & (runs["width"] == width)
                & (runs["activation"] == activation) & (runs["batch_norm"] == batch_norm)
                & (runs["seed"] == seed)]
    return int(rows["best_epoch"].iloc[0]) if len(rows) else None


def _from_grid(data: Dataset, profile: str, activation: str, batch_norm: bool, seed: int,
               s: dict) -> tuple[MLP, MLP] | None:
    if profile != "paper":  # the quick profile always trains small nets live
        return None
    shape = dict(depth=s["depth"], width=s["width"])
    trained = _grid_checkpoint(profile, data, activation, batch_norm, seed, True, **shape)
    want = dict(**shape, activation=activation, batch_norm=batch_norm,
                in_features=data.n_features)
    if trained is None or any(trained.config.get(k) != v for k, v in want.items()):
        return None
    untrained = _grid_checkpoint(profile, data, activation, batch_norm, seed, False, **shape)
    if untrained is None:
        untrained = _initial_model(data, s, activation, batch_norm, seed)
    return untrained.cpu().eval(), trained.cpu().eval()


def _initial_model(data: Dataset, s: dict, activation: str, batch_norm: bool, seed: int) -> MLP:
    return make_model(data.n_features, s["depth"], s["width"], activation, batch_norm,
                      data.n_classes, seed=seed)


def _from_cache(path: Path, s: dict) -> tuple[MLP, int | None, pd.DataFrame | None] | None:
    if not path.exists():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("settings") != s or blob.get("format") != CACHE_FORMAT:
        return None
    model = MLP(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    return model.eval(), blob["best_epoch"], pd.DataFrame(blob["history"])


def _save(path: Path, model: MLP, s: dict, best_epoch: int, history: pd.DataFrame) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"format": CACHE_FORMAT, "config": model.config, "settings": s,
                    "best_epoch": best_epoch, "history": history.to_dict(orient="list"),
                    "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, tmp)
        tmp.replace(path)
    except OSError:  # read-only checkout: fine, the nets are just retrained next time
        pass


def section3_networks(
    data: str | Dataset,
    profile: str,
    activations: Sequence[str] = ("sigmoid", "relu"),
    batch_norms: Sequence[bool] = (False, True),
    seeds: Sequence[int] = (0, 1, 2),
    device: str | torch.device | None = None,
    progress: bool = True,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    train: bool = True,
    skip_missing: bool = False,
) -> dict[tuple[str, bool, int], Section3Net]:
    """Untrained and trained 4-layer MLPs for every activation x batch norm x seed.

    ``data`` is a dataset name (loaded with :func:`section3_data`) or the Dataset that
    :func:`section3_data` returned. Keys of the result are ``(activation, batch_norm, seed)``;
    networks are returned on the CPU in eval mode. Training runs on ``device`` (GPU when
    one is visible). Test accuracies are measured on ``data.test`` whatever the origin.
    ``train=False``: only load (grid checkpoints, cache); a missing net raises
    :class:`FileNotFoundError`, or is left out with ``skip_missing=True`` (the ``paper``
    book renders what the grid has computed so far; see :func:`missing_report`).
    """
    check_profile(profile)
    _check_configs(activations, batch_norms, seeds)
    if isinstance(data, str):
        data = section3_data(data, profile, root=root)
    s = section3_settings(profile)
    device = device or default_device()
    configs = [(a, b, seed) for a in activations for b in batch_norms for seed in seeds]
    nets: dict[tuple[str, bool, int], Section3Net] = {}
    bar = tqdm(configs, desc=f"{data.label} 4x{s['width']} nets", disable=not progress)
    rates = grid_learning_rates(profile, data.name, s["depth"], s["width"])
    with torch_threads(s["cpu_threads"], device):  # one thread on CPU: helpers.runtime
        for activation, batch_norm, seed in bar:
            bar.set_postfix(net=f"{activation}{' BN' if batch_norm else ''} seed {seed}")
            try:
                nets[(activation, batch_norm, seed)] = _one_net(
                    data, profile, s, activation, batch_norm, seed, device, progress,
                    cache_dir, train, rates.get((activation, batch_norm)))
            except FileNotFoundError:
                if train or not skip_missing:
                    raise
    return nets


def missing_report(nets: dict, data: Dataset, activations: Sequence[str],
                   batch_norms: Sequence[bool], seeds: Sequence[int]) -> str:
    """One line: how many of the requested nets exist, and what is still pending."""
    wanted = [(a, b, s) for a in activations for b in batch_norms for s in seeds]
    missing = [k for k in wanted if k not in nets]
    line = f"{data.label}: {len(wanted) - len(missing)} of {len(wanted)} trained 4-layer nets"
    if missing:
        line += (" available; pending (computed by `make grid`): "
                 + ", ".join(f"{a}{' BN' if b else ''} seed {s}" for a, b, s in missing))
    return line


def _sparsity_monitor(data: Dataset) -> Callable[[nn.Module, int], dict]:
    """``on_epoch_end`` hook: layer sparsity (%) on the validation split after each epoch."""
    x = data.val.x

    def monitor(model: nn.Module, epoch: int) -> dict:
        sparsity = layer_sparsity(hidden_activations(model, x.to(next(model.parameters()).device)))
        return {f"val sparsity L{i + 1} (%)": v for i, v in enumerate(sparsity.tolist())}

    return monitor


def _one_net(data: Dataset, profile: str, s: dict, activation: str, batch_norm: bool,
             seed: int, device, progress: bool, cache_dir, train: bool = True,
             grid_lr: float | None = None) -> Section3Net:
    best_epoch, history = None, None
    lr, lr_source = (s["lr"], "default") if grid_lr is None else (grid_lr, "grid search")
    s = {**s, "lr": lr}
    try:
        grid, mismatch = _from_grid(data, profile, activation, batch_norm, seed, s), None
    except DataSourceMismatch as err:  # the grid's net exists, but for another data copy
        grid, mismatch = None, err
    if grid is not None:
        untrained, trained = grid
        origin = "grid checkpoint"
        best_epoch = grid_best_epoch(profile, data.name, activation, batch_norm, seed,
                                     s["depth"], s["width"])
    else:
        untrained = _initial_model(data, s, activation, batch_norm, seed).eval()
        path = cache_path(data, profile, activation, batch_norm, seed, cache_dir, lr=lr)
        cached = _from_cache(path, s)
        if cached is not None:
            (trained, best_epoch, history), origin = cached, "cache"
        elif not train:
            if mismatch is not None:
                raise mismatch
            raise FileNotFoundError(
                f"no trained {activation}{' BN' if batch_norm else ''} seed {seed} net on "
                f"{data.label} ({profile}): neither a grid checkpoint nor a cached net "
                f"({_relative(path)}); `make grid` computes the grid's 4-layer nets")
        else:
            result = train_mlp(
                data, s["depth"], s["width"], activation, batch_norm, lr=lr, seed=seed,
                device=device, batch_size=s["batch_size"], max_epochs=s["max_epochs"],
                patience=s["patience"], progress=progress,
                desc=f"{activation}{' BN' if batch_norm else ''} seed {seed}",
                on_epoch_end=_sparsity_monitor(data),
            )
            trained, best_epoch, history = result.model.cpu().eval(), result.best_epoch, \
                result.history
            origin = "trained now"
            _save(path, trained, s, best_epoch, history)
    return Section3Net(
        dataset=data.name, source=data.source, activation=activation, batch_norm=batch_norm,
        seed=seed, untrained=untrained, trained=trained,
        test_acc=evaluate(trained, data.test.to("cpu"))[1],
        untrained_test_acc=evaluate(untrained, data.test.to("cpu"))[1],
        origin=origin, best_epoch=best_epoch, history=history, lr=lr, lr_source=lr_source,
    )


def _relative(path: Path) -> str:
    """``path`` relative to the project when inside it (no builder's paths on the site)."""
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return Path(path).name


ACCURACY_COLUMNS = ["data", "dataset", "model", "seed", "origin", "lr", "lr from",
                    "best epoch", "untrained test acc (%)", "trained test acc (%)"]


def accuracy_table(nets: dict[tuple[str, bool, int], Section3Net]) -> pd.DataFrame:
    """One row per net: model, seed, origin, learning rate and where it came from, best
    epoch and test accuracy (%) before and after training (no rows: no nets yet)."""
    return pd.DataFrame(columns=ACCURACY_COLUMNS, data=[
        {"data": source_label(n.source), "dataset": n.dataset, "model": n.model_name,
         "seed": n.seed, "origin": n.origin, "lr": n.lr, "lr from": n.lr_source,
         "best epoch": n.best_epoch,
         "untrained test acc (%)": 100 * n.untrained_test_acc,
         "trained test acc (%)": 100 * n.test_acc}
        for n in nets.values()
    ])


# ------------------------------------------------------------ per-layer tables over nets
# Summary columns that only mean something for one activation (NaN for other nets).
ACTIVATION_ONLY_COLUMNS = {"|median - 0.5|": "sigmoid", "medians within 0.25 of 0.5 (%)": "sigmoid",
                           "medians near 0 or 1 (%)": "sigmoid"}


def summarise_nets(nets: Iterable[Section3Net], data: Dataset,
                   summary: Callable[..., pd.DataFrame], states: Sequence[str] = STATES,
                   **kwargs) -> pd.DataFrame:
    """Run a per-layer ``summary(hidden, y, n_classes, **kwargs)`` on the test split for
    every net and state; one long table with columns data, model, activation, batch norm,
    seed, state and the summary's columns. Columns that only describe one activation
    (:data:`ACTIVATION_ONLY_COLUMNS`) are NaN for nets with another."""
    bad = [s for s in states if s not in STATES]
    if bad or not states:
        raise ValueError(f"states={states!r} is invalid; accepted values: {STATES}")
    x, y = data.test.x.cpu(), data.test.y.cpu()
    frames = []
    for net in nets:
        for state in states:
            hidden = hidden_activations(net.model(state), x)
            table = summary(hidden, y, data.n_classes, **kwargs)
            for column, activation in ACTIVATION_ONLY_COLUMNS.items():
                if column in table and net.activation != activation:
                    table[column] = math.nan
            frames.append(table.assign(
                data=source_label(net.source), dataset=net.dataset, model=net.model_name,
                activation=net.activation, batch_norm=net.batch_norm, seed=net.seed,
                state=state))
    front = ["data", "dataset", "model", "activation", "batch_norm", "seed", "state", "layer"]
    table = pd.concat(frames, ignore_index=True)
    return table[front + [c for c in table.columns if c not in front]]


def mean_sd(table: pd.DataFrame, by: Sequence[str], values: Sequence[str] | None = None,
            decimals: int = 1) -> pd.DataFrame:
    """``"mean ± sd"`` strings over seeds (sample sd; only the mean when there is one seed;
    ``—`` where there is no value)."""
    values = list(values) if values is not None else [
        c for c in table.select_dtypes("number").columns if c not in [*by, "seed"]]
    grouped = table.groupby(list(by), sort=False)[values]
    mean, sd, n = grouped.mean(), grouped.std(ddof=1), grouped.count()

    def fmt(m: float, s: float, k: int) -> str:
        if k == 0 or m != m:  # no value (e.g. a sigmoid-only column of a ReLU net)
            return "—"
        return f"{m:.{decimals}f}" if k < 2 else f"{m:.{decimals}f} ± {s:.{decimals}f}"

    return pd.DataFrame({c: [fmt(m, s, k) for m, s, k in zip(mean[c], sd[c], n[c])]
                         for c in values}, index=mean.index)
