"""Promise 7 made hard: crashes, races, a running guest, hostile names and input.

Most of these run qemuwrap in front of a stand-in for QEMU that answers the
three questions qemuwrap asks the binary (by running the real one) and
otherwise exits at once, so that hundreds of launches take seconds. What is
under test, the state files, locks and messages, is all real.
"""

from __future__ import annotations

import os
import random
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from qemuwrap import state

import guest
from conftest import WRAPPER, Workspace

pytestmark = pytest.mark.qemu


@pytest.fixture
def fake_qemu(tmp_path: Path) -> Path:
    path = tmp_path / "qemu-system-x86_64"
    path.write_text(f'#!/bin/sh\ncase "$*" in "-machine help"|"-device help"|"-help") '
                    f'exec {guest.QEMU_PATH} "$@";; esac\nexit 0\n')
    path.chmod(0o755)
    return path


def launch(ws: Workspace, qemu: Path, args: list[str]) -> subprocess.Popen[str]:
    """Start qemuwrap in front of the stub QEMU; the images the line names exist, as a
    user's do (qemuwrap refuses a missing one before it writes anything)."""
    for word in args:
        for image in re.findall(r"(?:^|,)file=([^,]+)", word):
            (ws.root / image).touch()
    return subprocess.Popen([*WRAPPER, *args], env=ws.env(QEMUWRAP_QEMU=str(qemu)),
                            cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def disks(n: int, prefix: str = "d") -> list[str]:
    return [w for i in range(n) for w in ("-drive", f"file={prefix}{i}.img,if=virtio")]


def pins(path: Path) -> dict[str, tuple[str, int, int]]:
    loaded = state.load(path)
    assert loaded is not None
    return {p.key: p.spot for p in loaded.devices}


def assert_unique(path: Path) -> state.GuestState:
    loaded = state.load(path)
    assert loaded is not None
    spots = [p.spot for p in (*loaded.devices, *loaded.tombstones)]
    assert len(spots) == len(set(spots)), f"two devices share an address in {path}"
    return loaded


@pytest.mark.slow
def test_killed_at_any_moment_leaves_old_or_new_state(ws: Workspace, fake_qemu: Path) -> None:
    base = ["-name", "crash", *disks(40)]
    assert launch(ws, fake_qemu, base).wait(timeout=60) == 0
    started = time.monotonic()
    assert launch(ws, fake_qemu, base).wait(timeout=60) == 0
    duration = time.monotonic() - started
    path = ws.state / "crash.toml"
    stable = pins(path)
    rng = random.Random(2026)
    killed_running = 0
    for i in range(500):
        proc = launch(ws, fake_qemu, [*base, "-drive", f"file=extra{i % 7}.img,if=virtio"])
        time.sleep(rng.uniform(0, duration))
        if proc.poll() is None:
            killed_running += 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        text = path.read_text()
        assert text, "the state file is never empty"
        now = pins(path)
        assert {k: now[k] for k in stable} == stable, f"kill {i} moved a pinned device"
        assert_unique(path)
    leftovers = [p.name for p in ws.state.iterdir() if p.name.endswith(".tmp")]
    final = launch(ws, fake_qemu, base)
    assert final.wait(timeout=60) == 0
    assert not [p.name for p in ws.state.iterdir() if p.name.endswith(".tmp")]
    print(f"\nkills: 500, of which {killed_running} hit a running qemuwrap; "
          f"temp files left by kills: {len(leftovers)}, cleared by the next launch")
    assert killed_running > 150, "most kills must land while qemuwrap runs"


def test_thirty_two_guests_at_once(ws: Workspace, fake_qemu: Path) -> None:
    procs = [launch(ws, fake_qemu, ["-name", f"g{i}", *disks(1 + i % 5, f"g{i}-")])
             for i in range(32)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 32
    for i in range(32):
        loaded = assert_unique(ws.state / f"g{i}.toml")
        assert sum(p.key.startswith(f"disk:g{i}-") for p in loaded.devices) == 1 + i % 5


def test_sixteen_launches_of_one_guest_lose_nothing(ws: Workspace, fake_qemu: Path) -> None:
    base = ["-name", "same", *disks(3)]
    assert launch(ws, fake_qemu, base).wait(timeout=60) == 0
    procs = [launch(ws, fake_qemu, [*base, "-drive", f"file=new{i}.img,if=virtio"])
             for i in range(16)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    done = [i for i, (code, _) in enumerate(results) if code == 0]
    refused = [err for code, err in results if code != 0]
    assert all("is running (PID" in err for err in refused), refused
    assert len(done) >= 4
    loaded = assert_unique(ws.state / "same.toml")
    keys = {p.key for p in (*loaded.devices, *loaded.tombstones)}
    assert {f"disk:new{i}.img" for i in done} <= keys, "a launch's device was lost"
    print(f"\n16 concurrent launches: {len(done)} recorded, {len(refused)} refused as running")


def test_running_guest_is_not_changed_and_incoming_never_writes(ws: Workspace) -> None:
    args = ["-name", "busy", "-drive", "file=a.img,if=virtio,format=raw", "-S",
            "-display", "none", "-qmp", "stdio"]
    proc = subprocess.Popen([*WRAPPER, *args], env=ws.env(), cwd=ws.root,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "QMP" in proc.stdout.readline()
        path = ws.state / "busy.toml"
        before = path.read_bytes()
        changed = subprocess.run([*WRAPPER, *args[:4], "-hdb", "b.img", "-S"], env=ws.env(),
                                 cwd=ws.root, capture_output=True, text=True, timeout=60)
        assert changed.returncode == 1
        assert changed.stderr == (f"qemuwrap: guest 'busy' is running (PID {proc.pid}) and "
                                  "this command line would change its devices; stop it first\n")
        incoming = subprocess.run(
            [*WRAPPER, *args[:4], "-hdb", "b.img", "-incoming", "defer", "-S", "-display",
             "none", "-qmp", "stdio"], env=ws.env(), cwd=ws.root, capture_output=True,
            text=True, timeout=60, input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n')
        assert incoming.returncode == 0, incoming.stderr
        assert path.read_bytes() == before
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("own_pidfile", [False, True], ids=["pidfile-added", "own-pidfile"])
def test_a_daemonized_guest_is_seen_running_until_it_exits(ws: Workspace,
                                                           own_pidfile: bool) -> None:
    """-daemonize: QEMU's daemon is a child, which record locks do not reach; qemuwrap gives
    it a pid file (or links to the one the line names), which the daemon keeps locked, and
    counts that lock as the guest's."""
    args = ["-name", "dmn", "-drive", "file=a.img,if=virtio,format=raw", "-S", "-display",
            "none", "-daemonize", *(["-pidfile", "vm.pid"] if own_pidfile else [])]
    started = subprocess.run([*WRAPPER, *args], env=ws.env(), cwd=ws.root, capture_output=True,
                             text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    pid_file = ws.root / "vm.pid" if own_pidfile else ws.state / "dmn.toml.pid"
    assert (ws.state / "dmn.toml.pid").is_symlink() == own_pidfile
    pid = int(pid_file.read_text())
    try:
        assert state.run_lock_holder(ws.state / "dmn.toml") == pid
        if not own_pidfile:
            target = subprocess.run([*WRAPPER, *args, "-incoming", "defer"], env=ws.env(),
                                    cwd=ws.root, capture_output=True, text=True, timeout=60)
            assert target.returncode == 0, target.stderr
            os.kill(next(p.pid for p in psutil.process_iter(["cmdline"])
                         if "defer" in (p.info["cmdline"] or [])), signal.SIGTERM)
        changed = subprocess.run([*WRAPPER, *args, "-hdb", "b.img"], env=ws.env(),
                                 cwd=ws.root, capture_output=True, text=True, timeout=60)
        assert changed.returncode == 1 and f"is running (PID {pid})" in changed.stderr
        listed = subprocess.run(["qemuwrap-ctl", "list"], env=ws.env(), capture_output=True,
                                text=True, check=True).stdout
        assert f"PID {pid}" in listed
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.run_lock_holder(ws.state / "dmn.toml") is None
    again = subprocess.run([*WRAPPER, *args[:4], "-hdb", "b.img", "-S", "-display", "none",
                            "-qmp", "stdio"], env=ws.env(), cwd=ws.root, capture_output=True,
                           text=True, timeout=60,
                           input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n')
    assert again.returncode == 0, again.stderr
    assert not (ws.state / "dmn.toml.pid").is_symlink(), "no link QEMU could write through"


def test_explicit_address_colliding_with_a_pin_is_refused(ws: Workspace,
                                                          fake_qemu: Path) -> None:
    base = ["-name", "pinned", "-drive", "file=a.img,if=virtio"]
    assert launch(ws, fake_qemu, base).wait(timeout=60) == 0
    clash = launch(ws, fake_qemu, [*base, "-device", "virtio-rng-pci,addr=0x4"])
    _, err = clash.communicate(timeout=60)
    assert clash.returncode == 1
    assert err == ("qemuwrap: virtio-rng-pci#0 asks for pci.0 04.0, where disk:a.img is "
                   "pinned; give it another address or move the pin\n")


@pytest.mark.parametrize("damage", ["truncate", "conflict", "garbage"])
def test_spoiled_state_is_kept_and_a_backup_exists(ws: Workspace, fake_qemu: Path,
                                                   damage: str) -> None:
    base = ["-name", "spoil", "-drive", "file=a.img,if=virtio", "-drive", "file=b.img,if=virtio"]
    assert launch(ws, fake_qemu, base).wait(timeout=60) == 0
    assert launch(ws, fake_qemu, [*base, "-drive", "file=c.img,if=virtio"]).wait(timeout=60) == 0
    path = ws.state / "spoil.toml"
    backup = path.with_name("spoil.toml.bak")
    assert state.load(backup) is not None
    text = path.read_text()
    spoiled = {"truncate": text[: len(text) // 2],
               "conflict": text.replace("slot = 5", "slot = 4"),
               "garbage": "\x00\x01 not toml"}[damage]
    path.write_text(spoiled)
    proc = launch(ws, fake_qemu, base)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and err.count("\n") == 1 and err.startswith("qemuwrap: ")
    assert path.read_text() == spoiled
    backup_copy = ws.root / "restored.toml"
    backup_copy.write_text(backup.read_text())
    assert state.load(backup_copy) is not None


NAMES = ["../../etc/passwd", "a/b/c", "line\nbreak", "x" * 4096, "ünïcødé 名前", ".hidden",
         "..", ".", "-rf", "tab\there", "a%2Fb"]


def test_hostile_names_stay_inside_the_state_directory(ws: Workspace, fake_qemu: Path) -> None:
    outside = sorted(p.name for p in ws.root.iterdir())
    for name in NAMES:
        proc = launch(ws, fake_qemu, ["-name", name])
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, (name, err)
    files = [p for p in ws.state.iterdir() if p.suffix == ".toml"]
    assert len(files) == len(NAMES), "one state file per name, none shared"
    loaded = [state.load(p) for p in files]
    assert {g.name for g in loaded if g is not None} == set(NAMES)
    assert sorted(p.name for p in ws.root.iterdir()) == sorted([*outside, "state"])
    assert all(len(p.name) < 256 for p in files)
    assert stat.S_IMODE(ws.state.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_symlinked_state_file_and_foreign_directory_are_refused(ws: Workspace,
                                                                fake_qemu: Path) -> None:
    ws.state.mkdir(mode=0o700)
    target = ws.root / "target.toml"
    target.write_text("precious\n")
    (ws.state / "evil.toml").symlink_to(target)
    proc = launch(ws, fake_qemu, ["-name", "evil"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "evil.toml" in err
    assert target.read_text() == "precious\n"
    assert os.geteuid() == 0, "chown to another user needs root"
    os.chown(ws.state, 65534, 65534)
    proc = launch(ws, fake_qemu, ["-name", "other"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "owned by uid 65534" in err


def test_save_after_a_kill_between_the_two_renames_leaves_no_temp_file(tmp_path: Path) -> None:
    """A writer killed after refreshing .bak but before replacing the state leaves .bak and
    the state as one file (hard links); rename() onto it does nothing, so the next save
    must remove its own temp link."""
    path = tmp_path / "g.toml"
    first = state.GuestState(name="g", machine="pc-i440fx-7.2")
    state.save(path, first)
    os.link(path, tmp_path / "g.toml.bak")
    state.save(path, state.GuestState(name="g", machine="pc-i440fx-7.1"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml", "g.toml.bak"]
    assert state.load(tmp_path / "g.toml.bak") == first
