"""What the one-thread CPU benchmarks share: their size-list arguments and the JSON header
that says where and when they ran."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

from helpers.runtime import device_name


def parse_sizes(text: str, name: str, pattern: str, parts: int) -> list[tuple[int, ...]]:
    """``"2x200,8x800"`` -> ``[(2, 200), (8, 800)]`` (``parts`` numbers per item, each
    >= 1); a bad list exits with a message naming ``name`` and the accepted ``pattern``."""
    try:
        items = [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",")]
        if not items or any(len(i) != parts or min(i) < 1 for i in items):
            raise ValueError
    except ValueError:
        raise SystemExit(f"{name}={text!r}; accepted: {pattern}") from None
    return items


def cpu_header(source: str, net: str) -> dict:
    """The start of a result JSON: time, CPU, torch, Python, one thread, the load average
    (other processes share this machine), the data source and the nets timed."""
    return dict(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        device=device_name("cpu"), torch=torch.__version__, python=platform.python_version(),
        threads=1, load_average_at_start=list(os.getloadavg()), source=source, net=net,
        shapes={})


def save(result: dict, out: Path, name: str) -> Path:
    """Add the load average at the end and write ``result`` to ``out/name`` as JSON."""
    result["load_average_at_end"] = list(os.getloadavg())
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"saved {path}")
    return path
