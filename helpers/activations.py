"""Activation functions written by hand, with closed-form derivatives (chapter 1).

Every function in :data:`REGISTRY` has a forward formula, a closed-form derivative and
(where PyTorch has one) a reference implementation from ``torch``. :class:`HandWritten`
turns a registry entry into a module whose backward pass uses the closed form, so
``torch.autograd.gradcheck`` can test the algebra, and the tests compare every forward
pass with ``torch.nn``.

Also here: the sigmoid's "unsaturated window" (where its derivative exceeds a threshold),
the zero-centring example (per-sample gradients of two weights), timing helpers built on
``torch.utils.benchmark`` and the chapter-1 figures.
"""

from __future__ import annotations

import copy
import math
import platform
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.utils import benchmark

from .plots import ACTIVATION_COLORS, ACTIVATION_NAMES, with_source
from .train import TrainResult

LEAKY_SLOPE = 0.01  # as in helpers.models
SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. (2017), as in torch.nn.SELU
SELU_SCALE = 1.0507009873554804934193349852946
SIGMOID_SCALE = 4.0  # the "rescaled sigmoid" sigma(4x) asked about in the Q&A thread
SQRT_2PI = math.sqrt(2 * math.pi)


# --- closed forms -------------------------------------------------------------------------

def _sigmoid(x: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-x))


def _sigmoid_d(x: Tensor) -> Tensor:
    s = _sigmoid(x)
    return s * (1 - s)


def _sigmoid4(x: Tensor) -> Tensor:
    return _sigmoid(SIGMOID_SCALE * x)


def _sigmoid4_d(x: Tensor) -> Tensor:
    return SIGMOID_SCALE * _sigmoid_d(SIGMOID_SCALE * x)


def _tanh(x: Tensor) -> Tensor:
    return 2 * _sigmoid(2 * x) - 1  # (e^x - e^-x) / (e^x + e^-x), without overflow


def _tanh_d(x: Tensor) -> Tensor:
    return 1 - _tanh(x) ** 2


def _relu(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))


def _relu_d(x: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)  # 0 at x = 0, PyTorch's convention


def _leaky(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, LEAKY_SLOPE * x)


def _leaky_d(x: Tensor) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_SLOPE))


def _elu(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.exp(x.clamp(max=0)) - 1)


def _elu_d(x: Tensor) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), torch.exp(x.clamp(max=0)))


def _selu(x: Tensor) -> Tensor:
    return SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(x.clamp(max=0)) - 1))


def _selu_d(x: Tensor) -> Tensor:
    return SELU_SCALE * torch.where(x > 0, torch.ones_like(x),
                                    SELU_ALPHA * torch.exp(x.clamp(max=0)))


def _silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def _silu_d(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _phi(x: Tensor) -> Tensor:
    """Standard normal density."""
    return torch.exp(-x * x / 2) / SQRT_2PI


def _Phi(x: Tensor) -> Tensor:  # the usual symbol for the normal CDF
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _gelu(x: Tensor) -> Tensor:
    return x * _Phi(x)


def _gelu_d(x: Tensor) -> Tensor:
    return _Phi(x) + x * _phi(x)


def _linear(x: Tensor) -> Tensor:
    return x.clone()


def _linear_d(x: Tensor) -> Tensor:
    return torch.ones_like(x)


@dataclass(frozen=True)
class ActivationSpec:
    """One activation: its formula, closed-form derivative and PyTorch reference."""

    name: str
    label: str
    formula: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    reference: Callable[[Tensor], Tensor]


REGISTRY: dict[str, ActivationSpec] = {s.name: s for s in [
    ActivationSpec("sigmoid", "sigmoid", "1 / (1 + exp(-x))", _sigmoid, _sigmoid_d,
                   torch.sigmoid),
    ActivationSpec("tanh", "tanh", "(e^x - e^-x) / (e^x + e^-x)", _tanh, _tanh_d, torch.tanh),
    ActivationSpec("relu", "ReLU", "max(0, x)", _relu, _relu_d, F.relu),
    ActivationSpec("leaky_relu", "leaky ReLU", f"x if x > 0 else {LEAKY_SLOPE} x", _leaky,
                   _leaky_d, lambda x: F.leaky_relu(x, LEAKY_SLOPE)),
    ActivationSpec("elu", "ELU", "x if x > 0 else exp(x) - 1", _elu, _elu_d, F.elu),
    ActivationSpec("gelu", "GELU", "x * Phi(x)", _gelu, _gelu_d, F.gelu),
    ActivationSpec("selu", "SELU", "lambda * (x if x > 0 else alpha (exp(x) - 1))", _selu,
                   _selu_d, F.selu),
    ActivationSpec("silu", "SiLU", "x * sigmoid(x)", _silu, _silu_d, F.silu),
    ActivationSpec("sigmoid4", "sigmoid(4x)", "1 / (1 + exp(-4x))", _sigmoid4, _sigmoid4_d,
                   lambda x: torch.sigmoid(SIGMOID_SCALE * x)),
    ActivationSpec("linear", "linear", "x", _linear, _linear_d, lambda x: x * 1.0),
]}
BOOK_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")
EXTRA_COLORS = {"sigmoid4": "#e377c2", "linear": "#7f7f7f", "prelu": "#17becf"}
EXTRA_NAMES = {"sigmoid4": "sigmoid(4x)", "linear": "linear", "prelu": "PReLU"}
COLORS = ACTIVATION_COLORS | EXTRA_COLORS
NAMES = ACTIVATION_NAMES | EXTRA_NAMES


def spec(name: str) -> ActivationSpec:
    """The registry entry for ``name``; ``ValueError`` for unknown names."""
    if name not in REGISTRY:
        raise ValueError(f"activation={name!r} is not supported; accepted values: "
                         f"{tuple(REGISTRY)}")
    return REGISTRY[name]


class _ClosedForm(torch.autograd.Function):
    """Elementwise activation whose backward pass is the hand-written derivative (written
    in the ``setup_context`` style, so ``torch.func`` transforms such as ``vmap`` work)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, name: str) -> Tensor:
        return REGISTRY[name].fn(x)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        x, name = inputs
        ctx.save_for_backward(x)
        ctx.name = name

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * REGISTRY[ctx.name].derivative(x), None


def closed_form(x: Tensor, name: str) -> Tensor:
    """``name``'s hand-written forward, with the hand-written derivative in backward."""
    return _ClosedForm.apply(x, spec(name).name)


class HandWritten(nn.Module):
    """A registry activation as a module (drop-in for ``MLP.act``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = spec(name).name

    def forward(self, x: Tensor) -> Tensor:
        return closed_form(x, self.name)

    def extra_repr(self) -> str:
        return self.name


def autograd_derivative(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d fn(x) / dx for an elementwise ``fn``, computed by autograd."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g


def function_table(names: list[str], x: Tensor) -> pd.DataFrame:
    """Tidy table (activation, x, quantity, value) of each activation and of its derivative
    computed by autograd through PyTorch's own implementation."""
    rows = []
    for name in names:
        ref = spec(name).reference
        y, dy = ref(x.detach()), autograd_derivative(ref, x)
        for quantity, values in (("f(x)", y), ("f'(x)", dy)):
            rows.append(pd.DataFrame({"activation": name, "x": x.numpy(),
                                      "quantity": quantity, "value": values.numpy()}))
    return pd.concat(rows, ignore_index=True)


def derivative_check(names: list[str], x: Tensor) -> pd.DataFrame:
    """Per activation: the largest gap between the closed-form derivative and autograd on
    PyTorch's implementation, and between the hand-written forward and PyTorch's."""
    rows = []
    for name in names:
        s = spec(name)
        rows.append({
            "activation": name,
            "closed form": f"f(x) = {s.formula}",
            "max |f_hand - f_torch|": (s.fn(x) - s.reference(x)).abs().max().item(),
            "max |f'_closed - f'_autograd|":
                (s.derivative(x) - autograd_derivative(s.reference, x)).abs().max().item(),
        })
    return pd.DataFrame(rows).set_index("activation")


# --- the sigmoid's unsaturated window -----------------------------------------------------

def sigmoid_window(threshold: float = 0.1, scale: float = 1.0) -> float:
    """Half-width ``z*`` of the window ``|z| < z*`` where ``d/dz sigmoid(scale z)`` exceeds
    ``threshold``; 0 when the derivative never does (its peak is ``scale / 4``).

    From ``scale s (1 - s) > t``: ``s > (1 + sqrt(1 - 4 t / scale)) / 2``, then invert.
    """
    if threshold <= 0:
        raise ValueError(f"threshold={threshold!r} is invalid; accepted: a float > 0")
    if scale <= 0:
        raise ValueError(f"scale={scale!r} is invalid; accepted: a float > 0")
    r = threshold / scale
    if r >= 0.25:
        return 0.0
    s = (1 + math.sqrt(1 - 4 * r)) / 2
    return math.log(s / (1 - s)) / scale


def saturation_eps(threshold: float = 0.1) -> float:
    """Output distance from 0 or 1 at which the sigmoid's derivative equals ``threshold``:
    ``sigmoid'(z) <= threshold`` exactly when the output is within this of 0 or 1. Pass it
    as ``eps`` to :func:`helpers.metrics.saturation_fraction`."""
    return 1 / (1 + math.exp(sigmoid_window(threshold)))


def window_table(names: list[str], threshold: float = 0.1,
                 x: Tensor | None = None) -> pd.DataFrame:
    """Per activation, measured on a fine grid: the peak derivative and where it occurs,
    the length of input where the derivative exceeds ``threshold``, the output range and
    whether outputs take both signs (zero-centred)."""
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64) if x is None else x
    step = (x[1] - x[0]).item()
    rows = []
    for name in names:
        s = spec(name)
        y, dy = s.reference(x), autograd_derivative(s.reference, x)
        rows.append({
            "activation": name,
            "max f'(x)": dy.max().item(),
            "argmax x": x[dy.argmax()].item(),
            f"length where f' > {threshold}": (dy > threshold).sum().item() * step,
            "min f(x)": y.min().item(),
            "max f(x)": y.max().item(),
            "both signs": bool((y < 0).any() and (y > 0).any()),
        })
    return pd.DataFrame(rows).set_index("activation")


def derivative_product_bound(depths: list[int], peak: float = 0.25) -> pd.DataFrame:
    """``peak ** L``: the largest possible product of ``L`` activation derivatives."""
    return pd.DataFrame({"depth L": depths, "bound": [peak ** d for d in depths]})


# --- linear activations collapse depth ----------------------------------------------------

@torch.no_grad()
def collapse_linear(model: nn.Module) -> tuple[Tensor, Tensor]:
    """``(W, b)`` of the single affine map equal to an MLP with a linear activation and
    no batch norm: ``logits = x @ W.T + b``."""
    layers = list(model.linears) + [model.out]
    if any(not isinstance(n, nn.Identity) for n in model.norms):
        raise ValueError("model has batch norm; collapse_linear needs batch_norm=False")
    weight, bias = layers[0].weight.clone(), layers[0].bias.clone()
    for lin in layers[1:]:
        weight, bias = lin.weight @ weight, lin.weight @ bias + lin.bias
    return weight, bias


# --- zero-centring: per-sample gradients --------------------------------------------------

def per_sample_weight_grads(model: nn.Module, x: Tensor, y: Tensor, layer: int) -> Tensor:
    """Per-sample cross-entropy gradients of hidden layer ``layer``'s weight matrix
    (1-based), ``[N, out, in]``. The model must not use batch norm (samples would interact).
    """
    if not 1 <= layer <= len(model.linears):
        raise ValueError(f"layer={layer!r} is invalid; accepted: 1..{len(model.linears)}")
    if any(not isinstance(n, nn.Identity) for n in model.norms):
        raise ValueError("per-sample gradients need batch_norm=False")
    key = f"linears.{layer - 1}.weight"
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(w: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
        logits = functional_call(model, params | {key: w}, (xi[None],))
        return F.cross_entropy(logits, yi[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(params[key], x, y)


def same_sign_rows(grads: Tensor) -> float:
    """Fraction of weight-gradient rows (one row = the weights into one unit) whose
    non-zero entries all share one sign. ``grads`` is ``[out, in]`` or ``[N, out, in]``."""
    rows = grads.reshape(-1, grads.shape[-1])
    rows = rows[(rows != 0).any(dim=1)]
    if len(rows) == 0:
        return float("nan")
    positive, negative = (rows > 0).any(dim=1), (rows < 0).any(dim=1)
    return (~(positive & negative)).float().mean().item()


def quadrant_table(g: Tensor) -> pd.DataFrame:
    """Share (%) of 2-vectors ``g`` ``[N, 2]`` in each quadrant (zeros excluded)."""
    g = g[(g != 0).all(dim=1)].cpu()
    q = torch.where(g[:, 0] > 0, torch.where(g[:, 1] > 0, 1, 4), torch.where(g[:, 1] > 0, 2, 3))
    counts = torch.bincount(q, minlength=5)[1:].float()
    share = 100 * counts / max(len(g), 1)
    return pd.DataFrame({"quadrant": ["I (+,+)", "II (-,+)", "III (-,-)", "IV (+,-)"],
                         "share (%)": share.numpy()})


def busiest_weights(grads: Tensor, unit: int | None = None) -> tuple[int, tuple[int, int]]:
    """From per-sample gradients ``[N, out, in]``: the unit with the most non-zero
    per-sample gradient entries (or ``unit``) and its two incoming weights with the most."""
    nonzero = (grads != 0).sum(dim=0)  # [out, in]
    unit = int(nonzero.sum(dim=1).argmax()) if unit is None else unit
    first, second = nonzero[unit].topk(2).indices.tolist()
    return unit, (first, second)


def zero_centring_example(models: dict[str, nn.Module], x: Tensor, y: Tensor, layer: int = 2,
                          unit: int | None = None, inputs: tuple[int, int] | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2-weight example on real data. For each model: per-sample gradients of the two
    weights ``inputs`` into ``unit`` of ``layer`` (by default :func:`busiest_weights`, so
    the points are not all zero) as a tidy table ``points`` (activation, g1, g2, kind = one
    sample / batch mean), and a ``summary`` of the sign restriction over the whole layer:
    % of per-sample rows with one sign, % of mini-batch rows with one sign, and the % of
    the two-weight per-sample gradients in quadrants II or IV."""
    points, summary = [], []
    for name, model in models.items():
        g = per_sample_weight_grads(model, x, y, layer)
        j, busiest = busiest_weights(g, unit)
        pair_idx = list(inputs or busiest)
        pair = g[:, j, pair_idx]
        mean = pair.mean(dim=0, keepdim=True)
        points.append(pd.DataFrame({"activation": name, "g1": pair[:, 0].cpu().numpy(),
                                    "g2": pair[:, 1].cpu().numpy(), "kind": "one sample"}))
        points.append(pd.DataFrame({"activation": name, "g1": mean[:, 0].cpu().numpy(),
                                    "g2": mean[:, 1].cpu().numpy(), "kind": "batch mean"}))
        quad = quadrant_table(pair).set_index("quadrant")["share (%)"]
        summary.append({
            "activation": name,
            "per-sample rows with one sign (%)": 100 * same_sign_rows(g),
            "batch-gradient rows with one sign (%)": 100 * same_sign_rows(g.mean(dim=0)),
            "2-weight samples in II or IV (%)": quad["II (-,+)"] + quad["IV (+,-)"],
            "unit, weights plotted": f"{j}, {tuple(pair_idx)}",
        })
    return pd.concat(points, ignore_index=True), pd.DataFrame(summary).set_index("activation")


# --- timing -------------------------------------------------------------------------------

def device_label(device: str | torch.device = "cpu", num_threads: int = 1) -> str:
    """What the timings ran on, e.g. ``CPU (AMD EPYC), 1 thread, torch 2.14``."""
    device = torch.device(device)
    if device.type == "cuda":
        what = f"GPU ({torch.cuda.get_device_name(device)})"
    else:
        what = f"CPU ({_cpu_name()}), {num_threads} thread{'s' if num_threads > 1 else ''}"
    return f"{what}, torch {torch.__version__.split('+')[0]}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _check_timing_args(num_threads: int, rounds: int) -> None:
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads={num_threads!r} is invalid; accepted: an int >= 1")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r} is invalid; accepted: an int >= 1")


def _interleaved(jobs: dict, min_run_time: float, num_threads: int = 1,
                 rounds: int = 3) -> dict:
    """Time every job (``key -> (stmt, globals)``) with ``torch.utils.benchmark``, in
    ``rounds`` interleaved passes of ``min_run_time / rounds`` seconds each, and pool the
    per-run times: ``key -> (median s, IQR s)``. Interleaving spreads bursts of load from
    other processes over all jobs instead of penalising whichever ran during the burst.
    One thread by default: on a shared machine a multi-threaded kernel waits for its
    slowest thread, so the timing would measure the neighbours rather than the code."""
    _check_timing_args(num_threads, rounds)
    times: dict = {key: [] for key in jobs}
    for _ in range(rounds):
        for key, (stmt, env) in jobs.items():
            timer = benchmark.Timer(stmt=stmt, globals=env, num_threads=num_threads)
            times[key] += timer.blocked_autorange(min_run_time=min_run_time / rounds).times
    out = {}
    for key, t in times.items():
        q25, q50, q75 = np.percentile(t, [25, 50, 75])
        out[key] = (float(q50), float(q75 - q25))
    return out


def time_activations(names: list[str], n_elements: int, device: str | torch.device = "cpu",
                     min_run_time: float = 0.3, seed: int = 0, num_threads: int = 1,
                     rounds: int = 3) -> pd.DataFrame:
    """Forward and forward+backward time of PyTorch's implementation of each activation on
    one float32 tensor of ``n_elements`` standard-normal values (``torch.utils.benchmark``;
    median and inter-quartile range of the runs, see :func:`_interleaved`), plus the ratio
    to ReLU when ReLU is in ``names``."""
    if not isinstance(n_elements, int) or n_elements < 1:
        raise ValueError(f"n_elements={n_elements!r} is invalid; accepted: an int >= 1")
    _check_timing_args(num_threads, rounds)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_elements, generator=gen).to(device).requires_grad_(True)
    g = torch.ones_like(x)
    jobs = {}
    for name in names:
        env = {"f": spec(name).reference, "x": x, "g": g, "torch": torch}
        jobs[name, "forward"] = ("with torch.no_grad(): f(x)", env)
        jobs[name, "forward+backward"] = ("torch.autograd.grad(f(x), x, g)", env)
    timed = _interleaved(jobs, min_run_time, num_threads, rounds)
    table = pd.DataFrame([
        {"activation": name, "pass": kind, "elements": n_elements,
         "median (ms)": 1e3 * med, "IQR (ms)": 1e3 * iqr, "ns per element": 1e9 * med / n_elements}
        for (name, kind), (med, iqr) in timed.items()])
    if "relu" in names:
        base = table[table.activation == "relu"].set_index("pass")["median (ms)"]
        table["x ReLU time"] = table["median (ms)"] / table["pass"].map(base)
    return table


def _train_step_job(model: nn.Module, x: Tensor, y: Tensor, lr: float = 1e-3) -> tuple:
    """A training step (forward, cross-entropy, backward, Adam update) as a benchmark job,
    on a copy of ``model`` so the model itself is unchanged."""
    clone = copy.deepcopy(model).train()
    opt = torch.optim.Adam(clone.parameters(), lr=lr)
    env = {"model": clone, "opt": opt, "x": x, "y": y, "F": F}
    return ("opt.zero_grad(set_to_none=True); "
            "F.cross_entropy(model(x), y).backward(); opt.step()", env)


def time_per_epoch(models: dict[str, nn.Module], x: Tensor, y: Tensor, batch_size: int = 128,
                   n_train: int = 50_000, min_run_time: float = 0.5, num_threads: int = 1,
                   rounds: int = 3) -> pd.DataFrame:
    """Training-step time of each MLP on one real batch and the implied time of an epoch of
    ``n_train`` images (``n_train // batch_size`` steps, as in
    :func:`helpers.train.train_model`); the ratio to the first model; and how much of the
    step the activations themselves take (forward+backward of ``model.act`` on one
    ``[batch_size, width]`` tensor per hidden layer). The models are not changed."""
    if len(x) < batch_size:
        raise ValueError(f"batch_size={batch_size!r} is larger than the {len(x)} samples given")
    xb, yb = x[:batch_size], y[:batch_size]
    jobs = {}
    for name, model in models.items():
        jobs[name, "step"] = _train_step_job(model, xb, yb)
        h = torch.randn(batch_size, model.linears[0].out_features,
                        device=xb.device).requires_grad_(True)
        jobs[name, "act"] = ("torch.autograd.grad(f(h), h, g)",
                             {"f": model.act, "h": h, "g": torch.ones_like(h), "torch": torch})
    timed = _interleaved(jobs, min_run_time, num_threads, rounds)
    rows = []
    for name, model in models.items():
        (step, iqr), act = timed[name, "step"], len(model.linears) * timed[name, "act"][0]
        rows.append({"model": name, "step median (ms)": 1e3 * step, "step IQR (ms)": 1e3 * iqr,
                     "epoch (s)": step * (n_train // batch_size),
                     "activations (ms)": 1e3 * act, "activation share (%)": 100 * act / step})
    table = pd.DataFrame(rows).set_index("model")
    table.insert(3, "x first", table["step median (ms)"] / table["step median (ms)"].iloc[0])
    return table


def time_to_target(results: dict[str, TrainResult], epoch_seconds: dict[str, float],
                   target: float) -> pd.DataFrame:
    """Training time = epochs x time per epoch. For each run: the first epoch whose
    training accuracy reaches ``target`` (a fraction; NaN if never), the seconds per epoch
    of its activation (``epoch_seconds``: activation -> s, e.g. the ``epoch (s)`` column
    of :func:`time_per_epoch`), their product, and the best validation accuracy with the
    training accuracy at that epoch. A run's activation is its network's; for a run stored
    without its network, the label up to the first comma (``"relu, lr=0.001"``)."""
    if not 0 < target <= 1:
        raise ValueError(f"target={target!r} is invalid; accepted: a fraction in (0, 1]")
    rows = []
    for label, r in results.items():
        h = r.history
        hit = h.loc[h.train_acc >= target, "epoch"]
        epochs = float(hit.iloc[0]) if len(hit) else float("nan")
        activation = (label.split(",")[0] if r.model is None else
                      r.model.config.get("variant", r.model.config["activation"]))
        seconds = epoch_seconds[activation]
        rows.append({"run": label, f"epochs to {100 * target:g}% train acc": epochs,
                     "s per epoch": seconds, "seconds to target": epochs * seconds,
                     "best val acc (%)": 100 * r.best_val_acc,
                     "train acc at best (%)": 100 * h.loc[r.best_epoch, "train_acc"]})
    return pd.DataFrame(rows).set_index("run")


def window_fraction(pre: list[Tensor], half_width: float) -> list[float]:
    """Per layer, the % of pre-activations inside ``|z| < half_width``."""
    return [100 * (z.abs() < half_width).float().mean().item() for z in pre]


def time_sparse_matmul(h: Tensor, weight: Tensor, min_run_time: float = 0.3,
                       num_threads: int = 1, rounds: int = 3) -> pd.DataFrame:
    """Does ReLU sparsity make the next layer cheaper? Times ``h @ weight.T`` dense, with
    ``h`` already in sparse (COO) form, and with the conversion included. The share of
    zeros in ``h`` is in ``table.attrs["zeros (%)"]``."""
    h = h.detach()
    env = {"h": h, "hs": h.to_sparse(), "w": weight.detach().T.contiguous(), "torch": torch}
    jobs = {"dense h @ W": ("h @ w", env),
            "sparse h @ W (h pre-converted)": ("torch.sparse.mm(hs, w)", env),
            "sparse h @ W (incl. conversion)": ("torch.sparse.mm(h.to_sparse(), w)", env)}
    timed = _interleaved(jobs, min_run_time, num_threads, rounds)
    table = pd.DataFrame([{"method": k, "median (ms)": 1e3 * m, "IQR (ms)": 1e3 * q}
                          for k, (m, q) in timed.items()]).set_index("method")
    table["x dense"] = table["median (ms)"] / table["median (ms)"].iloc[0]
    table.attrs["zeros (%)"] = 100 * (h == 0).float().mean().item()
    return table


# --- figures ------------------------------------------------------------------------------

def _palette(names) -> dict[str, str]:
    return {n: COLORS[n] for n in names if n in COLORS}


def plot_functions(table: pd.DataFrame, title: str = "Activation functions and their "
                   "derivatives (autograd)") -> plt.Figure:
    """Two panels from :func:`function_table`: f(x) and f'(x)."""
    names = list(dict.fromkeys(table.activation))
    data = table.assign(activation=table.activation.map(lambda n: NAMES.get(n, n)))
    palette = {NAMES.get(n, n): c for n, c in _palette(names).items()}
    dashes = {NAMES.get(n, n): ((3, 2) if n in ("leaky_relu", "sigmoid4") else "")
              for n in names}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, quantity in zip(axes, ["f(x)", "f'(x)"]):
        sns.lineplot(data=data[data.quantity == quantity], x="x", y="value", hue="activation",
                     style="activation", dashes=dashes, palette=palette, ax=ax, linewidth=1.8)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set(xlabel="input x (pre-activation, unitless)", ylabel=quantity,
               title="function" if quantity == "f(x)" else "derivative")
    axes[0].set_ylim(-1.5, 3)
    axes[1].set_ylim(-0.15, 1.2)
    axes[1].get_legend().remove()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_saturation_map(pre: dict[str, Tensor], source: str, threshold: float = 0.1,
                        w_max: float = 6.0, x_max: float = 3.0) -> plt.Figure:
    """Left: the sigmoid's derivative with the window where it exceeds ``threshold``, over
    histograms of real pre-activations (``pre``: label -> values; those beyond ±8 are not
    drawn). Right: the saturation map — sigmoid'(w x) for one weight ``w`` and one input
    ``x``, with the ``threshold`` contour."""
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2))
    ax = axes[0]
    z = torch.linspace(-8, 8, 801)
    zs = sigmoid_window(threshold)
    hist = ax.twinx()
    frames = [pd.DataFrame({"z": v.flatten().cpu().numpy(), "pre-activations": k})
              for k, v in pre.items()]
    sns.histplot(data=pd.concat(frames, ignore_index=True), x="z", hue="pre-activations",
                 stat="density", common_norm=False, element="step", fill=False,
                 bins=np.linspace(-8, 8, 81), ax=hist,
                 palette=["0.35", "#9467bd", "#17becf"][:len(pre)])
    hist.grid(False)
    hist.set(ylabel="density of real pre-activations")
    sns.move_legend(hist, "upper right", fontsize=8, title_fontsize=8)
    ax.axvspan(-zs, zs, color="0.9", label=f"sigmoid' > {threshold}")
    ax.plot(z, _sigmoid_d(z), color=COLORS["sigmoid"], linewidth=2.2, label="sigmoid'(z)")
    ax.set(xlabel="pre-activation z (unitless)", ylabel="sigmoid'(z)", xlim=(-8, 8),
           title=f"derivative and real pre-activations (window |z| < {zs:.2f})")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    w = torch.linspace(-w_max, w_max, 241)
    x = torch.linspace(-x_max, x_max, 241)
    grid = _sigmoid_d(w[:, None] * x[None, :])
    mesh = ax.pcolormesh(x.numpy(), w.numpy(), grid.numpy(), cmap="viridis", shading="auto")
    ax.contour(x.numpy(), w.numpy(), grid.numpy(), levels=[threshold], colors="white",
               linewidths=1.2)
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label="sigmoid'(w x)")
    ax.set(xlabel="input x (unitless)", ylabel="weight w (unitless)",
           title=f"saturation map (white: sigmoid' = {threshold})")
    fig.suptitle(with_source("Where the sigmoid passes gradient", source))
    fig.tight_layout()
    return fig


def plot_gradient_quadrants(points: pd.DataFrame, source: str, layer: int = 2) -> plt.Figure:
    """Scatter of per-sample gradients of two weights (from :func:`zero_centring_example`),
    one panel per activation, with the mini-batch mean marked."""
    names = list(dict.fromkeys(points.activation))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6))
    for ax, name in zip(np.atleast_1d(axes), names):
        p = points[points.activation == name]
        one, mean = p[p.kind == "one sample"], p[p.kind == "batch mean"]
        sns.scatterplot(data=one, x="g1", y="g2", s=12, alpha=0.5, color=COLORS[name], ax=ax,
                        label="one sample", edgecolor=None)
        ax.scatter(mean.g1, mean.g2, marker="X", s=120, color="black", label="batch mean")
        lim = float(np.nanpercentile(np.abs(one[["g1", "g2"]].to_numpy()), 98)) * 1.3 or 1.0
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), title=NAMES.get(name, name),
               xlabel="dL/dw1 (nats per unit weight)", ylabel="dL/dw2 (nats per unit weight)")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(with_source(f"Gradients of two weights into one layer-{layer} unit, "
                                   "one point per image", source))
    fig.tight_layout()
    return fig


def plot_timings(table: pd.DataFrame, device: str) -> plt.Figure:
    """Bar chart of :func:`time_activations`: ns per element, forward and forward+backward,
    with the inter-quartile range as error bars."""
    names = list(dict.fromkeys(table.activation))
    data = table.assign(activation=table.activation.map(lambda n: NAMES.get(n, n)),
                        iqr_ns=1e6 * table["IQR (ms)"] / table["elements"])
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    sns.barplot(data=data, x="activation", y="ns per element", hue="pass", ax=ax,
                order=[NAMES.get(n, n) for n in names])
    for bar_group, kind in zip(ax.containers, data["pass"].unique()):
        sub = data[data["pass"] == kind].set_index("activation").loc[
            [NAMES.get(n, n) for n in names]]
        xs = [b.get_x() + b.get_width() / 2 for b in bar_group]
        ax.errorbar(xs, sub["ns per element"], yerr=sub["iqr_ns"] / 2, fmt="none",
                    ecolor="black", capsize=3, linewidth=1)
    n = int(table["elements"].iloc[0])
    ax.set(xlabel="", ylabel="time per element (ns)",
           title=f"Activation cost on {n:,} standard-normal float32 values\n{device}")
    fig.tight_layout()
    return fig


def plot_sparsity(table: pd.DataFrame, source: str) -> plt.Figure:
    """Per-layer sparsity (%) under each condition (a tidy table with columns
    ``layer, condition, sparsity (%)``), with the 50 % line."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sns.barplot(data=table, x="layer", y="sparsity (%)", hue="condition", ax=ax)
    ax.axhline(50, color="black", linewidth=0.8, linestyle=":")
    ax.set(xlabel="hidden layer", ylabel="inactive outputs (% of samples, mean over units)",
           ylim=(0, 100))
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(with_source("ReLU output sparsity", source))
    fig.tight_layout()
    return fig
