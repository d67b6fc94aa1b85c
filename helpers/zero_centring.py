"""Why zero-centred outputs matter (chapter 1): per-sample gradients of one unit's weights.

A unit whose inputs are all positive (sigmoid or ReLU outputs of the layer below) gets, for
each sample, a weight gradient whose entries all share one sign (the sign of the unit's
back-propagated error), so one step can only move its weights along the "all up" or "all
down" diagonal; zero-centred inputs (tanh) lift that restriction. :func:`zero_centring_example`
measures it on trained nets: per-sample gradients with ``torch.func``, the share of
one-signed rows, and the quadrants two weights' gradients fall in
(:func:`plot_gradient_quadrants`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .activation_registry import COLORS, NAMES
from .plots import with_source


def per_sample_weight_grads(model: nn.Module, x: Tensor, y: Tensor, layer: int) -> Tensor:
    """Per-sample cross-entropy gradients of hidden layer ``layer``'s weight matrix
    (1-based), ``[N, out, in]``. The model must not use batch norm (samples would interact).
    """
    if not 1 <= layer <= len(model.linears):
        raise ValueError(f"layer={layer!r} is invalid; accepted: 1..{len(model.linears)}")
    if any(not isinstance(n, nn.Identity) for n in model.norms):
        raise ValueError("per-sample gradients need batch_norm=False")
    key = f"linears.{layer - 1}.weight"
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(w: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
        logits = functional_call(model, params | {key: w}, (xi[None],))
        return F.cross_entropy(logits, yi[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(params[key], x, y)


def same_sign_rows(grads: Tensor) -> float:
    """Fraction of weight-gradient rows (one row = the weights into one unit) whose
    non-zero entries all share one sign. ``grads`` is ``[out, in]`` or ``[N, out, in]``."""
    rows = grads.reshape(-1, grads.shape[-1])
    rows = rows[(rows != 0).any(dim=1)]
    if len(rows) == 0:
        return float("nan")
    positive, negative = (rows > 0).any(dim=1), (rows < 0).any(dim=1)
    return (~(positive & negative)).float().mean().item()


def quadrant_table(g: Tensor) -> pd.DataFrame:
    """Share (%) of 2-vectors ``g`` ``[N, 2]`` in each quadrant (zeros excluded)."""
    g = g[(g != 0).all(dim=1)].cpu()
    q = torch.where(g[:, 0] > 0, torch.where(g[:, 1] > 0, 1, 4), torch.where(g[:, 1] > 0, 2, 3))
    counts = torch.bincount(q, minlength=5)[1:].float()
    share = 100 * counts / max(len(g), 1)
    return pd.DataFrame({"quadrant": ["I (+,+)", "II (-,+)", "III (-,-)", "IV (+,-)"],
                         "share (%)": share.numpy()})


def busiest_weights(grads: Tensor, unit: int | None = None) -> tuple[int, tuple[int, int]]:
    """From per-sample gradients ``[N, out, in]``: the unit with the most non-zero
    per-sample gradient entries (or ``unit``) and its two incoming weights with the most."""
    nonzero = (grads != 0).sum(dim=0)  # [out, in]
    unit = int(nonzero.sum(dim=1).argmax()) if unit is None else unit
    first, second = nonzero[unit].topk(2).indices.tolist()
    return unit, (first, second)


def zero_centring_example(models: dict[str, nn.Module], x: Tensor, y: Tensor, layer: int = 2,
                          unit: int | None = None, inputs: tuple[int, int] | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2-weight example on real data. For each model: per-sample gradients of the two
    weights ``inputs`` into ``unit`` of ``layer`` (by default :func:`busiest_weights`, so
    the points are not all zero) as a tidy table ``points`` (activation, g1, g2, kind = one
    sample / batch mean), and a ``summary`` of the sign restriction over the whole layer:
    % of per-sample rows with one sign, % of mini-batch rows with one sign, and the % of
    the two-weight per-sample gradients in quadrants II or IV."""
    points, summary = [], []
    for name, model in models.items():
        g = per_sample_weight_grads(model, x, y, layer)
        j, busiest = busiest_weights(g, unit)
        pair_idx = list(inputs or busiest)
        pair = g[:, j, pair_idx]
        mean = pair.mean(dim=0, keepdim=True)
        points.append(pd.DataFrame({"activation": name, "g1": pair[:, 0].cpu().numpy(),
                                    "g2": pair[:, 1].cpu().numpy(), "kind": "one sample"}))
        points.append(pd.DataFrame({"activation": name, "g1": mean[:, 0].cpu().numpy(),
                                    "g2": mean[:, 1].cpu().numpy(), "kind": "batch mean"}))
        quad = quadrant_table(pair).set_index("quadrant")["share (%)"]
        summary.append({
            "activation": name,
            "per-sample rows with one sign (%)": 100 * same_sign_rows(g),
            "batch-gradient rows with one sign (%)": 100 * same_sign_rows(g.mean(dim=0)),
            "2-weight samples in II or IV (%)": quad["II (-,+)"] + quad["IV (+,-)"],
            "unit, weights plotted": f"{j}, {tuple(pair_idx)}",
        })
    return pd.concat(points, ignore_index=True), pd.DataFrame(summary).set_index("activation")


def plot_gradient_quadrants(points: pd.DataFrame, source: str, layer: int = 2) -> plt.Figure:
    """Scatter of per-sample gradients of two weights (from :func:`zero_centring_example`),
    one panel per activation, with the mini-batch mean marked."""
    names = list(dict.fromkeys(points.activation))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6))
    for ax, name in zip(np.atleast_1d(axes), names):
        p = points[points.activation == name]
        one, mean = p[p.kind == "one sample"], p[p.kind == "batch mean"]
        sns.scatterplot(data=one, x="g1", y="g2", s=12, alpha=0.5, color=COLORS[name], ax=ax,
                        label="one sample", edgecolor=None)
        ax.scatter(mean.g1, mean.g2, marker="X", s=120, color="black", label="batch mean")
        # the axes end at 1.3 x the 98th percentile of |gradient| (a few outlying images
        # fall outside), widened where needed so that the batch mean stays in view
        lim = float(np.nanpercentile(np.abs(one[["g1", "g2"]].to_numpy()), 98)) * 1.3
        lim = max(lim, 1.15 * float(np.nanmax(np.abs(mean[["g1", "g2"]].to_numpy()),
                                            initial=0.0))) or 1.0
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.yaxis.set_major_locator(plt.MaxNLocator(4))
        ax.ticklabel_format(style="sci", scilimits=(-2, 3))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), title=NAMES.get(name, name),
               xlabel="dL/dw1", ylabel="dL/dw2")  # units in the title: the axes' 1e-n fits
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(with_source(f"Gradients of two weights into one layer-{layer} unit (nats "
                             "per unit weight), one point per image", source))
    fig.tight_layout()
    return fig
