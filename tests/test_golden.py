"""Whole command lines in, whole command lines out: ``tests/data/<case>/``.

Each case has ``argv`` (one word a line), optionally ``state.toml`` (the guest's
state before the launch) and ``qemu`` (the QEMU version whose facts it uses, 7.2
unless it says 10.0), and ``expected`` / ``expected-state.toml``: what QEMU is
given and what is saved. Run ``pytest --regen-golden`` to rewrite the expected
files after a deliberate change, then read the diff before committing.

The facts (machines, devices, options) are the ones recorded from Debian's QEMU
7.2 and 10.0 in ``tests/data/facts/``: the cases need no QEMU, and regenerating
them gives the same files on any host. ``test_recorded_facts_are_the_binaries``
holds the recordings to the installed binaries.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qemuwrap import facts as qemu_facts
from qemuwrap import state
from qemuwrap.launch import FactsSource, plan_launch

import guest

DATA = Path(__file__).parent / "data"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "argv").exists())
NOW = datetime(2026, 1, 1, tzinfo=UTC)


FACTS = DATA / "facts"
QEMU10 = os.environ.get("QEMUWRAP_TEST_QEMU10", "/opt/qemuwrap-test/qemu-10.0/qemu-system-x86_64")


def recorded(version: str) -> FactsSource:
    data = json.loads((FACTS / f"qemu-{version}.json").read_text())
    return FactsSource("/usr/bin/qemu-system-x86_64", None, qemu_facts.from_json(data))


@pytest.mark.qemu
@pytest.mark.parametrize(("version", "binary"), [("7.2", guest.QEMU_PATH), ("10.0", QEMU10)])
def test_recorded_facts_are_the_binaries(version: str, binary: str) -> None:
    """The recordings the golden cases use are what the binaries say (re-record with
    ``facts.to_json(facts.probe(BINARY))`` when Debian's QEMU changes them)."""
    probed = json.loads(json.dumps(qemu_facts.to_json(qemu_facts.probe(binary))))
    assert probed == json.loads((FACTS / f"qemu-{version}.json").read_text())


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


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, regen: bool) -> None:
    folder = DATA / case
    argv = folder.joinpath("argv").read_text().splitlines()
    version = folder.joinpath("qemu").read_text().strip() if (folder / "qemu").exists() else "7.2"
    facts = recorded(version)
    old_path = folder / "state.toml"
    old = state.parse(old_path.read_text(), old_path) if old_path.exists() else None
    launch = plan_launch(argv, facts, old, NOW)
    compare(folder / "expected", "".join(f"{w}\n" for w in launch.argv), regen)
    saved = state.render(launch.plan.state) if launch.plan else ""
    compare(folder / "expected-state.toml", saved, regen)
