"""What happens inside a network at initialisation and during training (chapters 2-3).

* :func:`make_variant` — the book's :class:`~helpers.models.MLP` with a chosen
  initialisation (``xavier``, ``he``, Glorot & Bengio's ``standard``), weight gain, and
  a few extra activations (``linear``, ``sigmoid4``, ``prelu``).
* :func:`pre_activations` — the inputs of every activation (after batch norm).
* At initialisation: :func:`init_gradient_norms`, :func:`activation_scale`,
  :func:`gain_saturation`.
* During training: :class:`EpochProbe` (an ``on_epoch_end`` callback for
  :func:`helpers.train.train_model`: gradient norms, update sizes, saturation, dead and
  sparse units per layer) and :func:`run_configs`, which trains a list of configurations
  with it and returns tidy tables.
* Dead versus sparse: :func:`dead_vs_sparse`, :func:`revived_units`.
* The chapter 2-3 figures.

Layers are numbered from 1 (the first hidden layer). Percentages are 0-100.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import to_rgb
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
from torch import Tensor, nn

from .activations import COLORS, NAMES, HandWritten, saturation_eps, spec
from .data import Dataset
from .metrics import (
    dead_units,
    gradient_norms,
    hidden_activations,
    layer_sparsity,
    saturation_fraction,
)
from .models import ACTIVATIONS, MLP, init_scheme, init_weight, make_model
from .plots import learning_curves, with_source
from .train import TrainResult, train_model

INITS = ("default", "xavier", "he", "standard")
EXTRA_ACTIVATIONS = {"linear": "relu", "sigmoid4": "sigmoid", "prelu": "relu"}
VARIANT_ACTIVATIONS = tuple(ACTIVATIONS) + tuple(EXTRA_ACTIVATIONS)
INIT_NAMES = {"xavier": "Xavier", "he": "He", "standard": "standard"}
PROBE_METRICS = ("grad_norm", "update", "saturation", "act_mean", "act_std", "dead",
                 "sparsity")


def _check(name: str, value, accepted: Iterable) -> None:
    accepted = tuple(accepted)
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is not supported; accepted values: {accepted}")


def resolved_init(activation: str, init: str = "default") -> str:
    """The init scheme ``make_variant`` uses: the book's choice for ``default`` (Xavier for
    sigmoid/tanh/linear, He for the ReLU family), else ``init`` itself."""
    _check("activation", activation, VARIANT_ACTIVATIONS)
    _check("init", init, INITS)
    if init != "default":
        return init
    if activation == "linear":
        return "xavier"
    return init_scheme(EXTRA_ACTIVATIONS.get(activation, activation))


@torch.no_grad()
def _init_weights(model: MLP, init: str, gain: float) -> None:
    for lin in model.linears:
        if init in ("xavier", "he"):
            init_weight(lin.weight, init)
        else:  # "standard": U(-1/sqrt(fan_in), 1/sqrt(fan_in)), Glorot & Bengio (2010) eq. 1
            bound = 1 / math.sqrt(lin.in_features)
            nn.init.uniform_(lin.weight, -bound, bound)
        lin.weight.mul_(gain)


def make_variant(
    in_features: int,
    depth: int,
    width: int,
    activation: str = "relu",
    batch_norm: bool = False,
    init: str = "default",
    init_gain: float = 1.0,
    bias_init: float = 0.0,
    n_classes: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> MLP:
    """A seeded :class:`~helpers.models.MLP` with a chosen hidden-layer initialisation.

    ``init``: ``default`` (the book's), ``xavier`` (Glorot-uniform), ``he`` (Kaiming-normal,
    fan-in) or ``standard`` (U(±1/sqrt(fan_in)), Glorot & Bengio's "standard" init and
    PyTorch's ``nn.Linear`` default). Hidden weights are then multiplied by ``init_gain``.
    ``activation`` may also be ``linear`` (identity), ``sigmoid4`` (sigmoid(4x)) or
    ``prelu`` (one learnable negative slope shared by all layers, starting at 0.25).
    With ``init="default"`` and ``init_gain=1`` the weights equal ``make_model``'s.
    """
    scheme = resolved_init(activation, init)
    if not init_gain > 0:
        raise ValueError(f"init_gain={init_gain!r} is invalid; accepted: a float > 0")
    base = EXTRA_ACTIVATIONS.get(activation, activation)
    model = make_model(in_features, depth, width, base, batch_norm, n_classes, seed=seed,
                       bias_init=bias_init)
    if scheme != init_scheme(base) or init_gain != 1.0:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _init_weights(model, scheme, init_gain)
    if activation == "prelu":
        model.act = nn.PReLU(num_parameters=1, init=0.25)
    elif activation in EXTRA_ACTIVATIONS:
        model.act = HandWritten(activation)
    model.config |= {"variant": activation, "init": scheme, "init_gain": init_gain}
    return model.to(device)


@torch.no_grad()
def pre_activations(model: MLP, x: Tensor, batch_size: int = 10_000) -> list[Tensor]:
    """The input of the activation in every hidden layer (after batch norm, if any), in
    eval mode, each ``[N, width]``."""
    captured: list[list[Tensor]] = [[] for _ in model.norms]
    hooks = [norm.register_forward_hook(lambda _m, _i, out, k=k: captured[k].append(out))
             for k, norm in enumerate(model.norms)]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [torch.cat(c) for c in captured]


def mean_derivative(model: MLP, x: Tensor) -> list[float]:
    """Per layer, the mean of the activation's derivative over the pre-activations that
    real inputs ``x`` produce (closed forms from :mod:`helpers.activations`)."""
    name = model.config.get("variant", model.config["activation"])
    derivative = spec(name).derivative
    return [derivative(z).mean().item() for z in pre_activations(model, x)]


def config_label(activation: str, init: str = "default", batch_norm: bool = False,
                 init_gain: float = 1.0) -> str:
    """``"sigmoid (Xavier)"``, ``"ReLU (He) + BN"``, ``"sigmoid (standard x4)"``..."""
    scheme = INIT_NAMES[resolved_init(activation, init)]
    gain = f" x{init_gain:g}" if init_gain != 1.0 else ""
    return f"{NAMES.get(activation, activation)} ({scheme}{gain}){' + BN' if batch_norm else ''}"


# --- at initialisation --------------------------------------------------------------------

def _batches(x: Tensor, y: Tensor, batch_size: int, n_batches: int) -> list[tuple[Tensor, Tensor]]:
    if n_batches * batch_size > len(x):
        raise ValueError(f"n_batches={n_batches!r} x batch_size={batch_size!r} is more than "
                         f"the {len(x)} samples given")
    return [(x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size])
            for i in range(n_batches)]


def init_gradient_norms(x: Tensor, y: Tensor, configs: list[dict], depths: list[int],
                        width: int, batch_size: int = 256, n_batches: int = 4,
                        seeds: Iterable[int] = (0,)) -> pd.DataFrame:
    """Per-layer weight-gradient norms of freshly initialised networks on real batches.

    ``configs``: dicts with ``activation`` and optionally ``init``, ``batch_norm``,
    ``init_gain``. Networks are in training mode (batch norm uses batch statistics, as in
    the first training step). Returns one row per (config, depth, seed, layer) with the
    norm averaged over ``n_batches`` batches of ``batch_size`` and ``relative``: the norm
    divided by that of the last hidden layer; ``network`` is the label without BN and
    ``book init`` says whether the init is the book's choice for the activation.
    """
    batches = _batches(x, y, batch_size, n_batches)
    rows = []
    for cfg, depth, seed in itertools.product(configs, depths, seeds):
        model = make_variant(x.shape[1], depth, width, seed=seed, **cfg).to(x.device).train()
        norms = torch.stack([gradient_norms(model, xb, yb) for xb, yb in batches]).mean(0)
        for layer, value in enumerate(norms.tolist(), start=1):
            rows.append({"config": config_label(**cfg), **_network_columns(cfg),
                         "activation": cfg["activation"],
                         "batch_norm": cfg.get("batch_norm", False), "depth": depth,
                         "seed": seed, "layer": layer, "grad_norm": value,
                         "relative": value / norms[-1].item()})
    return pd.DataFrame(rows)


def _network_columns(cfg: dict) -> dict:
    """``network``: the label without BN; ``book init``: the book's init at gain 1."""
    book = (resolved_init(cfg["activation"], cfg.get("init", "default"))
            == resolved_init(cfg["activation"]) and cfg.get("init_gain", 1.0) == 1.0)
    return {"network": config_label(**(cfg | {"batch_norm": False})), "book init": book}


def gradient_ratio(norms: pd.DataFrame) -> pd.DataFrame:
    """From :func:`init_gradient_norms`: first-layer norm / last-layer norm per config and
    depth (mean over seeds; below 1: gradients shrink on the way down), and the geometric
    mean factor per layer, ``ratio ** (1 / (depth - 1))``."""
    keys = [k for k in ("config", "network", "book init", "batch_norm", "depth")
            if k in norms.columns]
    first = norms[norms.layer == 1].groupby(keys)["relative"]
    ratio = first.mean().rename("layer 1 / layer L").reset_index()
    steps = (ratio.depth - 1).where(ratio.depth > 1)
    ratio["factor per layer"] = ratio["layer 1 / layer L"] ** (1 / steps)
    return ratio


def activation_scale(x: Tensor, configs: list[dict], depth: int, width: int,
                     seed: int = 0) -> pd.DataFrame:
    """At initialisation, per layer: the root-mean-square of the outputs, the largest
    output and the std of the pre-activations, on real inputs ``x``."""
    rows = []
    for cfg in configs:
        model = make_variant(x.shape[1], depth, width, seed=seed, **cfg).to(x.device)
        hidden, pre = hidden_activations(model, x), pre_activations(model, x)
        for layer, (h, z) in enumerate(zip(hidden, pre), start=1):
            rows.append({"config": config_label(**cfg), **_network_columns(cfg),
                         "layer": layer, "output RMS": h.pow(2).mean().sqrt().item(),
                         "max output": h.max().item(),
                         "pre-activation std": z.std().item()})
    return pd.DataFrame(rows)


def gain_saturation(x: Tensor, gains: list[float], depth: int, width: int,
                    init: str = "xavier", threshold: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Sigmoid networks at initialisation with hidden weights scaled by each gain: per
    layer, the % of outputs in the saturated regions (sigmoid' <= ``threshold``) and the
    pre-activation std."""
    eps = saturation_eps(threshold)
    rows = []
    for gain in gains:
        model = make_variant(x.shape[1], depth, width, "sigmoid", init=init, init_gain=gain,
                             seed=seed).to(x.device)
        sat = saturation_fraction(hidden_activations(model, x), eps)
        pre = pre_activations(model, x)
        for layer in range(depth):
            rows.append({"gain": gain, "layer": layer + 1,
                         "saturated (%)": 100 * sat[layer].item(),
                         "pre-activation std": pre[layer].std().item()})
    return pd.DataFrame(rows)


# --- during training ----------------------------------------------------------------------

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
            _check("metrics", m, PROBE_METRICS)
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


def _run_label(cfg: dict) -> str:
    parts = [config_label(cfg["activation"], cfg["init"], cfg["batch_norm"], cfg["init_gain"])]
    parts.append(f"lr={cfg['lr']:g}")
    if cfg["bias_init"]:
        parts.append(f"bias={cfg['bias_init']:g}")
    return ", ".join(parts)


# --- dead versus sparse -------------------------------------------------------------------

def dead_vs_sparse(models: dict[str, nn.Module], x: Tensor) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each model on the same inputs ``x``: per layer the dead % (units off for every
    sample), the sparsity % (outputs <= 0, averaged over all units), the sparsity of the
    units that are not dead, and the % of units off for at least 90 % of the samples; and
    a per-unit table of the fraction of samples each unit is off for."""
    layers, units = [], []
    for label, model in models.items():
        hidden = hidden_activations(model, x)
        dead, sparse = dead_units(hidden), layer_sparsity(hidden)
        for layer, h in enumerate(hidden, start=1):
            off = (h <= 0).float().mean(dim=0)
            live = off[off < 1]
            layers.append({"model": label, "layer": layer,
                           "dead (%)": 100 * dead[layer - 1].item(),
                           "sparsity (%)": sparse[layer - 1].item(),
                           "sparsity of live units (%)":
                               100 * live.mean().item() if len(live) else float("nan"),
                           "units off >= 90% (%)": 100 * (off >= 0.9).float().mean().item()})
            units.append(pd.DataFrame({"model": label, "layer": layer,
                                       "unit": range(len(off)),
                                       "off fraction": off.cpu().numpy()}))
    return pd.DataFrame(layers), pd.concat(units, ignore_index=True)


def sparsity_by_condition(conditions: dict[str, tuple[nn.Module, Tensor]]) -> pd.DataFrame:
    """Per-layer sparsity (%) of ``model`` on ``x`` for each named condition."""
    rows = []
    for name, (model, x) in conditions.items():
        for layer, value in enumerate(layer_sparsity(hidden_activations(model, x)).tolist(), 1):
            rows.append({"condition": name, "layer": layer, "sparsity (%)": value})
    return pd.DataFrame(rows)


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


# --- figures ------------------------------------------------------------------------------

def _shade(color: str, k: int) -> tuple[float, float, float]:
    """Variant ``k`` of a colour: itself, then darker, then lighter, ..."""
    rgb = np.array(to_rgb(color))
    if k == 0:
        return tuple(rgb)
    target = np.zeros(3) if k % 2 else np.ones(3)
    return tuple(rgb + (target - rgb) * min(0.3 * ((k + 1) // 2) + 0.15, 0.8))


def _config_palette(labels: Iterable[str]) -> dict[str, tuple]:
    """Colour by activation (the label's first word), one shade per variant."""
    labels = list(dict.fromkeys(labels))
    by_name = {v: k for k, v in NAMES.items()}
    palette, seen = {}, {}
    for label in labels:
        color = COLORS.get(by_name.get(label.split(" (")[0]), "#444444")
        palette[label] = _shade(color, seen.get(color, 0))
        seen[color] = seen.get(color, 0) + 1
    return palette


def _layer_palette(n: int) -> list:
    """Dark (deep layers) to green (layer 1), avoiding viridis' pale yellow end."""
    return sns.color_palette("viridis", as_cmap=True)(np.linspace(0.82, 0.0, n)).tolist()


def _network_styles(table: pd.DataFrame) -> dict:
    """Colour per network (activation + init, without BN); dashed lines for an init that
    is not the book's choice for that activation."""
    networks = list(dict.fromkeys(table.network))
    book = table.drop_duplicates("network").set_index("network")["book init"]
    return dict(hue="network", hue_order=networks, palette=_config_palette(networks),
                style="network", style_order=networks,
                dashes={n: ("" if book[n] else (3, 2)) for n in networks})


def plot_init_gradients(norms: pd.DataFrame, source: str, depth: int) -> plt.Figure:
    """Per-layer gradient norms at initialisation for one depth, without and with BN.
    Dashed: an initialisation other than the book's for that activation."""
    d = norms[norms.depth == depth]
    grid = sns.relplot(data=d, x="layer", y="grad_norm", col="batch_norm", kind="line",
                       marker="o", height=3.6, aspect=1.2, errorbar=None,
                       **_network_styles(d))
    grid.set(yscale="log", xticks=range(1, depth + 1))
    grid.set_axis_labels("hidden layer (1 = nearest the input)",
                         "|dL/dW| before training (nats per unit weight)")
    for ax, bn in zip(grid.axes.flat, sorted(d.batch_norm.unique())):
        ax.set_title("with batch norm" if bn else "without batch norm")
    grid.figure.suptitle(with_source(f"Gradient norm per layer, depth {depth}, before "
                                     "training", source), y=1.03)
    return grid.figure


def plot_gradient_ratio(ratio: pd.DataFrame, source: str) -> plt.Figure:
    """Layer-1 / last-layer gradient-norm ratio against depth, without and with BN."""
    grid = sns.relplot(data=ratio, x="depth", y="layer 1 / layer L", col="batch_norm",
                       kind="line", marker="o", height=3.4, aspect=1.2,
                       **_network_styles(ratio))
    grid.set(yscale="log", xticks=sorted(ratio.depth.unique()))
    for ax, bn in zip(grid.axes.flat, sorted(ratio.batch_norm.unique())):
        ax.axhline(1, color="black", linewidth=0.8, linestyle=":")
        ax.set_title("with batch norm" if bn else "without batch norm")
    grid.set_axis_labels("depth L (hidden layers)", "gradient norm, layer 1 / layer L")
    grid.figure.suptitle(with_source("Do gradients shrink towards the input? (before "
                                     "training)", source), y=1.03)
    return grid.figure


def plot_layer_metric(long: pd.DataFrame, metric: str, source: str, ylabel: str,
                      col: str = "label", col_wrap: int | None = 3, logy: bool = False,
                      title: str | None = None) -> plt.Figure:
    """One panel per ``col`` value: ``metric`` against epoch, one line per layer."""
    d = long[long.metric == metric].dropna(subset=["value"])
    grid = sns.relplot(data=d, x="epoch", y="value", hue="layer", col=col, col_wrap=col_wrap,
                       kind="line", marker="o", markersize=4,
                       palette=_layer_palette(d.layer.nunique()),
                       height=2.9, aspect=1.25, facet_kws=dict(sharey=True))
    if logy:
        grid.set(yscale="log")
    grid.set_titles("{col_name}")
    grid.set_axis_labels("epoch", ylabel)
    grid.figure.suptitle(with_source(title or metric, source), y=1.03)
    return grid.figure


def plot_activation_bands(long: pd.DataFrame, source: str, col_wrap: int | None = 3
                          ) -> plt.Figure:
    """Glorot & Bengio (2010), Fig. 2 style: per layer, the mean output (line) +/- one std
    (band) against epoch, one panel per run."""
    d = long[long.metric.isin(["act_mean", "act_std"])]
    wide = d.pivot_table(index=["label", "epoch", "layer"], columns="metric",
                         values="value").reset_index()
    labels = list(dict.fromkeys(d.label))
    n_cols = min(col_wrap or len(labels), len(labels))
    n_rows = math.ceil(len(labels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.7 * n_cols, 3.0 * n_rows),
                             squeeze=False)
    colors = _layer_palette(wide.layer.nunique())
    for ax, label in zip(axes.flat, labels):
        w = wide[wide.label == label]
        for (layer, g), color in zip(w.groupby("layer"), colors):
            ax.plot(g.epoch, g.act_mean, color=color, marker="o", markersize=3,
                    label=f"layer {layer}")
            ax.fill_between(g.epoch, g.act_mean - g.act_std, g.act_mean + g.act_std,
                            color=color, alpha=0.12)
        ax.set(title=label, xlabel="epoch", ylabel="output: mean ± std")
    for ax in axes.flat[len(labels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(with_source("Hidden-layer outputs during training (after Glorot & Bengio "
                             "2010, Fig. 2)", source))
    fig.tight_layout()
    return fig


def plot_dead_fraction(long: pd.DataFrame, source: str, col: str, title: str,
                       col_order: list | None = None) -> plt.Figure:
    """Dead units (% of all hidden units) against epoch, one panel per value of ``col``
    (e.g. ``lr`` or ``bias_init``, in ``col_order``), colour = activation, dashes = BN."""
    d = long[long.metric == "dead"].groupby(
        ["label", "activation", "batch_norm", col, "epoch"], as_index=False)["value"].mean()
    d["activation"] = d.activation.map(lambda n: NAMES.get(n, n))
    d["batch norm"] = d.pop("batch_norm").map({False: "no BN", True: "BN"})
    order = list(dict.fromkeys(d.activation))
    palette = {NAMES.get(k, k): v for k, v in COLORS.items() if NAMES.get(k, k) in order}
    style = (dict(style="batch norm", style_order=["no BN", "BN"])
             if d["batch norm"].nunique() > 1 else {})
    grid = sns.relplot(data=d, x="epoch", y="value", hue="activation", hue_order=order,
                       col=col, col_order=col_order, kind="line", marker="o", markersize=4,
                       palette=palette, height=3.0, aspect=1.05, **style)
    grid.set(ylim=(-3, 103))
    grid.set_titles(f"{col} = {{col_name}}")
    grid.set_axis_labels("epoch", "dead units (% of hidden units)")
    grid.figure.suptitle(with_source(title, source), y=1.04)
    return grid.figure


def plot_off_fractions(units: pd.DataFrame, source: str) -> plt.Figure:
    """Histogram of the fraction of samples each unit is off for, one panel per model;
    the bar at 1.0 is the dead units."""
    grid = sns.displot(data=units, x="off fraction", col="model", hue="layer",
                       multiple="stack", bins=20, binrange=(0, 1),
                       palette=_layer_palette(units.layer.nunique()),
                       height=2.8, aspect=1.0, col_wrap=min(4, units.model.nunique()))
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "units")
    grid.figure.supxlabel("fraction of images for which the unit outputs <= 0", y=-0.02)
    grid.figure.suptitle(with_source("Dead and nearly dead units (last bar) versus sparse "
                                     "units (spread out)", source), y=1.04)
    return grid.figure


def plot_gain_saturation(table: pd.DataFrame, source: str, threshold: float = 0.1
                         ) -> plt.Figure:
    """From :func:`gain_saturation`: saturated outputs (%) against the weight gain, one line
    per layer."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.lineplot(data=table, x="gain", y="saturated (%)", hue="layer", marker="o",
                 palette=_layer_palette(table.layer.nunique()), ax=ax)
    gains = sorted(table.gain.unique())
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(gains))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{g:g}" for g in gains])
    ax.set(ylim=(-2, 102), xlabel="hidden-weight gain (x the Xavier scale)",
           ylabel=f"outputs with sigmoid' <= {threshold} (%)")
    ax.set_title(with_source("Sigmoid saturation before training vs weight scale", source))
    fig.tight_layout()
    return fig


def plot_activation_scale(table: pd.DataFrame, source: str) -> plt.Figure:
    """From :func:`activation_scale`: output RMS and largest output per layer (log scale)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column in zip(axes, ["output RMS", "max output"]):
        sns.lineplot(data=table, x="layer", y=column, marker="o", ax=ax,
                     **_network_styles(table))
        ax.set(yscale="log", xlabel="hidden layer", ylabel=f"{column} (unitless)",
               xticks=sorted(table.layer.unique()))
    axes[1].get_legend().remove()
    fig.suptitle(with_source("Size of hidden-layer outputs before training", source))
    fig.tight_layout()
    return fig


def plot_dead_vs_accuracy(summary: pd.DataFrame, source: str) -> plt.Figure:
    """From :func:`run_configs` summaries: final training accuracy against final dead %,
    one point per run, colour = activation."""
    d = summary.assign(activation=summary.activation.map(lambda n: NAMES.get(n, n)),
                       batch_norm=summary.batch_norm.map({False: "no BN", True: "BN"}))
    d = d.rename(columns={"batch_norm": "batch norm"})
    palette = {NAMES.get(k, k): v for k, v in COLORS.items() if NAMES.get(k, k) in
               set(d.activation)}
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.scatterplot(data=d, x="final dead (%)", y="final train acc (%)", hue="activation",
                    style="batch norm", style_order=["no BN", "BN"], palette=palette, s=60,
                    ax=ax, alpha=0.85)
    ax.set(xlabel="dead units at the end (% of hidden units)",
           ylabel="training accuracy at the end (%)", xlim=(-3, 103), ylim=(0, 102))
    ax.set_title(with_source("Do dead units cost accuracy?", source))
    fig.tight_layout()
    return fig


def plot_learning_curves(history: pd.DataFrame, source: str, hue: str, title: str
                         ) -> plt.Figure:
    """:func:`helpers.plots.learning_curves` with the legend outside the axes (for many
    runs whose curves would hide under it)."""
    fig = learning_curves(history, source, hue=hue, title=title)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.axes[0].get_legend().remove()
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               fontsize=9)
    return fig
