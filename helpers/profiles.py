"""The book's two execution profiles.

``quick``: CI on two CPU cores, small data subsets, each chapter in about a minute.
``paper``: full fidelity, the paper's settings (GPU recommended for training).

Notebooks keep ``profile = None`` in their ``parameters`` cell (papermill overrides it)
and then call :func:`resolve_profile`, which falls back to env ``ACTFN_PROFILE`` and
finally to ``"paper"``.
"""

from __future__ import annotations

import os
from typing import TypeVar

PROFILES = ("quick", "paper")
T = TypeVar("T")


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not supported; accepted values: {PROFILES}")
    return profile


def resolve_profile(profile: str | None = None, default: str = "paper") -> str:
    """The explicit ``profile``, else env ``ACTFN_PROFILE``, else ``default``; validated."""
    return check_profile(profile or os.environ.get("ACTFN_PROFILE") or default)


def choose(profile: str, quick: T, paper: T) -> T:
    """Pick the value for ``profile``: ``choose(profile, quick=2_000, paper=None)``."""
    return quick if check_profile(profile) == "quick" else paper
