"""``python -m helpers.grid run | plan | status | pending | backfill | merge``: the grid
from the command line.

``run --grid all --dataset all`` (``make grid``) follows :func:`~helpers.grid.spec.
work_queue`: the paper grid's width 200 of MNIST, then of CIFAR-10, then MNIST 800, then
the ``activations`` extension (both datasets), then CIFAR-10 800, resumable, within
``--time-budget`` minutes. ``--grid paper`` runs the paper grid alone; ``--shapes
2x800,8x800`` only those shapes (``pending`` lists the unfinished ones: one process per
shape shares a GPU, each with its own ``--root``, merged afterwards with ``merge``).
``--workers N`` runs N such processes side by side (``make grid`` on CPU: one per core);
each trains the next shape in the queue that no other process holds
(:func:`~helpers.grid.store.shape_lock`), so both cores work on the first unfinished width
of a dataset before the queue moves on.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from ..data import DATASETS
from ..profiles import PROFILES
from ..runtime import resolve_device
from . import store
from .runner import (
    backfill_layer_stats,
    check_shapes,
    load_results,
    merge_results,
    pending_shapes,
    request_stop,
    run_grid,
    stop_requested,
)
from .spec import GRIDS, get_spec, work_queue


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line of one worker of ``run --workers N``: the same command with one
    worker that skips a shape another process is training."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out + ["--workers", "1", "--skip-busy"]


def run_workers(argv: Sequence[str], n: int) -> int:
    """``n`` workers (:func:`worker_argv`), one process each, sharing the queue. A SIGTERM
    or SIGINT to this process reaches every worker as SIGTERM (the first pauses them
    cleanly, a second stops them); returns the worst exit status. The workers run in
    sessions of their own, so that a signal to this process group (Ctrl-C at a terminal,
    ``kill -- -PGID``) reaches them once, through this process, not twice."""
    procs = [subprocess.Popen([sys.executable, "-m", "helpers.grid", *worker_argv(argv)],
                              start_new_session=True)
             for _ in range(n)]

    def forward(signum, frame):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(proc.wait() for proc in procs)


def status(root=None, profiles: Sequence[str] = PROFILES,
           grids: Sequence[str] = tuple(GRIDS)) -> str:
    """One line per profile, grid and dataset: final runs done, source, time, device."""
    lines = []
    for profile in profiles:
        for grid in grids:
            for dataset in DATASETS:
                lines.append(_status_line(profile, grid, dataset, root))
    return "\n".join(lines)


def _status_line(profile: str, grid: str, dataset: str, root) -> str:
    head = f"{profile:6} {grid:11} {dataset:8}"
    if not store.results_dir(profile, dataset, root, grid).exists():
        return f"{head} no results"
    res = load_results(profile, dataset, root, grid=grid)
    m = res.manifest
    state = "complete" if m.get("complete") else "incomplete"
    return (f"{head} {state:10} final runs {len(res.runs)}/"
            f"{get_spec(profile, grid).n_final()}; search runs {len(res.lr_search)}; source "
            f"{m.get('source_label', '?')}; {m.get('wall_time_s', 0) / 3600:.2f} h; "
            f"{m.get('device', '?')}")


def _one_dataset(parser: argparse.ArgumentParser, root_help: str = "results root (default "
                 f"{store.RESULTS_ROOT})") -> argparse.ArgumentParser:
    """The options of a command about one dataset's results: profile, grid, dataset, root."""
    parser.add_argument("--profile", choices=PROFILES, default="paper")
    parser.add_argument("--grid", choices=list(GRIDS), default="paper")
    parser.add_argument("--dataset", required=True, choices=list(DATASETS))
    parser.add_argument("--root", default=None, help=root_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grid",
                                     description="Run the paper's grid (resumable).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run or resume a grid")
    run.add_argument("--profile", required=True, choices=PROFILES)
    run.add_argument("--dataset", required=True, choices=[*DATASETS, "all"])
    run.add_argument("--grid", default="paper", choices=[*GRIDS, "all"],
                     help="the paper's grid, the activations extension, or all in "
                          "make grid's order (default: paper)")
    run.add_argument("--device", default=None,
                     help="cpu, cuda or cuda:N (default: cuda when present)")
    run.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                     help="pause cleanly after this many minutes (rerun to resume)")
    run.add_argument("--cuda-graph", action="store_true",
                     help="capture each training step in a CUDA graph (CUDA only)")
    run.add_argument("--threads", type=int, default=None,
                     help="CPU threads (default 1 on CPU; see helpers.runtime)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--root", default=None, help=f"results root (default {store.RESULTS_ROOT})")
    run.add_argument("--shapes", default=None, metavar="DxW[,DxW...]",
                     help="only these shapes, e.g. 2x800,8x800 (default: all)")
    run.add_argument("--workers", type=int, default=1,
                     help="processes sharing the queue, each on the next shape no other "
                          "process trains (make grid: one per CPU core)")
    run.add_argument("--skip-busy", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--state-root", default=None,
                     help=f"where unfinished runs keep their snapshots (default "
                          f"{store.STATE_ROOT}); processes with their own --root need "
                          "their own")
    pe = _one_dataset(sub.add_parser("pending", help="the shapes whose final runs are not "
                                     "all recorded (DxW, in the anytime order)"))
    pe.add_argument("--no-full-length", action="store_true",
                    help="leave out the shapes whose final runs train all 300 epochs")
    pl = sub.add_parser("plan", help="the cost model: runs, model-epochs, TFLOP, hours")
    pl.add_argument("--profile", choices=PROFILES, default="paper")
    pl.add_argument("--grid", choices=list(GRIDS), default="paper")
    pl.add_argument("--device", default="cpu", help="cpu or cuda (calibrated here)")
    pl.add_argument("--threads", type=int, default=None)
    pl.add_argument("--root", default=None)
    pl.add_argument("--no-save", action="store_true", help="do not write the manifests")
    _one_dataset(sub.add_parser("backfill", help="add gradient saturation and node perplexity"
                                " to runs recorded before they existed (from checkpoints)"))
    mg = sub.add_parser("merge", help="merge the runs recorded under another results root "
                        "(a GPU machine's results.tgz unpacked, another checkout)")
    mg.add_argument("source", help="that results root (holds <profile>/<dataset>/)")
    _one_dataset(mg, f"into this root (default {store.RESULTS_ROOT})")
    st = sub.add_parser("status", help="show what is done")
    st.add_argument("--profile", choices=PROFILES, default=None)
    st.add_argument("--grid", choices=list(GRIDS), default=None)
    st.add_argument("--root", default=None)
    args = parser.parse_args(argv)
    if args.command == "status":
        print(status(args.root, [args.profile] if args.profile else PROFILES,
                     [args.grid] if args.grid else tuple(GRIDS)))
        return 0
    if args.command == "pending":
        print(" ".join(f"{d}x{w}" for d, w in pending_shapes(
            args.profile, args.dataset, args.root, args.grid,
            full_length=not args.no_full_length)))
        return 0
    if args.command == "merge":
        try:
            merge_results(args.source, args.profile, args.dataset, args.root, args.grid)
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
        return 0
    if args.command == "backfill":
        n = backfill_layer_stats(args.profile, args.dataset, args.root, args.grid)
        print(f"{n} runs filled (merged into the tables by the next grid run)")
        return 0
    if getattr(args, "threads", None) is not None and args.threads < 1:
        parser.error(f"--threads {args.threads}: accepted: an integer >= 1")
    try:
        dev = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.command == "plan":
        from .plan import plan_report
        print(plan_report(args.profile, dev, threads=args.threads, root=args.root,
                          save=not args.no_save, grid=args.grid))
        return 0
    if args.time_budget is not None and args.time_budget <= 0:
        parser.error(f"--time-budget {args.time_budget}: accepted: minutes > 0")
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: accepted: an integer >= 1")
    if args.cuda_graph and dev.type != "cuda":
        parser.error(f"--cuda-graph needs a CUDA device, not {str(dev)!r}")
    def interrupted(signum, frame):
        # The first SIGTERM pauses at the next epoch boundary and saves the snapshots of
        # unfinished runs (nothing is lost); a second one stops at once (finished runs and
        # the manifest are kept; the epochs since the last pause are lost).
        if stop_requested():
            raise KeyboardInterrupt(f"signal {signum}")
        request_stop()
        print(f"signal {signum}: pausing at the next epoch boundary (send it again to stop "
              "at once)", file=sys.stderr, flush=True)

    datasets = DATASETS if args.dataset == "all" else (args.dataset,)
    grids = tuple(GRIDS) if args.grid == "all" else (args.grid,)
    shapes = None
    if args.shapes is not None:
        try:
            shapes = tuple(tuple(int(n) for n in s.lower().split("x"))
                           for s in args.shapes.split(","))
            if any(len(s) != 2 for s in shapes):
                raise ValueError
            for grid in grids:
                check_shapes(get_spec(args.profile, grid), shapes)
        except ValueError:
            accepted = get_spec(args.profile, grids[0]).shapes()
            parser.error(f"--shapes {args.shapes}: accepted: a comma-separated list of "
                         f"{', '.join(f'{d}x{w}' for d, w in accepted)}")
    if args.workers > 1:
        return run_workers(sys.argv[1:] if argv is None else argv, args.workers)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # Ctrl-C pauses cleanly too; twice stops
    start = time.perf_counter()
    for grid, dataset, width in work_queue(args.profile, grids, datasets):
        if shapes is not None and all(w != width for _, w in shapes):
            continue
        budget = None if args.time_budget is None else \
            args.time_budget * 60 - (time.perf_counter() - start)
        if stop_requested():
            print("paused on request; run the same command again to resume", file=sys.stderr)
            return 0
        if budget is not None and budget <= 0:
            print("time budget spent; run the same command again to resume", file=sys.stderr)
            return 0
        t0 = time.perf_counter()
        try:
            res = run_grid(args.profile, dataset, args.device, progress=not args.no_progress,
                           root=args.root, time_budget=budget, cuda_graph=args.cuda_graph,
                           threads=args.threads, widths=(width,), shapes=shapes, log=print,
                           grid=grid, state_root=args.state_root, skip_busy=args.skip_busy)
        except store.ShapeBusy as err:  # only without --skip-busy
            print(f"python -m helpers.grid: error: {err}", file=sys.stderr)
            return 2
        busy = f"; skipped {', '.join(res.busy)} (another process)" if res.busy else ""
        if res.postponed:
            busy += f"; postponed {', '.join(res.postponed)} (no run fits in the time left)"
        print(f"{args.profile}/{grid}/{dataset} width {width} ({res.label}): {res.new_runs} "
              f"new final runs in {time.perf_counter() - t0:.0f} s; {len(res.runs)}/"
              f"{get_spec(args.profile, grid).n_final()} final runs, "
              f"{'complete' if res.complete else 'incomplete'}{busy} -> {res.path}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
