"""One :func:`helpers.engine.train_stacked` call from the inside: its results, its
configuration and its loop.

:class:`StackedResult` (a finished model) and :class:`Snapshot` (a paused one) are what
the engine returns; :class:`StackConfig` is what it trains. ``_StackRun`` owns the live
stack (:class:`helpers.stacked_mlp.StackedMLP` and :class:`~helpers.stacked_mlp.
StackedAdam`), the history rows and ``_BestStates`` (every live model's early-stopping rule
and best state); a model that stops is evaluated on the test split with its best state and
removed from the stack.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from .data import Dataset, Split
from .metrics import layer_stats
from .models import MLP
from .stacked_mlp import (
    StackedAdam,
    StackedMLP,
    stacked_losses,
)
from .training_steps import HISTORY_COLUMNS, EarlyStopping, batch_order


@dataclass
class StackedResult:
    """One model of a stack, as :class:`helpers.train.TrainResult` plus its best state.

    ``wall_time`` is amortised: each epoch's time is split equally among the models
    training in it. ``state_dict`` is the restored best state (CPU, ``MLP`` keys, the run's
    dtype).
    """

    seed: int
    lr: float
    activation: str
    batch_norm: bool
    config: dict
    history: pd.DataFrame
    best_epoch: int
    best_val_acc: float
    test_loss: float
    test_acc: float
    diverged: bool
    wall_time: float
    state_dict: dict[str, Tensor]
    best_train_loss: float | None = None  # ``train_metrics="running"``: eval pass at the end
    best_train_acc: float | None = None
    layer_stats: list[dict] | None = None  # ``layer_stats=True``: per hidden layer, test split

    def model(self) -> MLP:
        """The best state as a regular :class:`~helpers.models.MLP` (CPU)."""
        net = MLP(**self.config)
        net.load_state_dict(self.state_dict)
        return net


@dataclass
class Snapshot:
    """One model paused at the end of epoch ``epoch``: everything needed to resume it.

    Resuming (``train_stacked(resume=[...])``) continues the exact trajectory: parameters,
    Adam moments and step count, BatchNorm buffers, the batch-order generator, the best
    state so far and the history rows. On CPU the continuation is bit-identical to an
    uninterrupted run.
    """

    seed: int
    lr: float
    activation: str
    batch_norm: bool
    epoch: int
    tensors: dict[str, Tensor]  # row, exp_avg, exp_avg_sq, rm, rv, nb, best_*, gen
    best_epoch: int
    best_val_acc: float
    rows: list[dict]
    cost: float
    adam_steps: int

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


@dataclass(frozen=True)
class StackConfig:
    """What one :func:`train_stacked` call trains: the models (one entry each, in input
    order) and the settings they share (validated by :func:`train_stacked`)."""

    depth: int
    width: int
    activations: tuple[str, ...]
    batch_norms: tuple[bool, ...]
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    batch_size: int = 128
    max_epochs: int = 300
    patience: int | None = 20
    lr_decay: float = 0.99
    bias_init: float = 0.0
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    fused: bool = True  # torch's fused Adam kernel (False: the formula)
    cuda_graph: bool = False
    train_metrics: str = "eval"
    test_every_epoch: bool = False
    layer_stats: bool = False


@contextmanager
def _matmul_precision(tf32: bool):
    old = torch.get_float32_matmul_precision()
    if tf32:
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


class _BestStates:
    """Early stopping and best state of every live model of a stack, by live row.

    ``rules[j]`` is row ``j``'s :class:`~helpers.training_steps.EarlyStopping` (best
    validation accuracy, its epoch, divergence); ``flat``/``rm``/``rv``/``nb`` hold the
    parameters and BN buffers of that best epoch.
    """

    def __init__(self, net: StackedMLP, rules: list[EarlyStopping]) -> None:
        self.rules = rules
        self.flat = net.flat.detach().clone()
        self.rm, self.rv = net.running_mean.clone(), net.running_var.clone()
        self.nb = net.num_batches.clone()

    def update(self, net: StackedMLP, epoch: int, rows: list[dict], max_epochs: int
               ) -> list[int]:
        """Feed every live model its history row of ``epoch``, keep the states that
        improved, and return the live rows that stop after this epoch."""
        improved = [j for j, (rule, row) in enumerate(zip(self.rules, rows))
                    if rule.update(epoch, row["train_loss"], row["val_acc"], row["val_loss"])]
        if improved:
            self._save(net, improved)
        return [j for j, rule in enumerate(self.rules) if rule.stop or epoch == max_epochs]

    @torch.no_grad()
    def _save(self, net: StackedMLP, rows: list[int]) -> None:
        idx = torch.tensor(rows, device=self.flat.device)
        self.flat[idx] = net.flat[idx]
        self.rm[:, idx] = net.running_mean[:, idx]
        self.rv[:, idx] = net.running_var[:, idx]
        self.nb[idx] = net.num_batches[idx]

    def keep(self, rows: list[int]) -> None:
        """Follow a compacted stack: keep live rows ``rows``, in that order."""
        idx = torch.tensor(rows, device=self.flat.device)
        self.flat, self.nb = self.flat[idx], self.nb[idx]
        self.rm, self.rv = self.rm[:, idx], self.rv[:, idx]
        self.rules = [self.rules[j] for j in rows]


class _StackRun:
    """The state of one :func:`train_stacked` call (internal).

    Models are kept in ``order`` (grouped by activation and BN); lists indexed by ``i``
    (``seeds``, ``rows``, ``cost``, ``results``) follow that order, while the tensors of
    the live stack (``net``, ``opt``, ``best``) are indexed by live row ``j``, model
    ``active[j]``.
    """

    def __init__(self, data: Dataset, cfg: StackConfig,
                 resume: Sequence[Snapshot] | None = None,
                 on_finish: Callable[[int, StackedResult], None] | None = None) -> None:
        start = time.perf_counter()
        self.cfg, self.on_finish = cfg, on_finish
        device, dtype, k = cfg.device, cfg.dtype, len(cfg.seeds)
        # models are grouped by (activation, BN) so each group is one contiguous slice
        self.order = sorted(range(k), key=lambda i: (cfg.activations[i], cfg.batch_norms[i]))
        self.seeds = [cfg.seeds[i] for i in self.order]
        self.lrs = [cfg.lrs[i] for i in self.order]
        self.split = {name: Split(s.x.to(device, dtype), s.y.to(device))
                      for name, s in (("train", data.train), ("val", data.val),
                                      ("test", data.test))}
        self.net = StackedMLP.from_seeds(data.n_features, cfg.depth, cfg.width,
                                         [cfg.activations[i] for i in self.order],
                                         [cfg.batch_norms[i] for i in self.order], self.seeds,
                                         data.n_classes, cfg.bias_init, device, dtype)
        self.opt = StackedAdam(self.net.flat, self.net.grad, self.lrs, fused=cfg.fused)
        self.gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.config = dict(in_features=data.n_features, depth=cfg.depth, width=cfg.width,
                           n_classes=data.n_classes, bias_init=cfg.bias_init)
        n = len(self.split["train"])
        self.n_batches, self.batch = max(n // cfg.batch_size, 1), min(cfg.batch_size, n)
        self.idx = torch.zeros(k, self.batch, dtype=torch.long, device=device)
        self.run_loss = torch.zeros(k, dtype=torch.float64, device=device)
        self.run_correct = torch.zeros(k, dtype=torch.long, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.active = list(range(k))  # sorted positions of the rows of the live stack
        self.results: list[StackedResult | Snapshot | None] = [None] * k
        if resume is None:
            self.start_epoch = 0
            self.rows: list[list[dict]] = [[] for _ in range(k)]
            self.cost = [0.0] * k
            self._record(0, self.lrs)
            self.best = _BestStates(self.net, [EarlyStopping(cfg.patience, r[0]["val_acc"])
                                               for r in self.rows])
        else:
            snaps = [resume[i] for i in self.order]
            self.start_epoch = snaps[0].epoch
            self.best = self._restore(snaps)
            self.rows = [[dict(r) for r in s.rows] for s in snaps]
            self.cost = [s.cost for s in snaps]
        self._charge(time.perf_counter() - start)

    # -- snapshots -----------------------------------------------------------------------
    def _restore(self, snaps: list[Snapshot]) -> _BestStates:
        """Load the paused state of every model into the stack; return their best states."""
        net, opt, dev, dtype = self.net, self.opt, self.cfg.device, self.cfg.dtype
        with torch.no_grad():
            for j, s in enumerate(snaps):
                t = s.tensors
                net.flat[j] = t["row"].to(dev, dtype)
                opt.exp_avg[j] = t["exp_avg"].to(dev, dtype)
                opt.exp_avg_sq[j] = t["exp_avg_sq"].to(dev, dtype)
                net.running_mean[:, j] = t["rm"].to(dev, dtype)
                net.running_var[:, j] = t["rv"].to(dev, dtype)
                net.num_batches[j] = int(t["nb"])
                self.gens[j].set_state(t["gen"])
            best = _BestStates(net, [EarlyStopping(self.cfg.patience, s.best_val_acc,
                                                   s.best_epoch) for s in snaps])
            for j, s in enumerate(snaps):
                t = s.tensors
                best.flat[j] = t["best_row"].to(dev, dtype)
                best.rm[:, j] = t["best_rm"].to(dev, dtype)
                best.rv[:, j] = t["best_rv"].to(dev, dtype)
                best.nb[j] = int(t["best_nb"])
        steps = {s.adam_steps for s in snaps}
        if len(steps) != 1:
            raise ValueError(f"resume: Adam step counts differ ({sorted(steps)})")
        opt.steps = steps.pop()
        opt.step_t.fill_(float(opt.steps))
        return best

    def _snapshot(self, j: int, epoch: int) -> Snapshot:
        i, net, opt, best = self.active[j], self.net, self.opt, self.best
        cpu = {
            "row": net.flat[j], "exp_avg": opt.exp_avg[j], "exp_avg_sq": opt.exp_avg_sq[j],
            "rm": net.running_mean[:, j], "rv": net.running_var[:, j],
            "nb": net.num_batches[j], "best_row": best.flat[j],
            "best_rm": best.rm[:, j], "best_rv": best.rv[:, j], "best_nb": best.nb[j],
        }
        tensors = {k: v.detach().cpu().clone() for k, v in cpu.items()}
        tensors["gen"] = self.gens[i].get_state()
        rule = best.rules[j]
        return Snapshot(seed=self.seeds[i], lr=self.lrs[i], activation=net.activations[j],
                        batch_norm=net.batch_norms[j], epoch=epoch, tensors=tensors,
                        best_epoch=rule.best_epoch, best_val_acc=rule.best_acc,
                        rows=[dict(r) for r in self.rows[i]], cost=self.cost[i],
                        adam_steps=int(opt.step_t.item()) if opt.fused else opt.steps)

    def _pause(self, epoch: int) -> None:
        for j, i in enumerate(self.active):
            self.results[i] = self._snapshot(j, epoch)

    # -- bookkeeping -------------------------------------------------------------------
    def train(self, progress: bool, desc: str, should_stop: Callable[[], bool] | None,
              on_epoch: Callable[[int], None] | None, until_epoch: int | None
              ) -> list[StackedResult | Snapshot | None]:
        """Train until every model stops or pauses; results in input order."""
        cfg = self.cfg
        if self.start_epoch >= cfg.max_epochs:
            self._finish(list(range(len(self.active))))
        last = cfg.max_epochs if until_epoch is None else min(until_epoch, cfg.max_epochs)
        bar = tqdm(total=max(last - self.start_epoch, 0), desc=desc, disable=not progress,
                   leave=False)
        epoch = self.start_epoch
        for epoch in range(self.start_epoch + 1, last + 1):
            # every call trains at least one epoch, so a paused stack always progresses
            if not self.active or (should_stop is not None and epoch > self.start_epoch + 1
                                   and should_stop()):
                epoch -= 1
                break
            t0 = time.perf_counter()
            lrs = [self.lrs[i] * cfg.lr_decay ** (epoch - 1) for i in self.active]
            self.opt.set_lr(lrs)
            self._train_epoch()
            self._record(epoch, lrs)
            done = self.best.update(self.net, epoch, [self.rows[i][-1] for i in self.active],
                                    cfg.max_epochs)
            self._charge(time.perf_counter() - t0)
            n_trained = len(self.active)
            if done:
                self._finish(done)
            if on_epoch is not None:
                on_epoch(n_trained)
            bar.update(1)
            if self.active:
                bar.set_postfix(active=len(self.active),
                                best=f"{max(r.best_acc for r in self.best.rules):.4f}")
        bar.close()
        if self.active:
            self._pause(epoch)
        return [self.results[self.order.index(i)] for i in range(len(self.seeds))]

    def _charge(self, seconds: float) -> None:
        for i in self.active:
            self.cost[i] += seconds / max(len(self.active), 1)

    def _record(self, epoch: int, lrs: list[float]) -> None:
        if epoch == 0 or self.cfg.train_metrics == "eval":
            tr_loss, tr_acc = self.net.evaluate(self.split["train"])
        else:  # running means over the epoch's batches, as trained
            seen = self.n_batches * self.batch
            tr_loss = (self.run_loss / self.n_batches).tolist()
            tr_acc = (self.run_correct.double() / seen).tolist()
        va_loss, va_acc = self.net.evaluate(self.split["val"])
        if self.cfg.test_every_epoch:
            te_loss, te_acc = self.net.evaluate(self.split["test"])
        for j, i in enumerate(self.active):
            row = dict(epoch=epoch, train_loss=tr_loss[j], train_acc=tr_acc[j],
                       val_loss=va_loss[j], val_acc=va_acc[j], lr=lrs[j])
            if self.cfg.test_every_epoch:
                row |= dict(test_loss=te_loss[j], test_acc=te_acc[j])
            self.rows[i].append(row)

    def _finish(self, done: list[int]) -> None:
        """Test the best states of live rows ``done``, emit results, compact the stack."""
        t0 = time.perf_counter()
        best = self.best
        test_loss, test_acc = self.net.evaluate(self.split["test"], done, best.flat, best.rm,
                                                best.rv)
        n = len(done)
        train = ([None] * n, [None] * n)
        if self.cfg.train_metrics == "running":
            train = self.net.evaluate(self.split["train"], done, best.flat, best.rm, best.rv)
        share = (time.perf_counter() - t0) / n
        columns = HISTORY_COLUMNS + (["test_loss", "test_acc"]
                                     if self.cfg.test_every_epoch else [])
        for jj, j in enumerate(done):
            i, rule = self.active[j], best.rules[j]
            t1 = time.perf_counter()
            state = self.net.state_dict(j, best.flat, best.rm, best.rv, best.nb)
            config = dict(self.config, activation=self.net.activations[j],
                          batch_norm=self.net.batch_norms[j])
            stats = _layer_stats(config, state, self.split["test"]) if self.cfg.layer_stats \
                else None
            self.cost[i] += share + time.perf_counter() - t1
            res = StackedResult(
                seed=self.seeds[i], lr=self.lrs[i], activation=self.net.activations[j],
                batch_norm=self.net.batch_norms[j],
                config=config, history=pd.DataFrame(self.rows[i], columns=columns),
                best_epoch=rule.best_epoch, best_val_acc=rule.best_acc,
                test_loss=test_loss[jj], test_acc=test_acc[jj], diverged=rule.diverged,
                wall_time=self.cost[i], state_dict=state,
                best_train_loss=train[0][jj], best_train_acc=train[1][jj], layer_stats=stats,
            )
            self.results[i] = res
            if self.on_finish is not None:
                self.on_finish(self.order[i], res)
        self._remove(done)

    def _remove(self, done: list[int]) -> None:
        """Drop live rows ``done`` from the stack: parameters, Adam and best states, buffers."""
        keep = [j for j in range(len(self.active)) if j not in set(done)]
        self.active = [self.active[j] for j in keep]
        if keep:
            self.net.keep(keep)
            self.opt.rebind(self.net.flat, self.net.grad, keep)
            self.best.keep(keep)
            self.idx = self.idx[: len(keep)].clone()
            self.run_loss = self.run_loss[: len(keep)].clone()
            self.run_correct = self.run_correct[: len(keep)].clone()
        self.graph = None

    # -- the hot loop --------------------------------------------------------------------
    def _train_epoch(self) -> None:
        n = len(self.split["train"])
        order = [torch.stack(batch_order(n, self.cfg.batch_size, self.gens[i]))
                 for i in self.active]
        epoch_idx = torch.stack(order, 1).to(self.cfg.device)  # [n_batches, K, batch]
        self.run_loss.zero_()
        self.run_correct.zero_()
        step = self._step
        if self.cfg.cuda_graph:
            if self.graph is None:
                self.graph = _capture(self._step, self._graph_state())
            step = self.graph.replay
        for b in range(self.n_batches):
            self.idx.copy_(epoch_idx[b])
            step()
        if self.cfg.cuda_graph:  # replays bypass the Python counter, and the capture's
            self.opt.steps = int(self.opt.step_t.item())  # warm-up steps inflate it

    def _step(self) -> None:
        net, x, y = self.net, self.split["train"].x, self.split["train"].y
        net.grad.zero_()
        yb = y[self.idx]
        logits = net.forward(x[self.idx], training=True)
        losses = stacked_losses(logits, yb)
        with warnings.catch_warnings():  # strided views as params: harmless, by design
            warnings.filterwarnings("ignore", message="grad and param do not obey")
            losses.sum().backward()
        with torch.no_grad():
            net.num_batches.add_(1)
            if self.cfg.train_metrics == "running":
                self.run_loss.add_(losses.detach())
                self.run_correct.add_((logits.argmax(2) == yb).sum(1))
        self.opt.step()

    def _graph_state(self) -> list[Tensor]:
        net, opt = self.net, self.opt
        return [net.flat, net.running_mean, net.running_var, net.num_batches, opt.exp_avg,
                opt.exp_avg_sq, opt.step_t, self.run_loss, self.run_correct]


def _layer_stats(config: dict, state: dict[str, Tensor], split: Split) -> list[dict]:
    """:func:`helpers.metrics.layer_stats` of one model (a config and a state) on ``split``."""
    model = MLP(**config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return layer_stats(model, split.x, split.y)


def _capture(step: Callable[[], None], state: list[Tensor]) -> torch.cuda.CUDAGraph:
    """Capture ``step`` in a CUDA graph; the warm-up steps are undone afterwards."""
    saved = [t.detach().clone() for t in state]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    with torch.no_grad():
        for t, s in zip(state, saved):
            t.copy_(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph
