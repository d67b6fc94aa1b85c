import math

import pytest

from helpers import train, training_steps
from helpers.training_steps import EarlyStopping


def test_train_reexports_the_shared_steps():
    for name in ("HISTORY_COLUMNS", "batch_order", "check_training_args", "evaluate"):
        assert getattr(train, name) is getattr(training_steps, name)


def test_early_stopping_keeps_the_first_best_and_counts_patience():
    rule = EarlyStopping(patience=2, best_acc=0.1)
    assert rule.update(1, 2.0, 0.5) and not rule.stop
    assert not rule.update(2, 1.9, 0.5)  # a tie is no improvement
    assert (rule.best_epoch, rule.stop) == (1, False)
    assert not rule.update(3, 1.8, 0.4) and rule.stop  # 2 epochs without improvement
    assert (rule.best_acc, rule.best_epoch, rule.diverged) == (0.5, 1, False)


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_early_stopping_divergence(loss):
    rule = EarlyStopping(patience=None, best_acc=0.1)
    assert not rule.update(1, loss, 0.9)  # never a best state, even at a higher accuracy
    assert rule.diverged and rule.stop and rule.best_epoch == 0


def test_a_non_finite_validation_loss_is_divergence_too():
    """The running training loss is taken before each step; if the epoch's last steps make
    the weights non-finite, the validation loss shows it (and NaN logits would score the
    share of class 0 as accuracy): the run is diverged, its state never kept."""
    rule = EarlyStopping(patience=None, best_acc=0.05)
    assert not rule.update(1, 0.7, 0.098, val_loss=math.nan)
    assert rule.diverged and rule.stop and rule.best_epoch == 0
    ok = EarlyStopping(patience=None, best_acc=0.05)
    assert ok.update(1, 0.7, 0.9, val_loss=0.3) and not ok.diverged


def test_no_patience_never_stops_and_resume_continues():
    rule = EarlyStopping(patience=None, best_acc=0.1)
    for epoch in range(1, 50):
        rule.update(epoch, 1.0, 0.0)
    assert not rule.stop
    resumed = EarlyStopping(patience=3, best_acc=0.8, best_epoch=4)
    assert not resumed.update(7, 1.0, 0.7) and resumed.stop
