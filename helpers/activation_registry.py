"""The book's one registry of activations; every other list of activations derives from it.

Each :class:`Activation` carries its name (the key used in configs, tables and result
files), the label figures and tables show, its colour, the initial weights it gets
(``xavier`` for the bounded ones, ``he`` for the ReLU family, ``lecun`` for SELU; see
:func:`helpers.models.init_weight`) and the ``torch.nn`` module the networks use. Three
entries are *variants* that chapters 1-3 build from a network activation's MLP
(:func:`helpers.model_variants.make_variant`): ``sigmoid4`` (sigmoid(4x)), ``linear``
(identity) and ``prelu`` (a learnable slope); they have no module here and name their
``base``.

Derived here: :data:`NETWORK_ACTIVATIONS` (what :class:`helpers.models.MLP`, the engine and
the grid accept), :data:`COLORS` and :data:`NAMES`. Derived elsewhere:
``helpers.models.ACTIVATIONS`` (modules), ``helpers.activations.REGISTRY`` (the
hand-written closed forms of chapter 1, tested against these modules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

LEAKY_SLOPE = 0.01  # leaky ReLU's negative slope (PyTorch's default)
SIGMOID_SCALE = 4.0  # the "rescaled sigmoid" sigma(4x) asked about in the Q&A thread
INIT_SCHEMES = ("xavier", "he", "lecun")


@dataclass(frozen=True)
class Activation:
    """One activation of the book (see the module docstring)."""

    name: str
    label: str
    color: str
    init: str
    module: Callable[[], nn.Module] | None = None
    base: str | None = None  # variants: the network activation whose MLP they modify


REGISTRY: dict[str, Activation] = {a.name: a for a in [
    Activation("sigmoid", "sigmoid", "#d62728", "xavier", nn.Sigmoid),
    Activation("tanh", "tanh", "#ff7f0e", "xavier", nn.Tanh),
    Activation("relu", "ReLU", "#1f77b4", "he", nn.ReLU),
    Activation("leaky_relu", "leaky ReLU", "#2ca02c", "he", partial(nn.LeakyReLU, LEAKY_SLOPE)),
    Activation("elu", "ELU", "#9467bd", "he", nn.ELU),
    Activation("gelu", "GELU", "#8c564b", "he", nn.GELU),
    Activation("selu", "SELU", "#bcbd22", "lecun", nn.SELU),
    Activation("silu", "SiLU", "#393b79", "he", nn.SiLU),
    Activation("sigmoid4", "sigmoid(4x)", "#e377c2", "xavier", base="sigmoid"),
    Activation("linear", "linear", "#7f7f7f", "xavier", base="relu"),
    Activation("prelu", "PReLU", "#17becf", "he", base="relu"),
]}
NETWORK_ACTIVATIONS = tuple(n for n, a in REGISTRY.items() if a.module is not None)
VARIANTS = tuple(n for n, a in REGISTRY.items() if a.module is None)
COLORS = {n: a.color for n, a in REGISTRY.items()}
NAMES = {n: a.label for n, a in REGISTRY.items()}


def net_name(activation: str, batch_norm: bool) -> str:
    """A net's display name, as the paper's tables give it: ``ReLU``, ``sigmoid BN``..."""
    return f"{NAMES.get(activation, activation)}{' BN' if batch_norm else ''}"


def activation(name: str) -> Activation:
    """The registry entry of ``name``; ``ValueError`` naming the accepted values."""
    if name not in REGISTRY:
        raise ValueError(f"activation={name!r} is not supported; accepted values: "
                         f"{tuple(REGISTRY)}")
    return REGISTRY[name]
