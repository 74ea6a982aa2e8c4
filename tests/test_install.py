"""``pip install .`` into a fresh virtual environment gives working console scripts."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

from conftest import ROOT, Workspace

QUIT = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
PAUSED = ["-name", "inst", "-drive", "file=a.img,if=virtio,format=raw", "-S", "-display", "none",
          "-qmp", "stdio"]


def fresh_venv(where: Path, *pip_args: str) -> Path:
    """A new virtual environment with ``pip install PIP_ARGS``; its bin directory."""
    venv.EnvBuilder(with_pip=True).create(where)
    pip = subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", *pip_args],
                         capture_output=True, text=True, timeout=600, check=False)
    assert pip.returncode == 0, pip.stderr
    return where / "bin"


def launch(ws: Workspace, argv: list[str]) -> str:
    """A paused guest started and quit through ARGV + PAUSED; its stderr (QEMUWRAP_DEBUG)."""
    done = subprocess.run([*argv, *PAUSED], env=ws.env(QEMUWRAP_DEBUG="1"), cwd=ws.root,
                          input=QUIT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


def imported(stderr: str) -> set[str]:
    """The modules named in ``-X importtime`` output."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and "| imported package" not in line}


@pytest.mark.qemu
def test_pip_install_into_a_fresh_venv(ws: Workspace, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", str(ROOT))
    version = subprocess.run([str(bin_dir / "qemuwrap"), "-version"], env=ws.env(),
                             capture_output=True, text=True, check=False)
    assert version.returncode == 0 and "QEMU emulator version" in version.stdout
    ctl = subprocess.run([str(bin_dir / "qemuwrap-ctl"), "list"], env=ws.env(),
                         capture_output=True, text=True, check=False)
    assert ctl.returncode == 0 and ctl.stdout.startswith("NAME")


@pytest.mark.qemu
def test_the_installed_command_replays_before_site_runs(ws: Workspace, tmp_path: Path) -> None:
    """The shell lines start Python with -I -S; the daily launch then loads nothing that
    site would (its .pth files), only qemuwrap's replay; any other launch runs site first."""
    bin_dir = fresh_venv(tmp_path / "venv", str(ROOT))
    assert "(replayed)" not in launch(ws, [str(bin_dir / "qemuwrap")])
    assert "exec (replayed)" in launch(ws, [str(bin_dir / "qemuwrap")])
    python = [str(bin_dir / "python3"), "-I", "-S", "-X", "importtime"]
    floor = imported(subprocess.run([*python, "-c", "import os"], capture_output=True, text=True,
                                    check=True).stderr)
    replayed = launch(ws, [*python, str(bin_dir / "qemuwrap")])
    assert "exec (replayed)" in replayed
    # The replay binds qemuwrap's monitor socket for QEMU: monitor.py and the C socket module.
    assert imported(replayed) - floor <= {"site", "_sitebuiltins", "__future__", "qemuwrap",
                                          "qemuwrap.paths", "qemuwrap.replay", "qemuwrap.fds",
                                          "qemuwrap.monitor", "_socket"}
    planned = launch(ws, [*python, str(bin_dir / "qemuwrap"), "-m", "256"])
    assert "(replayed)" not in planned and "qemuwrap.launch" in imported(planned)


@pytest.mark.qemu
def test_an_editable_install_replays_after_site(ws: Workspace, tmp_path: Path) -> None:
    """Only site's .pth files know where an editable install's package is: the replay
    waits for site, and still happens."""
    bin_dir = fresh_venv(tmp_path / "venv", "-e", str(ROOT))
    assert not list((tmp_path / "venv").glob("lib/python*/site-packages/qemuwrap"))
    assert "(replayed)" not in launch(ws, [str(bin_dir / "qemuwrap")])
    assert "exec (replayed)" in launch(ws, [str(bin_dir / "qemuwrap")])


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
    command = tmp_path / "bin" / "qemuwrap"
    version = subprocess.run([str(command), "-version"], env=env,
                             capture_output=True, text=True, check=False)
    assert version.returncode == 0 and "QEMU emulator version" in version.stdout
    assert command.is_symlink(), "pipx links the command into its bin directory"
    assert "(replayed)" not in launch(ws, [str(command)])
    assert "exec (replayed)" in launch(ws, [str(command)])
