"""The one call at the head of every chapter, like fastbook's ``setup_book()``.

``profile, device, settings = helpers.setup(profile, device=device, threads=threads,
quick=dict(...), paper=dict(...))`` resolves the profile (the argument, else env
``ACTFN_PROFILE``, else ``paper``), picks the profile's settings, chooses the device (the
argument, else a GPU when one is visible, else the CPU), sets torch's CPU threads (the
argument, else the settings' ``threads``, else one: :mod:`helpers.runtime` says why), sets
the book's figure theme and prints one line saying all of it.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import torch

from .plots import set_theme
from .profiles import choose, resolve_profile
from .runtime import device_name


class Chapter(NamedTuple):
    """What a chapter needs from its setup call."""

    profile: str
    device: str
    settings: dict


def setup(profile: str | None = None, *, quick: dict | None = None, paper: dict | None = None,
          device: str | None = None, threads: int | None = None) -> Chapter:
    """Resolve profile, settings, device and threads, set the theme, print one line."""
    profile = resolve_profile(profile)
    settings = dict(choose(profile, quick or {}, paper or {}))
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads={threads!r} is invalid; accepted: an integer >= 1 or None")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not supported; accepted values: 'cpu', "
                         "'cuda', 'cuda:N' or None")
    n = threads or settings.get("threads") or 1
    torch.set_num_threads(n)
    set_theme()
    pd.set_option("display.max_colwidth", None)
    print(f"profile={profile}  device={device_name(device)}  torch threads={n}")
    return Chapter(profile, device, settings)
