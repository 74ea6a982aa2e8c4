"""``pip install .`` into a fresh virtual environment gives working console scripts."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

from conftest import ROOT, Workspace


@pytest.mark.qemu
def test_pip_install_into_a_fresh_venv(ws: Workspace, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", str(ROOT)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert pip.returncode == 0, pip.stderr
    version = subprocess.run([str(env_dir / "bin" / "qemuwrap"), "-version"], env=ws.env(),
                             capture_output=True, text=True, check=False)
    assert version.returncode == 0 and "QEMU emulator version" in version.stdout
    ctl = subprocess.run([str(env_dir / "bin" / "qemuwrap-ctl"), "list"], env=ws.env(),
                         capture_output=True, text=True, check=False)
    assert ctl.returncode == 0 and ctl.stdout.startswith("NAME")
