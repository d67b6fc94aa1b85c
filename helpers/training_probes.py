"""Watching networks while they train (chapters 2-3).

* :class:`EpochProbe` — an ``on_epoch_end`` callback for :func:`helpers.train.train_model`:
  gradient norms, update sizes, saturation, output mean and spread, dead and sparse units
  per layer, after every epoch.
* :func:`run_configs` — trains a list of configurations (:func:`configs_product`) with
  a probe each and returns tidy tables (:func:`probe_long`) and a :class:`ProbedRun` per
  configuration.
* :func:`revived_units` — which units dead early in training came back to life.

Layers are numbered from 1 (the first hidden layer). Percentages are 0-100.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from .activations import saturation_eps
from .data import Dataset
from .metrics import (
    dead_units,
    gradient_norms,
    hidden_activations,
    layer_sparsity,
    saturation_fraction,
)
from .model_variants import config_label, make_variant
from .models import MLP
from .train import TrainResult, train_model

PROBE_METRICS = ("grad_norm", "update", "saturation", "act_mean", "act_std", "dead",
                 "sparsity")


class EpochProbe:
    """``on_epoch_end`` callback for :func:`helpers.train.train_model`.

    Every epoch, on the fixed real samples ``x, y`` it records per hidden layer (columns
    ``"<metric>/<layer>"``):

    * ``grad_norm`` — norm of the loss gradient w.r.t. the layer's weights on the first
      ``grad_batch`` samples, in training mode (batch-norm buffers restored afterwards);
    * ``update`` — ``|W_t - W_{t-1}| / |W_{t-1}|``, the relative change since last epoch;
    * ``saturation`` — % of outputs with sigmoid' <= ``threshold`` (sigmoid nets only);
    * ``act_mean``, ``act_std`` — mean and std of the outputs (Glorot & Bengio's Fig. 2);
    * ``dead`` — % of units with output <= 0 for every sample in ``x``;
    * ``sparsity`` — % of outputs <= 0 (the paper's Table 1 metric).

    ``dead_masks[epoch]`` keeps the per-unit dead masks for :func:`revived_units`.
    """

    def __init__(self, x: Tensor, y: Tensor, metrics: Iterable[str] = PROBE_METRICS,
                 grad_batch: int = 512, threshold: float = 0.1) -> None:
        self.metrics = tuple(metrics)
        for m in self.metrics:
            if m not in PROBE_METRICS:
                raise ValueError(f"metrics={m!r} is not supported; accepted values: "
                                 f"{PROBE_METRICS}")
        self.x, self.y = x, y
        self.grad_batch = grad_batch
        self.eps = saturation_eps(threshold)
        self.previous: list[Tensor] | None = None
        self.dead_masks: dict[int, list[Tensor]] = {}

    def __call__(self, model: MLP, epoch: int) -> dict[str, float]:
        x, y = self.x.to(next(model.parameters()).device), self.y
        values: dict[str, Tensor] = {}
        if {"saturation", "act_mean", "act_std", "dead", "sparsity"} & set(self.metrics):
            hidden = hidden_activations(model, x)
            self.dead_masks[epoch] = [(h <= 0).all(dim=0).cpu() for h in hidden]
            values |= {
                "saturation": 100 * saturation_fraction(hidden, self.eps),
                "act_mean": torch.stack([h.mean() for h in hidden]),
                "act_std": torch.stack([h.std() for h in hidden]),
                "dead": 100 * dead_units(hidden),
                "sparsity": layer_sparsity(hidden),
            }
        if "grad_norm" in self.metrics:
            values["grad_norm"] = self._grad_norms(model, x, y.to(x.device))
        if "update" in self.metrics:
            weights = [lin.weight.detach().clone() for lin in model.linears]
            values["update"] = (torch.full((len(weights),), float("nan"))
                                if self.previous is None else
                                torch.stack([(w - p).norm() / p.norm()
                                             for w, p in zip(weights, self.previous)]))
            self.previous = weights
        return {f"{m}/{layer}": v.item() for m in self.metrics
                for layer, v in enumerate(values[m].cpu(), start=1)}

    def _grad_norms(self, model: MLP, x: Tensor, y: Tensor) -> Tensor:
        buffers = {k: b.clone() for k, b in model.named_buffers()}
        was_training = model.training
        model.train()
        try:
            return gradient_norms(model, x[:self.grad_batch], y[:self.grad_batch])
        finally:
            model.train(was_training)
            with torch.no_grad():
                for k, b in model.named_buffers():
                    b.copy_(buffers[k])


def probe_long(history: pd.DataFrame) -> pd.DataFrame:
    """Tidy version of a history with probe columns: one row per (epoch, metric, layer),
    all other history columns kept as identifiers."""
    probe_cols = [c for c in history.columns if "/" in c]
    ids = [c for c in history.columns if c not in probe_cols]
    long = history.melt(id_vars=ids, value_vars=probe_cols, var_name="probe")
    split = long.pop("probe").str.split("/", expand=True)
    return long.assign(metric=split[0], layer=split[1].astype(int))


def configs_product(**options: list) -> list[dict]:
    """All combinations: ``configs_product(activation=["relu"], lr=[1e-3, 1e-2])``."""
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


CONFIG_KEYS = ("activation", "depth", "width", "batch_norm", "init", "init_gain", "bias_init",
               "lr")
CONFIG_DEFAULTS = dict(batch_norm=False, init="default", init_gain=1.0, bias_init=0.0,
                       lr=1e-3)


@dataclass
class ProbedRun:
    """One trained configuration: the training result and the probe that watched it."""

    result: TrainResult
    probe: EpochProbe


def run_configs(data: Dataset, configs: list[dict], probe_x: Tensor, probe_y: Tensor,
                max_epochs: int, metrics: Iterable[str] = PROBE_METRICS, seed: int = 0,
                device: str | torch.device = "cpu", progress: bool = True,
                **train_kwargs) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, ProbedRun]]:
    """Train each configuration with :func:`helpers.train.train_model` and an
    :class:`EpochProbe`; no early stopping unless ``patience`` is passed.

    ``configs``: dicts with ``activation``, ``depth``, ``width`` and optionally
    ``batch_norm``, ``init``, ``init_gain``, ``bias_init``, ``lr``. Returns ``summary``
    (one row per config: final train accuracy, best validation accuracy, test accuracy,
    final dead %, wall time...), ``long`` (:func:`probe_long` of every history, with the
    config columns and a ``label``) and a :class:`ProbedRun` per label.
    """
    for cfg in configs:
        unknown = set(cfg) - set(CONFIG_KEYS) - {"label"}
        missing = {"activation", "depth", "width"} - set(cfg)
        if unknown or missing:
            raise ValueError(f"configs entry {cfg!r} is invalid; keys must include "
                             f"activation, depth, width and may include {CONFIG_KEYS}")
    data = data.to(device)
    train_kwargs.setdefault("patience", max_epochs + 1)
    summaries, longs, results = [], [], {}
    for cfg in configs:
        cfg = CONFIG_DEFAULTS | cfg
        label = cfg.pop("label", None) or _run_label(cfg)
        model = make_variant(data.n_features, cfg["depth"], cfg["width"], cfg["activation"],
                             cfg["batch_norm"], cfg["init"], cfg["init_gain"],
                             cfg["bias_init"], data.n_classes, seed=seed, device=device)
        probe = EpochProbe(probe_x.to(device), probe_y.to(device), metrics)
        result = train_model(model, data, lr=cfg["lr"], max_epochs=max_epochs, seed=seed,
                             desc=label, on_epoch_end=probe, progress=progress, **train_kwargs)
        results[label] = ProbedRun(result, probe)
        h = result.history
        last = h.iloc[-1]
        dead_cols = [c for c in h.columns if c.startswith("dead/")]
        summaries.append(cfg | {
            "label": label, "epochs": int(last.epoch),
            "final train acc (%)": 100 * last.train_acc,
            "best val acc (%)": 100 * result.best_val_acc,
            "test acc (%)": 100 * result.test_acc,
            "final dead (%)": last[dead_cols].mean() if dead_cols else float("nan"),
            "diverged": result.diverged, "seconds": result.wall_time,
        })
        longs.append(probe_long(h.assign(label=label, **cfg)))
    return pd.DataFrame(summaries), pd.concat(longs, ignore_index=True), results


def run_label(summary: pd.DataFrame, **config) -> str:
    """The label of the :func:`run_configs` run whose configuration matches ``config``
    (registry names and numbers, e.g. ``activation="relu", lr=3e-2``; the keys of
    ``CONFIG_DEFAULTS`` not named are at their defaults), looked up in ``summary``, so a
    chapter never types a display label. Exactly one run must match."""
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise ValueError(f"run_label: unknown keys {sorted(unknown)}; accepted: "
                         f"{list(CONFIG_KEYS)}")
    wanted = {k: v for k, v in (CONFIG_DEFAULTS | config).items() if k in summary.columns}
    match = pd.Series(True, index=summary.index)
    for key, value in wanted.items():
        col = summary[key]
        match &= ((col - value).abs() <= 1e-12 * max(1.0, abs(value))
                  if isinstance(value, float) else col == value)
    labels = list(summary.loc[match, "label"])
    if len(labels) != 1:
        raise ValueError(f"run_label: {len(labels)} runs match {config}; accepted: the "
                         f"configuration of one of {list(summary['label'])}")
    return labels[0]


def select_run(summary: pd.DataFrame, runs: dict[str, ProbedRun], **config) -> ProbedRun:
    """``runs[run_label(summary, **config)]``: a run by its configuration."""
    return runs[run_label(summary, **config)]


def _run_label(cfg: dict) -> str:
    parts = [config_label(cfg["activation"], cfg["init"], cfg["batch_norm"], cfg["init_gain"])]
    parts.append(f"lr={cfg['lr']:g}")
    if cfg["bias_init"]:
        parts.append(f"bias={cfg['bias_init']:g}")
    return ", ".join(parts)


def revived_units(probe: EpochProbe, from_epoch: int = 1) -> pd.DataFrame:
    """Per layer: units dead at ``from_epoch``, how many of them are alive at the last
    recorded epoch, and units dead at the end that were alive at ``from_epoch``."""
    if from_epoch not in probe.dead_masks:
        raise ValueError(f"from_epoch={from_epoch!r} was not recorded; recorded: "
                         f"{sorted(probe.dead_masks)}")
    last = max(probe.dead_masks)
    rows = []
    for layer, (a, b) in enumerate(zip(probe.dead_masks[from_epoch], probe.dead_masks[last]), 1):
        rows.append({"layer": layer, f"dead at epoch {from_epoch}": int(a.sum()),
                     f"of those alive at epoch {last}": int((a & ~b).sum()),
                     f"newly dead by epoch {last}": int((~a & b).sum())})
    return pd.DataFrame(rows)
