"""Execute the book's chapters headlessly and build the website.

Two commands, both driven by ``_toc.yml`` (never a hard-coded chapter list)::

    python -m helpers.book execute --profile quick   # or paper
    python -m helpers.book build

``execute`` runs every notebook chapter through papermill with ``profile`` injected into
its ``parameters`` cell and writes the executed copy to ``_build/executed/<same path>``.
The sources in ``chapters/`` stay output-free. A failing chapter stops the run with the
chapter's name and the failing cell; its executed copy (with the error) stays on disk.

``build`` stages the book's other sources (``_config.yml``, ``_toc.yml``, Markdown pages,
``references.bib``...) next to the executed copies in ``_build/executed/`` and runs
Jupyter Book on that folder with execution *off*, writing the site to ``_build/html``.
Jupyter Book therefore never executes anything and never serves a stale cache: what is
published is exactly what papermill produced. ``build`` refuses executed copies that are
missing or executed from an older version of their source (content hash).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from numbers import Number
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .profiles import PROFILES, check_profile

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = "_build"
EXECUTED_DIR = f"{BUILD_DIR}/executed"
HTML_DIR = f"{BUILD_DIR}/html"
COLAB_URL = "https://colab.research.google.com"
STATIC_DIRS = ("_static", "images", "figures")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
# myst-nb renders the first of these that an output carries; an image only wins without them.
RICHER_MIMES = ("application/vnd.jupyter.widget-view+json", "application/javascript",
                "text/html")
QUICK_BANNER = ("This build ran every chapter in the <b>quick</b> profile (small data "
                "subsets, few epochs): its numbers demonstrate the code, they are not "
                "paper-fidelity results.")


class ChapterFailed(RuntimeError):
    """A chapter raised during execution; the message names the chapter and the cell."""


def load_config(root: Path = ROOT) -> dict:
    """The book's ``_config.yml`` as a dict."""
    return yaml.safe_load((Path(root) / "_config.yml").read_text())


def repository_url(root: Path = ROOT) -> str:
    """The repository URL, set once in ``_config.yml`` (``repository.url``)."""
    return load_config(root)["repository"]["url"].rstrip("/")


def colab_url(chapter: str | Path, root: Path = ROOT) -> str:
    """The Colab link of a chapter, e.g. ``.../blob/main/chapters/00_getting_started.ipynb``."""
    config = load_config(root)
    repo = config["repository"]
    prefix = "https://github.com/"
    if not repo["url"].startswith(prefix):
        raise ValueError(f"repository.url={repo['url']!r} must start with {prefix!r} for Colab")
    org_repo = repo["url"][len(prefix):].strip("/")
    book = repo.get("path_to_book", "").strip("/")
    path = f"{book}/{Path(chapter).as_posix()}" if book else Path(chapter).as_posix()
    return f"{COLAB_URL}/github/{org_repo}/blob/{repo.get('branch', 'main')}/{path}"


def _toc_entries(node: object) -> Iterable[str]:
    if isinstance(node, list):
        for item in node:
            yield from _toc_entries(item)
    elif isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                yield str(node[key])
        for key in ("parts", "chapters", "sections"):
            if key in node:
                yield from _toc_entries(node[key])


def _resolve(entry: str, root: Path) -> Path:
    """A toc entry (usually without extension) -> its file, relative to ``root``."""
    path = Path(entry)
    if path.suffix in (".ipynb", ".md", ".rst"):
        candidates = [path]
    else:
        candidates = [path.with_name(path.name + ext) for ext in (".ipynb", ".md", ".rst")]
    for candidate in candidates:
        if (root / candidate).exists():
            return candidate
    raise FileNotFoundError(f"_toc.yml lists {entry!r} but none of {candidates} exist in {root}")


def toc_files(root: Path = ROOT) -> list[Path]:
    """Every page listed in ``_toc.yml`` (root page first), as paths relative to ``root``."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    return [_resolve(entry, Path(root)) for entry in _toc_entries(toc)]


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebook chapters listed in ``_toc.yml``, in reading order."""
    return [p for p in toc_files(root) if p.suffix == ".ipynb"]


def executed_path(chapter: str | Path, root: Path = ROOT, build_dir: str = BUILD_DIR) -> Path:
    """Where ``execute`` writes the executed copy of ``chapter`` (``<build_dir>/executed``)."""
    return Path(root) / build_dir / "executed" / chapter


def page_path(page: str | Path, root: Path = ROOT) -> Path:
    """The HTML page built from ``page`` (a toc file such as ``chapters/00_x.ipynb``)."""
    return Path(root) / HTML_DIR / Path(page).with_suffix(".html")


def source_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def count_figures(notebook) -> int:
    """Outputs that myst-nb renders as an ``<img>``: image data with no richer mime type,
    in cells not tagged ``remove-output`` / ``remove-cell``."""
    return sum(
        1
        for cell in notebook.cells if cell.cell_type == "code"
        and not set(cell.metadata.get("tags", [])) & {"remove-output", "remove-cell"}
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("display_data", "execute_result")
        and any(m in out.get("data", {}) for m in IMAGE_MIMES)
        and not any(m in out.get("data", {}) for m in RICHER_MIMES)
    )


def glue(name: str, value: object) -> None:
    """Store ``value`` under ``name`` for the chapter's prose, without displaying it.

    The Markdown then shows it with myst-nb's role, e.g. ``{glue:text}`name:.2f```, so the
    text always states the computed value. NumPy/torch scalars are stored as Python numbers
    (their repr would not format). Without myst-nb (e.g. on Colab) this does nothing.
    """
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:  # only the website renders glued values
        return
    _glue(name, value, display=False)


def glue_all(texts: Mapping[str, object], prefix: str) -> None:
    """:func:`glue` every entry of ``texts`` under ``prefix + key``: the prose numbers a
    helper computed for a chapter in one call (``glue_all(numbers, "ch8_")`` glues
    ``numbers["ppl_relu_l1"]`` as ``ch8_ppl_relu_l1``).

    Values must be text or numbers (a table or figure would be glued by mistake); a missing
    key in the Markdown fails the strict site build.
    """
    bad = {k: type(v).__name__ for k, v in texts.items()  # a NumPy/torch scalar has ndim 0
           if not isinstance(v, (str, Number)) and getattr(v, "ndim", None) != 0}
    if bad:
        raise TypeError(f"glue_all(prefix={prefix!r}): values must be text or numbers; "
                        f"got {bad}")
    for key, value in texts.items():
        glue(prefix + key, value)


PENDING = "pending"


def as_text(value: float | None, fmt: str = ".2f") -> str:
    """``format(value, fmt)`` for glued prose, or ``"pending"`` when the value does not
    exist yet (None, NaN or infinite)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return PENDING if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else format(value, fmt)


def plus_minus(mean: float, spread: float | None, fmt: str = ".2f", sign: bool = False) -> str:
    """``"mean ± spread"`` for glued prose (the prose says whether the spread is an SE or an
    sd; ``sign``: the mean with its sign, ``+0.25 ± 0.10``); ``"mean (one seed)"`` when there
    is no spread (None or NaN), :data:`PENDING` when there is no mean."""
    if mean is None or not math.isfinite(mean):
        return PENDING
    m = format(mean, ("+" if sign else "") + fmt)
    if spread is None or not math.isfinite(spread):
        return f"{m} (one seed)"
    return f"{m} ± {format(spread, fmt)}"


def glue_value(name: str, compute, fmt: str = "") -> None:
    """Glue ``format(compute(), fmt)`` under ``name``, or ``"pending"`` when the results it
    needs do not exist yet: ``compute`` raises ``KeyError``/``IndexError`` (a configuration
    absent from a table) or returns NaN. The Markdown then uses ``{glue:text}`name``` with
    no format spec, so a pending value renders as the word, never as a broken number."""
    try:
        value = compute()
    except (KeyError, IndexError):
        value = None
    glue(name, as_text(value, fmt))


def trend(first: float, last: float, up: str = "rises", down: str = "falls") -> str:
    """The word for how a number moves from ``first`` to ``last``, for glued prose."""
    return up if last > first else down if last < first else "stays the same"


def joined(words: Iterable[str]) -> str:
    """``"a, b, c and d"`` (``"a"`` for one word): words for glued prose."""
    words = list(words)
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]


def listed(values: Iterable[float], fmt: str = ".1f") -> str:
    """``"a, b, c and d"``: numbers for glued prose."""
    return joined(format(float(v), fmt) for v in values)


def layer_list(layers: Iterable[int]) -> str:
    """``"layer 2"`` or ``"layers 2, 3 and 4"``: layer numbers for glued prose."""
    words = [str(n) for n in layers]
    return ("layer " if len(words) == 1 else "layers ") + joined(words)


def readable(table: pd.DataFrame, fmt: str | Mapping[str, str] = ".2f", missing: str = ""
             ) -> pd.DataFrame:
    """``table`` as text for reading: numbers formatted with ``fmt`` (one spec for all, or
    one per column; other columns as they are) and the cells that cannot hold a value (NaN:
    the layers of a pixel probe, a run that never did something) shown as ``missing``
    instead of ``NaN``."""
    out = table.astype(object).copy()
    for col in table.columns:
        spec = fmt.get(col) if isinstance(fmt, Mapping) else fmt
        out[col] = [missing if _missing(v) else
                    format(v, spec) if spec is not None and _number(v) else v
                    for v in table[col]]
    return out


def _number(value: object) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _missing(value: object) -> bool:
    return value is None or (_number(value) and math.isnan(value))


def hide_injected_parameters(notebook) -> int:
    """Tag papermill's ``injected-parameters`` cells ``remove-cell`` so the site hides them.

    The chapter's own ``parameters`` cell stays visible (readers change it); the injected
    copy only repeats the profile, which the setup cell prints. Returns the cells tagged.
    """
    tagged = 0
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            tagged += 1
    return tagged


def _failure_message(chapter: Path, source_nb, err: Exception, out: Path) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        # papermill counts its injected-parameters cell; report the cell of the source.
        matches = [i for i, c in enumerate(source_nb.cells) if c.source == err.source]
        where = f"cell {matches[0]}" if matches else f"executed cell {err.cell_index}"
        source = "\n".join("    " + line for line in err.source.splitlines()[:12])
        return (f"chapter {chapter} failed in {where} (0-based, In [{err.exec_count}]): "
                f"{err.ename}: {err.evalue}\n"
                f"  the cell:\n{source}\n  executed copy with the error: {out}")
    return (f"chapter {chapter} failed: {type(err).__name__}: {err}\n"
            f"  executed copy so far: {out}")


def execute(profile: str, only: Sequence[str | Path] | None = None, root: Path = ROOT,
            progress: bool = True, build_dir: str = BUILD_DIR) -> list[Path]:
    """Run the toc's chapters (or ``only`` those) through papermill in ``profile``.

    Writes ``<build_dir>/executed/<chapter>`` (``_build/executed/`` by default); returns
    those paths. Raises :class:`ChapterFailed` at the first failing chapter.
    """
    import nbformat
    import papermill
    from tqdm.auto import tqdm

    check_profile(profile)
    root = Path(root)
    todo = chapters(root)
    if only:
        wanted = {Path(c).as_posix() for c in only}
        unknown = wanted - {c.as_posix() for c in todo}
        if unknown:
            raise ValueError(f"only={sorted(unknown)} are not chapters in _toc.yml; "
                             f"accepted: {[c.as_posix() for c in todo]}")
        todo = [c for c in todo if c.as_posix() in wanted]
    if profile == "paper":
        from .grid.store import shapes_in_training

        busy = shapes_in_training()
        if busy:
            print(f"note: make grid is training ({', '.join(busy)}); its tables may grow while "
                  "the chapters execute, so counts can differ between chapters. Pause it "
                  "(SIGTERM) for one consistent view.", file=sys.stderr)
    written, seconds = [], {}
    old_env = os.environ.get("ACTFN_PROFILE")
    os.environ["ACTFN_PROFILE"] = profile  # helpers that read the env agree with the parameter
    bar = tqdm(todo, desc=f"executing ({profile})", unit="chapter", disable=not progress)
    try:
        for chapter in bar:
            bar.set_postfix_str(chapter.name)
            src, out = root / chapter, executed_path(chapter, root, build_dir)
            start = time.perf_counter()
            out.parent.mkdir(parents=True, exist_ok=True)
            nb = nbformat.read(src, as_version=4)
            nb.metadata["actfn"] = {"profile": profile, "source_sha256": source_hash(src)}
            try:
                papermill.execute_notebook(
                    nb, str(out), parameters={"profile": profile}, kernel_name="python3",
                    cwd=str(src.parent), progress_bar=False, log_output=False,
                )
            except Exception as err:  # any failure stops the run, named
                raise ChapterFailed(_failure_message(chapter, nb, err, out)) from err
            executed = nbformat.read(out, as_version=4)
            if hide_injected_parameters(executed):
                nbformat.write(executed, out)
            written.append(out)
            seconds[chapter.as_posix()] = round(time.perf_counter() - start, 1)
    finally:
        bar.close()
        if seconds:
            _record_timings(root, profile, seconds, build_dir)
        if old_env is None:
            os.environ.pop("ACTFN_PROFILE", None)
        else:
            os.environ["ACTFN_PROFILE"] = old_env
    return written


def _record_timings(root: Path, profile: str, seconds: dict[str, float],
                    build_dir: str = BUILD_DIR) -> None:
    """Print each chapter's execution time and merge it into ``<build_dir>/timings.json``."""
    for chapter, s in seconds.items():
        print(f"{s:7.1f} s  {chapter} ({profile})")
    path = Path(root) / build_dir / "timings.json"
    table = json.loads(path.read_text()) if path.exists() else {}
    table.setdefault(profile, {}).update(seconds)
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


def check_executed(root: Path = ROOT, build_dir: str = BUILD_DIR) -> set[str]:
    """The profiles of the executed copies; ValueError if any is missing or stale."""
    import nbformat

    root = Path(root)
    problems, profiles = [], set()
    for chapter in chapters(root):
        out = executed_path(chapter, root, build_dir)
        if not out.exists():
            problems.append(f"{chapter}: no executed copy at {out}")
            continue
        meta = nbformat.read(out, as_version=4).metadata.get("actfn", {})
        if meta.get("source_sha256") != source_hash(root / chapter):
            problems.append(f"{chapter}: the source changed since it was executed")
        profiles.add(meta.get("profile", "unknown"))
    if problems:
        raise ValueError("cannot build the site:\n  " + "\n  ".join(problems)
                         + "\nRun: python -m helpers.book execute --profile quick|paper")
    return profiles


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    else:
        shutil.copy2(src, dst)


def stage(root: Path = ROOT, banner: str | None = None, build_dir: str = BUILD_DIR) -> Path:
    """Copy every non-notebook book source next to the executed copies; return that folder.

    ``banner`` (HTML) becomes the site's announcement bar.
    """
    root = Path(root)
    stage_dir = root / build_dir / "executed"
    config = load_config(root)
    extra = [Path(p) for p in config.get("bibtex_bibfiles", [])]
    extra += [Path(d) for d in STATIC_DIRS if (root / d).is_dir()]
    extra += [p for p in toc_files(root) if p.suffix != ".ipynb"]
    for folder in {c.parent for c in chapters(root)} - {Path(".")}:
        extra += [p.relative_to(root) for p in (root / folder).iterdir()
                  if p.suffix != ".ipynb" and p.name != ".ipynb_checkpoints"]
    for path in ["_toc.yml", *extra]:
        _copy(root / path, stage_dir / path)
    if banner:
        config.setdefault("html", {})["announcement"] = banner
    (stage_dir / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return stage_dir


STATUS_MARKER = "<!-- reproduction-status -->"


def reproduction_status(profile: str, root: Path = ROOT) -> str:
    """The intro's reproduction status (MyST), generated from the results of ``profile``:
    the grid's final runs per dataset, then the claims scoreboard per figure/table."""
    from .claims import status_table_markdown
    from .grid import get_spec, load_results

    planned = get_spec(profile).n_final()
    counts, complete = [], True
    for ds in ("mnist", "cifar10"):
        res = load_results(profile, ds, root=Path(root) / "data" / "results", missing_ok=True)
        counts.append(f"{res.label or ds}: {len(res.runs)} of {planned}")
        complete &= len(res.runs) >= planned
    if complete:
        grid = (f"The `{profile}` grid is complete; its final runs — " + "; ".join(counts)
                + ".")
    else:
        grid = (f"Final runs of the `{profile}` grid committed so far — " + "; ".join(counts)
                + ". Claims whose runs are missing are counted as pending." + grid_forecast(
                    Path(root) / "data" / "results" / profile / "manifest.json"))
    return grid + "\n\n" + status_table_markdown(profile, root=Path(root) / "data" / "results")


def grid_forecast(summary_manifest: Path) -> str:
    """``" `make grid` is computing the rest: ..."`` from the last ``make plan`` stored in
    the profile's summary manifest (the hours at the rates the grid's own runs took, else
    the calibrated ones); empty when there is no plan or nothing remains."""
    try:
        plan = json.loads(Path(summary_manifest).read_text()).get("plan") or {}
    except (OSError, ValueError):
        return ""
    hours = plan.get("remaining_hours_measured") or plan.get("remaining_hours")
    if not hours:
        return ""
    how = ("at the rates its runs have taken so far" if plan.get("remaining_hours_measured")
           else "at a short calibration's rate")
    return (f" `make grid` is computing the rest: about {hours:.0f} hours of one CPU core "
            f"{how} (`make plan`, {plan.get('calibrated', 'date unknown')}).")


def build(root: Path = ROOT, strict: bool = True, build_dir: str = BUILD_DIR) -> Path:
    """Build ``_build/html`` from the executed copies (execution off). Returns the HTML folder.

    With another ``build_dir`` (e.g. ``_build/paper``, where ``make test`` builds the paper
    site beside the quick one) it reads ``<build_dir>/executed`` and writes
    ``<build_dir>/_build/html`` (Jupyter Book's layout under an output path).
    The staged ``intro.md`` gets its reproduction-status table (:func:`reproduction_status`)
    in place of the marker line ``<!-- reproduction-status -->``.
    """
    root = Path(root)
    profiles = check_executed(root, build_dir)
    stage_dir = stage(root, banner=QUICK_BANNER if "quick" in profiles else None,
                      build_dir=build_dir)
    intro = stage_dir / "intro.md"
    if intro.exists() and STATUS_MARKER in intro.read_text():
        profile = "quick" if "quick" in profiles else "paper"
        intro.write_text(intro.read_text().replace(STATUS_MARKER,
                                                   reproduction_status(profile, root)))
    output = root if build_dir == BUILD_DIR else root / build_dir  # JB adds _build/html
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe if exe.exists() else shutil.which("jupyter-book") or "jupyter-book"),
           "build", str(stage_dir), "--path-output", str(output), "--builder", "html",
           "--all", "--quiet"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    print(f"building the site from {stage_dir} (profile: {', '.join(sorted(profiles))})")
    subprocess.run(cmd, check=True, cwd=root)
    return output / "_build" / "html"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="run every chapter with papermill")
    ex.add_argument("--profile", choices=PROFILES, required=True)
    ex.add_argument("--chapter", action="append", metavar="PATH",
                    help="only this chapter (repeatable), e.g. chapters/00_getting_started.ipynb")
    ex.add_argument("--build-dir", default=BUILD_DIR,
                    help="write the executed copies to BUILD_DIR/executed (default _build)")
    sub.add_parser("list", help="print the notebook chapters of _toc.yml, one a line")
    bd = sub.add_parser("build", help="build _build/html from the executed copies")
    bd.add_argument("--no-strict", action="store_true", help="do not fail on Sphinx warnings")
    bd.add_argument("--build-dir", default=BUILD_DIR,
                    help="read BUILD_DIR/executed; the site goes to _build/html for the "
                         "default _build, else to BUILD_DIR/_build/html")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(c.as_posix() for c in chapters()))
        elif args.command == "execute":
            written = execute(args.profile, only=args.chapter, build_dir=args.build_dir)
            print(f"executed {len(written)} chapter(s) into {ROOT / args.build_dir / 'executed'}")
        else:
            html = build(strict=not args.no_strict, build_dir=args.build_dir)
            print(f"site: {html}/intro.html")
    except (ChapterFailed, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as err:
        print(f"error: jupyter-book build failed (exit {err.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
