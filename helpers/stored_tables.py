"""Tables stored for machines that cannot recompute them.

The committed grid trained its CIFAR-10 nets on the JPEG copy; a machine with genuine
CIFAR-10 (Colab, the site's build) must not inspect those nets on other pixels. So, where
the grid's copy is at hand, the ``paper`` profile stores what the chapters compute from the
nets, per dataset and table (``<dataset>_<table>.csv``, gzip without a timestamp for the
large ones, so that an unchanged table keeps its bytes), with the settings they were
computed with (``settings.json``); the other machine reads them back only for the same
settings and the same copy. Chapter 6 and the scoreboard use it through
:mod:`helpers.claims.inputs`, chapter 8 through :mod:`helpers.class_information`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

# the datasets that exist here in two copies (genuine CIFAR-10 and its JPEG copy): their
# tables are the ones stored for a machine with the other copy
TWO_COPIES = ("cifar10",)


def table_file(dataset: str, name: str, compressed: Sequence[str] = ()) -> str:
    """``<dataset>_<name>.csv``, ``.csv.gz`` for the tables named in ``compressed``."""
    return f"{dataset}_{name}.csv" + (".gz" if name in compressed else "")


def store_tables(folder: Path, tables: Mapping[str, pd.DataFrame],
                 settings: Mapping[str, object], compressed: Sequence[str] = ()) -> list[Path]:
    """Write each table once per value of its ``dataset`` column, and ``settings``
    (atomically; a file whose bytes would not change is left alone). Returns the files
    written."""
    from .grid.store import atomic_write

    blobs = {}
    for name, table in tables.items():
        for ds, part in table.groupby("dataset", sort=False):
            text = part.to_csv(index=False).encode()
            blobs[folder / table_file(ds, name, compressed)] = (
                gzip.compress(text, mtime=0) if name in compressed else text)
    blobs[folder / "settings.json"] = json.dumps(dict(settings), indent=1,
                                                 sort_keys=True).encode()
    written = []
    for path, blob in blobs.items():
        if not (path.exists() and path.read_bytes() == blob):
            atomic_write(path, lambda tmp, blob=blob: tmp.write_bytes(blob))
            written.append(path)
    return written


def load_tables(folder: Path, dataset: str, names: Sequence[str],
                settings: Mapping[str, object], column: str, value: str,
                compressed: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """The stored tables ``names`` of ``dataset`` whose ``column`` holds only ``value``
    (the copy of the data they were computed on), if they were computed with ``settings``;
    ``{}`` otherwise (a reader's own settings are never answered from others)."""
    path = folder / "settings.json"
    if not path.exists() or json.loads(path.read_text()) != json.loads(json.dumps(
            dict(settings))):
        return {}
    found = {}
    for name in names:
        path = folder / table_file(dataset, name, compressed)
        if path.exists():
            table = pd.read_csv(path)
            if table.empty or set(table[column]) != {value}:
                return {}
            found[name] = table
    return found
