"""Train one MLP the paper's way (the reference the stacked engine must reproduce).

* Adam (PyTorch defaults: betas 0.9/0.999, eps 1e-8), cross-entropy loss; ``fused_adam``
  picks torch's fused kernel (the engine's default) instead of the single-tensor loop.
* Learning rate ``lr * lr_decay**(epoch-1)`` during epoch ``epoch`` (x0.99 after each epoch).
* Mini-batches of ``batch_size`` drawn from a seeded permutation of the resident training
  tensors (no DataLoader); the last incomplete batch is dropped.
* After every epoch the model is evaluated (eval mode) on the training and validation
  splits. Row 0 of the history is the untrained model.
* Early stopping on validation accuracy with ``patience`` epochs; the best state is
  restored at the end. A non-finite training loss marks the run ``diverged`` and stops it.

The batch order, evaluation, early-stopping rule and argument check are
:mod:`helpers.training_steps`, shared with the stacked engine (:mod:`helpers.engine`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import Dataset
from .models import make_model
from .runtime import check_training_allowed
from .training_steps import (
    HISTORY_COLUMNS,
    EarlyStopping,
    batch_order,
    check_training_args,
    evaluate,
)

# the shared steps are re-exported: ``from helpers.train import evaluate`` keeps working
__all__ = ["HISTORY_COLUMNS", "TrainResult", "batch_order", "check_training_args", "evaluate",
           "train_mlp", "train_model"]


@dataclass
class TrainResult:
    """What :func:`train_model` returns. Accuracies are fractions in [0, 1]."""

    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    best_val_acc: float
    test_loss: float
    test_acc: float
    diverged: bool
    wall_time: float


def train_model(
    model: nn.Module,
    data: Dataset,
    lr: float = 1e-3,
    batch_size: int = 128,
    max_epochs: int = 300,
    patience: int = 20,
    lr_decay: float = 0.99,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    on_epoch_end: Callable[[nn.Module, int], dict] | None = None,
    fused_adam: bool = False,
) -> TrainResult:
    """Train ``model`` on ``data.train`` with early stopping on ``data.val``.

    ``seed`` fixes the batch order; the model's own init is fixed by
    :func:`helpers.models.make_model`. On CPU the run is bit-for-bit repeatable.
    ``on_epoch_end(model, epoch)``, if given, is called after the evaluation of every
    epoch (epoch 0 = untrained) and its dict is added to that epoch's history row, e.g.
    gradient norms or saturation per layer. It must not change the model.
    ``fused_adam``: ``torch.optim.Adam(fused=True)``, the same update in one kernel (float
    rounding differs; the stacked engine uses it by default).
    """
    check_training_args(lr, batch_size, max_epochs, patience, lr_decay)
    check_training_allowed("train_model")
    start = time.perf_counter()
    device = next(model.parameters()).device
    x, y = data.train.x.to(device), data.train.y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=bool(fused_adam))
    gen = torch.Generator().manual_seed(seed)

    rows = [_epoch_row(model, data, 0, lr, on_epoch_end)]
    stopping = EarlyStopping(patience, rows[0]["val_acc"])
    best_state = copy.deepcopy(model.state_dict())
    bar = tqdm(range(1, max_epochs + 1), desc=desc or "epochs", disable=not progress,
               leave=False)
    for epoch in bar:
        epoch_lr = lr * lr_decay ** (epoch - 1)
        for group in opt.param_groups:
            group["lr"] = epoch_lr
        model.train()
        for idx in batch_order(len(y), batch_size, gen):
            idx = idx.to(device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        row = _epoch_row(model, data, epoch, epoch_lr, on_epoch_end)
        rows.append(row)
        if stopping.update(epoch, row["train_loss"], row["val_acc"], row["val_loss"]):
            best_state = copy.deepcopy(model.state_dict())
        if stopping.diverged:
            break
        bar.set_postfix(val_acc=f"{row['val_acc']:.4f}", best=stopping.best_epoch)
        if stopping.stop:
            break
    model.load_state_dict(best_state)
    test_loss, test_acc = evaluate(model, data.test)
    return TrainResult(
        model=model,
        history=pd.DataFrame(rows),
        best_epoch=stopping.best_epoch,
        best_val_acc=stopping.best_acc,
        test_loss=test_loss,
        test_acc=test_acc,
        diverged=stopping.diverged,
        wall_time=time.perf_counter() - start,
    )


def _epoch_row(model: nn.Module, data: Dataset, epoch: int, lr: float,
               on_epoch_end: Callable[[nn.Module, int], dict] | None = None) -> dict:
    train_loss, train_acc = evaluate(model, data.train)
    val_loss, val_acc = evaluate(model, data.val)
    row = dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
               val_loss=val_loss, val_acc=val_acc, lr=lr)
    if on_epoch_end is not None:
        row |= on_epoch_end(model, epoch)
    return row


def train_mlp(
    data: Dataset,
    depth: int,
    width: int,
    activation: str,
    batch_norm: bool = False,
    lr: float = 1e-3,
    seed: int = 0,
    bias_init: float = 0.0,
    device: str | torch.device = "cpu",
    **train_kwargs,
) -> TrainResult:
    """Build a seeded :class:`~helpers.models.MLP` for ``data`` and train it."""
    check_training_args(lr, train_kwargs.get("batch_size", 128),
                        train_kwargs.get("max_epochs", 300), train_kwargs.get("patience", 20),
                        train_kwargs.get("lr_decay", 0.99))
    model = make_model(data.n_features, depth, width, activation, batch_norm,
                       data.n_classes, seed=seed, bias_init=bias_init, device=device)
    desc = train_kwargs.pop("desc", f"{activation} {depth}x{width}{' BN' if batch_norm else ''}")
    return train_model(model, data.to(device), lr=lr, seed=seed, desc=desc, **train_kwargs)


def epochs_to(history: pd.DataFrame, target: float, column: str = "train_acc") -> float:
    """The first epoch of ``history`` whose ``column`` reaches ``target`` (a fraction), NaN
    if none does (the run was too short to say)."""
    if not 0 < target <= 1:
        raise ValueError(f"target={target!r} is invalid; accepted: a fraction in (0, 1]")
    hit = history.loc[history[column] >= target, "epoch"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def reached_text(epochs: float) -> str:
    """``"epoch 3"`` for the epoch a run reached a target (:func:`epochs_to`), ``"not within
    the run"`` where it never did (NaN)."""
    return "not within the run" if pd.isna(epochs) else f"epoch {epochs:.0f}"


def run_summary(results: dict[str, TrainResult], targets: tuple[float, ...] = (0.97, 0.99)
                ) -> pd.DataFrame:
    """One row per run: best epoch, best validation and test accuracy (%), training
    accuracy at the best epoch, the epochs to reach each training-accuracy ``target``
    (:func:`epochs_to`) and the wall seconds."""
    rows = {}
    for name, r in results.items():
        row = {"best epoch": r.best_epoch, "best val acc (%)": 100 * r.best_val_acc,
               "test acc (%)": 100 * r.test_acc,
               "train acc at best (%)": 100 * r.history.loc[r.best_epoch, "train_acc"]}
        row |= {f"epochs to {100 * t:g} % train acc": epochs_to(r.history, t) for t in targets}
        rows[name] = row | {"seconds": r.wall_time}
    return pd.DataFrame(rows).T
