"""helpers.book, and the conventions every chapter listed in _toc.yml must keep."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import book

CHAPTERS = book.chapters()
IDS = [c.stem for c in CHAPTERS]


def _read(chapter: Path):
    return nbformat.read(book.ROOT / chapter, as_version=4)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _setup_source(chapter: Path) -> str:
    """The setup cell: the first code cell of a chapter."""
    return _code_cells(_read(chapter))[0].source


# --- every chapter in _toc.yml ---------------------------------------------------------

def test_toc_lists_the_intro_and_at_least_one_chapter():
    pages = book.toc_files()
    assert pages[0] == Path("intro.md")
    assert CHAPTERS and all(c.suffix == ".ipynb" for c in CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_chapter_follows_the_conventions(chapter: Path):
    assert (book.ROOT / chapter).is_file()
    nb = _read(chapter)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{len(params)} cells tagged 'parameters'"
    for stmt in ast.parse(params[0].source).body:  # plain literals only (papermill parses it)
        assert isinstance(stmt, ast.Assign), ast.dump(stmt)
        ast.literal_eval(stmt.value)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, "sources stay output-free"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]" \
            f"({book.colab_url(chapter)})"
    assert badge in first.source, f"no Colab badge pointing at {book.colab_url(chapter)}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_setup_cell_is_the_same_in_every_chapter(chapter: Path):
    assert _setup_source(chapter) == _setup_source(CHAPTERS[0])


# --- the Colab setup cell -------------------------------------------------------------

BOOK = "/content/activation-functions-book"


@pytest.fixture
def colab_calls(monkeypatch):
    """Record subprocess.run and os.chdir instead of running them; sys.path is restored."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    monkeypatch.setattr(os, "chdir", lambda path: calls.append(("chdir", path)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return calls


def _fake_colab(monkeypatch) -> None:
    google = types.ModuleType("google")
    monkeypatch.setitem(sys.modules, "google", sys.modules.get("google", google))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_setup_cell_clones_the_repository_on_colab(chapter, colab_calls, monkeypatch):
    """A clone, not a pip install: the paper chapters draw the committed results in
    data/results/, which only a checkout has; the chapter then runs from chapters/, as
    `make book` runs it."""
    _fake_colab(monkeypatch)
    monkeypatch.setattr(os.path, "isdir", lambda path: False)  # a fresh Colab machine
    exec(_setup_source(chapter), {})
    clone, install, chdir = colab_calls
    assert clone[0] == ["git", "clone", "-q", "--depth", "1", book.repository_url(), BOOK]
    assert install[0] == [sys.executable, "-m", "pip", "install", "-q", "-e", BOOK]
    assert clone[1].get("check") is True and install[1].get("check") is True
    assert chdir == ("chdir", f"{BOOK}/chapters") and sys.path[0] == BOOK


@pytest.mark.parametrize("chapter", CHAPTERS[:1], ids=IDS[:1])
def test_setup_cell_reuses_the_clone_on_the_next_chapter(chapter, colab_calls, monkeypatch):
    _fake_colab(monkeypatch)
    monkeypatch.setattr(os.path, "isdir", lambda path: path == BOOK)
    exec(_setup_source(chapter), {})
    exec(_setup_source(chapter), {})
    assert colab_calls == [("chdir", f"{BOOK}/chapters")] * 2
    assert sys.path.count(BOOK) == 1


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_setup_cell_does_nothing_off_colab(chapter, colab_calls, capsys):
    path = list(sys.path)
    exec(_setup_source(chapter), {})
    assert colab_calls == [] and sys.path == path
    assert capsys.readouterr() == ("", ""), "the setup cell prints nothing off Colab"


HIDDEN = {"remove-input", "hide-input", "remove-cell"}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_setup_cell_is_hidden_and_the_parameters_cell_is_not(chapter):
    nb = _read(chapter)
    setup = _code_cells(nb)[0]
    assert set(setup.metadata.get("tags", [])) & HIDDEN, (
        "tag the Colab setup cell 'remove-input' so the website does not show it")
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    hidden = set(params.metadata.get("tags", [])) & (HIDDEN | {"remove-output", "hide-cell"})
    assert not hidden, f"the parameters cell stays visible (readers change it): {hidden}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_papermill_reads_every_parameter(chapter):
    """``papermill --help-notebook`` lists each assignment of the parameters cell (a comment
    holding ``=`` makes papermill skip its line with a warning)."""
    from papermill.translators import PythonTranslator

    cell = next(c for c in _read(chapter).cells if "parameters" in c.metadata.get("tags", []))
    assigned = [line.split("=")[0].strip() for line in cell.source.splitlines()
                if re.match(r"^\w+\s*=", line)]
    assert [p.name for p in PythonTranslator.inspect(cell)] == assigned


def test_repository_url_is_set_once_in_config_and_stated_in_readme():
    url = book.repository_url()
    assert url == "https://github.com/activation-functions/activation-functions-book"
    assert url in (book.ROOT / "README.md").read_text()
    assert book.load_config()["launch_buttons"]["colab_url"] == book.COLAB_URL


# --- exercises, figures, glue ----------------------------------------------------------

GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
GLUE_CALL = re.compile(r"""\bglue(?:_value)?\(\s*["']([^"']+)["']""")
# `glue_all(numbers, "ch8_")`: every key of a helper's dict under a prefix. This static test
# cannot see a dict's keys: a key the text uses but no dict has, or one two dicts share, fails
# the strict (-W) site build of `make test`, and the browser check finds any empty glue
GLUE_ALL = re.compile(r"""\bglue_all\(\s*[\w.]+\s*,\s*["']([^"']+)["']""")
# a cell that makes a figure: `fig = ...`, `fig2 = ...`, `fig, ax = ...` (the browser check
# verifies every rendered image; this catches a missing caption before any build)
FIGURE_CALL = re.compile(r"^\s*fig\d*\s*(,[^=\n]*)?=(?!=)", re.MULTILINE)
DROPDOWN = re.compile(r"^(:::+|```+)\{(dropdown|toggle)\}", re.MULTILINE)


def _glue_keys(role_text: str) -> str:
    """``"name:.2f"`` -> ``"name"`` (myst-nb splits the format at the last colon)."""
    key = role_text.rsplit(":", 1)[0] if ":" in role_text else role_text
    return key.split("::", 1)[-1]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_chapter_ends_with_exercises_and_collapsed_solutions(chapter: Path):
    nb = _read(chapter)
    heads = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "markdown" and re.search(r"^## Exercises\s*$", c.source, re.M)]
    assert len(heads) == 1, "one '## Exercises' section, at the end of the chapter"
    tail = nb.cells[heads[0]:]
    assert all(c.cell_type == "markdown" for c in tail), (
        "exercises and solutions are prose: no code cells after '## Exercises'")
    text = "\n".join(c.source for c in tail)
    n_exercises = len(re.findall(r"^\*\*Exercise \d+\.\d+\b", text, re.M))
    assert 2 <= n_exercises <= 4, f"{n_exercises} exercises (want 2-4)"
    assert len(DROPDOWN.findall(text)) == n_exercises, "one collapsed solution per exercise"
    assert ":open:" not in text, "solutions start collapsed"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_glued_number_in_the_text_is_glued_by_a_cell(chapter: Path):
    nb = _read(chapter)
    glued = {k for c in _code_cells(nb) for k in GLUE_CALL.findall(c.source)}
    used = {_glue_keys(m) for c in nb.cells if c.cell_type == "markdown"
            for m in GLUE_ROLE.findall(c.source)}
    used |= {_glue_keys(m) for c in _code_cells(nb)
             for m in GLUE_ROLE.findall(str(c.metadata.get("mystnb", {})))}
    prefixes = tuple(p for c in _code_cells(nb) for p in GLUE_ALL.findall(c.source))
    missing = {k for k in used - glued if not k.startswith(prefixes)}
    assert not missing, f"glued in the text but never by a cell: {sorted(missing)}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_figure_cell_has_alt_text_and_a_numbered_caption_with_its_data(chapter: Path):
    for cell in _code_cells(_read(chapter)):
        if not FIGURE_CALL.search(cell.source):
            continue
        first = cell.source.splitlines()[0]
        meta = cell.metadata.get("mystnb", {})
        alt = meta.get("image", {}).get("alt", "")
        figure = meta.get("figure", {})
        assert len(alt) >= 20, f"cell {first!r}: no alt text (mystnb.image.alt)"
        assert figure.get("name"), f"cell {first!r}: no figure name (numbered figure)"
        assert "Data:" in figure.get("caption", ""), (
            f"cell {first!r}: the caption (mystnb.figure.caption) names no data source")


def test_hide_injected_parameters_tags_only_papermills_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('profile = "quick"',
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1")])
    assert book.hide_injected_parameters(nb) == 1
    assert nb.cells[1].metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert nb.cells[0].metadata["tags"] == ["parameters"]
    assert book.hide_injected_parameters(nb) == 0, "idempotent"


# --- toc, links, figures --------------------------------------------------------------

def _tiny_book(tmp_path: Path, toc: dict, files: dict[str, str]) -> Path:
    config = {"title": "t", "repository": {"url": "https://github.com/org/repo/",
                                           "branch": "dev"},
              "bibtex_bibfiles": ["refs.bib"]}
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    for name, text in {"refs.bib": "", **files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def _notebook(*sources: str) -> str:
    cells = [nbformat.v4.new_code_cell(s) for s in sources]
    cells[0].metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nbformat.writes(nb)


def test_toc_order_through_parts_chapters_and_sections(tmp_path):
    toc = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "A", "chapters": [{"file": "ch/a", "sections": [{"file": "ch/a1"}]}]},
        {"caption": "B", "chapters": [{"file": "ch/b.md"}, {"file": "ch/c"}]}]}
    files = {"intro.md": "# i", "ch/a.ipynb": "{}", "ch/a1.ipynb": "{}", "ch/b.md": "# b",
             "ch/c.ipynb": "{}"}
    root = _tiny_book(tmp_path, toc, files)
    assert book.toc_files(root) == [Path(p) for p in
                                    ["intro.md", "ch/a.ipynb", "ch/a1.ipynb", "ch/b.md",
                                     "ch/c.ipynb"]]
    assert book.chapters(root) == [Path("ch/a.ipynb"), Path("ch/a1.ipynb"), Path("ch/c.ipynb")]


def test_toc_entry_without_a_file_is_an_error(tmp_path):
    root = _tiny_book(tmp_path, {"root": "intro", "chapters": [{"file": "nope"}]},
                      {"intro.md": "# i"})
    with pytest.raises(FileNotFoundError, match="nope"):
        book.chapters(root)


def test_colab_url_from_config(tmp_path):
    root = _tiny_book(tmp_path, {"root": "intro"}, {"intro.md": "# i"})
    assert book.colab_url("chapters/x.ipynb", root) == (
        "https://colab.research.google.com/github/org/repo/blob/dev/chapters/x.ipynb")
    assert book.colab_url(CHAPTERS[0]) == (
        "https://colab.research.google.com/github/activation-functions/"
        f"activation-functions-book/blob/main/{CHAPTERS[0].as_posix()}")


def test_count_figures_counts_outputs_rendered_as_images():
    out = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        out("display_data", data={"image/png": "iVBO", "text/plain": "<Figure>"}),
        out("execute_result", data={"image/svg+xml": "<svg/>"}, execution_count=1),
        out("display_data", data={"image/png": "iVBO", "text/html": "<b>table</b>"}),
        out("stream", name="stdout", text="image/png"),
    ]
    hidden = nbformat.v4.new_code_cell("y", metadata={"tags": ["remove-output"]})
    hidden.outputs = [out("display_data", data={"image/png": "iVBO"})]
    nb = nbformat.v4.new_notebook(
        cells=[cell, hidden, nbformat.v4.new_markdown_cell("![](a.png)")])
    assert book.count_figures(nb) == 2


# --- execute / build ------------------------------------------------------------------

def test_execute_rejects_bad_input_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="profile='fast'"):
        book.execute("fast", root=tmp_path)
    with pytest.raises(ValueError, match="not chapters in _toc.yml"):
        book.execute("quick", only=["chapters/nope.ipynb"], progress=False)


def test_execute_injects_the_profile_and_stops_at_the_failing_chapter(tmp_path):
    toc = {"root": "intro", "chapters": [{"file": "ch/a"}, {"file": "ch/b"}, {"file": "ch/c"}]}
    files = {
        "intro.md": "# i",
        "ch/a.ipynb": _notebook("profile = None", "import os\nprint(profile, os.getcwd())"),
        "ch/b.ipynb": _notebook("profile = None", "x = 1", "raise ValueError('boom ' + profile)"),
        "ch/c.ipynb": _notebook("profile = None"),
    }
    root = _tiny_book(tmp_path, toc, files)
    with pytest.raises(book.ChapterFailed) as failure:
        book.execute("quick", root=root, progress=False)
    message = str(failure.value)
    assert "ch/b.ipynb" in message and "ValueError: boom quick" in message
    assert "failed in cell 2 " in message and "raise ValueError" in message

    a = nbformat.read(book.executed_path("ch/a.ipynb", root), as_version=4)
    assert a.metadata["actfn"]["profile"] == "quick"
    injected = [c for c in a.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"], (
        "papermill's injected cell is hidden on the site")
    printed = a.cells[-1].outputs[0]["text"]
    assert printed.split()[0] == "quick" and printed.split()[1] == str(root / "ch")
    b = nbformat.read(book.executed_path("ch/b.ipynb", root), as_version=4)
    assert any(o.output_type == "error" for c in _code_cells(b) for o in c.outputs)
    assert not book.executed_path("ch/c.ipynb", root).exists()

    with pytest.raises(ValueError, match="no executed copy"):
        book.check_executed(root)


def test_check_executed_refuses_a_stale_copy_and_stage_copies_the_sources(tmp_path):
    toc = {"root": "intro", "chapters": [{"file": "ch/a"}]}
    root = _tiny_book(tmp_path, toc, {"intro.md": "# i", "ch/a.ipynb": _notebook("p = 1"),
                                      "ch/pic.png": "png"})
    executed = book.executed_path("ch/a.ipynb", root)
    executed.parent.mkdir(parents=True)
    nb = nbformat.read(root / "ch/a.ipynb", as_version=4)
    nb.metadata["actfn"] = {"profile": "paper",
                            "source_sha256": book.source_hash(root / "ch/a.ipynb")}
    nbformat.write(nb, executed)
    assert book.check_executed(root) == {"paper"}
    (root / "ch/a.ipynb").write_text(_notebook("p = 2"))
    with pytest.raises(ValueError, match="source changed"):
        book.check_executed(root)

    stage = book.stage(root, banner="quick build")
    for name in ["_config.yml", "_toc.yml", "intro.md", "refs.bib", "ch/pic.png"]:
        assert (stage / name).is_file(), name
    assert yaml.safe_load((stage / "_config.yml").read_text())["html"]["announcement"] == \
        "quick build"
    assert nbformat.read(stage / "ch/a.ipynb", as_version=4).metadata["actfn"]["profile"] == \
        "paper", "staging must not overwrite the executed copy"


def test_glue_value_formats_or_says_pending(monkeypatch):
    from helpers import book

    glued = {}
    monkeypatch.setattr(book, "glue", lambda name, value: glued.__setitem__(name, value))
    table = {"mnist": 98.4567}
    book.glue_value("a", lambda: table["mnist"], ".1f")
    book.glue_value("b", lambda: table["cifar10"], ".1f")  # not computed yet
    book.glue_value("c", lambda: float("nan"), "+.2f")  # mean of nothing
    book.glue_value("d", lambda: [1, 2][5])
    book.glue_value("e", lambda: 3)
    assert glued == {"a": "98.5", "b": "pending", "c": "pending", "d": "pending", "e": "3"}
    with pytest.raises(ZeroDivisionError):  # real bugs are not hidden
        book.glue_value("f", lambda: 1 / 0)


def test_glue_all_glues_every_entry_under_the_prefix(monkeypatch):
    import numpy as np
    import pandas as pd

    from helpers import book

    glued = {}
    monkeypatch.setattr(book, "glue", lambda name, value: glued.__setitem__(name, value))
    book.glue_all({"acc": "98.4", "n": 3, "gap": np.float64(0.5)}, "ch9_")
    assert glued == {"ch9_acc": "98.4", "ch9_n": 3, "ch9_gap": np.float64(0.5)}
    with pytest.raises(TypeError, match="prefix='ch9_'.*'table': 'DataFrame'"):
        book.glue_all({"ok": "1", "table": pd.DataFrame()}, "ch9_")
    with pytest.raises(TypeError, match="'column': 'Series'"):  # has .item(), still a table
        book.glue_all({"column": pd.Series([1.0, 2.0])}, "ch9_")
    assert "ch9_ok" not in glued, "nothing is glued when one value is wrong"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_chapter_head_is_one_setup_call(chapter: Path):
    """After the parameters cell, the chapter's first code cell calls ``helpers.setup`` and
    sets no threads or theme by hand."""
    cells = _code_cells(_read(chapter))
    i = next(k for k, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    head = cells[i + 1].source
    assert "from helpers import setup" in head and re.search(r"\bsetup\(\s*profile", head)
    for by_hand in ("set_num_threads", "set_theme()", "resolve_profile("):
        assert by_hand not in head, f"{by_hand} belongs to helpers.setup()"


def test_prose_formatters_by_hand():
    import numpy as np

    from helpers.book import as_text, joined, layer_list, listed, plus_minus, trend
    assert joined(["a"]) == "a" and joined(["a", "b", "c"]) == "a, b and c"
    assert as_text(np.float64(98.456), ".1f") == "98.5" and as_text(3, "") == "3"
    assert as_text(None) == as_text(float("nan")) == as_text(np.inf) == "pending"
    assert plus_minus(0.254, 0.1) == "0.25 ± 0.10"
    assert plus_minus(0.254, 0.1, sign=True) == "+0.25 ± 0.10"
    assert plus_minus(-1.0, float("nan"), ".1f") == "-1.0 (one seed)"
    assert plus_minus(float("nan"), 0.1) == "pending"
    assert (trend(1, 2), trend(2, 1), trend(1, 1)) == ("rises", "falls", "stays the same")
    assert trend(1, 2, up="grows") == "grows"
    assert listed([1, 2.25, 3]) == "1.0, 2.2 and 3.0" and listed([5], ".0f") == "5"
    assert layer_list([2]) == "layer 2" and layer_list([2, 3, 4]) == "layers 2, 3 and 4"


def test_readable_formats_numbers_and_blanks_cells_without_a_value():
    import numpy as np
    import pandas as pd

    from helpers.book import readable

    t = pd.DataFrame({"acc": [91.104, np.nan], "bn": [True, False], "name": ["x", None],
                      "l2": [1e-4, 0.01], "n": [np.int64(3), 4]}, index=["pixels", "layer 1"])
    out = readable(t)
    assert out.loc["pixels", "acc"] == "91.10" and out.loc["layer 1", "acc"] == ""
    assert list(out["bn"]) == [True, False]  # booleans are not numbers to format
    assert out.loc["layer 1", "name"] == "" and out.loc["pixels", "n"] == "3.00"
    per_column = readable(t, {"acc": ".1f", "l2": "g"}, missing="–")
    assert list(per_column["acc"]) == ["91.1", "–"] and list(per_column["l2"]) == ["0.0001",
                                                                                   "0.01"]
    assert list(per_column["n"]) == [3, 4]  # no spec for this column: as it was
    assert list(out.index) == list(t.index) and list(out.columns) == list(t.columns)


def test_grid_forecast_reads_the_last_plan(tmp_path):
    import json

    from helpers.book import grid_forecast

    path = tmp_path / "manifest.json"
    assert grid_forecast(path) == ""  # no manifest
    path.write_text(json.dumps({"plan": {"remaining_hours": 55.9, "calibrated": "D"}}))
    assert grid_forecast(path) == (" `make grid` is computing the rest: about 56 hours of one "
                                   "CPU core at a short calibration's rate (`make plan`, D).")
    path.write_text(json.dumps({"plan": {"remaining_hours": 55.9, "calibrated": "D",
                                         "remaining_hours_measured": 76.04}}))
    assert "about 76 hours of one CPU core at the rates its runs have taken so far" in \
        grid_forecast(path)
    path.write_text(json.dumps({"plan": {"remaining_hours": 0.0}}))
    assert grid_forecast(path) == ""  # complete


def test_reproduction_status_says_when_the_grid_is_complete(monkeypatch, tmp_path):
    """A complete grid is called complete (no forecast, no pending sentence, whatever an old
    plan says); an incomplete one says 'so far', what is pending and the forecast."""
    import json
    import types

    import pandas as pd

    import helpers.claims
    import helpers.grid
    from helpers.book import reproduction_status

    counts = {"mnist": 96, "cifar10": 96}
    monkeypatch.setattr(helpers.grid, "load_results", lambda profile, ds, **k: (
        types.SimpleNamespace(runs=pd.DataFrame({"x": range(counts[ds])}), label=ds.upper())))
    monkeypatch.setattr(helpers.claims, "status_table_markdown", lambda *a, **k: "TABLE")
    manifest = tmp_path / "data" / "results" / "paper" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"plan": {"remaining_hours": 9.7, "calibrated": "D"}}))
    assert reproduction_status("paper", root=tmp_path) == (
        "The `paper` grid is complete; its final runs — MNIST: 96 of 96; CIFAR10: 96 of 96."
        "\n\nTABLE")
    counts["cifar10"] = 66
    text = reproduction_status("paper", root=tmp_path)
    assert text.startswith("Final runs of the `paper` grid committed so far — MNIST: 96 of 96; "
                           "CIFAR10: 66 of 96. Claims whose runs are missing are counted as "
                           "pending. `make grid` is computing the rest: about 10 hours")


def test_execute_and_stage_into_another_build_dir(tmp_path):
    """``make test`` executes the paper profile into ``_build/paper`` beside the quick
    ``_build``: the executed copies, timings and staged sources go there, nothing to the
    default folders."""
    toc = {"root": "intro", "chapters": [{"file": "ch/a"}]}
    root = _tiny_book(tmp_path, toc, {"intro.md": "# i",
                                      "ch/a.ipynb": _notebook("profile = None", "x = 1")})
    written = book.execute("paper", root=root, progress=False, build_dir="_build/paper")
    assert written == [root / "_build/paper/executed/ch/a.ipynb"]
    assert written[0] == book.executed_path("ch/a.ipynb", root, "_build/paper")
    assert (root / "_build/paper/timings.json").exists()
    assert not book.executed_path("ch/a.ipynb", root).exists()
    assert book.check_executed(root, "_build/paper") == {"paper"}
    with pytest.raises(ValueError, match="no executed copy"):
        book.check_executed(root)
    staged = book.stage(root, build_dir="_build/paper")
    assert staged == root / "_build/paper/executed" and (staged / "intro.md").exists()
