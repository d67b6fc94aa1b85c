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

from collections.abc import Callable, Iterable

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


def init_layers(hidden: Iterable[nn.Module], out: nn.Linear, activation: str,
                bias: float = 0.0) -> None:
    """The book's initialisation, in place: every hidden layer's weights by
    :func:`init_scheme` of ``activation`` and its bias at ``bias``, in order; the output
    layer Xavier-uniform with zero bias."""
    scheme = init_scheme(activation)
    for layer in hidden:
        init_weight(layer.weight, scheme)
        nn.init.constant_(layer.bias, bias)
    nn.init.xavier_uniform_(out.weight)
    nn.init.zeros_(out.bias)


def check_positive_ints(**values: object) -> None:
    """``ValueError`` naming the first parameter that is not an integer >= 1 (bools too)."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid; it must be an integer >= 1")


class BookNet(nn.Module):
    """What the book's networks share: ``config`` (their constructor's arguments) and the
    ``activation`` named there."""

    config: dict

    @property
    def activation(self) -> str:
        return self.config["activation"]


class MLP(BookNet):
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
        check_positive_ints(in_features=in_features, depth=depth, width=width,
                            n_classes=n_classes)
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

    def reset_parameters(self) -> None:
        init_layers(self.linears, self.out, self.activation, self.config["bias_init"])

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


# --- a small vanilla CNN (chapter 10: the W&B report's CIFAR-10 experiment) ----------------
# The report trains "a vanilla CNN" without giving its architecture; this is ours:
# ``len(channels)`` blocks of conv3x3 (padding 1) -> [BatchNorm2d] -> activation ->
# maxpool 2x2, then flatten -> dense ``hidden`` -> activation -> linear ``n_classes``.
# Default 32/64/64 channels and 128 hidden units on 3x32x32 images: 188 810 parameters.
# Initialisation follows :func:`init_scheme`: conv and hidden dense weights Xavier-uniform
# for sigmoid/tanh, He-normal for the ReLU family; output layer Xavier-uniform; biases 0.


class CNN(BookNet):
    """A small vanilla CNN for ``in_channels x image_size x image_size`` images."""

    def __init__(
        self,
        activation: str = "relu",
        channels: tuple[int, ...] = (32, 64, 64),
        hidden: int = 128,
        in_channels: int = 3,
        image_size: int = 32,
        n_classes: int = 10,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        check_activation(activation)
        check_positive_ints(hidden=hidden, in_channels=in_channels, image_size=image_size,
                            n_classes=n_classes)
        channels = tuple(channels) if isinstance(channels, (list, tuple)) else channels
        if (not isinstance(channels, tuple) or not channels
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1
                           for c in channels)):
            raise ValueError(f"channels={channels!r} is invalid; it must be a non-empty "
                             "tuple of integers >= 1, e.g. (32, 64, 64)")
        if image_size % 2 ** len(channels):
            raise ValueError(f"image_size={image_size} is invalid for {len(channels)} "
                             f"blocks; it must be divisible by {2 ** len(channels)}")
        if not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm={batch_norm!r} is invalid; accepted: True, False")
        self.config = dict(activation=activation, channels=channels, hidden=hidden,
                           in_channels=in_channels, image_size=image_size,
                           n_classes=n_classes, batch_norm=batch_norm)
        sizes = (in_channels,) + channels
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1)
                                   for a, b in zip(sizes[:-1], sizes[1:]))
        self.norms = nn.ModuleList((nn.BatchNorm2d(c) if batch_norm else nn.Identity())
                                   for c in channels)
        self.act = ACTIVATIONS[activation]()
        self.pool = nn.MaxPool2d(2)
        side = image_size // 2 ** len(channels)
        self.dense = nn.Linear(channels[-1] * side * side, hidden)
        self.out = nn.Linear(hidden, n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_layers((*self.convs, self.dense), self.out, self.activation)

    def forward(self, x: Tensor, return_hidden: bool = False):
        """Logits for ``x`` ``[batch, C, H, W]`` (a flattened ``[batch, C*H*W]`` is reshaped);
        with ``return_hidden`` also the activation outputs of every block (before pooling)
        and of the dense layer."""
        c, s = self.config["in_channels"], self.config["image_size"]
        if x.dim() == 2:
            x = x.view(len(x), c, s, s)
        hidden = []
        for conv, norm in zip(self.convs, self.norms):
            x = self.act(norm(conv(x)))
            hidden.append(x)
            x = self.pool(x)
        x = self.act(self.dense(x.flatten(1)))
        hidden.append(x)
        logits = self.out(x)
        return (logits, hidden) if return_hidden else logits


def make_cnn(activation: str = "relu", seed: int = 0, device: str | torch.device = "cpu",
             **kwargs) -> CNN:
    """A :class:`CNN` whose initial weights depend only on ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CNN(activation, **kwargs)
    return model.to(device)
