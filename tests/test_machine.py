"""Promise 4: the machine type resolves once and stays; the binary is asked once per version."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from qemuwrap.errors import ConflictError, MachineError
from qemuwrap.facts import BinaryFacts, parse_machine_help
from qemuwrap.machine import closest_offered, resolve

import guest
from conftest import WRAPPER, Workspace

HELP_10 = """Supported machines are:
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-10.0)
pc-i440fx-10.0       Standard PC (i440FX + PIIX, 1996) (default)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996)
pc-i440fx-2.4        Standard PC (i440FX + PIIX, 1996) (deprecated)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-10.0)
pc-q35-10.0          Standard PC (Q35 + ICH9, 2009)
none                 empty machine
"""


def facts_10() -> BinaryFacts:
    machines, default = parse_machine_help(HELP_10)
    return BinaryFacts(machines, default, {})


def test_machine_help_is_read() -> None:
    machines, default = parse_machine_help(HELP_10)
    assert default == "pc-i440fx-10.0"
    assert machines["pc"] == "pc-i440fx-10.0" and machines["q35"] == "pc-q35-10.0"
    assert machines["pc-i440fx-2.4"] == "pc-i440fx-2.4"


def test_alias_resolves_to_the_pin_after_an_upgrade() -> None:
    facts = facts_10()
    assert resolve(None, facts, None) == "pc-i440fx-10.0"
    assert resolve(None, facts, "pc-i440fx-7.2") == "pc-i440fx-7.2"
    assert resolve("pc", facts, "pc-i440fx-7.2") == "pc-i440fx-7.2"
    assert resolve("pc-i440fx-10.0", facts, "pc-i440fx-7.2") == "pc-i440fx-10.0"


def test_pinned_machine_gone_names_the_closest() -> None:
    with pytest.raises(MachineError, match=r"pinned machine pc-i440fx-1\.4 is not offered.*"
                                           r"closest offered is pc-i440fx-2\.4"):
        resolve("pc", facts_10(), "pc-i440fx-1.4")
    assert closest_offered("pc-q35-11.0", facts_10()) == "pc-q35-10.0"


def test_other_board_is_a_conflict() -> None:
    with pytest.raises(ConflictError, match=r"pinned to machine pc-i440fx-7\.2"):
        resolve("q35", facts_10(), "pc-i440fx-7.2")


@pytest.mark.qemu
def test_machine_list_is_read_once_per_binary_version(ws: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "calls"
    qemu = tmp_path / "qemu-system-x86_64"
    qemu.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {guest.QEMU_PATH} "$@"\n')
    qemu.chmod(0o755)
    env = ws.env(QEMUWRAP_QEMU=str(qemu))
    for _ in range(3):
        done = subprocess.run([*WRAPPER, "-name", "c", "-S", "-display", "none", "-qmp", "stdio"],
                              env=env, input='{"execute":"qmp_capabilities"}\n'
                              '{"execute":"quit"}\n', capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls.count("-machine help") == 1 and len(calls) == 6
    qemu.write_text(qemu.read_text() + "# upgraded\n")
    os.utime(qemu, ns=(1, 1))
    subprocess.run([*WRAPPER, "-name", "c", "-version"], env=env, check=True,
                   capture_output=True)
    done = subprocess.run([*WRAPPER, "-name", "c", "-S", "-display", "none", "-qmp", "stdio"],
                          env=env, input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines().count("-machine help") == 2
