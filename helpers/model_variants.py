"""The book's MLP in other variants: initialisations, weight gains, extra activations
(chapters 1-3).

* :func:`make_variant` — the book's :class:`~helpers.models.MLP` with a chosen
  initialisation (``xavier``, ``he``, Glorot & Bengio's ``standard``), weight gain, and
  a few extra activations (``linear``, ``sigmoid4``, ``prelu``); :func:`resolved_init`
  says which initialisation it uses.
* :func:`mean_derivative` — per layer, the mean derivative of a variant's activation on
  real inputs.
* :func:`config_label` — the label of a variant in tables and figures.

These live apart from :mod:`helpers.models` because the extra activations and the closed
forms come from :mod:`helpers.activations`, which already depends on
:mod:`helpers.models` (through :mod:`helpers.train`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .activation_registry import NAMES, REGISTRY, VARIANTS
from .activations import HandWritten, spec
from .models import ACTIVATIONS, MLP, init_scheme, init_weight, make_model, pre_activations

INITS = ("default", "xavier", "he", "standard")
EXTRA_ACTIVATIONS = {n: REGISTRY[n].base for n in VARIANTS}  # variant -> its network base
VARIANT_ACTIVATIONS = tuple(ACTIVATIONS) + VARIANTS
INIT_NAMES = {"xavier": "Xavier", "he": "He", "standard": "standard"}


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
    return REGISTRY[activation].init


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
    With the book's scheme (``init="default"`` or the activation's own) the weights are
    ``make_model``'s times ``init_gain``, so that two gains scale one draw of the weights.
    """
    scheme = resolved_init(activation, init)
    if not init_gain > 0:
        raise ValueError(f"init_gain={init_gain!r} is invalid; accepted: a float > 0")
    base = EXTRA_ACTIVATIONS.get(activation, activation)
    model = make_model(in_features, depth, width, base, batch_norm, n_classes, seed=seed,
                       bias_init=bias_init)
    if scheme != init_scheme(base):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _init_weights(model, scheme, init_gain)
    elif init_gain != 1.0:  # the same weights as at gain 1, scaled: gains compare like for like
        with torch.no_grad():
            for lin in model.linears:
                lin.weight.mul_(init_gain)
    if activation == "prelu":
        model.act = nn.PReLU(num_parameters=1, init=0.25)
    elif activation in EXTRA_ACTIVATIONS:
        model.act = HandWritten(activation)
    model.config |= {"variant": activation, "init": scheme, "init_gain": init_gain}
    return model.to(device)


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
