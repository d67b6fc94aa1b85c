"""The one activation registry: everything else derives from it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import activation_registry as reg
from helpers.activations import REGISTRY as CLOSED_FORMS
from helpers.model_variants import VARIANT_ACTIVATIONS, resolved_init
from helpers.models import ACTIVATIONS, init_scheme
from helpers.plots import ACTIVATION_COLORS, ACTIVATION_NAMES


def test_every_list_of_activations_derives_from_the_registry():
    assert tuple(ACTIVATIONS) == reg.NETWORK_ACTIVATIONS
    assert set(VARIANT_ACTIVATIONS) == set(reg.REGISTRY)
    assert set(CLOSED_FORMS) | {"prelu"} == set(reg.REGISTRY)  # PReLU is learnable: no closed form
    assert ACTIVATION_COLORS is reg.COLORS and ACTIVATION_NAMES is reg.NAMES
    assert len(set(reg.COLORS.values())) == len(reg.COLORS)  # one colour each


def test_init_follows_the_registry():
    for name in reg.NETWORK_ACTIVATIONS:
        assert init_scheme(name) == reg.REGISTRY[name].init
    for name in reg.VARIANTS:
        assert resolved_init(name) == reg.REGISTRY[name].init
        assert reg.REGISTRY[name].base in reg.NETWORK_ACTIVATIONS
    assert {a.init for a in reg.REGISTRY.values()} <= set(reg.INIT_SCHEMES)


def test_leaky_slope_is_the_modules():
    m = ACTIVATIONS["leaky_relu"]()
    assert isinstance(m, nn.LeakyReLU) and m.negative_slope == reg.LEAKY_SLOPE
    assert m(torch.tensor([-2.0])).item() == pytest.approx(-2 * reg.LEAKY_SLOPE)


def test_unknown_name():
    with pytest.raises(ValueError, match="accepted values"):
        reg.activation("swish")
    assert reg.activation("selu").label == "SELU"


def test_net_name_by_hand():
    from helpers.activation_registry import net_name

    assert net_name("relu", True) == "ReLU BN"
    assert net_name("sigmoid", False) == "sigmoid"
    assert net_name("leaky_relu", False) == "leaky ReLU"
    assert net_name("elu", True) == "ELU BN"
