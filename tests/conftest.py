"""Shared fixtures: real MNIST and a small CIFAR-10 subset, loaded once per test session."""

import warnings

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


@pytest.fixture(scope="session")
def cifar_tiny():
    """A seeded 256 / 128 / 128 subset of CIFAR-10 (genuine, else the JPEG copy) for chapter
    10's CNN tests."""
    from helpers import cnn_sigmoid_vs_relu as cnn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the JPEG-copy warning: the label says it
        return cnn.load_data(cnn.settings("quick") | dict(n_train=256, n_val=128,
                                                             n_test=128))


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster, and far faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
