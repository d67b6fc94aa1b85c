"""An install from the repository (what the chapters' Colab cell does) carries every
subpackage of ``helpers``; the code, chapters included, is ruff-clean."""

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


def test_module_map_lists_every_module_once():
    """The package docstring's map is one line per module and matches ``ls helpers/``."""
    import re
    from pathlib import Path

    import helpers
    root = Path(helpers.__file__).parent
    on_disk = sorted(p.stem for p in root.glob("*.py") if p.stem != "__init__") + sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    mapped = re.findall(r"^\* :mod:`helpers\.(\w+)`", helpers.__doc__, re.M)
    assert sorted(mapped) == sorted(on_disk)
    assert len(mapped) == len(set(mapped))


LINTED = ("helpers", "tests", "benchmarks", "chapters")


def test_code_is_ruff_clean():
    """``make lint``'s check, chapters' code cells included, in ``make test``: a reader who
    copies a cell gets code in the book's style (ruff is in requirements.txt)."""
    import shutil
    import subprocess
    import sys

    ruff = Path(sys.executable).parent / "ruff"
    ruff = str(ruff) if ruff.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (requirements.txt installs it)")
    done = subprocess.run([ruff, "check", "--output-format", "concise", *LINTED], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
