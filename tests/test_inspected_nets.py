import types

import pandas as pd
import pytest
import torch

from helpers import inspected_nets
from helpers.grid import DataSourceMismatch
from helpers.inspected_nets import (
    accuracy_table,
    cache_path,
    section3_networks,
    section3_settings,
    torch_threads,
)
from helpers.metrics import hidden_activations, layer_sparsity
from helpers.models import make_model

TINY = dict(depth=4, width=8, n_train=None, n_val=None, n_test=None, subset_seed=0, lr=5e-3,
            batch_size=128, max_epochs=2, patience=5, cpu_threads=1)


@pytest.fixture
def tiny(monkeypatch):
    """Both profiles shrunk to 4x8 nets and 2 epochs, so the tests take seconds."""
    monkeypatch.setitem(inspected_nets.SECTION3_SETTINGS, "quick", dict(TINY))
    monkeypatch.setitem(inspected_nets.SECTION3_SETTINGS, "paper", dict(TINY, width=10))


def _same_weights(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values()))


def test_untrained_is_the_trained_nets_initial_state(tiny, mnist_small, tmp_path):
    nets = section3_networks(mnist_small, "quick", activations=("relu",), batch_norms=(True,),
                             seeds=(3,), progress=False, cache_dir=tmp_path, device="cpu")
    net = nets[("relu", True, 3)]
    assert net.origin == "trained now" and net.model_name == "ReLU BN"
    assert _same_weights(net.untrained, make_model(784, 4, 8, "relu", True, seed=3))
    assert not _same_weights(net.untrained, net.trained)
    assert net.test_acc > 0.3 > net.untrained_test_acc  # learns on real MNIST; chance 0.1
    assert not net.trained.training  # returned in eval mode


def test_second_call_loads_the_cache(tiny, mnist_small, tmp_path):
    kw = dict(activations=("sigmoid", "relu"), batch_norms=(False,), seeds=(0,),
              progress=False, cache_dir=tmp_path, device="cpu")
    first = section3_networks(mnist_small, "quick", **kw)
    again = section3_networks(mnist_small, "quick", **kw)
    assert sorted(first) == [("relu", False, 0), ("sigmoid", False, 0)]
    for key in first:
        assert again[key].origin == "cache"
        assert _same_weights(first[key].trained, again[key].trained)
        assert again[key].test_acc == first[key].test_acc
        assert again[key].best_epoch == first[key].best_epoch
        pd.testing.assert_frame_equal(again[key].history, first[key].history)
    # the history records layer sparsity on the validation split after every epoch
    h = first[("relu", False, 0)].history
    assert list(h.epoch) == [0, 1, 2]
    assert [c for c in h.columns if "sparsity" in c] == [
        f"val sparsity L{i} (%)" for i in (1, 2, 3, 4)]
    untrained_val = hidden_activations(first[("relu", False, 0)].untrained, mnist_small.val.x)
    assert h.loc[0, "val sparsity L1 (%)"] == pytest.approx(layer_sparsity(untrained_val)[0])
    table = accuracy_table(again)
    assert table["origin"].tolist() == ["cache", "cache"]
    assert table["data"].tolist() == ["MNIST", "MNIST"]


def test_cache_key_depends_on_settings_and_data(tiny, mnist_small, monkeypatch):
    a = cache_path(mnist_small, "quick", "relu", False, 0)
    assert a.parent.parts[-2:] == ("section3", "quick")
    assert "mnist_relu_seed0_4x8_" in a.name
    assert cache_path(mnist_small, "quick", "relu", True, 0) != a
    assert cache_path(mnist_small.subset(1_000), "quick", "relu", False, 0) != a
    monkeypatch.setitem(inspected_nets.SECTION3_SETTINGS, "quick", dict(TINY, max_epochs=3))
    assert cache_path(mnist_small, "quick", "relu", False, 0) != a


def test_paper_profile_prefers_grid_checkpoints(tiny, mnist_small, tmp_path, monkeypatch):
    calls = []

    def checkpoint(profile, dataset, activation, batch_norm, seed, trained=True, width=None,
                   depth=4, source=None):
        calls.append((profile, dataset, activation, batch_norm, seed, trained, width, depth))
        if not trained:
            raise FileNotFoundError("no untrained checkpoint")
        return make_model(784, depth, width, activation, batch_norm, seed=seed + 100)

    monkeypatch.setattr(inspected_nets, "checkpoint", checkpoint)
    nets = section3_networks(mnist_small, "paper", activations=("relu",), batch_norms=(False,),
                             seeds=(1,), progress=False, cache_dir=tmp_path)
    net = nets[("relu", False, 1)]
    assert net.origin == "grid checkpoint"
    assert calls[0] == ("paper", "mnist", "relu", False, 1, True, 10, 4)
    assert _same_weights(net.trained, make_model(784, 4, 10, "relu", seed=101))
    assert _same_weights(net.untrained, make_model(784, 4, 10, "relu", seed=1))
    # the quick profile never asks the grid
    calls.clear()
    section3_networks(mnist_small, "quick", activations=("relu",), batch_norms=(False,),
                      seeds=(1,), progress=False, cache_dir=tmp_path, device="cpu")
    assert calls == []


def test_nets_the_grid_trained_on_another_data_copy_are_not_inspected(tiny, mnist_small,
                                                                     tmp_path, monkeypatch):
    """A grid checkpoint is only read on the copy of the data it was trained on. Without
    training (the book) the mismatch is the error the chapter shows, or the net is left out
    with ``skip_missing``; with training allowed the net is trained on the copy at hand."""
    asked = []

    def other_copy(profile, dataset, activation, batch_norm, seed, trained=True, width=None,
                   depth=4, source=None):
        asked.append(source)
        raise DataSourceMismatch("the grid's mnist nets were trained on MNIST-C")

    monkeypatch.setattr(inspected_nets, "checkpoint", other_copy)
    kw = dict(activations=("relu",), batch_norms=(False,), seeds=(0,), progress=False,
              cache_dir=tmp_path, device="cpu")
    with pytest.raises(DataSourceMismatch, match="trained on MNIST-C"):
        section3_networks(mnist_small, "paper", train=False, **kw)
    assert asked == [mnist_small.source]  # the loaded copy is what the grid is asked for
    assert section3_networks(mnist_small, "paper", train=False, skip_missing=True, **kw) == {}
    nets = section3_networks(mnist_small, "paper", **kw)
    assert nets[("relu", False, 0)].origin == "trained now"


def test_missing_or_mismatched_grid_falls_back_to_training(tiny, mnist_small, tmp_path,
                                                           monkeypatch):
    def checkpoint(profile, dataset, activation, batch_norm, seed, trained=True, width=None,
                   depth=4, source=None):
        return make_model(784, 2, 10, activation, batch_norm, seed=seed)  # 2 layers, not 4

    monkeypatch.setattr(inspected_nets, "checkpoint", checkpoint)
    nets = section3_networks(mnist_small, "paper", activations=("relu",), batch_norms=(False,),
                             seeds=(0,), progress=False, cache_dir=tmp_path, device="cpu")
    assert nets[("relu", False, 0)].origin == "trained now"
    def missing(*args, **kwargs):
        raise FileNotFoundError("no grid results")

    monkeypatch.setattr(inspected_nets, "checkpoint", missing)  # no checkpoint at all
    nets = section3_networks(mnist_small, "paper", activations=("relu",), batch_norms=(False,),
                             seeds=(0,), progress=False, cache_dir=tmp_path, device="cpu")
    assert nets[("relu", False, 0)].origin == "cache"

    def no_such_seed(profile, dataset, activation, batch_norm, seed, trained=True, width=None,
                     depth=4, source=None):
        raise ValueError(f"seed={seed!r} is not in the grid")

    monkeypatch.setattr(inspected_nets, "checkpoint", no_such_seed)
    nets = section3_networks(mnist_small, "paper", activations=("relu",), batch_norms=(False,),
                             seeds=(0,), progress=False, cache_dir=tmp_path, device="cpu")
    assert nets[("relu", False, 0)].origin == "cache"


def test_fallback_nets_use_the_grids_rate(tiny, mnist_small, tmp_path, monkeypatch):
    runs = pd.DataFrame({"phase": "final", "depth": [4, 4, 2], "width": [10, 10, 10],
                         "activation": ["relu", "relu", "sigmoid"], "batch_norm": False,
                         "seed": [0, 1, 0], "lr": [3e-3, 3e-3, 1e-4]})
    monkeypatch.setattr(inspected_nets, "load_results", lambda profile, dataset, missing_ok=False:
                        types.SimpleNamespace(runs=runs))  # a grid without checkpoints

    kwargs = dict(activations=("relu", "sigmoid"), batch_norms=(False,), seeds=(0,),
                  progress=False, cache_dir=tmp_path, device="cpu")
    with pytest.raises(FileNotFoundError, match="no trained relu seed 0"):
        section3_networks(mnist_small, "paper", train=False, **kwargs)
    nets = section3_networks(mnist_small, "paper", **kwargs)
    relu, sigmoid = nets[("relu", False, 0)], nets[("sigmoid", False, 0)]
    assert (relu.lr, relu.lr_source, relu.origin) == (3e-3, "grid search", "trained now")
    assert (sigmoid.lr, sigmoid.lr_source) == (TINY["lr"], "default")  # no 4-layer run
    assert accuracy_table(nets)["lr"].tolist() == [3e-3, TINY["lr"]]
    # cached under the rate it was trained with; loading needs no training
    again = section3_networks(mnist_small, "paper", train=False, **kwargs)
    assert again[("relu", False, 0)].origin == "cache"
    assert _same_weights(again[("relu", False, 0)].trained, relu.trained)
    assert cache_path(mnist_small, "paper", "relu", False, 0, tmp_path, lr=3e-3) != \
        cache_path(mnist_small, "paper", "relu", False, 0, tmp_path)


@pytest.mark.parametrize("kwargs, name", [
    (dict(activations="relu"), "activations"),
    (dict(activations=("swish",)), "activation"),
    (dict(batch_norms=(0,)), "batch_norms"),
    (dict(seeds=()), "seeds"),
    (dict(profile="fast"), "profile"),
])
def test_bad_arguments_raise_before_any_work(kwargs, name, mnist_small):
    args = dict(profile="quick") | kwargs
    with pytest.raises(ValueError, match=name):
        section3_networks(mnist_small, **args)


def test_settings_are_the_papers_in_the_paper_profile():
    s = section3_settings("paper")
    assert (s["depth"], s["width"], s["max_epochs"], s["patience"]) == (4, 200, 300, 20)
    assert s["n_train"] is None  # full splits
    assert section3_settings("quick")["depth"] == 4


def test_torch_threads_restores_the_thread_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_grid_best_epoch_reads_the_final_run(monkeypatch):
    inets, SimpleNamespace = inspected_nets, types.SimpleNamespace
    runs = pd.DataFrame([dict(depth=4, width=200, activation="relu", batch_norm=True, seed=1,
                              best_epoch=37),
                         dict(depth=4, width=200, activation="relu", batch_norm=False, seed=1,
                              best_epoch=12)])
    monkeypatch.setattr(inets, "load_results", lambda *a, **k: SimpleNamespace(runs=runs))
    assert inets.grid_best_epoch("paper", "mnist", "relu", True, 1, 4, 200) == 37
    assert inets.grid_best_epoch("paper", "mnist", "relu", False, 1, 4, 200) == 12
    assert inets.grid_best_epoch("paper", "mnist", "sigmoid", False, 1, 4, 200) is None
    monkeypatch.setattr(inets, "load_results",
                        lambda *a, **k: SimpleNamespace(runs=pd.DataFrame()))
    assert inets.grid_best_epoch("paper", "mnist", "relu", True, 1, 4, 200) is None
