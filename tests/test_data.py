import warnings

import pytest
import torch

import helpers.data as hd
from helpers.data import SPLIT_SIZES, load_dataset, source_label


def test_mnist_shapes_and_source(mnist):
    assert mnist.source == "mnist"
    assert mnist.train.x.shape == (50_000, 784)
    assert mnist.val.x.shape == (10_000, 784)
    assert mnist.test.x.shape == (10_000, 784)
    assert mnist.train.x.dtype == torch.float32 and mnist.train.y.dtype == torch.int64
    assert mnist.classes == [str(i) for i in range(10)]
    assert sorted(mnist.test.y.unique().tolist()) == list(range(10))


def test_mnist_normalised_with_training_statistics(mnist):
    # per-channel mean 0 / std 1 over the training split, by construction
    assert abs(mnist.train.x.mean().item()) < 1e-4
    assert abs(mnist.train.x.std().item() - 1) < 1e-3
    assert 0.12 < mnist.mean[0] < 0.14  # MNIST's well-known pixel mean, 0.1307


def test_split_is_fixed_and_disjoint(mnist):
    again = load_dataset("mnist")
    assert torch.equal(again.train.y, mnist.train.y)
    assert torch.equal(again.val.x[:5], mnist.val.x[:5])
    # validation images are not training images: compare row hashes
    tr = {hash(r.numpy().tobytes()) for r in mnist.train.x[:20_000]}
    va = [hash(r.numpy().tobytes()) for r in mnist.val.x[:2_000]]
    # MNIST holds a handful of exact duplicate images; allow a tiny overlap
    assert sum(h in tr for h in va) < 5
    assert len(mnist.train) + len(mnist.val) == sum(SPLIT_SIZES["mnist"][:2])


def test_subset_is_seeded(mnist):
    a, b = mnist.subset(100, 50, 50, seed=3), mnist.subset(100, 50, 50, seed=3)
    assert torch.equal(a.train.y, b.train.y) and len(a.val) == 50
    assert not torch.equal(a.train.y, mnist.subset(100, 50, 50, seed=4).train.y)


def test_cifar10_prefers_genuine_else_labelled_jpeg():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_dataset("cifar10")
    assert d.train.x.shape == (40_000, 3072) and len(d.val) == 10_000 and len(d.test) == 10_000
    if d.source == "cifar10-jpeg":
        assert d.label == "CIFAR-10 (JPEG copy)"
        assert any("JPEG" in str(w.message) for w in caught)
    else:
        assert d.source == "cifar10"


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match=r"dataset='fashion'.*accepted values"):
        load_dataset("fashion")


def test_missing_dataset_lists_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setattr(hd, "DATA_HOME", tmp_path / "data")
    monkeypatch.setattr(hd, "PROJECT_ROOT", tmp_path / "project")
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", root=tmp_path / "explicit", download=False)
    msg = str(err.value)
    for place in [tmp_path / "explicit", tmp_path / "data", tmp_path / "shared" / "datasets"]:
        assert str(place) in msg
    assert "ACTFN_DATA" in msg and "Fix" in msg


def test_offline_without_data_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(hd, "DATA_HOME", tmp_path / "data")
    monkeypatch.setattr(hd, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.setenv("ACTFN_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", download=True)


def test_env_root_is_searched_first(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTFN_DATA", str(tmp_path))
    assert hd.search_roots()[0] == tmp_path


def test_source_label():
    assert source_label("cifar10-jpeg") == "CIFAR-10 (JPEG copy)"
    with pytest.raises(ValueError, match="accepted"):
        source_label("svhn")
