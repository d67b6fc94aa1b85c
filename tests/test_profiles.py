import pytest

from helpers.profiles import choose, resolve_profile


def test_resolution_order(monkeypatch):
    monkeypatch.delenv("ACTFN_PROFILE", raising=False)
    assert resolve_profile(None) == "paper"
    monkeypatch.setenv("ACTFN_PROFILE", "quick")
    assert resolve_profile(None) == "quick"
    assert resolve_profile("paper") == "paper"  # papermill's value wins over the env


def test_unknown_profile_is_rejected(monkeypatch):
    with pytest.raises(ValueError, match=r"profile='fast'.*accepted values.*quick"):
        resolve_profile("fast")
    monkeypatch.setenv("ACTFN_PROFILE", "full")
    with pytest.raises(ValueError, match="profile='full'"):
        resolve_profile(None)


def test_choose():
    assert choose("quick", quick=1, paper=2) == 1
    assert choose("paper", quick=1, paper=2) == 2
