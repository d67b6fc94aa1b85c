"""helpers.setup(): the one call at the head of a chapter (conftest restores the threads)."""

from __future__ import annotations

import pytest
import torch

import helpers


def test_setup_resolves_profile_settings_device_and_threads(monkeypatch, capsys):
    monkeypatch.setenv("ACTFN_PROFILE", "quick")
    ch = helpers.setup(None, quick=dict(n=1, threads=1), paper=dict(n=2, threads=None),
                       device="cpu")
    assert ch == ("quick", "cpu", {"n": 1, "threads": 1})
    profile, device, settings = ch
    assert torch.get_num_threads() == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "profile=quick" in out and "torch threads=1" in out
    # the argument wins over the environment; threads default to 1
    torch.set_num_threads(2)
    assert helpers.setup("paper", quick={"n": 1}, paper={"n": 2}, device="cpu").settings == {
        "n": 2}
    assert torch.get_num_threads() == 1
    assert helpers.setup("paper", device="cpu", threads=2).settings == {}
    assert torch.get_num_threads() == 2


def test_setup_shows_table_cells_in_full():
    """Long cells (the paper's quotes in the claims tables) are not cut with "..."."""
    import pandas as pd
    with pd.option_context("display.max_colwidth", 50):
        helpers.setup("quick", device="cpu")
        text = "a" * 200
        assert text in pd.DataFrame({"quote": [text]}).to_string()


def test_setup_rejects_bad_input():
    with pytest.raises(ValueError, match="profile"):
        helpers.setup("fast")
    with pytest.raises(ValueError, match="threads"):
        helpers.setup("quick", threads=0)
    with pytest.raises(ValueError, match="device"):
        helpers.setup("quick", device="tpu")
