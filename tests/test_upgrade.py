"""An upgrade from QEMU 7.2 to 10.0 is a non-event for a guest started through qemuwrap.

A launcher script at a fixed path runs the system's QEMU 7.2; "upgrading"
rewrites it to run QEMU 10.0 (unpacked by contrib/setup-qemu10.sh), as a
package upgrade replaces the binary at the same path. The guest must come up
on the same versioned machine with every device where it was.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import guest
from conftest import WRAPPER, Workspace

pytestmark = pytest.mark.qemu
QEMU10 = os.environ.get("QEMUWRAP_TEST_QEMU10", "/opt/qemuwrap-test/qemu-10.0/qemu-system-x86_64")
USB = ("usb-tablet", "usb-kbd", "usb-mouse", "usb-hub")

LINES = {
    "bare-pc": [],
    "virtio-disk-net": ["-drive", "file=a.img,if=virtio,format=raw", "-net", "nic,model=virtio",
                        "-net", "user"],
    "ide-and-cdrom": ["-hda", "a.img", "-hdb", "b.img", "-cdrom", "c.img"],
    "q35-bare": ["-M", "q35"],
    "q35-disks-nic": ["-M", "q35", "-drive", "file=a.img,format=raw", "-drive",
                      "file=b.img,media=cdrom", "-drive", "file=c.img,if=virtio,format=raw",
                      "-nic", "user,model=virtio"],
    "usb-auto-hub": ["-usb", "-usbdevice", "tablet", "-device", "usb-kbd", "-device", "usb-mouse"],
    "q35-usb": ["-M", "q35", "-usb", "-device", "usb-tablet", "-device", "usb-kbd"],
    "xhci-own-hub": ["-M", "q35", "-device", "qemu-xhci,id=input", "-device", "usb-kbd",
                     "-device", "usb-tablet", "-device", "usb-mouse", "-device", "usb-kbd,id=k2"],
    "qxl-balloon-rng": ["-vga", "qxl", "-device", "virtio-balloon-pci", "-device",
                        "virtio-rng-pci"],
    "bridge-nodefaults": ["-nodefaults", "-device", "pci-bridge,id=br0,chassis_nr=1", "-device",
                          "e1000,bus=br0", "-netdev", "user,id=n0", "-device",
                          "rtl8139,netdev=n0"],
    "no-acpi-no-hpet": ["-no-acpi", "-no-hpet", "-drive", "file=a.img,if=virtio,format=raw"],
    "q35-netdev-scsi": ["-machine", "q35", "-netdev", "user,id=n", "-device",
                        "virtio-net-pci,netdev=n", "-device", "virtio-scsi-pci"],
    "pinned-older-machine": ["-M", "pc-i440fx-7.1", "-drive", "file=a.img,if=virtio,format=raw"],
}


class Upgradable:
    """``qemu-system-x86_64`` at a fixed path: QEMU 7.2 until upgraded to 10.0."""

    def __init__(self, folder: Path) -> None:
        assert os.access(QEMU10, os.X_OK), "QEMU 10.0 is missing: run contrib/setup-qemu10.sh"
        self.path = folder / "qemu-system-x86_64"
        self.log = folder / "calls"
        self.write(guest.QEMU_PATH)

    def write(self, target: str) -> None:
        self.path.write_text(f'#!/bin/sh\necho "$*" >> {self.log}\nexec {target} "$@"\n')
        self.path.chmod(0o755)

    def upgrade(self) -> None:
        self.write(QEMU10)
        stamp = self.path.stat().st_mtime_ns + 10**9
        os.utime(self.path, ns=(stamp, stamp))

    def probes(self) -> int:
        return self.log.read_text().splitlines().count("-machine help")


def test_every_device_stays_across_the_upgrade(ws: Workspace, tmp_path: Path) -> None:
    qemu = Upgradable(tmp_path)
    before = {case: ws.wrapped(["-name", case, *args], qemu=str(qemu.path))
              for case, args in LINES.items()}
    assert qemu.probes() == 1
    qemu.upgrade()
    after = {case: ws.wrapped(["-name", case, *args], qemu=str(qemu.path))
             for case, args in LINES.items()}
    assert qemu.probes() == 2, "the new binary's machine list is read once"
    for case in LINES:
        old, new = before[case], after[case]
        assert new.machine == old.machine, case
        assert new.pci == old.pci, case
        assert new.identified() == old.identified(), case
        for driver in USB:
            assert new.addr_of(driver) == old.addr_of(driver), (case, driver)
    assert before["bare-pc"].machine == "pc-i440fx-7.2"
    assert before["q35-bare"].machine == "pc-q35-7.2"
    plain10 = guest.launch([str(qemu.path)], ["-name", "plain"])
    assert plain10.machine == "pc-i440fx-10.0", "without qemuwrap the upgrade changes the board"


def test_removed_options_are_rewritten_for_the_new_qemu_only(ws: Workspace,
                                                             tmp_path: Path) -> None:
    qemu = Upgradable(tmp_path)
    args = ["-name", "acpi", "-no-acpi", "-no-hpet", "-version"]
    env = ws.env(QEMUWRAP_QEMU=str(qemu.path), QEMUWRAP_DEBUG="1")

    def exec_line() -> str:
        done = subprocess.run([*WRAPPER, *args[:-1], "-S", "-display", "none", "-qmp", "stdio"],
                              env=env, cwd=ws.root, capture_output=True, text=True, timeout=60,
                              input='{"execute":"qmp_capabilities"}\n{"execute":"qom-get",'
                                    '"arguments":{"path":"/machine","property":"acpi"}}\n'
                                    '{"execute":"quit"}\n')
        assert done.returncode == 0, done.stderr
        assert '"return": "off"' in done.stdout, "the guest has no ACPI either way"
        return done.stderr.splitlines()[0]

    old = exec_line()
    assert " -no-acpi -no-hpet " in old and "acpi=off" not in old
    qemu.upgrade()
    new = exec_line()
    assert "-no-acpi" not in new and "-machine acpi=off -machine hpet=off" in new


def test_a_machine_the_new_qemu_dropped_stops_the_launch(ws: Workspace, tmp_path: Path) -> None:
    qemu = Upgradable(tmp_path)
    first = ws.wrapped(["-name", "old", "-M", "pc-i440fx-1.4"], qemu=str(qemu.path))
    assert first.machine == "pc-i440fx-1.4"
    qemu.upgrade()
    pidfile = ws.root / "pid"
    done = subprocess.run([*WRAPPER, "-name", "old", "-M", "pc", "-S", "-pidfile", str(pidfile)],
                          env=ws.env(QEMUWRAP_QEMU=str(qemu.path)), cwd=ws.root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == ("qemuwrap: pinned machine pc-i440fx-1.4 is not offered by this QEMU; "
                           "the closest offered is pc-i440fx-2.4\n")
    assert not pidfile.exists()
