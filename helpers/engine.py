"""Train K same-shape MLPs at once: the grid's engine.

The K models share depth and width; each has its own seed (init and batch order), learning
rate, activation, batch-norm switch, BatchNorm running statistics and early stopping.
Their parameters live in one ``[K, P]`` matrix (one row per model); hidden layers are
batched matmuls (``torch.baddbmm``) over the stacked ``[K, in, out]`` weights. The data
stays resident on the device and each model's batches are ``x[idx]`` for its own seeded
permutation.

It reproduces :func:`helpers.train.train_model` model by model: the same init
(:func:`helpers.models.make_model` per seed), the same batches
(:func:`helpers.training_steps.batch_order` with ``torch.Generator().manual_seed(seed)``),
the same learning-rate schedule, Adam (``torch.optim.Adam`` with the same kernel, see
below), BatchNorm1d training semantics (biased batch variance to normalise, unbiased for
``running_var``, momentum 0.1, eps 1e-5), the same per-epoch evaluation (eval mode, row
0 = untrained model), and the same early-stopping and divergence rule
(:class:`helpers.training_steps.EarlyStopping`, one per model). Only the rounding differs
(batched vs single matmuls, hand-written BatchNorm); ``tests/test_engine.py`` bounds the
difference.

A model that stops (patience exhausted, diverged, or ``max_epochs`` reached) is evaluated
on the test split with its best state and removed from the stack, so it costs no more
compute. On CPU, a model's result does not depend on which other models share its stack
(checked in the tests), which lets the grid resume a half-finished stack exactly.

Adam runs as torch's fused kernel (``fused_adam=True``, the default on every device): the
same update as the single-tensor formula (``fused_adam=False``) to float rounding, in one
pass over the parameters instead of about twenty. On this CPU the formula's Adam is about
9 % of a step at width 200 and 20-25 % at width 800, and the kernel runs it about 4x faster
(``benchmarks/adam_kernel.py``). CUDA extras (optional; the CPU path is plain eager
PyTorch): TF32 matmuls (``tf32=True``) and capturing the whole training step in one CUDA
graph (``cuda_graph=True``, needs ``fused_adam``).

Three modules: this one is the API (:func:`train_stacked` checks its arguments into a
:class:`~helpers.stack_run.StackConfig` and runs it); :mod:`helpers.stacked_mlp` is the
stack's math (:class:`Layout`, :func:`stacked_forward`, :class:`StackedMLP`,
:class:`StackedAdam`); :mod:`helpers.stack_run` is the loop (``_StackRun``, whose
``_BestStates`` holds every live model's early-stopping rule and best state) and its
results (:class:`StackedResult`, :class:`Snapshot`). The names of all three are importable
from here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import torch

from .data import Dataset
from .models import check_activation
from .runtime import check_training_allowed
from .stack_run import Snapshot, StackConfig, StackedResult, _matmul_precision, _StackRun
from .stacked_mlp import (
    ADAM_BETAS,
    ADAM_EPS,
    BN_EPS,
    BN_MOMENTUM,
    EVAL_ELEMENTS,
    SMALL_OUT,
    Layout,
    StackedAdam,
    StackedMLP,
    evaluate_flat,
    mlp_state_dict,
    model_row,
    stacked_forward,
    stacked_linear,
    stacked_losses,
)
from .training_steps import check_training_args

__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "BN_EPS",
    "BN_MOMENTUM",
    "SMALL_OUT",
    "EVAL_ELEMENTS",
    "Layout",
    "model_row",
    "mlp_state_dict",
    "stacked_linear",
    "stacked_forward",
    "stacked_losses",
    "StackedMLP",
    "evaluate_flat",
    "StackedAdam",
    "StackConfig",
    "StackedResult",
    "Snapshot",
    "check_stack_args",
    "train_stacked",
]


def _per_model(name: str, value, k: int) -> list:
    scalar = isinstance(value, (str, bool, numbers.Number)) or getattr(value, "ndim", 1) == 0
    values = [value] * k if scalar else list(value)
    if len(values) != k:
        raise ValueError(f"{name} has {len(values)} entries; accepted: one value or "
                         f"one per seed ({k})")
    return values


def check_stack_args(depth: int, width: int, seeds: Sequence[int], lrs: Sequence[float],
                     activations: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first bad stack argument."""
    for name, value in (("depth", depth), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid; accepted: an integer >= 1")
    if len(seeds) == 0:
        raise ValueError("seeds=[] is invalid; accepted: a non-empty list of integers")
    for s in seeds:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
            raise ValueError(f"seed={s!r} is invalid; accepted: integers >= 0")
    for lr in lrs:
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr={lr!r} is invalid; accepted: a finite float > 0")
    for a in activations:
        check_activation(a)


def train_stacked(
    data: Dataset,
    depth: int,
    width: int,
    activation: str | Sequence[str],
    batch_norm: bool | Sequence[bool],
    seeds: Sequence[int],
    lrs: float | Sequence[float],
    batch_size: int = 128,
    max_epochs: int = 300,
    patience: int | None = 20,
    lr_decay: float = 0.99,
    bias_init: float = 0.0,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    tf32: bool = True,
    fused_adam: bool = True,
    cuda_graph: bool = False,
    progress: bool = True,
    desc: str | None = None,
    on_finish: Callable[[int, StackedResult], None] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    train_metrics: str = "eval",
    test_every_epoch: bool = False,
    layer_stats: bool = False,
    until_epoch: int | None = None,
    resume: Sequence[Snapshot | None] | None = None,
) -> list[StackedResult | Snapshot | None]:
    """Train one model per entry of ``seeds`` at once, as :func:`helpers.train.train_mlp`.

    ``activation``, ``batch_norm`` and ``lrs`` take one value or one per seed. Results come
    back in input order. ``on_finish(i, result)`` is called as soon as model ``i`` stops
    (use it to save results); ``on_epoch(n)`` after every epoch that trained ``n`` models.
    ``patience=None`` trains every model to ``max_epochs`` (the best state is still kept).

    Protocol options (the grid's cheaper protocol; defaults reproduce ``train_model``):

    * ``train_metrics="running"``: an epoch's training loss and accuracy are the running
      means over the batches as they were trained (as Keras reports them), instead of a
      second, eval-mode pass over the training split; the best state gets one eval-mode
      pass at the end (``best_train_loss``/``best_train_acc``).
    * ``test_every_epoch``: the history also holds ``test_loss``/``test_acc`` per epoch
      (used only to replay other early-stopping rules afterwards, never to select).
    * ``layer_stats``: each result carries per-layer sparsity and saturation of its best
      state on the test split.

    Pausing: ``until_epoch`` pauses the models still training after that epoch, and
    ``should_stop()`` (polled before each epoch after the first) pauses all of them; a
    paused model comes back as a :class:`Snapshot`, which ``resume`` (one entry per model,
    all at the same epoch) continues exactly.
    """
    k = len(seeds)
    acts = _per_model("activation", activation, k)
    bns = [bool(b) for b in _per_model("batch_norm", batch_norm, k)]
    lr_list = [float(v) for v in _per_model("lrs", lrs, k)]
    check_stack_args(depth, width, list(seeds), lr_list, acts)
    check_training_args(min(lr_list), batch_size, max_epochs,
                        1 if patience is None else patience, lr_decay)
    if train_metrics not in ("eval", "running"):
        raise ValueError(f"train_metrics={train_metrics!r}; accepted: 'eval', 'running'")
    if until_epoch is not None and (not isinstance(until_epoch, int) or until_epoch < 0):
        raise ValueError(f"until_epoch={until_epoch!r}; accepted: an integer >= 0 or None")
    if resume is not None:
        resume = list(resume)
        if len(resume) != k:
            raise ValueError(f"resume has {len(resume)} entries; accepted: one per seed ({k})")
        epochs = {s.epoch for s in resume if s is not None}
        if len(epochs) > 1 or (epochs and None in resume):
            raise ValueError("resume: every model must be paused at the same epoch; got "
                             f"epochs {sorted(epochs)} and fresh models {None in resume}")
        for i, snap in enumerate(resume):
            if snap is not None and (snap.seed, snap.lr, snap.activation, snap.batch_norm) != (
                    seeds[i], lr_list[i], acts[i], bns[i]):
                raise ValueError(f"resume[{i}] is another model ({snap.activation}, BN "
                                 f"{snap.batch_norm}, seed {snap.seed}, lr {snap.lr}); "
                                 "accepted: the snapshot of the same configuration")
        if not epochs:
            resume = None
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    fused = bool(fused_adam)
    if cuda_graph and not (device.type == "cuda" and fused):
        raise ValueError("cuda_graph=True is invalid here; accepted only with a CUDA device "
                         "and fused_adam")
    check_training_allowed("train_stacked")
    cfg = StackConfig(
        depth=depth, width=width, activations=tuple(acts), batch_norms=tuple(bns),
        seeds=tuple(seeds), lrs=tuple(lr_list), batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, lr_decay=lr_decay, bias_init=bias_init, device=device, dtype=dtype,
        fused=fused, cuda_graph=cuda_graph, train_metrics=train_metrics,
        test_every_epoch=test_every_epoch, layer_stats=layer_stats)
    with _matmul_precision(device.type == "cuda" and tf32):
        run = _StackRun(data, cfg, resume, on_finish)
        return run.train(progress, desc or f"{depth}x{width} K={k}", should_stop, on_epoch,
                         until_epoch)
