"""The learning-rate search (successive halving) and the halting replay, on hand-made
trajectories: no training."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from helpers.grid import GridSpec, Trajectory, decide, replay_patience

SPEC = GridSpec(profile="quick", depths=(2,), widths=(8,), coarse_lrs=(1e-3, 1e-2, 1e-1),
                rungs=(2, 4), max_epochs=10, patience=3, keep=2, extend_factor=10.0,
                max_extensions=1, seeds=(0, 1))


def traj(epochs, accs, finished=False, diverged=False, final=False):
    return Trajectory(epochs=epochs, finished=finished or final, diverged=diverged,
                      val_acc=tuple([0.1] + list(accs)), final=final)


def at_rung(scores, epochs=2):
    """Every rate and seed at ``epochs``, best val acc ``scores[lr]`` (both seeds)."""
    return {(lr, s): traj(epochs, [acc] * epochs) for lr, acc in scores.items()
            for s in (0, 1)}


def test_first_rung_trains_every_coarse_rate_on_every_seed():
    d = decide(SPEC, {})
    assert d.until == 2 and sorted(d.train) == sorted(
        (lr, s) for lr in (1e-3, 1e-2, 1e-1) for s in (0, 1))
    known = at_rung({1e-3: 0.5, 1e-2: 0.6, 1e-1: 0.4})
    del known[(1e-1, 1)]
    assert decide(SPEC, known).train == [(1e-1, 1)]


def test_middle_best_goes_to_the_second_rung_with_the_top_two():
    d = decide(SPEC, at_rung({1e-3: 0.5, 1e-2: 0.6, 1e-1: 0.4}))
    assert d.until == 4 and not d.extended
    assert sorted(d.train) == [(1e-3, 0), (1e-3, 1), (1e-2, 0), (1e-2, 1)]


@pytest.mark.parametrize("best, new", [(1e-3, 1e-4), (1e-1, 1.0)])
def test_edge_best_extends_one_step_outward(best, new):
    scores = {1e-3: 0.5, 1e-2: 0.4, 1e-1: 0.3}
    scores[best], scores[1e-2] = 0.7, 0.4
    d = decide(SPEC, at_rung(scores))
    assert d.extended == [new] and d.until == 2 and sorted(d.train) == [(new, 0), (new, 1)]
    # the new rate wins its rung too: still only one extension, then the top two continue
    known = at_rung(scores | {new: 0.8})
    d = decide(SPEC, known)
    assert d.extended == [new] and d.until == 4
    assert {lr for lr, _ in d.train} == {new, best}


def test_selection_then_final_then_done():
    known = at_rung({1e-3: 0.5, 1e-2: 0.6, 1e-1: 0.4})
    for lr, first, acc in ((1e-3, 0.5, 0.7), (1e-2, 0.6, 0.65)):  # 1e-3 overtakes
        for s in (0, 1):
            known[(lr, s)] = traj(4, [first] * 2 + [acc] * 2)
    d = decide(SPEC, known)
    assert d.selected == 1e-3 and d.until is None and sorted(d.train) == [(1e-3, 0),
                                                                          (1e-3, 1)]
    known[(1e-3, 0)] = traj(9, [0.5] * 2 + [0.7] * 7, final=True)
    known[(1e-3, 1)] = traj(3, [0.5] * 2 + [0.7], finished=True)  # stopped in the search
    assert decide(SPEC, known).train == [(1e-3, 1)]  # ... so it still needs a final record
    known[(1e-3, 1)] = traj(10, [0.5] * 2 + [0.7] * 8, final=True)
    d = decide(SPEC, known)
    assert d.done and d.selected == 1e-3 and not d.train


def test_a_diverged_seed_ranks_a_rate_last_and_ties_go_to_the_smaller_rate():
    known = at_rung({1e-3: 0.5, 1e-2: 0.55, 1e-1: 0.9})
    known[(1e-1, 1)] = traj(1, [math.nan], finished=True, diverged=True)
    d = decide(SPEC, known)  # 1e-1 has the best mean over finite epochs, yet diverged
    assert not d.extended and {lr for lr, _ in d.train} == {1e-3, 1e-2}
    for lr, first in ((1e-3, 0.5), (1e-2, 0.55)):
        for s in (0, 1):
            known[(lr, s)] = traj(4, [first] * 2 + [0.6] * 2)
    assert decide(SPEC, known).selected == 1e-3  # tie at the second rung


def test_mixed_seeds_use_the_mean_of_the_best_accuracies():
    spec = dataclasses.replace(SPEC, max_extensions=0)
    known = at_rung({1e-3: 0.5, 1e-2: 0.55, 1e-1: 0.4})
    known[(1e-3, 0)] = traj(2, [0.2, 0.7])  # best-so-far counts, not the last epoch
    known[(1e-3, 1)] = traj(2, [0.5, 0.45])
    d = decide(spec, known)  # 1e-3: mean(0.7, 0.5) = 0.6 > 0.55 > 0.4
    assert {lr for lr, _ in d.train} == {1e-3, 1e-2}
    known[(1e-1, 0)] = traj(2, [0.3, 0.62])  # now 1e-1: mean(0.62, 0.4) = 0.51
    assert {lr for lr, _ in decide(spec, known).train} == {1e-3, 1e-2}


def test_replay_patience_by_hand():
    # val peaks at epoch 2, a later higher peak at epoch 7; patience 3 stops at epoch 5
    val = [0.1, 0.5, 0.8, 0.7, 0.75, 0.79, 0.6, 0.9, 0.85]
    test = [0.1, 0.4, 0.70, 0.6, 0.65, 0.7, 0.5, 0.88, 0.8]
    h = pd.DataFrame(dict(epoch=range(9), val_acc=val, test_acc=test))
    r = replay_patience(h, patience=3)
    assert r == dict(halt_epoch=5, halt_best_epoch=2, halt_test_acc=0.70, full_best_epoch=7,
                     full_test_acc=0.88)
    r = replay_patience(h, patience=10)  # never halts: same as the full run
    assert (r["halt_epoch"], r["halt_best_epoch"], r["halt_test_acc"]) == (8, 7, 0.88)
