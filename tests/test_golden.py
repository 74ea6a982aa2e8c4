"""Whole command lines in, whole command lines out: ``tests/data/<case>/``.

Each case has ``argv`` (one word a line), optionally ``state.toml`` (the guest's
state before the launch), and ``expected`` / ``expected-state.toml``: what QEMU
is given and what is saved. Run ``pytest --regen-golden`` to rewrite the
expected files after a deliberate change, then read the diff before committing.
The machine facts come from the installed QEMU, as in a real launch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qemuwrap import state
from qemuwrap.launch import FactsSource, plan_launch

import guest

DATA = Path(__file__).parent / "data"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "argv").exists())
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> FactsSource:
    return FactsSource(guest.QEMU_PATH, tmp_path_factory.mktemp("cache"))


def compare(path: Path, actual: str, regen: bool) -> None:
    if regen:
        if actual:
            path.write_text(actual)
        else:
            path.unlink(missing_ok=True)
    elif not path.exists():
        assert actual == "", f"{path} is missing"
    else:
        assert actual == path.read_text(), f"{path} differs (pytest --regen-golden to rewrite)"


@pytest.mark.qemu
@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, facts: FactsSource, regen: bool) -> None:
    folder = DATA / case
    argv = folder.joinpath("argv").read_text().splitlines()
    old_path = folder / "state.toml"
    old = state.parse(old_path.read_text(), old_path) if old_path.exists() else None
    launch = plan_launch(argv, facts, old, NOW)
    compare(folder / "expected", "".join(f"{w}\n" for w in launch.argv), regen)
    saved = state.render(launch.plan.state) if launch.plan else ""
    compare(folder / "expected-state.toml", saved, regen)
