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


@pytest.mark.qemu
def test_pipx_install(ws: Workspace, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    venv.EnvBuilder(with_pip=True).create(tools)
    pip = subprocess.run([str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", "pipx"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert pip.returncode == 0, pip.stderr
    env = ws.env(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"),
                 PIPX_MAN_DIR=str(tmp_path / "man"))
    done = subprocess.run([str(tools / "bin" / "pipx"), "install", str(ROOT)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    version = subprocess.run([str(tmp_path / "bin" / "qemuwrap"), "-version"], env=env,
                             capture_output=True, text=True, check=False)
    assert version.returncode == 0 and "QEMU emulator version" in version.stdout
