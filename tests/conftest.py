"""Shared fixtures: real MNIST, loaded once per test session."""

import pytest
import torch

from helpers.data import load_dataset


@pytest.fixture(scope="session")
def mnist():
    """The full, genuine MNIST dataset (CPU)."""
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """A seeded 2 000 / 500 / 500 subset of real MNIST for fast training tests."""
    return mnist.subset(2_000, 500, 500, seed=0)


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    torch.use_deterministic_algorithms(False)
    yield
