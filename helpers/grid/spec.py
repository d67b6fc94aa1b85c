"""What a grid is: the :class:`GridSpec` of each profile, run keys and learning-rate rounding.

The ``paper`` grid (per dataset): depths {2, 4, 6, 8} x widths {200, 800} x batch norm
{off, on} x {sigmoid, relu} x seeds {0, 1, 2} = 48 final runs per width, 96 per dataset,
each after a learning-rate search (:mod:`helpers.grid.protocol`). The order in which the
runner works through it is *anytime*: :meth:`GridSpec.work_order` lists width 200 of every
dataset first (Fig 1, the 4x200 nets of Section 3 and Table 1, half of Fig 2), then the
wider nets, MNIST before CIFAR-10.

The ``activations`` grid extends it beyond the paper (chapter 9): tanh, leaky ReLU, ELU,
SELU, GELU and SiLU on the 4x200 and 8x200 nets of both datasets, with and without batch
norm (SELU only without: self-normalising nets are its own claim), under the same
protocol; its sigmoid and ReLU comparators are the paper grid's runs. :func:`work_queue`
orders both grids for ``make grid``: the paper's width-200 nets, MNIST 800, then the
extension, then CIFAR-10 800.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from ..data import DATASETS, check_dataset_name
from ..models import check_activation
from ..profiles import check_profile


@dataclass(frozen=True)
class GridSpec:
    """Everything that defines a grid and its protocol (stored in the manifest).

    ``coarse_lrs``: the first rung of the learning-rate search; ``rungs``: the epochs at
    which the search compares rates (all rates at ``rungs[0]``, the best ``keep`` at
    ``rungs[1]``); ``extend_factor``: when the best first-rung rate sits at an edge of the
    grid, one rate this factor further out is added (at most ``max_extensions`` times).
    ``full_length``: (dataset, width) pairs whose runs train all ``max_epochs`` epochs
    (no early stopping; the best-on-validation state is still the result) and record the
    test metrics of every epoch, so that halting can be replayed afterwards.
    ``unit_seconds``: a stack pauses (and saves a snapshot) at the first epoch boundary
    after this many seconds, so a run cut short loses at most one unit.
    """

    profile: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    coarse_lrs: tuple[float, ...]
    rungs: tuple[int, int]
    max_epochs: int
    patience: int
    keep: int = 2
    extend_factor: float = 10 ** 0.5
    max_extensions: int = 1
    full_length: tuple[tuple[str, int], ...] = ()
    activations: tuple[str, ...] = ("sigmoid", "relu")
    batch_norms: tuple[bool, ...] = (False, True)
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 128
    lr_decay: float = 0.99
    train_metrics: str = "running"
    precision: str = "float32"
    subset: tuple[int | None, int | None, int | None] | None = None  # train, val, test
    subset_seed: int = 0
    checkpoint_depth: int = 4
    checkpoint_widths: tuple[int, ...] = ()
    checkpoint_dtype: str = "float32"
    max_stack: int = 24
    unit_seconds: float = 600.0
    grid: str = "paper"
    bn_exempt: tuple[str, ...] = ()  # activations that run without batch norm only

    def combos(self) -> list[tuple[str, bool]]:
        """(activation, batch_norm) pairs, in stack order."""
        return [(a, bn) for a in self.activations for bn in self.batch_norms
                if not (bn and a in self.bn_exempt)]

    def shapes(self) -> list[tuple[int, int]]:
        """(depth, width) in anytime order within a dataset: narrow first, depth 4 first
        (the Section 3 nets), then 2, 6, 8."""
        depths = sorted(self.depths, key=lambda d: (d != self.checkpoint_depth, d))
        return [(d, w) for w in sorted(self.widths) for d in depths]

    def work_order(self, datasets: tuple[str, ...] = DATASETS) -> list[tuple[str, int, int]]:
        """(dataset, depth, width) in the runner's anytime order: every dataset's narrowest
        width first, then the next width, MNIST before CIFAR-10 within a width."""
        return [(ds, d, w) for w in sorted(self.widths) for ds in datasets
                for d, w2 in self.shapes() if w2 == w]

    def is_full_length(self, dataset: str, width: int) -> bool:
        return (dataset, width) in {(d, w) for d, w in self.full_length}

    def n_final(self) -> int:
        """Final runs per dataset."""
        return len(self.shapes()) * len(self.combos()) * len(self.seeds)

    @classmethod
    def from_dict(cls, d: dict) -> GridSpec:
        """The inverse of :meth:`to_dict` (lists back to tuples)."""
        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, list) else v
        return cls(**{k: tup(v) for k, v in d.items()})

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def check(self) -> GridSpec:
        """Raise ``ValueError`` naming the first bad field."""
        check_profile(self.profile)
        check_grid(self.grid)
        if not set(self.bn_exempt) <= set(self.activations):
            raise ValueError(f"bn_exempt={self.bn_exempt!r}; accepted: a subset of "
                             f"activations={self.activations!r}")
        for name in ("depths", "widths"):
            for v in getattr(self, name):
                if not isinstance(v, int) or v < 1:
                    raise ValueError(f"{name} contains {v!r}; accepted: integers >= 1")
        for a in self.activations:
            check_activation(a)
        if not self.coarse_lrs or any(not lr > 0 for lr in self.coarse_lrs):
            raise ValueError(f"coarse_lrs={self.coarse_lrs!r}; accepted: non-empty, all > 0")
        if len(self.rungs) != 2 or not 0 < self.rungs[0] <= self.rungs[1] <= self.max_epochs:
            raise ValueError(f"rungs={self.rungs!r}; accepted: (e1, e2) with "
                             f"0 < e1 <= e2 <= max_epochs={self.max_epochs}")
        if not 1 <= self.keep <= len(self.coarse_lrs):
            raise ValueError(f"keep={self.keep!r}; accepted: 1..{len(self.coarse_lrs)}")
        for ds, _ in self.full_length:
            check_dataset_name(ds)
        if self.train_metrics not in ("running", "eval"):
            raise ValueError(f"train_metrics={self.train_metrics!r}; accepted: 'running', "
                             "'eval'")
        if self.precision != "float32":
            raise ValueError(f"precision={self.precision!r}; accepted: 'float32' (bf16 "
                             "autocast awaits its fidelity A/B)")
        if self.checkpoint_dtype not in ("float16", "float32"):
            raise ValueError(f"checkpoint_dtype={self.checkpoint_dtype!r}; accepted: "
                             "'float16', 'float32'")
        return self


SPECS: dict[str, GridSpec] = {
    "paper": GridSpec(
        profile="paper", depths=(2, 4, 6, 8), widths=(200, 800),
        coarse_lrs=(1e-4, 3e-4, 1e-3, 3e-3), rungs=(3, 10), max_epochs=300, patience=20,
        full_length=(("mnist", 200),), checkpoint_widths=(200,), checkpoint_dtype="float16",
    ),
    "quick": GridSpec(
        profile="quick", depths=(2, 4, 6, 8), widths=(16, 32),
        coarse_lrs=(1e-3, 3e-3), rungs=(1, 2), max_epochs=10, patience=4,
        max_extensions=0, full_length=(("mnist", 16),), subset=(1000, 500, 500),
        checkpoint_widths=(16, 32), checkpoint_dtype="float32",
    ),
}


EXTENSION_ACTIVATIONS = ("tanh", "leaky_relu", "elu", "selu", "gelu", "silu")
_EXTENSION = dict(grid="activations", depths=(4, 8), activations=EXTENSION_ACTIVATIONS,
                  bn_exempt=("selu",), full_length=(), checkpoint_widths=())
EXTENSION_SPECS: dict[str, GridSpec] = {
    # the paper grid's protocol, on its narrowest width
    "paper": replace(SPECS["paper"], widths=(200,), **_EXTENSION),
    # CI: one rate (no search) and a few epochs, so that the chapter runs in seconds
    "quick": replace(SPECS["quick"], widths=(16,), coarse_lrs=(3e-3,), rungs=(1, 1), keep=1,
                     max_epochs=6, patience=3, **_EXTENSION),
}
GRIDS: dict[str, dict[str, GridSpec]] = {"paper": SPECS, "activations": EXTENSION_SPECS}


def check_grid(grid: str) -> str:
    if grid not in GRIDS:
        raise ValueError(f"grid={grid!r} is not supported; accepted values: {tuple(GRIDS)}")
    return grid


def get_spec(profile: str, grid: str = "paper") -> GridSpec:
    """The spec of ``grid`` (``paper`` or ``activations``) in ``profile`` (``quick`` or
    ``paper``)."""
    return GRIDS[check_grid(grid)][check_profile(profile)]


def work_queue(profile: str, grids: tuple[str, ...] = tuple(GRIDS),
               datasets: tuple[str, ...] = DATASETS) -> list[tuple[str, str, int]]:
    """(grid, dataset, width) in ``make grid``'s order: the paper grid's widths narrowest
    first, MNIST before CIFAR-10 within a width; the extension grids (cheap, narrow) go in
    just before the most expensive item, CIFAR-10 at the paper's widest width (at the end
    when that is not queued)."""
    for g in grids:
        check_grid(g)
    paper = get_spec(profile, "paper")
    items = [("paper", ds, w) for w in sorted(paper.widths) for ds in datasets] \
        if "paper" in grids else []
    extras = [(g, ds, w) for g in grids if g != "paper"
              for w in sorted(get_spec(profile, g).widths) for ds in datasets]
    last = ("paper", "cifar10", max(paper.widths))
    at = items.index(last) if last in items else len(items)
    return items[:at] + extras + items[at:]


def round_lr(lr: float) -> float:
    """Learning rates are kept to 3 significant digits (stable keys and table values)."""
    return float(f"{lr:.3g}")


def bn_tag(batch_norm: bool) -> str:
    return "bn" if batch_norm else "nobn"


def run_key(phase: str, depth: int, width: int, activation: str, batch_norm: bool, seed: int,
            lr: float) -> str:
    """The unique name of a run within a dataset (the lr only for the search phase)."""
    base = f"{phase}_d{depth}_w{width}_{activation}_{bn_tag(batch_norm)}_s{seed}"
    return base if phase == "final" else f"{base}_lr{round_lr(lr):.3g}"


def checkpoint_name(depth: int, width: int, activation: str, batch_norm: bool,
                    seed: int) -> str:
    return f"d{depth}_w{width}_{activation}_{bn_tag(batch_norm)}_s{seed}.pt"
