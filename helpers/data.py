"""Datasets as normalised, flattened tensors, ready for an MLP.

One call, :func:`load_dataset`, finds MNIST or CIFAR-10 on disk (or downloads it when a
network exists), splits the official training set into train/validation with a fixed
seed, normalises every channel with the *training* split's mean and std, flattens the
images and returns everything as tensors on the requested device.

Split sizes (fixed, seeded with ``SPLIT_SEED``):

========  ======  ==========  ======
dataset   train   validation  test
========  ======  ==========  ======
mnist     50 000  10 000      10 000
cifar10   40 000  10 000      10 000
========  ======  ==========  ======

Lookup: an explicit ``root`` argument (or env ``ACTFN_DATA``) is the *only* place searched;
if it does not hold the dataset, :func:`load_dataset` raises ``FileNotFoundError`` naming
it (a wrong path is never silently replaced by another copy). With no explicit root, the
project's ``data/`` folder, then ``../shared/datasets`` beside the project, then a
torchvision download into ``data/``. Genuine CIFAR-10
(``cifar-10-batches-py``) is preferred everywhere; the lossy JPEG copy (``cifar10-jpeg``)
is a fallback and is reported as source ``cifar10-jpeg`` with a warning.
Decoded images are cached as uint8 tensors under ``data/cache/``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    import pandas as pd

DATASETS = ("mnist", "cifar10")
SPLIT_SIZES = {"mnist": (50_000, 10_000, 10_000), "cifar10": (40_000, 10_000, 10_000)}
SPLIT_SEED = 0
SOURCE_LABELS = {
    "mnist": "MNIST",
    "cifar10": "CIFAR-10",
    "cifar10-jpeg": "CIFAR-10 (JPEG copy)",
}
MNIST_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# In a checkout, datasets and caches live in the project's data/; when helpers is
# pip-installed from git (Colab), they go to data/ under the working directory.
DATA_HOME = (PROJECT_ROOT / "data" if (PROJECT_ROOT / "pyproject.toml").exists()
             else Path.cwd() / "data")


@dataclass
class Split:
    """One split: ``x`` float32 ``[N, features]``, ``y`` int64 ``[N]``."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: str | torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def take(self, n: int | None, seed: int = 0) -> Split:
        """A seeded random subset of ``n`` samples (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n].sort().values.to(self.y.device)
        return Split(self.x[idx], self.y[idx])


@dataclass
class Dataset:
    """Train/validation/test splits plus what a reader needs to label results."""

    name: str
    source: str
    classes: list[str]
    train: Split
    val: Split
    test: Split
    location: str = ""
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def where(self) -> str:
        """``location`` without the builder's absolute path, e.g. ``../shared/datasets``."""
        return relative_location(self.location) if self.location else ""

    @property
    def label(self) -> str:
        """Human-readable source, e.g. ``CIFAR-10 (JPEG copy)``; use it in every title."""
        return SOURCE_LABELS[self.source]

    def to(self, device: str | torch.device) -> Dataset:
        return replace(
            self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device)
        )

    def subset(
        self, n_train: int | None, n_val: int | None = None, n_test: int | None = None,
        seed: int = 0,
    ) -> Dataset:
        """Seeded random subsets of each split (used by the ``quick`` profile)."""
        return replace(
            self,
            train=self.train.take(n_train, seed),
            val=self.val.take(n_val, seed + 1),
            test=self.test.take(n_test, seed + 2),
        )

    def digest(self) -> str:
        """SHA-256 of every split's images and labels as stored (normalised float32, in the
        order train, val, test): two machines that decode the same files agree on it only
        if they produce the same pixels (the GPU machine's copy of the data is checked so)."""
        h = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            for t in (split.x, split.y):
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, source={self.source!r}, train={len(self.train)}, "
            f"val={len(self.val)}, test={len(self.test)}, features={self.n_features})"
        )


def source_label(source: str) -> str:
    """``mnist`` -> ``MNIST``, ``cifar10-jpeg`` -> ``CIFAR-10 (JPEG copy)``."""
    if source not in SOURCE_LABELS:
        raise ValueError(f"source={source!r} is not known; accepted: {sorted(SOURCE_LABELS)}")
    return SOURCE_LABELS[source]


def with_labels(table: pd.DataFrame, labels: Mapping[str, str], name: str = "dataset"
                ) -> pd.DataFrame:
    """``table`` for readers: the dataset codes in its column, index level or column level
    ``name`` (e.g. ``cifar10``) replaced by ``labels`` (e.g. ``{"cifar10": "CIFAR-10 (JPEG
    copy)"}``, from the results' sources); codes without a label stay as they are."""
    import pandas as pd

    def relabel(index: pd.Index) -> pd.Index:
        if name not in index.names:
            return index
        if isinstance(index, pd.MultiIndex):
            level = list(index.names).index(name)
            return index.set_levels([labels.get(v, v) for v in index.levels[level]],
                                    level=level, verify_integrity=False)
        return index.map(lambda v: labels.get(v, v))

    out = table.copy()
    if isinstance(out, pd.DataFrame) and name in out.columns:
        out[name] = out[name].map(lambda v: labels.get(v, v))
    out.index = relabel(out.index)
    if isinstance(out, pd.DataFrame):
        out.columns = relabel(out.columns)
    return out


def explicit_root(root: str | os.PathLike | None = None) -> Path | None:
    """The folder the caller chose: ``root``, else env ``ACTFN_DATA``, else None."""
    explicit = root if root is not None else os.environ.get("ACTFN_DATA")
    return Path(explicit).expanduser() if explicit else None


def search_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for datasets, in order.

    An explicit ``root`` (or env ``ACTFN_DATA``) is searched alone; only without one does
    the search use the project's ``data/`` and ``../shared/datasets``.
    """
    explicit = explicit_root(root)
    if explicit is not None:
        return [explicit]
    return [DATA_HOME, PROJECT_ROOT.parent / "shared" / "datasets"]


def relative_location(path: str | os.PathLike) -> str:
    """``path`` as a reader may see it: relative to the project (``data/cifar10-jpeg``,
    ``../shared/datasets``), else to the working directory or ``~``; never the absolute
    path of the machine that ran the code."""
    path = Path(path).expanduser().absolute()
    anchors = [(PROJECT_ROOT, ""), (PROJECT_ROOT.parent, "../"), (Path.cwd(), ""),
               (Path.home(), "~/")]
    for anchor, prefix in anchors:
        try:
            rel = path.relative_to(anchor.absolute())
        except ValueError:
            continue
        text = rel.as_posix()
        if prefix == "../":
            return f"../{text}"
        if prefix == "~/":
            return "~" if text == "." else f"~/{text}"
        return text
    return Path(os.path.relpath(path, PROJECT_ROOT)).as_posix()


def _find_mnist(base: Path) -> Path | None:
    raw = base / "MNIST" / "raw"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if all((raw / n).exists() or (raw / f"{n}.gz").exists() for n in names):
        return base
    return None


def _find_cifar_genuine(base: Path) -> Path | None:
    d = base / "cifar-10-batches-py"
    return base if (d / "data_batch_1").exists() and (d / "test_batch").exists() else None


def _find_cifar_jpeg(base: Path) -> Path | None:
    d = base / "cifar10-jpeg"
    ok = all((d / split / c).is_dir() for split in ("train", "test") for c in CIFAR10_CLASSES)
    return d if ok else None


def _network_available(host: str = "pypi.org", timeout: float = 3.0) -> bool:
    if os.environ.get("ACTFN_OFFLINE", "") not in ("", "0"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _read_mnist(base: Path) -> dict[str, Tensor]:
    from torchvision.datasets import MNIST

    tr, te = MNIST(str(base), train=True), MNIST(str(base), train=False)
    return {
        "train_x": tr.data.unsqueeze(1).clone(), "train_y": tr.targets.clone(),
        "test_x": te.data.unsqueeze(1).clone(), "test_y": te.targets.clone(),
    }


def _read_cifar_genuine(base: Path) -> dict[str, Tensor]:
    from torchvision.datasets import CIFAR10

    tr, te = CIFAR10(str(base), train=True), CIFAR10(str(base), train=False)
    as_x = lambda d: torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return {
        "train_x": as_x(tr), "train_y": torch.tensor(tr.targets),
        "test_x": as_x(te), "test_y": torch.tensor(te.targets),
    }


def _read_cifar_jpeg(folder: Path) -> dict[str, Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    out: dict[str, Tensor] = {}
    for split in ("train", "test"):
        files, labels = [], []
        for label, cls in enumerate(CIFAR10_CLASSES):
            paths = sorted((folder / split / cls).glob("*.jpg"))
            files += paths
            labels += [label] * len(paths)
        raw = [read_file(str(p)) for p in files]
        images = decode_jpeg(raw, mode=ImageReadMode.RGB)
        out[f"{split}_x"] = torch.stack(images)
        out[f"{split}_y"] = torch.tensor(labels)
    return out


def _cached(source: str, location: Path, reader) -> dict[str, Tensor]:
    cache = DATA_HOME / "cache" / f"{source}.pt"
    if cache.exists():
        blob = torch.load(cache, weights_only=True)
        if blob.get("location") == str(location):
            return blob["tensors"]
    tensors = reader(location)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")  # parallel processes
        torch.save({"location": str(location), "tensors": tensors}, tmp)
        tmp.replace(cache)
    except OSError:  # read-only checkout: fine, just slower next time
        pass
    return tensors


def _locate(name: str, roots: list[Path]) -> tuple[str, Path, object] | None:
    """First match of (source, location, reader) over the roots; genuine CIFAR-10 first."""
    if name == "mnist":
        finders = [("mnist", _find_mnist, _read_mnist)]
    else:
        finders = [("cifar10", _find_cifar_genuine, _read_cifar_genuine),
                   ("cifar10-jpeg", _find_cifar_jpeg, _read_cifar_jpeg)]
    for source, find, reader in finders:  # genuine before JPEG, across *all* roots
        for r in roots:
            loc = find(r)
            if loc is not None:
                return source, loc, reader
    return None


def _download(name: str, target: Path) -> tuple[str, Path, object]:
    from torchvision.datasets import CIFAR10, MNIST

    target.mkdir(parents=True, exist_ok=True)
    if name == "mnist":
        MNIST(str(target), train=True, download=True)
        MNIST(str(target), train=False, download=True)
        return "mnist", target, _read_mnist
    CIFAR10(str(target), train=True, download=True)
    return "cifar10", target, _read_cifar_genuine


def _not_found(name: str, roots: list[Path], reason: str | None) -> FileNotFoundError:
    """The error listing every folder searched; ``reason=None``: an explicit root was given."""
    expected = ("MNIST/raw/train-images-idx3-ubyte (torchvision layout)" if name == "mnist"
                else "cifar-10-batches-py/ (genuine) or cifar10-jpeg/{train,test}/<class>/")
    places = "\n".join(f"  - {r}" for r in roots)
    if reason is None:
        why = ("This folder was given as root= or env ACTFN_DATA, so no other place was "
               "searched and nothing was downloaded (pass download=True to download into it).")
    else:
        why = f"It could not be downloaded either ({reason})."
    return FileNotFoundError(
        f"dataset={name!r} was not found. Looked for {expected} in:\n{places}\n{why}\n"
        "Fix: pass load_dataset(..., root=FOLDER) or set ACTFN_DATA=FOLDER to a folder "
        "holding the files, or leave both unset to search data/ and ../shared/datasets "
        "(copy the files there, or run once on a machine with internet so torchvision can "
        "download them into data/)."
    )


def check_dataset_name(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r} is not supported; accepted values: {DATASETS}")
    return dataset


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> Dataset:
    """Load ``mnist`` or ``cifar10`` as normalised, flattened tensors on ``device``.

    An explicit ``root`` (or env ``ACTFN_DATA``) is the only folder searched: if it does
    not hold the dataset, ``FileNotFoundError`` names it, unless ``download=True`` is
    passed, which downloads into it. Without a root, the project's ``data/`` and
    ``../shared/datasets`` are searched, then a download into ``data/`` is tried
    (``download`` defaults to True unless env ``ACTFN_OFFLINE`` is set) when a network is
    reachable. The returned ``Dataset.source`` says which copy was used.
    """
    check_dataset_name(name)
    explicit = explicit_root(root)
    roots = search_roots(root)
    found = _locate(name, roots)
    if found is None:
        if download is None:  # never download behind the back of an explicit root
            if explicit is not None:
                raise _not_found(name, roots, None)
            download = os.environ.get("ACTFN_OFFLINE", "") in ("", "0")
        if not download:
            raise _not_found(name, roots, "download=False")
        if not _network_available():
            raise _not_found(name, roots, "no network")
        try:
            found = _download(name, explicit if explicit is not None else DATA_HOME)
        except Exception as err:  # any failure means "not available"
            raise _not_found(name, roots, f"download failed: {err}") from err
    source, location, reader = found
    if source == "cifar10-jpeg":
        warnings.warn(
            "Genuine CIFAR-10 not found; using the lossy JPEG copy at "
            f"{location}. Results are labelled 'CIFAR-10 (JPEG copy)'.",
            stacklevel=2,
        )
    raw = _cached(source, Path(location), reader)
    return _build(name, source, Path(location), raw, device)


def _build(name: str, source: str, location: Path, raw: dict[str, Tensor],
           device: str | torch.device) -> Dataset:
    n_train, n_val, _ = SPLIT_SIZES[name]
    g = torch.Generator().manual_seed(SPLIT_SEED)
    perm = torch.randperm(len(raw["train_y"]), generator=g)
    tr_idx, va_idx = perm[:n_train].sort().values, perm[n_train:n_train + n_val].sort().values
    x_train = raw["train_x"][tr_idx].float().div_(255)
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3))

    def prep(x: Tensor) -> Tensor:
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        x = (x - mean[None, :, None, None]) / std[None, :, None, None]
        return x.flatten(1).contiguous()

    ds = Dataset(
        name=name,
        source=source,
        classes=list(MNIST_CLASSES if name == "mnist" else CIFAR10_CLASSES),
        train=Split(prep(x_train), raw["train_y"][tr_idx].long()),
        val=Split(prep(raw["train_x"][va_idx]), raw["train_y"][va_idx].long()),
        test=Split(prep(raw["test_x"]), raw["test_y"].long()),
        location=str(location),
        mean=mean.tolist(),
        std=std.tolist(),
    )
    return ds.to(device) if str(device) != "cpu" else ds
