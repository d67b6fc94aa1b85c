"""The learning-rate search and the halting replay: pure functions, no training.

Successive halving over the paper's half-decade grid, for one configuration
(dataset x depth x width x activation x BN), with every rate trained on all seeds:

1. every coarse rate trains to epoch ``rungs[0]``;
2. if the best rate sits at an edge of the grid, one rate ``extend_factor`` further out
   joins it (at most ``max_extensions`` times) and trains to ``rungs[0]`` too;
3. the best ``keep`` rates continue to epoch ``rungs[1]``;
4. the best of those is *selected*; its runs simply continue to the end (early stopping,
   or ``max_epochs`` for full-length runs) and become the final runs.

Every search run follows the final protocol from its first epoch (same learning-rate
decay, same stopping rule), so the selected rate's search runs *are* the beginnings of its
final runs: only the losing rates cost extra.

"Best" at a rung = highest mean over the seeds of the best validation accuracy reached so
far; ties go to the smaller rate, and a rate where any seed diverged ranks below every rate
where none did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from .spec import GridSpec, round_lr


@dataclass(frozen=True)
class Trajectory:
    """What the search knows of one (lr, seed) run: epochs trained, whether it stopped
    (patience, divergence or ``max_epochs``), its validation accuracy per epoch (index 0 =
    untrained) and whether it is recorded as a final run."""

    epochs: int
    finished: bool = False
    diverged: bool = False
    val_acc: tuple[float, ...] = ()
    final: bool = False

    def reached(self, epoch: int) -> bool:
        return self.finished or self.epochs >= epoch

    def best_val(self, epoch: int) -> float:
        values = [v for v in self.val_acc[:epoch + 1] if math.isfinite(v)]
        return max(values) if values else -math.inf


@dataclass
class Decision:
    """The next step of one configuration's search.

    ``train``: (lr, seed) runs to advance, to epoch ``until`` (``None``: to the end).
    ``selected``: the chosen rate once known; ``extended``: rates added outside the grid;
    ``done``: every final run has finished.
    """

    train: list[tuple[float, int]] = field(default_factory=list)
    until: int | None = None
    selected: float | None = None
    extended: list[float] = field(default_factory=list)
    done: bool = False


def rank_key(known: Mapping[tuple[float, int], Trajectory], lr: float, seeds: Sequence[int],
             epoch: int) -> tuple[bool, float, float]:
    """Sort key of ``lr`` at ``epoch`` (smaller is better)."""
    runs = [known[(lr, s)] for s in seeds]
    diverged = any(t.diverged and t.epochs <= epoch for t in runs)
    mean = sum(t.best_val(epoch) for t in runs) / len(runs)
    return diverged, -mean, lr


def decide(spec: GridSpec, known: Mapping[tuple[float, int], Trajectory]) -> Decision:
    """The next step of the search for one configuration, from what is known so far."""
    seeds, (e1, e2) = spec.seeds, spec.rungs
    rates = sorted(round_lr(lr) for lr in spec.coarse_lrs)

    def missing(lrs: Sequence[float], epoch: int) -> list[tuple[float, int]]:
        return [(lr, s) for lr in lrs for s in seeds
                if (lr, s) not in known or not known[(lr, s)].reached(epoch)]

    def ordered(lrs: Sequence[float], epoch: int) -> list[float]:
        return sorted(lrs, key=lambda lr: rank_key(known, lr, seeds, epoch))

    need = missing(rates, e1)
    if need:
        return Decision(train=need, until=e1)
    extended: list[float] = []
    for _ in range(spec.max_extensions):
        best = ordered(rates, e1)[0]
        if best == rates[0]:
            new = round_lr(best / spec.extend_factor)
        elif best == rates[-1]:
            new = round_lr(best * spec.extend_factor)
        else:
            break
        rates = sorted(rates + [new])
        extended.append(new)
        need = missing([new], e1)
        if need:
            return Decision(train=need, until=e1, extended=extended)
    top = ordered(rates, e1)[:spec.keep]
    need = missing(top, e2)
    if need:
        return Decision(train=need, until=e2, extended=extended)
    selected = ordered(top, e2)[0]
    need = [(selected, s) for s in seeds if not known[(selected, s)].final]
    return Decision(train=need, until=None, selected=selected, extended=extended,
                    done=not need)


def replay_patience(history: pd.DataFrame, patience: int) -> dict:
    """Replay early stopping with ``patience`` on a full-length history.

    Returns the epoch the run would have stopped at, the best epoch it would have kept and
    that epoch's test accuracy (the history must hold ``test_acc`` per epoch), beside the
    full run's best epoch and test accuracy.
    """
    h = history.sort_values("epoch").reset_index(drop=True)
    best_acc, best_epoch, stop = h["val_acc"].iloc[0], int(h["epoch"].iloc[0]), None
    for epoch, acc in zip(h["epoch"].iloc[1:], h["val_acc"].iloc[1:]):
        if acc > best_acc:
            best_acc, best_epoch = acc, int(epoch)
        if epoch - best_epoch >= patience:
            stop = int(epoch)
            break
    full = h.loc[h["val_acc"].idxmax()]  # first maximum = the full run's best state
    at = h.set_index("epoch")
    return dict(halt_epoch=stop if stop is not None else int(h["epoch"].iloc[-1]),
                halt_best_epoch=best_epoch, halt_test_acc=float(at.loc[best_epoch, "test_acc"]),
                full_best_epoch=int(full["epoch"]), full_test_acc=float(full["test_acc"]))
