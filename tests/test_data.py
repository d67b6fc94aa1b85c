import warnings
from pathlib import Path

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
    monkeypatch.delenv("ACTFN_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", download=False)
    msg = str(err.value)
    for place in [tmp_path / "data", tmp_path / "shared" / "datasets"]:
        assert str(place) in msg
    assert "ACTFN_DATA" in msg and "Fix" in msg


def _default_places() -> list[str]:
    return [str(hd.DATA_HOME), str(hd.PROJECT_ROOT.parent / "shared" / "datasets")]


def test_explicit_root_without_the_dataset_raises_instead_of_falling_through(tmp_path, mnist):
    # MNIST exists in a default place (the mnist fixture loaded it), yet a wrong root= fails
    assert str(Path(mnist.location)) in _default_places()
    wrong = tmp_path / "not-here"
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", root=wrong)
    msg = str(err.value)
    assert str(wrong) in msg and "no other place was searched" in msg
    for place in _default_places():
        assert place not in msg, f"{place} was searched although root= was given"


def test_env_root_without_the_dataset_raises_instead_of_falling_through(tmp_path, monkeypatch,
                                                                        mnist):
    assert str(Path(mnist.location)) in _default_places()
    monkeypatch.setenv("ACTFN_DATA", str(tmp_path / "empty"))
    assert hd.search_roots() == [tmp_path / "empty"]
    with pytest.raises(FileNotFoundError, match="ACTFN_DATA") as err:
        load_dataset("mnist")
    assert str(tmp_path / "empty") in str(err.value)
    for place in _default_places():
        assert place not in str(err.value)


def test_explicit_root_beats_the_env_and_is_used_when_it_holds_the_data(monkeypatch, mnist):
    monkeypatch.setenv("ACTFN_DATA", "/nonexistent-actfn-data")
    d = load_dataset("mnist", root=mnist.location)
    assert d.location == mnist.location and torch.equal(d.test.y, mnist.test.y)


def test_explicit_root_downloads_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTFN_OFFLINE", "1")  # never touch the network in a test
    with pytest.raises(FileNotFoundError, match="no network"):
        load_dataset("mnist", root=tmp_path, download=True)
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_dataset("mnist", root=tmp_path, download=False)


def test_no_root_searches_data_then_shared(monkeypatch, mnist):
    monkeypatch.delenv("ACTFN_DATA", raising=False)
    assert [str(p) for p in hd.search_roots()] == _default_places()
    assert hd.search_roots(None) == hd.search_roots()


def test_offline_without_data_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(hd, "DATA_HOME", tmp_path / "data")
    monkeypatch.setattr(hd, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.setenv("ACTFN_OFFLINE", "1")
    monkeypatch.delenv("ACTFN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", download=True)


def test_env_root_is_the_only_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTFN_DATA", str(tmp_path))
    assert hd.search_roots() == [tmp_path]


def test_locations_are_shown_relative_to_the_project(tmp_path, monkeypatch, mnist):
    root = hd.PROJECT_ROOT
    assert hd.relative_location(root / "data") == "data"
    assert hd.relative_location(root / "data" / "cifar10-jpeg") == "data/cifar10-jpeg"
    assert hd.relative_location(root.parent / "shared" / "datasets") == "../shared/datasets"
    home = hd.relative_location(Path.home() / "mnist")
    assert not Path(home).is_absolute() and home.endswith("mnist")
    where = mnist.where
    assert where and not Path(where).is_absolute() and str(root) not in where
    monkeypatch.chdir(tmp_path)
    outside = hd.relative_location("/some/where/else")
    assert not Path(outside).is_absolute() and outside.endswith("some/where/else")


def test_with_labels_names_datasets_for_readers():
    import pandas as pd

    from helpers.data import with_labels
    labels = {"cifar10": "CIFAR-10 (JPEG copy)"}
    df = pd.DataFrame({"dataset": ["mnist", "cifar10"], "depth": [2, 4], "acc": [1.0, 2.0]})
    assert with_labels(df, labels)["dataset"].tolist() == ["mnist", "CIFAR-10 (JPEG copy)"]
    assert df["dataset"].tolist() == ["mnist", "cifar10"]  # a copy
    multi = with_labels(df.set_index(["dataset", "depth"]), labels)
    assert multi.index.get_level_values("dataset").tolist() == ["mnist",
                                                                "CIFAR-10 (JPEG copy)"]
    single = with_labels(df.set_index("dataset"), labels)
    assert single.index.tolist() == ["mnist", "CIFAR-10 (JPEG copy)"]
    wide = with_labels(df.pivot_table(index="depth", columns="dataset", values="acc"), labels)
    assert sorted(wide.columns) == ["CIFAR-10 (JPEG copy)", "mnist"]
    series = with_labels(df.set_index(["dataset", "depth"])["acc"], labels)
    assert series.index.get_level_values("dataset").tolist() == ["mnist",
                                                                 "CIFAR-10 (JPEG copy)"]


def test_source_label():
    assert source_label("cifar10-jpeg") == "CIFAR-10 (JPEG copy)"
    with pytest.raises(ValueError, match="accepted"):
        source_label("svhn")


def test_digest_is_stable_and_sees_one_pixel(mnist_small):
    """The check of the GPU machine's copy: equal data, equal digest; one pixel, another."""
    import dataclasses

    again = dataclasses.replace(mnist_small, train=mnist_small.train.to("cpu"))
    assert mnist_small.digest() == again.digest() and len(again.digest()) == 64
    x = mnist_small.test.x.clone()
    x[3, 100] += 0.5
    changed = dataclasses.replace(mnist_small, test=type(mnist_small.test)(x, mnist_small.test.y))
    assert changed.digest() != mnist_small.digest()
    labels = mnist_small.val.y.clone()
    labels[0] = (labels[0] + 1) % 10
    relabelled = dataclasses.replace(mnist_small,
                                     val=type(mnist_small.val)(mnist_small.val.x, labels))
    assert relabelled.digest() != mnist_small.digest()
