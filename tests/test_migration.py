"""Live migration, the strictest judge of a stable guest ABI: QEMU refuses a stream (or,
worse, takes it with devices swapped) unless both ends have the same devices at the
same places on the same machine type.

Two hosts on one machine: two state directories, the images shared. Host A runs a
guest through qemuwrap (running, no OS needed); its state goes to B with
``qemuwrap-ctl export``/``import``; B starts the same devices through qemuwrap with
the options in reverse order and ``-incoming tcp:127.0.0.1:PORT``. A migrates; B must
run, A must be ``postmigrate``, and B must show the guest what A showed it: PCI
functions and ids, MACs, which image backs which disk. The same run on plain QEMU is
asserted too, so the test knows it measures something.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from qemu.qmp.legacy import QEMUMonitorProtocol

import guest
from conftest import ROOT, WRAPPER, Workspace
from test_pinning_qemu import pairs

pytestmark = pytest.mark.qemu
QEMU10 = os.environ.get("QEMUWRAP_TEST_QEMU10", "/opt/qemuwrap-test/qemu-10.0/qemu-system-x86_64")
CTL = [sys.executable, "-I", str(ROOT / "bin" / "qemuwrap-ctl")]


class Running:
    """A QEMU (through qemuwrap, or not) with a QMP socket, until ``stop``."""

    def __init__(self, prefix: list[str], args: list[str], env: dict[str, str],
                 cwd: Path) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="qw-mig-")
        sock = os.path.join(self.tmp.name, "qmp.sock")
        self.qmp = QEMUMonitorProtocol(sock, server=True)
        self.argv = [*prefix, *args, "-display", "none", "-accel", guest.accel(),
                     "-qmp", f"unix:{sock}"]
        self.proc = subprocess.Popen(self.argv, env={**env, "QEMU_AUDIO_DRV": "none"}, cwd=cwd,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        try:
            self.qmp.accept(30)
        except Exception:
            self.stop()
            raise RuntimeError(f"{self.argv}: {self.error()}") from None

    def cmd(self, name: str, **args: object) -> object:
        return self.qmp.cmd(name, **args)

    def status(self) -> str:
        return str(self.qmp.cmd("query-status")["status"])  # type: ignore[index]

    def error(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.qmp.cmd("quit")
        with contextlib.suppress(Exception):
            self.qmp.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()


@contextlib.contextmanager
def running(prefix: list[str], args: list[str], env: dict[str, str],
            cwd: Path) -> Iterator[Running]:
    qemu = Running(prefix, args, env, cwd)
    try:
        yield qemu
    finally:
        qemu.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def migrate(source: Running, uri: str, timeout: float = 60) -> str:
    """Migrate and wait: the source's final migration status."""
    source.cmd("migrate", uri=uri)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = str(source.cmd("query-migrate").get("status"))  # type: ignore[attr-defined]
        if status in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.1)
    return "timeout"


def reordered(args: list[str]) -> list[str]:
    """The same options, in reverse order (``-M`` first, where QEMU reads it anyway)."""
    groups = pairs(args)
    machine = [g for g in groups if g[0] in ("-M", "-machine")]
    rest = [g for g in groups if g not in machine]
    return [w for g in [*machine, *reversed(rest)] for w in g]


def identity(topo: guest.Topology) -> tuple[object, ...]:
    """What the guest sees and which image backs which of its disks."""
    return topo.pci, topo.guest_view(), topo.identified()


def copy_state(ws: Workspace, name: str, source: Path, target: Path) -> None:
    exported = subprocess.run([*CTL, "export", name], env=ws.env(QEMUWRAP_STATE_DIR=str(source)),
                              capture_output=True, text=True, check=True).stdout
    (ws.root / f"{name}.toml").write_text(exported)
    subprocess.run([*CTL, "import", name, str(ws.root / f"{name}.toml")], check=True,
                   env=ws.env(QEMUWRAP_STATE_DIR=str(target)), capture_output=True)


def move(ws: Workspace, args: list[str], wrapped: bool, qemu_b: str | None = None
         ) -> tuple[str, str, tuple[object, ...], tuple[object, ...] | None]:
    """Migrate a guest from A to B (options reversed on B): (source status, destination
    status, what A's guest saw, what B's guest sees, or None if B is gone)."""
    a, b = ws.root / "host-a", ws.root / "host-b"
    line = ["-name", "mig", "-m", "128", *args]
    qemu_b = qemu_b or guest.QEMU_PATH
    prefix_a = WRAPPER if wrapped else [guest.QEMU_PATH]
    prefix_b = WRAPPER if wrapped else [qemu_b]
    env_a = ws.env(QEMUWRAP_STATE_DIR=str(a))
    env_b = ws.env(QEMUWRAP_STATE_DIR=str(b), QEMUWRAP_QEMU=qemu_b)
    port = free_port()
    with running(prefix_a, line, env_a, ws.root) as source:
        seen = identity(guest.read(source.qmp, source.argv))
        if wrapped:
            copy_state(ws, "mig", a, b)
        target_line = [*reordered(line), "-incoming", f"tcp:127.0.0.1:{port}"]
        with running(prefix_b, target_line, env_b, ws.root) as target:
            result = migrate(source, f"tcp:127.0.0.1:{port}")
            deadline = time.monotonic() + 10
            try:
                while target.status() != "running" and time.monotonic() < deadline:
                    time.sleep(0.1)
                return (source.status() if result == "completed" else result,
                        target.status(), seen, identity(guest.read(target.qmp, target.argv)))
            except Exception:  # a destination that refused the stream exits, maybe just now
                with contextlib.suppress(subprocess.TimeoutExpired):
                    target.proc.wait(timeout=5)
                if target.proc.poll() is None:
                    raise
                return result, "gone: " + target.error().strip()[-200:], seen, None


LINES = {
    "virtio-disks-and-nic": (["-drive", "file=a.img,if=virtio,format=raw", "-net",
                              "nic,model=virtio", "-net", "user", "-drive",
                              "file=b.img,if=virtio,format=raw"], True),
    "two-virtio-disks": (["-drive", "file=a.img,if=virtio,format=raw",
                          "-drive", "file=b.img,if=virtio,format=raw"], True),
    "ide-hda-cdrom": (["-hda", "a.img", "-cdrom", "c.img", "-device", "virtio-rng-pci"],
                      False),
    "q35-nic": (["-M", "q35", "-nic", "user,model=virtio", "-drive",
                 "file=a.img,if=virtio,format=raw", "-device", "virtio-balloon-pci"], False),
    "usb-tablet-keyboard": (["-usb", "-device", "usb-tablet", "-device", "usb-kbd",
                             "-device", "virtio-rng-pci"], True),
    "several-nics": (["-nic", "user,model=e1000", "-nic", "user,model=virtio",
                      "-nic", "user,model=rtl8139"], True),
}
"""Each line, and whether plain QEMU fails (or swaps) with the options reversed: fixed IDE
indexes and ``-nic`` (always created first) keep their places in plain QEMU too."""


@pytest.mark.parametrize("case", sorted(LINES))
def test_live_migration_with_options_reordered(ws: Workspace, case: str) -> None:
    args, plain_breaks = LINES[case]
    source, target, seen, found = move(ws, args, wrapped=True)
    assert (source, target) == ("postmigrate", "running"), (source, target)
    assert found == seen, "B shows the guest exactly what A did"
    assert (ws.root / "host-b" / "mig.toml").read_text() == (ws.root / "mig.toml").read_text(
    ), "the -incoming launch wrote nothing over the imported state"
    p_source, p_target, p_seen, p_found = move(ws, args, wrapped=False)
    broken = (p_source, p_target) != ("postmigrate", "running") or p_found != p_seen
    assert broken == plain_breaks, (p_source, p_target)


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_live_migration_from_qemu_7_2_to_10_0(ws: Workspace, machine: str) -> None:
    """Only because the machine type is pinned: plain QEMU 10.0 reads -M pc as 10.0's."""
    args = ["-M", machine, "-drive", "file=a.img,if=virtio,format=raw", "-nic",
            "user,model=virtio", "-device", "virtio-rng-pci"]
    source, target, seen, found = move(ws, args, wrapped=True, qemu_b=QEMU10)
    assert (source, target) == ("postmigrate", "running"), (source, target)
    assert found == seen
    p_source, p_target, _, _ = move(ws, args, wrapped=False, qemu_b=QEMU10)
    assert (p_source, p_target) != ("postmigrate", "running")


def test_save_to_a_file_and_restore_through_qemuwrap(ws: Workspace) -> None:
    """virsh save/restore without libvirt: migrate to a file, start from it."""
    args = ["-name", "saved", "-m", "128", "-drive", "file=a.img,if=virtio,format=raw",
            "-drive", "file=b.img,if=virtio,format=raw", "-nic", "user,model=e1000"]
    image = ws.root / "saved.img"
    with running(WRAPPER, args, ws.env(), ws.root) as source:
        seen = identity(guest.read(source.qmp, source.argv))
        assert migrate(source, f"exec:cat > {image}") == "completed"
    recorded = (ws.state / "saved.toml").read_bytes()
    with running(WRAPPER, [*reordered(args), "-incoming", f"exec:cat {image}"], ws.env(),
                 ws.root) as restored:
        deadline = time.monotonic() + 20
        while restored.status() != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert restored.status() == "running"
        assert identity(guest.read(restored.qmp, restored.argv)) == seen
    assert (ws.state / "saved.toml").read_bytes() == recorded, "an -incoming launch writes nothing"
