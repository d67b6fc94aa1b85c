"""The paper's fully connected networks.

``MLP(in_features, depth, width, activation, batch_norm, n_classes)`` stacks ``depth``
hidden layers of ``width`` nodes and a linear output layer (the softmax lives in the
cross-entropy loss). Each hidden layer is ``Linear -> BatchNorm1d -> activation`` when
``batch_norm`` is on (BN before the non-linearity, as in Ioffe & Szegedy 2015), and
``Linear -> activation`` otherwise.

Initialisation, as in the paper: Xavier/Glorot-uniform weights (gain 1) for sigmoid and
tanh, He/Kaiming-normal weights (fan-in, ReLU gain) for the ReLU family (relu,
leaky_relu, elu, gelu, silu). SELU, which the paper does not use, gets the LeCun-normal
weights (fan-in, gain 1) its self-normalising derivation assumes (Klambauer et al. 2017).
The output layer is always Xavier-uniform. Biases start at
``bias_init`` (0 by default; a negative value is used to provoke dying ReLUs).
BatchNorm starts at weight 1, bias 0.

:func:`pre_activations` returns what enters the activation in every hidden layer (after
batch norm); the hidden outputs themselves come from ``model(x, return_hidden=True)``.
Variants with other initialisations and activations are in :mod:`helpers.model_variants`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .activation_registry import INIT_SCHEMES, NETWORK_ACTIVATIONS, REGISTRY

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    n: REGISTRY[n].module for n in NETWORK_ACTIVATIONS}  # the registry's network activations


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not supported; accepted values: {tuple(ACTIVATIONS)}"
        )
    return activation


def init_scheme(activation: str) -> str:
    """The registry's initial weights: ``"xavier"`` for sigmoid/tanh, ``"lecun"`` for SELU,
    ``"he"`` for the ReLU family."""
    return REGISTRY[check_activation(activation)].init


def init_weight(weight: Tensor, scheme: str) -> None:
    """In place: ``"xavier"`` = Glorot-uniform (gain 1), ``"he"`` = Kaiming-normal (fan-in,
    gain sqrt 2), ``"lecun"`` = normal with std ``1/sqrt(fan_in)``."""
    if scheme == "he":
        nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
    elif scheme == "xavier":
        nn.init.xavier_uniform_(weight)
    elif scheme == "lecun":
        nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="linear")
    else:
        raise ValueError(f"scheme={scheme!r} is not supported; accepted values: {INIT_SCHEMES}")


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` nodes, then a linear output layer."""

    def __init__(
        self,
        in_features: int,
        depth: int,
        width: int,
        activation: str = "relu",
        batch_norm: bool = False,
        n_classes: int = 10,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        check_activation(activation)
        for pname, value in (("in_features", in_features), ("depth", depth),
                             ("width", width), ("n_classes", n_classes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{pname}={value!r} is invalid; it must be an integer >= 1")
        self.config = dict(in_features=in_features, depth=depth, width=width,
                           activation=activation, batch_norm=batch_norm,
                           n_classes=n_classes, bias_init=bias_init)
        sizes = [in_features] + [width] * depth
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.norms = nn.ModuleList(
            (nn.BatchNorm1d(width) if batch_norm else nn.Identity()) for _ in range(depth)
        )
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(width, n_classes)
        self.reset_parameters()

    @property
    def activation(self) -> str:
        return self.config["activation"]

    def reset_parameters(self) -> None:
        scheme = init_scheme(self.activation)
        for lin in self.linears:
            init_weight(lin.weight, scheme)
            nn.init.constant_(lin.bias, self.config["bias_init"])
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, return_hidden: bool = False):
        """Logits; with ``return_hidden`` also the list of post-activation outputs
        of every hidden layer (the paper's eq. 1), each ``[batch, width]``."""
        hidden = []
        for lin, norm in zip(self.linears, self.norms):
            x = self.act(norm(lin(x)))
            hidden.append(x)
        logits = self.out(x)
        return (logits, hidden) if return_hidden else logits


def make_model(
    in_features: int,
    depth: int,
    width: int,
    activation: str = "relu",
    batch_norm: bool = False,
    n_classes: int = 10,
    seed: int = 0,
    bias_init: float = 0.0,
    device: str | torch.device = "cpu",
) -> MLP:
    """An :class:`MLP` whose initial weights depend only on ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(in_features, depth, width, activation, batch_norm, n_classes, bias_init)
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


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"
