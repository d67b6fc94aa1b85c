"""The stacked engine reproduces the single-model reference (helpers.train) on CPU, each
with the same Adam kernel: torch's fused one (the engine's default, ``fused_adam=True``)
or the single-tensor formula (``torch.optim.Adam``'s default loop).

Stated tolerances (per-epoch losses/accuracies, final weights, BN buffers, test metrics):

* float64: 1e-9 absolute. The same algorithm with different rounding would stay far
  inside it (float64 noise ~1e-16 is well below Adam's eps, so it is not amplified).
* float32: 1e-5 absolute. On x86 CPUs with PyTorch's MKL kernels the stacked path is in
  fact bit-identical (observed: 0.0). It has to be near-exact to pass with BN at all: in
  float32, gradients that are zero in exact arithmetic (biases before BN, weights of
  constant pixels) are pure rounding noise of the size of Adam's eps, which Adam turns
  into full-size steps, so any rounding difference grows to ~1e-2 within a few epochs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.data import Split
from helpers.engine import (
    Snapshot,
    StackedAdam,
    StackedMLP,
    StackedResult,
    train_stacked,
)
from helpers.grid import store
from helpers.models import make_model
from helpers.stacked_mlp import _batch_norm
from helpers.train import batch_order, evaluate, train_model

TOL = {torch.float64: 1e-9, torch.float32: 1e-5}
COMBOS = [("sigmoid", False), ("relu", False), ("sigmoid", True), ("relu", True)]


@pytest.fixture(scope="module")
def tiny(mnist):
    """512/256/256 real MNIST samples (``mnist`` is the session fixture in conftest)."""
    return mnist.subset(512, 256, 256, seed=1)


def as_dtype(data, dtype):
    cast = lambda s: Split(s.x.to(dtype), s.y)  # noqa: E731
    return dataclasses.replace(data, train=cast(data.train), val=cast(data.val),
                               test=cast(data.test))


def reference(data, depth, width, act, bn, seed, lr, dtype, fused_adam=True, **kw):
    """``train_model`` with the engine's default Adam kernel unless told otherwise."""
    model = make_model(data.n_features, depth, width, act, bn, data.n_classes, seed=seed)
    return train_model(model.to(dtype), as_dtype(data, dtype), lr=lr, seed=seed,
                       progress=False, fused_adam=fused_adam, **kw)


def assert_same(ref, res, tol):
    h1, h2 = ref.history, res.history
    assert list(h1.columns) == list(h2.columns)
    assert len(h1) == len(h2)
    np.testing.assert_allclose(h2.to_numpy(), h1.to_numpy(), rtol=0, atol=tol)
    assert (res.best_epoch, res.diverged) == (ref.best_epoch, ref.diverged)
    assert res.best_val_acc == pytest.approx(ref.best_val_acc, abs=tol)
    assert res.test_loss == pytest.approx(ref.test_loss, abs=tol)
    assert res.test_acc == pytest.approx(ref.test_acc, abs=tol)
    state = ref.model.state_dict()
    assert set(state) == set(res.state_dict)
    for key, value in state.items():
        torch.testing.assert_close(res.state_dict[key].to(value.dtype), value, rtol=0,
                                   atol=tol, msg=key)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "formula"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("depth", [2, 4])
def test_stack_equals_single_path(tiny, depth, dtype, fused):
    """One stack of sigmoid/ReLU x BN off/on, mixed seeds and learning rates."""
    seeds, lrs = [0, 1, 2, 1], [1e-3, 3e-3, 2e-3, 5e-4]
    kw = dict(max_epochs=4, patience=2, batch_size=64, fused_adam=fused)
    results = train_stacked(tiny, depth, 32, [a for a, _ in COMBOS], [b for _, b in COMBOS],
                            seeds, lrs, dtype=dtype, progress=False, **kw)
    for (act, bn), seed, lr, res in zip(COMBOS, seeds, lrs, results):
        assert (res.activation, res.batch_norm, res.seed, res.lr) == (act, bn, seed, lr)
        assert_same(reference(tiny, depth, 32, act, bn, seed, lr, dtype, **kw), res,
                    TOL[dtype])


@pytest.mark.parametrize("bn", [False, True], ids=["no-bn", "bn"])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_result_does_not_depend_on_the_stack(tiny, k, bn):
    """A model trains the same alone or among k - 1 others of its kind (the same activation
    and BN, so they share every batched call) or of another kind (lets the grid resume half
    stacks and choose any stack size). Batch norm once depended on it: the CPU kernel rounds
    differently for another number of channels."""
    kw = dict(max_epochs=3, patience=5, progress=False)
    alone = train_stacked(tiny, 2, 16, "sigmoid", bn, [1], [1e-3], **kw)[0]
    same = train_stacked(tiny, 2, 16, "sigmoid", bn, [0] * (k - 1) + [1],
                         [3e-3] * (k - 1) + [1e-3], **kw)[-1]
    mixed = train_stacked(tiny, 2, 16, ["relu"] * (k - 1) + ["sigmoid"],
                          [not bn] * (k - 1) + [bn], list(range(2, k + 1)) + [1],
                          [1e-2] * (k - 1) + [1e-3], **kw)[-1]
    for res in (same, mixed):
        assert res.history.equals(alone.history)
        for key, value in alone.state_dict.items():
            assert torch.equal(res.state_dict[key], value), key


def test_divergence_and_compaction(tiny):
    """A NaN model stops and leaves the stack; the others go on, equal to the single path."""
    kw = dict(max_epochs=3, patience=3, batch_size=64)
    results = train_stacked(tiny, 4, 16, "relu", False, [0, 0], [1e-3, 1e30],
                            progress=False, **kw)
    ok, bad = results
    assert bad.diverged and not ok.diverged
    assert not np.isfinite(bad.history["train_loss"].iloc[-1])
    assert len(bad.history) < len(ok.history) == 4
    for res, lr in ((ok, 1e-3), (bad, 1e30)):
        ref = reference(tiny, 4, 16, "relu", False, 0, lr, torch.float32, **kw)
        assert ref.diverged == res.diverged
        np.testing.assert_allclose(res.history.to_numpy(), ref.history.to_numpy(), rtol=0,
                                   atol=1e-5, equal_nan=True)
        assert res.test_acc == pytest.approx(ref.test_acc, abs=1e-5)


def test_callbacks_and_stop(tiny):
    finished, epochs = [], []
    stop_after = iter([False, True])  # first polled before epoch 2
    results = train_stacked(tiny, 2, 32, "relu", False, [0, 1], [1e-3, 1e-1], max_epochs=5,
                            patience=1, progress=False,
                            on_finish=lambda i, r: finished.append((i, len(r.history))),
                            on_epoch=epochs.append, should_stop=lambda: next(stop_after))
    assert len(epochs) == 2  # stopped before epoch 3
    done = {i for i, _ in finished}
    assert all(isinstance(results[i], StackedResult) == (i in done) for i in range(2))
    assert all(isinstance(results[i], Snapshot) for i in range(2) if i not in done)


def test_init_and_state_dict_roundtrip(tiny):
    seeds = [3, 4]
    net = StackedMLP.from_seeds(784, 3, 24, ["relu", "sigmoid"], [True, False], seeds)
    for k, seed in enumerate(seeds):
        ref = make_model(784, 3, 24, net.activations[k], net.batch_norms[k], seed=seed)
        state = net.state_dict(k)
        assert set(state) == set(ref.state_dict())
        for key, value in ref.state_dict().items():
            assert torch.equal(state[key], value), key
    res = train_stacked(tiny, 2, 32, "relu", True, [0], [1e-3], max_epochs=2,
                        progress=False)[0]
    model = res.model()
    assert evaluate(model, tiny.test) == pytest.approx((res.test_loss, res.test_acc))


def test_batch_norm_matches_module():
    torch.manual_seed(0)
    z = torch.randn(3, 50, 7) * 4 + 2
    gamma, beta = torch.rand(3, 7) + 0.5, torch.randn(3, 7)
    mean, var = torch.zeros(3, 7), torch.ones(3, 7)
    out = _batch_norm(z, gamma, beta, mean, var, training=True)
    for k in range(3):
        bn = torch.nn.BatchNorm1d(7)
        bn.weight.data, bn.bias.data = gamma[k].clone(), beta[k].clone()
        torch.testing.assert_close(out[k], bn(z[k]), rtol=0, atol=1e-6)
        torch.testing.assert_close(mean[k], bn.running_mean, rtol=0, atol=1e-6)
        torch.testing.assert_close(var[k], bn.running_var, rtol=0, atol=1e-6)  # unbiased
        bn.eval()
        torch.testing.assert_close(_batch_norm(z, gamma, beta, mean, var, False)[k],
                                   bn(z[k]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("fused", [False, True], ids=["formula", "fused"])
def test_stacked_adam_matches_torch_adam(fused):
    torch.manual_seed(0)
    k, p = 3, 257
    start = torch.randn(k, p)
    lrs = [1e-3, 3e-3, 2e-2]
    flat, flat_grad = start.clone(), torch.zeros(k, p)
    adam = StackedAdam(flat, flat_grad, lrs, fused=fused)
    params = [torch.nn.Parameter(start[i].clone()) for i in range(k)]
    opts = [torch.optim.Adam([params[i]], lr=lrs[i], fused=fused) for i in range(k)]
    tol = dict(rtol=0, atol=0) if fused else dict(rtol=1e-6, atol=1e-7)  # fused: same kernel
    for step in range(40):
        if step == 20:  # a new epoch: decayed learning rates
            lrs = [lr * 0.99 for lr in lrs]
            adam.set_lr(lrs)
            for opt, lr in zip(opts, lrs):
                opt.param_groups[0]["lr"] = lr
        grad = torch.randn(k, p) * 10.0 ** torch.randint(-10, 1, (k, p)).float()
        for i in range(k):
            params[i].grad = grad[i].clone()
            opts[i].step()
        flat_grad.copy_(grad)
        adam.step()
        for i in range(k):
            torch.testing.assert_close(flat[i], params[i].detach(), **tol)
            state = opts[i].state[params[i]]
            torch.testing.assert_close(adam.exp_avg[i], state["exp_avg"], rtol=tol["rtol"],
                                       atol=0)
            torch.testing.assert_close(adam.exp_avg_sq[i], state["exp_avg_sq"],
                                       rtol=tol["rtol"], atol=0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(depth=0), "depth"),
    (dict(width=0), "width"),
    (dict(activation="swish"), "activation"),
    (dict(seeds=[0, 1], lrs=[1e-3, 1e-3, 1e-3]), "lrs"),
    (dict(lrs=-1.0), "lr"),
    (dict(seeds=[]), "seeds"),
    (dict(batch_size=0), "batch_size"),
    (dict(cuda_graph=True, device="cpu"), "cuda_graph"),
])
def test_bad_input_raises(tiny, kwargs, name):
    args = dict(depth=2, width=8, activation="relu", batch_norm=False, seeds=[0], lrs=1e-3,
                progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        train_stacked(tiny, **args)


def test_pause_and_resume_is_bit_identical(tiny, tmp_path):
    """Pausing after epoch 2 (snapshots through the store) and resuming gives exactly the
    uninterrupted run, BN buffers, Adam state, batch order and best state included."""
    acts, bns = [a for a, _ in COMBOS], [b for _, b in COMBOS]
    seeds, lrs = [0, 1, 2, 1], [1e-3, 3e-3, 2e-3, 5e-4]
    kw = dict(max_epochs=6, patience=3, batch_size=64, progress=False,
              train_metrics="running", test_every_epoch=True)
    whole = train_stacked(tiny, 3, 24, acts, bns, seeds, lrs, **kw)
    first = train_stacked(tiny, 3, 24, acts, bns, seeds, lrs, until_epoch=2, **kw)
    assert all(isinstance(s, Snapshot) and s.epoch == 2 for s in first)
    for i, snap in enumerate(first):
        store.save_snapshot(tmp_path, f"m{i}", snap)
    snaps = [store.load_snapshot(tmp_path, f"m{i}") for i in range(4)]
    rest = train_stacked(tiny, 3, 24, acts, bns, seeds, lrs, resume=snaps, **kw)
    for a, b in zip(whole, rest):
        pd.testing.assert_frame_equal(a.history, b.history)
        assert (a.best_epoch, a.test_acc, a.best_train_acc) == (b.best_epoch, b.test_acc,
                                                                b.best_train_acc)
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    with pytest.raises(ValueError, match="resume"):
        train_stacked(tiny, 3, 24, acts, bns, [9, 1, 2, 1], lrs, resume=snaps, **kw)


def test_running_train_metrics_by_hand(tiny):
    """Epoch 1's training loss/accuracy are the means over the batches as trained."""
    res = train_stacked(tiny, 2, 16, "relu", False, [3], [1e-3], max_epochs=1,
                        batch_size=64, progress=False, train_metrics="running",
                        layer_stats=True)[0]
    model = make_model(784, 2, 16, "relu", False, seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(3)
    losses, correct, seen = [], 0, 0
    for idx in batch_order(len(tiny.train), 64, gen):
        logits = model(tiny.train.x[idx])
        loss = torch.nn.functional.cross_entropy(logits, tiny.train.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        correct += (logits.argmax(1) == tiny.train.y[idx]).sum().item()
        seen += len(idx)
    row = res.history.iloc[1]
    assert row.train_loss == pytest.approx(np.mean(losses), abs=1e-6)
    assert row.train_acc == pytest.approx(correct / seen, abs=1e-9)
    # the best state's own eval-mode pass, and its layer statistics
    best = res.model()
    assert (res.best_train_loss, res.best_train_acc) == pytest.approx(
        evaluate(best, tiny.train))
    assert [s["layer"] for s in res.layer_stats] == [1, 2]


def test_test_every_epoch_and_no_patience(tiny):
    res = train_stacked(tiny, 2, 16, "sigmoid", False, [0], [1e-1], max_epochs=6,
                        patience=None, progress=False, test_every_epoch=True)[0]
    assert len(res.history) == 7  # never stopped early
    untrained = make_model(784, 2, 16, "sigmoid", False, seed=0)
    assert res.history.test_acc.iloc[0] == pytest.approx(evaluate(untrained, tiny.test)[1])
    assert res.history.loc[res.best_epoch, "test_acc"] == pytest.approx(res.test_acc)


# --- on a GPU (skipped without CUDA; benchmarks/device_session.sh runs them first) --------
cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda_only
def test_cuda_stack_equals_cpu_reference(tiny):
    """float64, TF32 off: the CUDA stack (fused Adam) reproduces the CPU single path."""
    seeds, lrs = [0, 1, 2, 1], [1e-3, 3e-3, 2e-3, 5e-4]
    kw = dict(max_epochs=3, patience=2, batch_size=64)
    results = train_stacked(tiny, 2, 32, [a for a, _ in COMBOS], [b for _, b in COMBOS],
                            seeds, lrs, dtype=torch.float64, device="cuda", tf32=False,
                            progress=False, **kw)
    for (act, bn), seed, lr, res in zip(COMBOS, seeds, lrs, results):
        assert_same(reference(tiny, 2, 32, act, bn, seed, lr, torch.float64, **kw), res, 1e-7)


@cuda_only
def test_cuda_graph_pause_and_resume_equals_the_whole_run(tiny, tmp_path):
    """With CUDA graphs, a run paused after epoch 2 and resumed from its snapshots equals the
    uninterrupted one: the snapshot holds the true Adam step count (graph replays bypass
    the Python counter, and the capture's warm-up steps would inflate it)."""
    kw = dict(max_epochs=4, patience=3, batch_size=64, device="cuda", tf32=False,
              progress=False, train_metrics="running", cuda_graph=True)
    args = (tiny, 3, 24, [a for a, _ in COMBOS], [b for _, b in COMBOS], [0, 1, 2, 1],
            [1e-3, 3e-3, 2e-3, 5e-4])
    whole = train_stacked(*args, **kw)
    first = train_stacked(*args, until_epoch=2, **kw)
    n_batches = len(tiny.train) // 64
    assert {s.adam_steps for s in first} == {2 * n_batches}
    rest = train_stacked(*args, resume=first, **kw)
    for a, b in zip(whole, rest):
        np.testing.assert_allclose(b.history.to_numpy(), a.history.to_numpy(), rtol=0,
                                   atol=1e-5)
        assert a.best_epoch == b.best_epoch


@cuda_only
def test_cuda_graph_equals_eager(tiny):
    """One CUDA graph per step gives the eager step's results (the grid's --cuda-graph)."""
    kw = dict(max_epochs=3, patience=2, batch_size=64, device="cuda", tf32=False,
              progress=False, train_metrics="running", layer_stats=True)
    args = (tiny, 4, 32, [a for a, _ in COMBOS], [b for _, b in COMBOS], [0, 1, 2, 1],
            [1e-3, 3e-3, 2e-3, 5e-4])
    eager = train_stacked(*args, cuda_graph=False, **kw)
    graph = train_stacked(*args, cuda_graph=True, **kw)
    for a, b in zip(eager, graph):
        np.testing.assert_allclose(b.history.to_numpy(), a.history.to_numpy(), rtol=0,
                                   atol=1e-5)
        assert (a.best_epoch, a.diverged) == (b.best_epoch, b.diverged)
        assert b.test_acc == pytest.approx(a.test_acc, abs=1e-5)
