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
def _one_thread():
    """Small tensors: one thread is faster, and far faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
