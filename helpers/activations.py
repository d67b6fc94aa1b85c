"""Activation functions written by hand, with closed-form derivatives (chapter 1).

Every function in :data:`REGISTRY` has a forward formula, a closed-form derivative and
(where PyTorch has one) a reference implementation from ``torch``. :class:`HandWritten`
turns a registry entry into a module whose backward pass uses the closed form, so
``torch.autograd.gradcheck`` can test the algebra, and the tests compare every forward
pass with ``torch.nn``.

Also here: the sigmoid's "unsaturated window" (where its derivative exceeds a threshold),
and the chapter-1 figures. Why zero-centred outputs matter (per-sample gradients of two
weights) is in :mod:`helpers.zero_centring`; what the activations cost to compute is in
:mod:`helpers.activation_cost`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .activation_registry import COLORS, LEAKY_SLOPE, NAMES, SIGMOID_SCALE
from .plots import with_source

SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. (2017), as in torch.nn.SELU
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2PI = math.sqrt(2 * math.pi)


# --- closed forms -------------------------------------------------------------------------

def _sigmoid(x: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-x))


def _sigmoid_d(x: Tensor) -> Tensor:
    s = _sigmoid(x)
    return s * (1 - s)


def _sigmoid4(x: Tensor) -> Tensor:
    return _sigmoid(SIGMOID_SCALE * x)


def _sigmoid4_d(x: Tensor) -> Tensor:
    return SIGMOID_SCALE * _sigmoid_d(SIGMOID_SCALE * x)


def _tanh(x: Tensor) -> Tensor:
    return 2 * _sigmoid(2 * x) - 1  # (e^x - e^-x) / (e^x + e^-x), without overflow


def _tanh_d(x: Tensor) -> Tensor:
    return 1 - _tanh(x) ** 2


def _relu(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))


def _relu_d(x: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)  # 0 at x = 0, PyTorch's convention


def _leaky(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, LEAKY_SLOPE * x)


def _leaky_d(x: Tensor) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_SLOPE))


def _elu(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.exp(x.clamp(max=0)) - 1)


def _elu_d(x: Tensor) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), torch.exp(x.clamp(max=0)))


def _selu(x: Tensor) -> Tensor:
    return SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(x.clamp(max=0)) - 1))


def _selu_d(x: Tensor) -> Tensor:
    return SELU_SCALE * torch.where(x > 0, torch.ones_like(x),
                                    SELU_ALPHA * torch.exp(x.clamp(max=0)))


def _silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def _silu_d(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _phi(x: Tensor) -> Tensor:
    """Standard normal density."""
    return torch.exp(-x * x / 2) / SQRT_2PI


def _Phi(x: Tensor) -> Tensor:  # the usual symbol for the normal CDF
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _gelu(x: Tensor) -> Tensor:
    return x * _Phi(x)


def _gelu_d(x: Tensor) -> Tensor:
    return _Phi(x) + x * _phi(x)


def _linear(x: Tensor) -> Tensor:
    return x.clone()


def _linear_d(x: Tensor) -> Tensor:
    return torch.ones_like(x)


@dataclass(frozen=True)
class ActivationSpec:
    """One activation: its formula, closed-form derivative and PyTorch reference."""

    name: str
    label: str
    formula: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    reference: Callable[[Tensor], Tensor]


REGISTRY: dict[str, ActivationSpec] = {s.name: s for s in [
    ActivationSpec("sigmoid", "sigmoid", "1 / (1 + exp(-x))", _sigmoid, _sigmoid_d,
                   torch.sigmoid),
    ActivationSpec("tanh", "tanh", "(e^x - e^-x) / (e^x + e^-x)", _tanh, _tanh_d, torch.tanh),
    ActivationSpec("relu", "ReLU", "max(0, x)", _relu, _relu_d, F.relu),
    ActivationSpec("leaky_relu", "leaky ReLU", f"x if x > 0 else {LEAKY_SLOPE} x", _leaky,
                   _leaky_d, lambda x: F.leaky_relu(x, LEAKY_SLOPE)),
    ActivationSpec("elu", "ELU", "x if x > 0 else exp(x) - 1", _elu, _elu_d, F.elu),
    ActivationSpec("gelu", "GELU", "x * Phi(x)", _gelu, _gelu_d, F.gelu),
    ActivationSpec("selu", "SELU", "lambda * (x if x > 0 else alpha (exp(x) - 1))", _selu,
                   _selu_d, F.selu),
    ActivationSpec("silu", "SiLU", "x * sigmoid(x)", _silu, _silu_d, F.silu),
    ActivationSpec("sigmoid4", "sigmoid(4x)", "1 / (1 + exp(-4x))", _sigmoid4, _sigmoid4_d,
                   lambda x: torch.sigmoid(SIGMOID_SCALE * x)),
    ActivationSpec("linear", "linear", "x", _linear, _linear_d, lambda x: x * 1.0),
]}
BOOK_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")


def spec(name: str) -> ActivationSpec:
    """The registry entry for ``name``; ``ValueError`` for unknown names."""
    if name not in REGISTRY:
        raise ValueError(f"activation={name!r} is not supported; accepted values: "
                         f"{tuple(REGISTRY)}")
    return REGISTRY[name]


class _ClosedForm(torch.autograd.Function):
    """Elementwise activation whose backward pass is the hand-written derivative (written
    in the ``setup_context`` style, so ``torch.func`` transforms such as ``vmap`` work)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, name: str) -> Tensor:
        return REGISTRY[name].fn(x)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        x, name = inputs
        ctx.save_for_backward(x)
        ctx.name = name

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * REGISTRY[ctx.name].derivative(x), None


def closed_form(x: Tensor, name: str) -> Tensor:
    """``name``'s hand-written forward, with the hand-written derivative in backward."""
    return _ClosedForm.apply(x, spec(name).name)


class HandWritten(nn.Module):
    """A registry activation as a module (drop-in for ``MLP.act``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = spec(name).name

    def forward(self, x: Tensor) -> Tensor:
        return closed_form(x, self.name)

    def extra_repr(self) -> str:
        return self.name


def autograd_derivative(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d fn(x) / dx for an elementwise ``fn``, computed by autograd."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g


def function_table(names: list[str], x: Tensor) -> pd.DataFrame:
    """Tidy table (activation, x, quantity, value) of each activation and of its derivative
    computed by autograd through PyTorch's own implementation."""
    rows = []
    for name in names:
        ref = spec(name).reference
        y, dy = ref(x.detach()), autograd_derivative(ref, x)
        for quantity, values in (("f(x)", y), ("f'(x)", dy)):
            rows.append(pd.DataFrame({"activation": name, "x": x.numpy(),
                                      "quantity": quantity, "value": values.numpy()}))
    return pd.concat(rows, ignore_index=True)


def derivative_check(names: list[str], x: Tensor) -> pd.DataFrame:
    """Per activation: the largest gap between the closed-form derivative and autograd on
    PyTorch's implementation, and between the hand-written forward and PyTorch's."""
    rows = []
    for name in names:
        s = spec(name)
        rows.append({
            "activation": name,
            "closed form": f"f(x) = {s.formula}",
            "max |f_hand - f_torch|": (s.fn(x) - s.reference(x)).abs().max().item(),
            "max |f'_closed - f'_autograd|":
                (s.derivative(x) - autograd_derivative(s.reference, x)).abs().max().item(),
        })
    return pd.DataFrame(rows).set_index("activation")


# --- the sigmoid's unsaturated window -----------------------------------------------------

def sigmoid_window(threshold: float = 0.1, scale: float = 1.0) -> float:
    """Half-width ``z*`` of the window ``|z| < z*`` where ``d/dz sigmoid(scale z)`` exceeds
    ``threshold``; 0 when the derivative never does (its peak is ``scale / 4``).

    From ``scale s (1 - s) > t``: ``s > (1 + sqrt(1 - 4 t / scale)) / 2``, then invert.
    """
    if threshold <= 0:
        raise ValueError(f"threshold={threshold!r} is invalid; accepted: a float > 0")
    if scale <= 0:
        raise ValueError(f"scale={scale!r} is invalid; accepted: a float > 0")
    r = threshold / scale
    if r >= 0.25:
        return 0.0
    s = (1 + math.sqrt(1 - 4 * r)) / 2
    return math.log(s / (1 - s)) / scale


def saturation_eps(threshold: float = 0.1) -> float:
    """Output distance from 0 or 1 at which the sigmoid's derivative equals ``threshold``:
    ``sigmoid'(z) <= threshold`` exactly when the output is within this of 0 or 1. Pass it
    as ``eps`` to :func:`helpers.metrics.saturation_fraction`."""
    return 1 / (1 + math.exp(sigmoid_window(threshold)))


def window_table(names: list[str], threshold: float = 0.1,
                 x: Tensor | None = None) -> pd.DataFrame:
    """Per activation, measured on a fine grid: the peak derivative and where it occurs,
    the length of input where the derivative exceeds ``threshold``, the output range and
    whether outputs take both signs (zero-centred)."""
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64) if x is None else x
    step = (x[1] - x[0]).item()
    rows = []
    for name in names:
        s = spec(name)
        y, dy = s.reference(x), autograd_derivative(s.reference, x)
        rows.append({
            "activation": name,
            "max f'(x)": dy.max().item(),
            "argmax x": x[dy.argmax()].item(),
            f"length where f' > {threshold}": (dy > threshold).sum().item() * step,
            "min f(x)": y.min().item(),
            "max f(x)": y.max().item(),
            "both signs": bool((y < 0).any() and (y > 0).any()),
        })
    return pd.DataFrame(rows).set_index("activation")


def derivative_product_bound(depths: list[int], peak: float = 0.25) -> pd.DataFrame:
    """``peak ** L``: the largest possible product of ``L`` activation derivatives."""
    return pd.DataFrame({"depth L": depths, "bound": [peak ** d for d in depths]})


# --- linear activations collapse depth ----------------------------------------------------

@torch.no_grad()
def collapse_linear(model: nn.Module) -> tuple[Tensor, Tensor]:
    """``(W, b)`` of the single affine map equal to an MLP with a linear activation and
    no batch norm: ``logits = x @ W.T + b``."""
    layers = list(model.linears) + [model.out]
    if any(not isinstance(n, nn.Identity) for n in model.norms):
        raise ValueError("model has batch norm; collapse_linear needs batch_norm=False")
    weight, bias = layers[0].weight.clone(), layers[0].bias.clone()
    for lin in layers[1:]:
        weight, bias = lin.weight @ weight, lin.weight @ bias + lin.bias
    return weight, bias


def window_fraction(pre: list[Tensor], half_width: float) -> list[float]:
    """Per layer, the % of pre-activations inside ``|z| < half_width``."""
    return [100 * (z.abs() < half_width).float().mean().item() for z in pre]


# --- figures ------------------------------------------------------------------------------

def _palette(names) -> dict[str, str]:
    return {n: COLORS[n] for n in names if n in COLORS}


def plot_functions(table: pd.DataFrame, title: str = "Activation functions and their "
                   "derivatives (autograd)") -> plt.Figure:
    """Two panels from :func:`function_table`: f(x) and f'(x)."""
    names = list(dict.fromkeys(table.activation))
    data = table.assign(activation=table.activation.map(lambda n: NAMES.get(n, n)))
    palette = {NAMES.get(n, n): c for n, c in _palette(names).items()}
    dashes = {NAMES.get(n, n): ((3, 2) if n in ("leaky_relu", "sigmoid4") else "")
              for n in names}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, quantity in zip(axes, ["f(x)", "f'(x)"]):
        sns.lineplot(data=data[data.quantity == quantity], x="x", y="value", hue="activation",
                     style="activation", dashes=dashes, palette=palette, ax=ax, linewidth=1.8)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set(xlabel="input x (pre-activation, unitless)", ylabel=quantity,
               title="function" if quantity == "f(x)" else "derivative")
    axes[0].set_ylim(-1.5, 3)
    axes[1].set_ylim(-0.15, 1.2)
    axes[1].get_legend().remove()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_saturation_map(pre: dict[str, Tensor], source: str, threshold: float = 0.1,
                        w_max: float = 6.0, x_max: float = 3.0) -> plt.Figure:
    """Left: the sigmoid's derivative with the window where it exceeds ``threshold``, over
    histograms of real pre-activations (``pre``: label -> values; those beyond ±8 are not
    drawn). Right: the saturation map — sigmoid'(w x) for one weight ``w`` and one input
    ``x``, with the ``threshold`` contour."""
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2))
    ax = axes[0]
    z = torch.linspace(-8, 8, 801)
    zs = sigmoid_window(threshold)
    hist = ax.twinx()
    frames = [pd.DataFrame({"z": v.flatten().cpu().numpy(), "pre-activations": k})
              for k, v in pre.items()]
    sns.histplot(data=pd.concat(frames, ignore_index=True), x="z", hue="pre-activations",
                 stat="density", common_norm=False, element="step", fill=False,
                 bins=np.linspace(-8, 8, 81), ax=hist,
                 palette=["0.35", "#9467bd", "#17becf"][:len(pre)])
    hist.grid(False)
    hist.set(ylabel="density of real pre-activations")
    sns.move_legend(hist, "upper right", fontsize=8, title_fontsize=8)
    ax.axvspan(-zs, zs, color="0.9", label=f"sigmoid' > {threshold}")
    ax.plot(z, _sigmoid_d(z), color=COLORS["sigmoid"], linewidth=2.2, label="sigmoid'(z)")
    ax.set(xlabel="pre-activation z (unitless)", ylabel="sigmoid'(z)", xlim=(-8, 8),
           title=f"derivative and real pre-activations (window |z| < {zs:.2f})")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    w = torch.linspace(-w_max, w_max, 241)
    x = torch.linspace(-x_max, x_max, 241)
    grid = _sigmoid_d(w[:, None] * x[None, :])
    mesh = ax.pcolormesh(x.numpy(), w.numpy(), grid.numpy(), cmap="viridis", shading="auto")
    ax.contour(x.numpy(), w.numpy(), grid.numpy(), levels=[threshold], colors="white",
               linewidths=1.2)
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label="sigmoid'(w x)")
    ax.set(xlabel="input x (unitless)", ylabel="weight w (unitless)",
           title=f"saturation map (white: sigmoid' = {threshold})")
    fig.suptitle(with_source("Where the sigmoid passes gradient", source))
    fig.tight_layout()
    return fig


def plot_sparsity(table: pd.DataFrame, source: str) -> plt.Figure:
    """Per-layer sparsity (%) under each condition (a tidy table with columns
    ``layer, condition, sparsity (%)``), with the 50 % line."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sns.barplot(data=table, x="layer", y="sparsity (%)", hue="condition", ax=ax)
    ax.axhline(50, color="black", linewidth=0.8, linestyle=":")
    ax.set(xlabel="hidden layer", ylabel="inactive outputs (% of samples, mean over units)",
           ylim=(0, 100))
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(with_source("ReLU output sparsity", source))
    fig.tight_layout()
    return fig
