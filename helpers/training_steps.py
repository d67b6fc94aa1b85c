"""The steps of the paper's training protocol that both trainers share.

:func:`helpers.train.train_model` (one model) and :func:`helpers.engine.train_stacked`
(K models at once) must agree on these exactly, so they are defined once, here:

* Batches (:func:`batch_order`): every epoch draws a permutation of the training indices
  from the model's own seeded ``torch.Generator`` and cuts it into batches of
  ``batch_size``; the last incomplete batch is dropped (a split smaller than one batch
  gives one batch of all of it).
* Evaluation (:func:`evaluate`): mean cross-entropy and accuracy in eval mode, in chunks
  of 10 000 samples, the per-chunk loss summed (``reduction="sum"``) before dividing.
* History: one row per epoch with :data:`HISTORY_COLUMNS`; row 0 is the untrained model.
* Early stopping (:class:`EarlyStopping`): on validation accuracy with ``patience``
  epochs; only a strictly higher accuracy is an improvement (ties keep the earlier
  epoch), and that epoch's state is the one restored at the end. A non-finite training
  loss marks the run ``diverged`` and stops it.
* Arguments (:func:`check_training_args`): the accepted ranges of the training settings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import Split

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]


def check_training_args(lr: float, batch_size: int, max_epochs: int, patience: int,
                        lr_decay: float) -> None:
    """Raise ``ValueError`` naming the first bad training argument."""
    checks = [
        ("lr", lr, lr > 0, "a float > 0"),
        ("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1, "int >= 1"),
        ("max_epochs", max_epochs, isinstance(max_epochs, int) and max_epochs >= 0, "int >= 0"),
        ("patience", patience, isinstance(patience, int) and patience >= 1, "int >= 1"),
        ("lr_decay", lr_decay, 0 < lr_decay <= 1, "a float in (0, 1]"),
    ]
    for name, value, ok, accepted in checks:
        if not ok:
            raise ValueError(f"{name}={value!r} is invalid; accepted: {accepted}")


def batch_order(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """One epoch of index batches from a seeded permutation (last partial batch dropped)."""
    perm = torch.randperm(n, generator=generator)
    n_batches = max(n // batch_size, 1)
    return [perm[i * batch_size:(i + 1) * batch_size] for i in range(n_batches)]


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int = 10_000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on ``split``."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(split), batch_size):
        logits = model(split.x[i:i + batch_size])
        y = split.y[i:i + batch_size]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train(was_training)
    return loss_sum / len(split), correct / len(split)


class EarlyStopping:
    """The early-stopping rule of one model, fed one epoch at a time.

    Starts from the untrained model (or a resumed run's best so far). After
    :meth:`update`, ``stop`` says whether the run ends after that epoch (``patience``
    epochs without improvement, ``patience=None``: never; or divergence).
    """

    def __init__(self, patience: int | None, best_acc: float, best_epoch: int = 0) -> None:
        self.patience = patience
        self.best_acc, self.best_epoch = best_acc, best_epoch
        self.diverged = False
        self.stop = False

    def update(self, epoch: int, train_loss: float, val_acc: float,
               val_loss: float | None = None) -> bool:
        """Record ``epoch``; return whether it is the new best (keep its state then). A
        non-finite training loss, or validation loss (the weights went non-finite in the
        epoch's last steps, after the running training loss was taken), is divergence."""
        if not math.isfinite(train_loss) or (val_loss is not None
                                             and not math.isfinite(val_loss)):
            self.diverged = self.stop = True
            return False
        improved = val_acc > self.best_acc
        if improved:
            self.best_acc, self.best_epoch = val_acc, epoch
        self.stop = self.patience is not None and epoch - self.best_epoch >= self.patience
        return improved
