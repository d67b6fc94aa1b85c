"""The scoreboard: judge the catalogue on the inputs and turn the verdicts into tables.

:func:`evaluate_claims` judges the claims of :data:`~.catalogue.SPECS` (all, or a chapter's,
or a figure's) on the inputs described in :mod:`~.views`; :func:`claims_frame` and
:func:`claims_table` tabulate them for the chapters, :func:`verdict_counts` and
:func:`summary_line` count verdicts, :func:`noise_reading` says which rows the seeds decide,
:func:`export_csv` writes ``data/results/<profile>/claims.csv``, :func:`scoreboard_html`
draws chapter 7's table with :func:`figure_link` to where each figure is drawn, and
:func:`status_table_markdown` builds the intro's reproduction-status table from the CSV.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..book import joined
from .catalogue import SPECS
from .judging import (
    AGREES,
    CONTEXT,
    DISAGREES,
    INCONCLUSIVE,
    MIXED,
    NOT_TESTABLE,
    PARTLY_AGREES,
    PARTLY_DISAGREES,
    PENDING,
    VERDICTS,
    Claim,
)
from .views import Context

CSV_COLUMNS = ["id", "section", "claim", "measure", "rule", "ours", "paper", "verdict", "basis"]
CHAPTERS = {4: "04_training_the_networks", 5: "05_activation_distributions",
            6: "06_class_medians_and_sparsity", 7: "07_claims_scoreboard"}
# where each figure is drawn: (chapter, section anchor of its heading)
FIGURE_ANCHORS = {
    "Fig 1": (4, "fig-1-learning-curves"), "Fig 2": (4, "fig-2-test-accuracy"),
    "Fig 3": (5, "figure-3-sigmoid"), "Fig 4": (5, "figure-4-relu"),
    "Fig 5": (6, "figure-5-sigmoid-on-mnist-untrained-and-trained"),
    "Fig 6": (6, "figure-6-relu-on-mnist-untrained-and-trained"),
    "Fig 7": (6, "figure-7-cifar-10-trained-sigmoid-and-relu"),
    "Table 1": (6, "table-1-layer-sparsity"),
}


# -------------------------------------------------------------------------- evaluation
def evaluate_claims(ids: Iterable[str] | None = None, chapter: int | None = None,
                    figures: Iterable[str] | None = None, **inputs) -> list[Claim]:
    """Judge the claims (all, or those with the given ids / chapter / figures) on
    ``inputs`` (see :mod:`~.views`); missing inputs make their claims pending."""
    ctx = Context(inputs)
    ids = None if ids is None else set(ids)
    figures = None if figures is None else set(figures)
    unknown = (ids or set()) - {s.id for s in SPECS}
    if unknown:
        raise ValueError(f"unknown claim ids {sorted(unknown)}")
    return [spec.evaluate(ctx) for spec in SPECS
            if (ids is None or spec.id in ids) and (chapter is None or spec.chapter == chapter)
            and (figures is None or spec.figure in figures)]


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    """One row per claim: id, section, figure, claim (the quote), measure, rule, ours,
    paper, verdict, basis, chapter, code."""
    return pd.DataFrame([c.row() for c in claims])


def claims_table(ids: Iterable[str] | None = None, chapter: int | None = None,
                 figures: Iterable[str] | None = None, **inputs) -> pd.DataFrame:
    """:func:`evaluate_claims` as a table, with the columns a chapter shows."""
    frame = claims_frame(evaluate_claims(ids, chapter, figures, **inputs))
    return frame[["id", "claim", "measure", "rule", "ours", "paper", "verdict", "basis"]]


def outcome_texts(ids: Iterable[str], **inputs) -> dict[str, str]:
    """Claim id -> :meth:`~.judging.Claim.outcome_text` on ``inputs``: which items held, for
    the prose beside a table."""
    return {c.id: c.outcome_text() for c in evaluate_claims(ids, **inputs)}


def noise_reading(verdicts: Mapping[str, str], rows: Mapping[str, str]) -> str:
    """Which of ``rows`` (claim id -> what the row is about) the seeds decide, for prose:
    ``"the seeds decide the rows on a and b; the row on c stays within seed noise"``.
    Agrees/disagrees is decided, inconclusive within noise, mixed and partly agrees /
    disagrees decided in part; rows pending, not testable or context are named as such."""
    kind = {AGREES: "decide", DISAGREES: "decide", MIXED: "partly", PARTLY_AGREES: "partly",
            PARTLY_DISAGREES: "partly", INCONCLUSIVE: "noise", NOT_TESTABLE: "untested",
            CONTEXT: "untested"}
    groups = {"decide": [], "partly": [], "noise": [], "pending": [], "untested": []}
    for cid, about in rows.items():
        groups[kind.get(verdicts.get(cid, PENDING), "pending")].append(about)
    if groups["decide"] and len(groups["decide"]) == len(rows):
        return "the seeds decide every one of these rows (see their standard errors)"
    parts = [f"the seeds decide the row{'s' * (len(groups['decide']) > 1)} on "
             f"{joined(groups['decide'])}"] if groups["decide"] else []
    endings = {"partly": ("is decided only in part", "are decided only in part"),
               "noise": ("stays within seed noise", "stay within seed noise"),
               "pending": ("is pending", "are pending"),
               "untested": ("is not judged here", "are not judged here")}
    for key, (one, many) in endings.items():
        if groups[key]:
            several = len(groups[key]) > 1
            parts.append(f"the row{'s' * several} on {joined(groups[key])} "
                         f"{many if several else one}")
    return "; ".join(parts)


def verdict_counts(frame: pd.DataFrame) -> pd.Series:
    """How many claims got each verdict (every verdict listed, zeros included)."""
    return frame["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)


def summary_line(frame: pd.DataFrame) -> str:
    """``"3 agree, 1 disagrees, 2 mixed, ..."`` for a table of claims."""
    c = verdict_counts(frame)
    plural = {AGREES: "agree", DISAGREES: "disagree", PARTLY_AGREES: "partly agree",
              PARTLY_DISAGREES: "partly disagree"}
    return ", ".join(f"{k} {plural.get(v, v) if k != 1 else v}" for v, k in c.items() if k)


DEPARTING = (DISAGREES, PARTLY_DISAGREES, MIXED)  # our numbers count against the paper


def departures(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows where our numbers count against the paper (some or all of a claim's items
    fail: *disagrees*, *partly disagrees*, *mixed*), in that order, each verdict's rows in
    the table's order."""
    rank = {v: i for i, v in enumerate(DEPARTING)}
    rows = frame[frame["verdict"].isin(DEPARTING)]
    return rows.iloc[sorted(range(len(rows)), key=lambda i: rank[rows["verdict"].iloc[i]])]


# ---------------------------------------------------------------------- export, pages
def claims_csv_path(profile: str, root: str | os.PathLike | None = None) -> Path:
    """``data/results/<profile>/claims.csv``."""
    from ..data import PROJECT_ROOT
    from ..profiles import check_profile

    base = Path(root) if root is not None else PROJECT_ROOT / "data" / "results"
    return base / check_profile(profile) / "claims.csv"


def export_csv(frame: pd.DataFrame, profile: str,
               root: str | os.PathLike | None = None) -> Path:
    """Write the scoreboard with :data:`CSV_COLUMNS` to :func:`claims_csv_path`."""
    path = claims_csv_path(profile, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    out["paper"] = out["paper"].fillna("")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    out[CSV_COLUMNS].to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def figure_link(figure: str, chapter: int | None, prefix: str = "") -> str:
    """HTML link to where a figure is drawn (else to the chapter, else to the scoreboard)."""
    if figure.split("(")[0] in FIGURE_ANCHORS:
        chapter, anchor = FIGURE_ANCHORS[figure.split("(")[0]]
        return f'<a href="{prefix}{CHAPTERS[chapter]}.html#{anchor}">{figure}</a>'
    known = chapter is not None and chapter == chapter and int(chapter) in CHAPTERS
    page = CHAPTERS[int(chapter) if known else 7]
    return f'<a href="{prefix}{page}.html">{figure}</a>'


def scoreboard_html(frame: pd.DataFrame) -> str:
    """The scoreboard as an HTML table: verdict, claim, our number, the paper's, link."""
    colours = {AGREES: "#d4edda", PARTLY_AGREES: "#e9f5ec", MIXED: "#fff3cd",
               PARTLY_DISAGREES: "#fbe9eb", DISAGREES: "#f8d7da", INCONCLUSIVE: "#fdfdea",
               PENDING: "#e2e3e5", NOT_TESTABLE: "#e2e3e5", CONTEXT: "#d1ecf1"}
    rows = []
    for r in frame.itertuples():
        rows.append(
            f'<tr><td style="background:{colours.get(r.verdict, "")}">{r.verdict}</td>'
            f"<td>{figure_link(r.figure, r.chapter)}</td><td><code>{r.id}</code></td>"
            f"<td><i>{_escape(r.claim)}</i></td><td>{_escape(r.measure)}<br>"
            f"<small>rule: {_escape(r.rule)}</small></td><td>{_escape(r.ours) or '—'}<br>"
            f"<small>{_escape(r.basis)}</small></td><td>{_escape(r.paper) or '—'}</td></tr>")
    head = ("<tr><th>verdict</th><th>where</th><th>id</th><th>the paper says</th>"
            "<th>we measure</th><th>ours (mean ± SE over seeds)</th><th>paper</th></tr>")
    return (f'<table class="claims-scoreboard">{head}{"".join(rows)}</table>')


def _escape(text: object) -> str:
    import html

    return "" if text is None or (isinstance(text, float) and math.isnan(text)) \
        else html.escape(str(text))


def status_table_markdown(profile: str, root: str | os.PathLike | None = None,
                          doc_prefix: str = "chapters/") -> str:
    """The intro's reproduction-status table (MyST Markdown), generated from
    ``claims.csv``: one row per figure or table of the paper, with how many of its claims
    got each verdict (:func:`summary_line`, one column so that the table fits the page) and
    the chapter that shows it. Without a ``claims.csv`` for
    ``profile`` every claim with a rule is counted as pending."""
    path = claims_csv_path(profile, root)
    spec = {s.id: s for s in SPECS}
    if path.exists():
        frame = pd.read_csv(path, keep_default_na=False)
        note = (f"Generated from `data/results/{profile}/claims.csv` ({len(frame)} claims: "
                f"{summary_line(frame)}).")
    else:
        frame = pd.DataFrame({"id": list(spec), "verdict": [
            s.fixed or (NOT_TESTABLE if s.compute is None else PENDING) for s in SPECS]})
        note = (f"No scoreboard has been built for the `{profile}` profile yet, so every "
                "claim with a rule is counted as pending.")
    if profile == "quick":
        note += " Quick-profile verdicts demonstrate the method; they are not evidence."
    frame["figure"] = [spec[i].figure.split("(")[0] if i in spec else "text"
                       for i in frame["id"]]
    frame["chapter"] = [spec[i].chapter if i in spec else None for i in frame["id"]]
    order = ["Fig 1", "Fig 2", "Fig 3", "Fig 4", "Fig 5", "Fig 6", "Fig 7", "Table 1", "text"]
    lines = ["| Result | Chapter | Claims | Verdicts |", "|---|---|---|---|"]
    for fig in sorted(frame["figure"].unique(),
                      key=lambda f: order.index(f) if f in order else len(order)):
        rows = frame[frame["figure"] == fig]
        chapters = sorted({int(ch) for ch in rows["chapter"] if ch is not None and ch == ch})
        where = ", ".join(f"{{doc}}`{ch} <{doc_prefix}{CHAPTERS[ch]}>`" for ch in chapters)
        label = "text (no figure)" if fig == "text" else fig
        lines.append(f"| {label} | {where or '—'} | {len(rows)} | {summary_line(rows)} |")
    lines += ["", f"{note} Every claim, its rule and our number: "
              f"{{doc}}`the claims scoreboard <{doc_prefix}{CHAPTERS[7]}>`."]
    return "\n".join(lines)
