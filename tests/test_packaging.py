"""An install from the repository (what the chapters' Colab cell does) carries every
subpackage of ``helpers``."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parent.parent


def test_every_helpers_subpackage_is_installed():
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(ROOT), **config["packages"]["find"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "helpers").rglob("__init__.py")}
    assert on_disk == found, f"installed: {sorted(found)}; on disk: {sorted(on_disk)}"
