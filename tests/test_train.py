import pandas as pd
import pytest
import torch

from helpers.models import make_model
from helpers.train import HISTORY_COLUMNS, batch_order, evaluate, train_mlp, train_model


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_loss_falls_on_real_mnist(mnist_small, activation):
    r = train_mlp(mnist_small, 2, 64, activation, lr=5e-3, max_epochs=4, progress=False)
    h = r.history
    assert list(h.columns) == HISTORY_COLUMNS and list(h.epoch) == [0, 1, 2, 3, 4]
    assert h.train_loss.iloc[-1] < 0.5 * h.train_loss.iloc[0]
    assert h.val_acc.iloc[-1] > 0.8  # chance is 0.1
    assert r.test_acc > 0.8 and not r.diverged


def test_learning_rate_decays_after_each_epoch(mnist_small):
    r = train_mlp(mnist_small, 1, 16, "relu", lr=0.01, max_epochs=3, progress=False)
    assert r.history.lr.tolist()[1:] == pytest.approx([0.01, 0.0099, 0.009801])


def test_cpu_runs_are_bit_for_bit_repeatable(mnist_small):
    a = train_mlp(mnist_small, 2, 32, "relu", batch_norm=True, seed=3, max_epochs=2,
                  progress=False)
    b = train_mlp(mnist_small, 2, 32, "relu", batch_norm=True, seed=3, max_epochs=2,
                  progress=False)
    pd.testing.assert_frame_equal(a.history, b.history)
    for (k, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), k


def test_early_stopping_restores_the_best_epoch(mnist_small):
    # a huge learning rate makes validation accuracy peak early and wander
    model = make_model(784, 2, 32, "relu", seed=0)
    r = train_model(model, mnist_small, lr=0.05, max_epochs=30, patience=3, progress=False)
    h = r.history
    assert r.best_epoch == int(h.val_acc.idxmax())
    assert len(h) - 1 <= r.best_epoch + 3  # stopped `patience` epochs after the best
    assert r.best_val_acc == h.val_acc.max()
    _, val_acc_now = evaluate(r.model, mnist_small.val)
    assert val_acc_now == pytest.approx(r.best_val_acc)  # best weights are back in place


def test_batch_order_is_a_seeded_permutation():
    batches = batch_order(10, 3, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [3, 3, 3]  # last partial batch dropped
    assert len(set(torch.cat(batches).tolist())) == 9
    again = batch_order(10, 3, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_divergence_is_flagged(mnist_small):
    """At lr 1e12 the first epoch's loss is NaN: the run is flagged and stops there, and the
    untrained state (epoch 0) is kept. (At 1e6 the loss only grows to ~1e18, finite: that
    is a bad run, not a diverged one.)"""
    r = train_mlp(mnist_small, 2, 32, "relu", lr=1e12, max_epochs=5, progress=False)
    assert r.diverged and r.best_epoch == 0 and len(r.history) == 2


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(lr=0), r"lr=0"),
        (dict(batch_size=0), r"batch_size=0"),
        (dict(patience=0), r"patience=0"),
        (dict(max_epochs=-1), r"max_epochs=-1"),
        (dict(lr_decay=1.5), r"lr_decay=1.5"),
    ],
)
def test_bad_training_arguments(mnist_small, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        train_mlp(mnist_small, 2, 8, "relu", progress=False, **kwargs)


def test_on_epoch_end_adds_columns(mnist_small):
    seen = []

    def probe(model, epoch):
        seen.append(epoch)
        return {"first_weight": model.linears[0].weight[0, 0].item()}

    r = train_mlp(mnist_small, 1, 8, "relu", max_epochs=2, progress=False, on_epoch_end=probe)
    assert seen == [0, 1, 2]
    assert list(r.history.columns) == HISTORY_COLUMNS + ["first_weight"]
    assert r.history.first_weight.nunique() == 3  # the weights moved each epoch


def test_epochs_to_and_run_summary_by_hand():
    from types import SimpleNamespace

    from helpers.train import epochs_to, reached_text, run_summary

    h = pd.DataFrame({"epoch": [0, 1, 2, 3], "train_acc": [0.1, 0.96, 0.985, 0.995]})
    assert (epochs_to(h, 0.97), epochs_to(h, 0.99)) == (2.0, 3.0)
    assert pd.isna(epochs_to(h, 1.0))
    with pytest.raises(ValueError, match="target=97"):
        epochs_to(h, 97)
    run = SimpleNamespace(history=h.set_index("epoch", drop=False), best_epoch=2,
                          best_val_acc=0.98, test_acc=0.975, wall_time=12.0)
    row = run_summary({"relu": run}).loc["relu"]
    assert row["best epoch"] == 2 and row["train acc at best (%)"] == pytest.approx(98.5)
    assert row["epochs to 97 % train acc"] == 2 and row["epochs to 99 % train acc"] == 3
    assert row["test acc (%)"] == pytest.approx(97.5) and row["seconds"] == 12.0
    assert reached_text(2.0) == "epoch 2"
    assert reached_text(epochs_to(h, 1.0)) == "not within the run"
