"""Where the code runs: device choice and naming, the git commit, torch's CPU threads.

Why one thread on CPU: on the shared 2-core machines this book is built on, two torch
threads were 5-50x *slower* than one for the paper's small matmuls whenever anything else
ran (the threads spin and wait for each other), while a single thread loses little on an
idle machine. The grid, the benchmarks and the chapters therefore run torch with one
thread by default (:func:`torch_threads`); results do not depend on it.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """``HEAD`` of the project (``+dirty`` with uncommitted changes), or ``unknown``. Env
    ``ACTFN_GIT_COMMIT`` overrides both: a GPU machine's copy of the tree reports the
    session's base commit, not the one the caller sent."""
    fallback = os.environ.get("ACTFN_GIT_COMMIT") or "unknown"
    if fallback != "unknown":
        return fallback
    try:
        head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return fallback
        dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return fallback


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def device_name(device: str | torch.device) -> str:
    """A readable name for ``device``: the GPU model or the CPU model and core count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_model()} ({os.cpu_count()} cores)"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when present, else CPU; raise ``ValueError`` for unusable devices."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is invalid; accepted: 'cpu', 'cuda', "
                         "'cuda:N'") from err
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not supported; accepted: 'cpu', 'cuda'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but no CUDA GPU is visible; "
                         "accepted here: 'cpu'")
    return dev


NO_TRAIN_ENV = "ACTFN_NO_TRAIN"


def training_allowed() -> bool:
    """False when env ``ACTFN_NO_TRAIN`` is set (to anything but ``0``): the book's
    ``paper`` build renders committed results and must never train."""
    return os.environ.get(NO_TRAIN_ENV, "0") in ("", "0")


def check_training_allowed(what: str = "this step") -> None:
    """Raise ``RuntimeError`` naming ``what`` when training is disabled."""
    if not training_allowed():
        raise RuntimeError(f"{what} would train a network, but training is disabled "
                           f"({NO_TRAIN_ENV}={os.environ[NO_TRAIN_ENV]}): the paper profile "
                           "renders committed results only; compute them with `make grid`")


@contextmanager
def torch_threads(n: int | None = None, device: str | torch.device = "cpu") -> Iterator[int]:
    """Run the block with ``n`` torch CPU threads (default: 1 on CPU, unchanged on CUDA);
    the previous count is restored afterwards."""
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"threads={n!r}; accepted: an integer >= 1 or None")
    old = torch.get_num_threads()
    new = n or (1 if torch.device(device).type == "cpu" else old)
    torch.set_num_threads(new)
    try:
        yield new
    finally:
        torch.set_num_threads(old)
