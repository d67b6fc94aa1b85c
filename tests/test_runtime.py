"""helpers.runtime: the training guard, thread control, device naming and choice."""

from __future__ import annotations

import pytest
import torch

from helpers import runtime
from helpers.engine import train_stacked
from helpers.models import make_model
from helpers.train import train_model


def test_no_train_guard_stops_both_trainers(monkeypatch, mnist_small):
    monkeypatch.setenv("ACTFN_NO_TRAIN", "1")
    assert not runtime.training_allowed()
    model = make_model(784, 1, 8, "relu")
    with pytest.raises(RuntimeError, match="ACTFN_NO_TRAIN=1"):
        train_model(model, mnist_small, max_epochs=1, progress=False)
    with pytest.raises(RuntimeError, match="train_stacked"):
        train_stacked(mnist_small, 1, 8, "relu", False, [0], 1e-3, max_epochs=1,
                      progress=False)
    monkeypatch.setenv("ACTFN_NO_TRAIN", "0")
    assert runtime.training_allowed()


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with runtime.torch_threads(None, "cpu") as n:
        assert n == 1 == torch.get_num_threads()
    with runtime.torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with runtime.torch_threads(0):
            pass


def test_devices():
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    assert runtime.device_name("cpu").startswith("cpu: ")
    for bad in ("tpu", "banana"):
        with pytest.raises(ValueError, match="device"):
            runtime.resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            runtime.resolve_device("cuda")
    commit = runtime.git_commit()
    assert commit == "unknown" or len(commit.split("+")[0]) == 40


def test_git_commit_override(monkeypatch):
    monkeypatch.setenv("ACTFN_GIT_COMMIT", "f" * 40)
    assert runtime.git_commit() == "f" * 40
    monkeypatch.setenv("ACTFN_GIT_COMMIT", "")
    assert runtime.git_commit() != ""
