"""The paper's grid: a resumable runner over a cheaper protocol that keeps what the paper
states (Adam, decay 0.99, Xavier/He, 3 seeds, full splits, 300-epoch cap, early stopping,
best-on-validation, an iterative learning-rate search over 3 seeds).

* :mod:`~helpers.grid.spec` — what a grid is (``GridSpec``, ``GRIDS``: the paper's and the
  ``activations`` extension, run keys, ``work_queue``);
* :mod:`~helpers.grid.protocol` — the learning-rate search and the halting replay (pure);
* :mod:`~helpers.grid.store` — tables, parts, manifest, checkpoints, snapshots;
* :mod:`~helpers.grid.runner` — ``run_grid``, ``load_results``, ``checkpoint``,
  ``merge_results`` (runs from another results root, e.g. a GPU machine's),
  ``pending_shapes`` (what is left);
* :mod:`~helpers.grid.plan` — the cost model (``python -m helpers.grid plan``);
* :mod:`~helpers.grid.cli` — ``python -m helpers.grid run|plan|status|pending|backfill|merge``.
"""

from ..runtime import device_name, git_commit, resolve_device
from .protocol import Decision, Trajectory, decide, replay_patience
from .runner import (
    DataSourceMismatch,
    adam_kernels,
    checkpoint,
    grid_data,
    load_results,
    merge_results,
    pending_shapes,
    run_grid,
    search_table,
)
from .spec import GRIDS, SPECS, GridSpec, get_spec, round_lr, run_key, work_queue
from .store import (
    HISTORY_TABLE_COLUMNS,
    LAYER_COLUMNS,
    RESULTS_ROOT,
    RUN_COLUMNS,
    GridResults,
    results_dir,
)

__all__ = [
    "GRIDS", "SPECS", "GridSpec", "get_spec", "work_queue", "round_lr", "run_key", "Decision",
    "Trajectory", "decide", "replay_patience", "adam_kernels", "checkpoint", "grid_data",
    "DataSourceMismatch", "load_results", "merge_results", "pending_shapes", "run_grid",
    "search_table", "HISTORY_TABLE_COLUMNS", "LAYER_COLUMNS", "RESULTS_ROOT", "RUN_COLUMNS",
    "GridResults", "results_dir", "device_name", "git_commit", "resolve_device",
]
