"""The replayed daily launch: used only when nothing that decides the argv has changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import guest
from conftest import ROOT, WRAPPER, Workspace, recording_qemu

pytestmark = pytest.mark.qemu
QUIT = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
BASE = ["-name", "daily", "-drive", "file=a.img,if=virtio,format=raw", "-S", "-display", "none",
        "-qmp", "stdio"]


def start(ws: Workspace, args: list[str], wrapper: list[str] = WRAPPER, **env: str) -> str:
    """The exec line qemuwrap printed (QEMUWRAP_DEBUG) for a paused guest it started."""
    done = subprocess.run([*wrapper, *args], env=ws.env(QEMUWRAP_DEBUG="1", **env), cwd=ws.root,
                          input=QUIT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return next(line for line in done.stderr.splitlines() if line.startswith("qemuwrap: exec"))


def test_the_same_launch_is_replayed_and_changes_are_not(ws: Workspace, tmp_path: Path) -> None:
    first = start(ws, BASE)
    assert "(replayed)" not in first
    again = start(ws, BASE)
    assert again == first.replace("exec ", "exec (replayed) ", 1)
    assert "(replayed)" not in start(ws, [*BASE, "-m", "256"]), "another command line"
    assert "(replayed)" not in start(ws, BASE), "the other launch saved the state since"
    assert "(replayed)" in start(ws, BASE)
    subprocess.run(["qemuwrap-ctl", "pin", "daily", "disk:a.img", "0x9"], env=ws.env(),
                   check=True, capture_output=True)
    moved = start(ws, BASE)
    assert "(replayed)" not in moved and "addr=0x9" in moved, "the state changed"
    qemu = tmp_path / "qemu-system-x86_64"
    qemu.write_text(f'#!/bin/sh\nexec {guest.QEMU_PATH} "$@"\n')
    qemu.chmod(0o755)
    start(ws, BASE, QEMUWRAP_QEMU=str(qemu))
    assert "(replayed)" in start(ws, BASE, QEMUWRAP_QEMU=str(qemu))
    os.utime(qemu, ns=(1, 1))
    assert "(replayed)" not in start(ws, BASE, QEMUWRAP_QEMU=str(qemu)), "the binary changed"


def test_an_upgrade_of_qemuwrap_plans_anew(ws: Workspace, tmp_path: Path) -> None:
    """A record made by other code is not replayed: a fix in qemuwrap reaches every guest."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "bin", copy / "bin")
    shutil.copytree(ROOT / "qemuwrap", copy / "qemuwrap",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wrapper = [sys.executable, "-I", str(copy / "bin" / "qemuwrap")]
    start(ws, BASE, wrapper)
    assert "(replayed)" in start(ws, BASE, wrapper)
    render = copy / "qemuwrap" / "render.py"
    render.write_text(render.read_text() + "# 0.1.1\n")
    assert "(replayed)" not in start(ws, BASE, wrapper)
    assert "(replayed)" in start(ws, BASE, wrapper)


def test_a_replayed_guest_holds_the_run_lock(ws: Workspace) -> None:
    start(ws, BASE)
    proc = subprocess.Popen([*WRAPPER, *BASE], env=ws.env(QEMUWRAP_DEBUG="1"), cwd=ws.root,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "QMP" in proc.stdout.readline()
        changed = subprocess.run([*WRAPPER, *BASE[:4], "-hdb", "b.img", "-S"], env=ws.env(),
                                 cwd=ws.root, capture_output=True, text=True, timeout=60)
        assert changed.returncode == 1 and f"(PID {proc.pid})" in changed.stderr
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert "(replayed)" in err


def test_readconfig_and_unsafe_records_are_never_replayed(ws: Workspace) -> None:
    (ws.root / "vm.cfg").write_text('[device "rng"]\n  driver = "virtio-rng-pci"\n')
    args = [*BASE, "-readconfig", "vm.cfg"]
    start(ws, args)
    assert "(replayed)" not in start(ws, args)
    start(ws, BASE)
    os.chmod(ws.state / ".replay", 0o777)
    assert "(replayed)" not in start(ws, BASE), "a record others could have written"


def test_list_shows_a_replayed_launch_as_the_last_one(ws: Workspace) -> None:
    start(ws, BASE)
    saved = (ws.state / "daily.toml").read_text()
    time.sleep(1.1)
    assert "(replayed)" in start(ws, BASE)
    assert (ws.state / "daily.toml").read_text() == saved, "a replay writes no state"
    rows = json.loads(subprocess.run(["qemuwrap-ctl", "list", "--json"], env=ws.env(),
                                     capture_output=True, text=True, check=True).stdout)
    recorded = next(line for line in saved.splitlines() if line.startswith("last_launch"))
    stamp = recorded.split("=", 1)[1].strip().replace(" ", "T")
    assert rows[0]["last_launch"] > stamp


def test_a_state_dir_from_the_config_file_is_replayed_too(ws: Workspace, tmp_path: Path) -> None:
    """libvirt's setup: state_dir in config.toml, no environment: the replay finds its
    record where the launch put it. A config of another form than key = "value" lines is
    left to the full pipeline (no replay, same launch)."""
    config = tmp_path / "config.toml"
    config.write_text(f'# qemuwrap\nstate_dir = "{tmp_path / "configured"}"\n')
    env = {"QEMUWRAP_CONFIG": str(config), "QEMUWRAP_STATE_DIR": ""}
    first = start(ws, BASE, **env)
    assert "(replayed)" not in first and (tmp_path / "configured" / "daily.toml").exists()
    assert "exec (replayed)" in start(ws, BASE, **env)
    config.write_text(f"state_dir = '{tmp_path / 'configured'}'\n")
    assert "(replayed)" not in start(ws, BASE, **env)


def libvirt_start(ws: Workspace, n: int, fd: int) -> list[str]:
    """libvirt's own argv for its n-th start of a q35 domain (tests/data/libvirt), the
    tap on descriptor ``fd``; images in the workspace."""
    import shlex

    text = (ROOT / "tests" / "data" / "libvirt" / "lvwin.argv").read_text()
    text = text.replace("domain--1-", f"domain-{n}-").replace('"fd":"25"', f'"fd":"{fd}"')
    text = text.replace("/tmp/lv/win.img", str(ws.root / "a.img"))
    return shlex.split(text.replace("/tmp/lv/win.iso", str(ws.root / "b.img")))[1:]


def test_every_start_of_a_libvirt_domain_is_replayed_as_planned(ws: Workspace,
                                                                 tmp_path: Path) -> None:
    """libvirt changes its descriptor numbers and its domain-N directory at every start:
    from the second start on, the launch is replayed, and what QEMU is handed is exactly
    what the full pipeline plans for that very command line (``qemuwrap-ctl plan``)."""
    fake, received = recording_qemu(tmp_path)
    env = ws.env(QEMUWRAP_QEMU=str(fake), QEMUWRAP_DEBUG="1")
    for n, fd in ((1, 25), (2, 31), (3, 28)):
        args = libvirt_start(ws, n, fd)
        planned = subprocess.run(["qemuwrap-ctl", "plan", "--json", "--", *args], env=env,
                                 cwd=ws.root, capture_output=True, text=True, check=True)
        launched = subprocess.run([*WRAPPER, *args], env=env, cwd=ws.root,
                                  capture_output=True, text=True, check=False)
        assert launched.returncode == 0, launched.stderr
        assert ("exec (replayed)" in launched.stderr) == (n > 1)
        handed = received.read_text().splitlines()
        assert handed == json.loads(planned.stdout)["argv"]
        assert f'"fd":"{fd}"' in " ".join(handed) and f"domain-{n}-lvwin" in " ".join(handed)
    # An image path is no per-start part: another one is planned, not replayed.
    other = [w.replace(str(ws.root / "a.img"), str(ws.root / "c.img")) for w in args]
    changed = subprocess.run([*WRAPPER, *other], env=env, cwd=ws.root, capture_output=True,
                             text=True, check=False)
    assert changed.returncode == 0 and "exec (replayed)" not in changed.stderr
