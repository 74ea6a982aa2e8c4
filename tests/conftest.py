"""Shared fixtures: a scratch directory with disk images, a state directory, the wrapper."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import guest

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = [sys.executable, "-I", str(ROOT / "bin" / "qemuwrap")]
SCRIPTS = os.path.dirname(sys.executable)
"""Where pip put the installed commands: beside the interpreter (pyenv's shims may lag)."""


def recording_qemu(folder: Path) -> tuple[Path, Path]:
    """A ``qemu-system-x86_64`` that writes the argv it is handed, one word a line, to a
    file, and exits; what qemuwrap asks the binary (its help) the real one answers.
    (the fake, the file)."""
    received = folder / "argv"
    fake = folder / "qemu-system-x86_64"
    fake.write_text(f'#!/bin/sh\ncase "$*" in "-machine help"|"-device help"|"-help") '
                    f'exec {guest.QEMU_PATH} "$@";; esac\n'
                    f'printf "%s\\n" "$0" "$@" > {received}\n')
    fake.chmod(0o755)
    return fake, received


def installed(command: str) -> str | None:
    """An installed command (qemuwrap, qemuwrap-ctl), found beside the interpreter first."""
    return shutil.which(command, path=f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}")
IMAGES = ("a.img", "b.img", "c.img", "d.img", "e.img", "f.img")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite tests/data/*/expected from what qemuwrap produces now")


@pytest.fixture
def regen(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


class Workspace:
    """A directory with small raw images and a qemuwrap state directory beside them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        for name in IMAGES:
            with open(root / name, "wb") as f:
                f.truncate(1 << 20)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{SCRIPTS}{os.pathsep}{env.get('PATH', '')}"
        env.update(QEMUWRAP_STATE_DIR=str(self.state),
                   QEMUWRAP_QEMU=shutil.which(guest.QEMU) or guest.QEMU,
                   QEMUWRAP_CONFIG=str(self.root / "no-config.toml"))
        env.update(extra)
        return env

    def wrapped(self, args: Sequence[str], qemu: str | None = None,
                **kw: Any) -> guest.Topology:
        env = self.env() if qemu is None else self.env(QEMUWRAP_QEMU=qemu)
        return guest.launch(WRAPPER, args, env=env, cwd=str(self.root), **kw)

    def plain(self, args: Sequence[str], **kw: Any) -> guest.Topology:
        return guest.launch([guest.QEMU], args, cwd=str(self.root), **kw)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)
