"""The judging core: how per-seed numbers become an item outcome and a claim's verdict.

This module holds the verdict names, the noise rule (:func:`se_factor`, :data:`SE_FACTOR`),
:func:`judge` (one item's outcome), :class:`Item`, :func:`verdict_of` (items to a verdict),
:class:`Claim` (one judged statement) and :class:`ClaimSpec` (how to judge one statement),
plus :class:`Missing`, the exception a rule raises when its inputs do not exist yet. It knows
nothing about the paper's figures: the rules live in :mod:`helpers.claims.section2_rules` and
:mod:`helpers.claims.section3_rules`.

**How a verdict is reached.** A rule turns the results into one or more *items*; an item
is one number per seed (e.g. ReLU minus sigmoid test accuracy of one configuration, seed by
seed) and a statement about it: ``> target``, ``< target`` or ``within tol of target``.

* An item **holds** when every seed is on the claim's side of the target *and* the mean
  clears the target by more than the two-sided 95 % critical value of Student's t for its
  seeds, in standard errors over seeds (:func:`se_factor`: 4.30 for three seeds, 12.7 for
  two); it **fails** when the same is true on the other side; otherwise it is **within
  noise** (the seeds split, the margin is under that many standard errors, a value is NaN,
  or there is only one seed, so that noise cannot be estimated). Why t and not a fixed two
  standard errors: with three seeds, pure noise (a true margin of 0) passes "every seed on
  one side and more than 2 SE" in 18 % of items (simulated), so one item in five would be
  called agreement or disagreement by chance; with the t value it is 5 %. Setting
  :data:`SE_FACTOR` to a number uses that many standard errors for every item instead.
* The claim's verdict combines its items: ``all`` (the usual case) *agrees* when every item
  holds, *disagrees* when every item fails, is *inconclusive* when every item is within
  noise (the seeds cannot tell either way), *mixed* when some items hold and others fail,
  *partly agrees* when some hold and the rest are within noise, and *partly disagrees* when
  some fail and the rest are within noise; ``any`` (for "X is not reliably true", whose
  items state the exception) agrees when some item holds and otherwise reads the items as
  ``all`` does (all fail: disagrees; all within noise: inconclusive; some fail, the rest
  within noise: partly disagrees).

So a gap inside seed noise is never called agreement or disagreement: it makes the claim
*inconclusive* (or *partly* agree or disagree, beside decided items), and the ``basis``
column says why (items split, or within noise). Inconclusive is not "no effect": an effect
smaller than the noise of three seeds would look the same. The other
verdicts: *not testable here* (the book has no data for it, or the sentence is an
interpretation), *pending* (the results the rule needs do not exist yet, e.g. a paper-profile
grid still running) and *context* (a reference number quoted without a verdict).

**Partial results.** A rule with one item per configuration builds them with :func:`each`:
items whose results are missing are left out (:class:`Incomplete`), and the claim is judged
when every way the missing items could turn out gives the same verdict
(:func:`possible_verdicts`; e.g. one item held and another failed: *mixed*), else it stays
*pending*, with the verdicts still possible in its ``basis``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .views import Context

SE_FACTOR: float | None = None  # None: Student's t (95 %) for the item's seeds; a number: that
# many standard errors for every item (chapter 7's exercise 7.1 sets it)

# two-sided 95 % critical values of Student's t by degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_critical(df: int) -> float:
    """The two-sided 95 % critical value of Student's t with ``df`` degrees of freedom
    (tabulated to 30; beyond, the first-order expansion 1.96 + 2.37 / df, within 0.003)."""
    if not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df={df!r} is invalid; accepted: an integer >= 1")
    return _T95[df - 1] if df <= len(_T95) else 1.96 + 2.37 / df


def se_factor(n: int) -> float:
    """How many standard errors an item of ``n`` seeds must clear: :data:`SE_FACTOR` if it is
    set, else :func:`t_critical` for ``n - 1`` degrees of freedom (read at call time)."""
    return SE_FACTOR if SE_FACTOR is not None else t_critical(max(int(n) - 1, 1))

HOLDS, FAILS, WITHIN = "holds", "fails", "within noise"
AGREES, DISAGREES, MIXED, INCONCLUSIVE = "agrees", "disagrees", "mixed", "inconclusive"
PARTLY_AGREES, PARTLY_DISAGREES = "partly agrees", "partly disagrees"
NOT_TESTABLE, PENDING, CONTEXT = "not testable here", "pending", "context"
VERDICTS = (AGREES, PARTLY_AGREES, MIXED, PARTLY_DISAGREES, DISAGREES, INCONCLUSIVE,
            NOT_TESTABLE, PENDING, CONTEXT)


class Missing(LookupError):
    """The results a rule needs do not exist (yet): its claim is *pending*."""


class Incomplete(Missing):
    """Some of a rule's items exist, others wait for results (:func:`each`): the claim is
    judged when the missing items cannot change its verdict, else *pending*."""

    def __init__(self, items: list[Item], missing: list[str]) -> None:
        super().__init__(missing[0])
        self.items, self.missing = items, missing


def each(make: Callable[..., Item], keys: Sequence) -> list[Item]:
    """``[make(*key) for key in keys]`` (``make(key)`` for non-tuple keys), where an item
    whose results are missing is left out: :class:`Incomplete` with the others, or
    :class:`Missing` when none exists."""
    items, missing = [], []
    for key in keys:
        try:
            items.append(make(*key) if isinstance(key, tuple) else make(key))
        except Incomplete as e:  # a nested rule: its own items count
            items += e.items
            missing += e.missing
        except Missing as e:
            missing.append(str(e))
    if missing and not items:
        raise Missing(missing[0])
    if missing:
        raise Incomplete(items, missing)
    return items


# ----------------------------------------------------------------------------- items
def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error over seeds (sample sd / sqrt(n); NaN for one value), the
    book's one definition of both."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        raise ValueError("values is empty; accepted: at least one number")
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), se


def judge(values: Sequence[float], target: float, direction: str, tol: float = 0.0,
          factor: float | None = None) -> str:
    """``holds`` / ``fails`` / ``within noise`` for per-seed ``values`` (see module doc).

    ``direction``: ``">"`` or ``"<"`` (compared with ``target``) or ``"within"`` (``|value -
    target| < tol``). ``factor``: standard errors to clear, default :func:`se_factor` for
    the number of seeds."""
    v = np.asarray(values, dtype=float)
    factor = se_factor(len(v)) if factor is None else factor
    if direction not in (">", "<", "within"):
        raise ValueError(f"direction={direction!r}; accepted: '>', '<', 'within'")
    if len(v) < 2 or np.isnan(v).any():
        return WITHIN
    mean, se = mean_se(v)
    if direction == ">":
        per_seed, margin = v - target, mean - target
    elif direction == "<":
        per_seed, margin = target - v, target - mean
    else:
        per_seed, margin = tol - np.abs(v - target), tol - abs(mean - target)
    if (per_seed > 0).all() and margin > factor * se:
        return HOLDS
    if (per_seed < 0).all() and -margin > factor * se:
        return FAILS
    return WITHIN


@dataclass(frozen=True)
class Item:
    """One number per seed and the statement the claim makes about it."""

    label: str
    values: pd.Series  # index: seed
    target: float
    direction: str  # ">", "<" or "within"
    tol: float = 0.0
    decimals: int = 2
    unit: str = ""

    @property
    def n(self) -> int:
        return int(len(self.values))

    @property
    def mean(self) -> float:
        return mean_se(self.values)[0] if self.n else math.nan

    @property
    def se(self) -> float:
        return mean_se(self.values)[1] if self.n else math.nan

    @property
    def outcome(self) -> str:
        return judge(self.values.to_numpy(float), self.target, self.direction, self.tol)

    @property
    def margin(self) -> float:
        """How far the mean is on the claim's side of the target (negative: other side)."""
        if self.direction == ">":
            return self.mean - self.target
        if self.direction == "<":
            return self.target - self.mean
        return self.tol - abs(self.mean - self.target)

    def value_text(self) -> str:
        """``mean ± se`` at the item's decimals; a standard error too small for them gets
        two more decimals (``-0.43 ± 0.0029``, not ``± 0.00``; float noise such as 4e-15
        still reads ``± 0.00``), and so does a mean that would then read 0 (``0.0030 ±
        0.0022``, not ``0.00 ± 0.0022``)."""
        d = self.decimals
        se = "" if math.isnan(self.se) else f" ± {self.se:.{d}f}"
        if se and 0.5 * 10 ** -(d + 2) <= self.se < 0.5 * 10 ** -d:
            se = f" ± {self.se:.{d + 2}f}"
            if abs(self.mean) < 0.5 * 10 ** -d:  # a mean that would read 0.00 beside it
                d += 2
        mean = f"{self.mean:.{d}f}"
        if float(mean) == 0:  # -0.004 reads 0.00, not -0.00
            mean = f"{0.0:.{d}f}"
        return f"{mean}{se}{self.unit}"

    def why(self) -> str:
        """The outcome with its reason, e.g. ``within noise (seeds split 2-1)``."""
        out = self.outcome
        if out != WITHIN:
            return out
        v = self.values.to_numpy(float)
        if self.n < 2:
            return f"{WITHIN} (1 seed: noise unknown)"
        if np.isnan(v).any():
            return f"{WITHIN} (NaN value)"
        side = {">": v > self.target, "<": v < self.target,
                "within": np.abs(v - self.target) < self.tol}[self.direction]
        k = int(side.sum())
        if 0 < k < self.n:
            return f"{WITHIN} (seeds split {k}-{self.n - k})"
        in_se = f" = {self.margin / self.se:.1f} SE" if self.se > 0 else ""
        return (f"{WITHIN} (margin {self.margin:+.{self.decimals}f}{self.unit}{in_se} < "
                f"{se_factor(self.n):.3g} SE)")


def possible_verdicts(outcomes: Sequence[str], n_missing: int, how: str = "all"
                      ) -> list[str]:
    """The verdicts ``outcomes`` can still reach once ``n_missing`` more items are judged,
    in :data:`VERDICTS` order. A verdict depends only on which outcomes occur, so the
    completions tried are one per set of at most ``n_missing`` outcomes."""
    if not n_missing:
        return [verdict_of(list(outcomes), how)]
    kinds = (HOLDS, FAILS, WITHIN)
    sets = [[o for o, used in zip(kinds, mask) if used] for mask in itertools.product(
        (False, True), repeat=3)]
    found = {verdict_of(list(outcomes) + s + [s[0]] * (n_missing - len(s)), how)
             for s in sets if s and len(s) <= n_missing}
    return [v for v in VERDICTS if v in found]


def verdict_of(outcomes: Sequence[str], how: str = "all") -> str:
    """Combine item outcomes: ``all`` or ``any`` (see the module docstring)."""
    if not outcomes:
        raise ValueError("no items to judge")
    if how not in ("all", "any"):
        raise ValueError(f"how={how!r}; accepted: 'all', 'any'")
    if all(o == HOLDS for o in outcomes) or (how == "any" and HOLDS in outcomes):
        return AGREES
    if all(o == FAILS for o in outcomes):
        return DISAGREES
    if all(o == WITHIN for o in outcomes):
        return INCONCLUSIVE
    held, failed = HOLDS in outcomes, FAILS in outcomes
    return MIXED if held and failed else PARTLY_AGREES if held else PARTLY_DISAGREES


# ----------------------------------------------------------------------------- claims
@dataclass
class Claim:
    """One statement of the paper, what we measured for it and the verdict."""

    id: str
    section: str
    figure: str
    chapter: int | None
    quote: str
    measure: str
    rule: str
    code: str
    paper: str
    verdict: str
    ours: str = ""
    basis: str = ""
    kind: str = "claim"  # "claim", "context" or "interpretation"
    items: tuple[Item, ...] = ()
    n_missing: int = 0  # items whose results do not exist yet (a partial claim)

    def row(self) -> dict:
        return {"id": self.id, "section": self.section, "figure": self.figure,
                "claim": self.quote, "measure": self.measure, "rule": self.rule,
                "ours": self.ours, "paper": self.paper, "verdict": self.verdict,
                "basis": self.basis, "chapter": self.chapter, "code": self.code}

    def outcome_text(self) -> str:
        """Its items for prose: ``"2 of 4 hold; within noise: a, b"`` (the labels of the items
        that did not hold, by outcome; ``"(1 more pending)"`` after the count while some
        items wait for results); :data:`PENDING` without items."""
        if not self.items:
            return PENDING
        held = sum(i.outcome == HOLDS for i in self.items)
        more = f" ({self.n_missing} more pending)" if self.n_missing else ""
        rest = [f"{o}: {', '.join(i.label for i in self.items if i.outcome == o)}"
                for o in (FAILS, WITHIN) if any(i.outcome == o for i in self.items)]
        return "; ".join([f"{held} of {len(self.items)} hold{more}"] + rest)


@dataclass(frozen=True)
class ClaimSpec:
    """How to judge one claim: the text, the inputs it needs and the rule in code."""

    id: str
    section: str
    figure: str
    chapter: int | None
    quote: str
    measure: str
    rule: str | Callable[[], str]  # a callable reads thresholds when the claim is judged
    compute: Callable[[Context], list[Item]] | None = None
    how: str = "all"
    paper: str = ""
    kind: str = "claim"
    fixed: str | None = None  # verdict of rows without a rule (not testable / context)

    @property
    def rule_text(self) -> str:
        """The rule in words, with the thresholds as they are now (a setting changed after
        import, e.g. in chapter 7's exercises, shows in the text it is judged by)."""
        return self.rule() if callable(self.rule) else self.rule

    def evaluate(self, ctx: Context) -> Claim:
        """The claim judged on ``ctx``; dataset names in its measure, value, basis and item
        labels read as the labels of the data used (e.g. ``CIFAR-10 (JPEG copy)``)."""
        claim = self._evaluate(ctx)
        return replace(claim, measure=ctx.relabel(claim.measure),
                       ours=ctx.relabel(claim.ours), basis=ctx.relabel(claim.basis),
                       items=tuple(replace(i, label=ctx.relabel(i.label))
                                   for i in claim.items))

    def _evaluate(self, ctx: Context) -> Claim:
        code = "" if self.compute is None else f"helpers.claims.{self.compute.__name__}"
        base = dict(id=self.id, section=self.section, figure=self.figure,
                    chapter=self.chapter, quote=self.quote, measure=self.measure,
                    rule=self.rule_text, code=code, paper=self.paper, kind=self.kind)
        if self.compute is None:
            return Claim(**base, verdict=self.fixed or NOT_TESTABLE, basis=self.rule_text)
        try:
            items = self.compute(ctx)
        except Incomplete as e:
            return self._partial(base, e)
        except Missing as e:
            return Claim(**base, verdict=PENDING, basis=f"missing: {e}")
        ours = _ours(items)
        if self.fixed == CONTEXT:
            return Claim(**base, verdict=CONTEXT, ours=ours, basis="quoted as context",
                         items=tuple(items))
        verdict = verdict_of([i.outcome for i in items], self.how)
        return Claim(**base, verdict=verdict, ours=ours, basis=_basis(items),
                     items=tuple(items))

    def _partial(self, base: dict, e: Incomplete) -> Claim:
        """Some items judged, others missing: the verdict when every way of completing them
        gives the same one (e.g. one item already failed and another held: *mixed* for an
        ``all`` claim), else *pending*, with what is still possible in ``basis``."""
        items, n = list(e.items), len(e.missing)
        ours = _ours(items, label_one=True)
        possible = possible_verdicts([i.outcome for i in items], n, self.how)
        so_far = (f"{len(items)} of {len(items) + n} items so far: "
                  f"{_basis(items, count=False)}")
        if self.fixed == CONTEXT:
            return Claim(**base, verdict=PENDING, ours=ours, basis=f"{so_far}; missing: "
                         f"{e.missing[0]}", items=tuple(items), n_missing=n)
        if len(possible) == 1:
            return Claim(**base, verdict=possible[0], ours=ours, basis=f"{so_far}; decided: "
                         "the missing items cannot change it", items=tuple(items), n_missing=n)
        return Claim(**base, verdict=PENDING, ours=ours, items=tuple(items), n_missing=n,
                     basis=f"{so_far}; still possible: {' or '.join(possible)}; missing: "
                           f"{e.missing[0]}" + (f" and {n - 1} more item{'s' * (n > 2)}"
                                                if n > 1 else ""))


def _ours(items: Sequence[Item], label_one: bool = False) -> str:
    """Our numbers for a claim; a lone item is labelled only with ``label_one`` (a partial
    claim, whose other items are missing, names the one it shows)."""
    if len(items) == 1 and not label_one:
        return items[0].value_text()
    if len(items) <= 4:
        return "; ".join(f"{i.label}: {i.value_text()}" for i in items)
    means = [i.mean for i in items]
    worst = min(items, key=lambda i: (-math.inf if math.isnan(i.margin) else i.margin))
    return (f"{len(items)} items, means {np.nanmin(means):.{worst.decimals}f} to "
            f"{np.nanmax(means):.{worst.decimals}f}{worst.unit}; "
            f"weakest: {worst.label} {worst.value_text()}")


def _basis(items: Sequence[Item], count: bool = True) -> str:
    """Why: the outcomes of ``items`` (``"5 items: 3 holds, 2 fails — ..."``, without the
    leading count when ``count`` is False), with the items that did not hold."""
    if len(items) == 1 and count:
        i = items[0]
        return f"{i.n} seed{'' if i.n == 1 else 's'}; {i.why()}"
    counts = {o: sum(i.outcome == o for i in items) for o in (HOLDS, FAILS, WITHIN)}
    text = ", ".join(f"{k} {o}" for o, k in counts.items() if k)
    odd = [f"{i.label}: {i.why()}" for i in items if i.outcome != HOLDS]
    shown = "; ".join(odd[:3]) + (f"; and {len(odd) - 3} more" if len(odd) > 3 else "")
    return (f"{len(items)} items: " if count else "") + text + (f" — {shown}" if odd else "")
