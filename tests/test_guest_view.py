"""What a booted Linux guest sees (tests/tinylinux.py): the names it gives its NICs, the
paths of its disks. A guest under qemuwrap's first launch sees exactly what it sees
under plain QEMU; after devices are added in front, removed and brought back, options
reversed, a root port added, every surviving NIC keeps its name and MAC and every disk
its by-path name, where plain QEMU renames them (asserted too).

About ten boots by default (a few seconds each under TCG); the matrix of NIC models
runs under ``pytest -m slow``.
"""

from __future__ import annotations

import os

import pytest

import guest
import tinylinux
from conftest import IMAGES, WRAPPER, Workspace
from test_pinning_qemu import pairs

pytestmark = pytest.mark.qemu


@pytest.fixture
def marked(ws: Workspace) -> Workspace:
    """The workspace's images, each starting with a marker the guest reads back."""
    for name in IMAGES:
        with open(ws.root / name, "r+b") as f:
            f.write(f"QWMARK-{name}".encode().ljust(16, b"."))
    return ws


def boot(ws: Workspace, args: list[str], wrapped: bool) -> tinylinux.View:
    prefix = WRAPPER if wrapped else [guest.QEMU_PATH]
    return tinylinux.boot(prefix, ["-name", "view", *args], ws.env(), ws.root)


def reversed_options(args: list[str]) -> list[str]:
    """The options in reverse order, but ``-M`` and root ports first: a device must come
    after the bus it names, for plain QEMU as for qemuwrap."""
    groups = pairs(args)
    first = [g for g in groups if g[0] == "-M" or "pcie-root-port" in g[-1]]
    return [w for g in [*first, *reversed([g for g in groups if g not in first])] for w in g]


def kept(before: tinylinux.View, after: tinylinux.View) -> list[str]:
    """What changed for the guest between two views: a NIC's name or model (by its MAC:
    what a guest's network configuration follows), a disk's path (by the marker in its
    image). Empty: nothing moved."""
    moved = [f"NIC {mac}: {before.name(mac)} -> {after.name(mac)}" for mac in before.nics
             if mac in after.nics and after.name(mac) != before.name(mac)]
    moved += [f"NIC {mac}: another model ({before.nics[mac][1]} -> {after.nics[mac][1]})"
              for mac in before.nics if mac in after.nics
              and after.nics[mac][1] != before.nics[mac][1]]
    moved += [f"NIC {mac}: gone" for mac in before.nics if mac not in after.nics]
    moved += [f"disk {mark}: {before.disks[mark][0]} -> {after.disks[mark][0]}"
              for mark in before.disks if mark in after.disks
              and after.disks[mark][0] != before.disks[mark][0]]
    return moved


PC = ["-drive", "file=a.img,if=virtio,format=raw", "-net", "nic,model=e1000",
      "-net", "nic,model=virtio", "-net", "user", "-hda", "b.img", "-cdrom", "c.img"]
PC_EDITED = ["-drive", "file=d.img,if=virtio,format=raw", "-net", "nic,model=rtl8139",
             *reversed_options(PC)]
Q35 = ["-M", "q35", "-nic", "user,model=e1000e", "-drive", "file=a.img,if=virtio,format=raw",
       "-drive", "file=b.img,format=raw", "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "virtio-net-pci,bus=rp1,mac=52:54:00:00:00:11"]
Q35_EDITED = ["-M", "q35", "-device", "pcie-root-port,id=rp0,chassis=5",
              "-drive", "if=none,id=e,file=e.img,format=raw", "-device",
              "virtio-blk-pci,bus=rp0,drive=e", "-drive", "file=d.img,if=virtio,format=raw",
              *reversed_options(Q35)[2:]]


@pytest.mark.parametrize(("base", "edited"), [(PC, PC_EDITED), (Q35, Q35_EDITED)],
                         ids=["pc", "q35"])
def test_the_guest_keeps_its_names_and_paths(marked: Workspace, base: list[str],
                                             edited: list[str]) -> None:
    first = boot(marked, base, wrapped=True)
    assert first == boot(marked, base, wrapped=False), "adoption is invisible to the guest"
    assert len(first.nics) >= 2 and len(first.disks) >= 2
    later = boot(marked, edited, wrapped=True)
    assert kept(first, later) == []
    renamed = kept(first, boot(marked, edited, wrapped=False))
    assert renamed, "plain QEMU renames or moves something on this edit"
    assert boot(marked, base, wrapped=True) == first, "going back: exactly what it had"


MODELS = ["e1000", "e1000e", "rtl8139", "virtio-net-pci"]


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["pc", "q35"])
@pytest.mark.parametrize("model", MODELS)
def test_every_nic_model_keeps_its_name(marked: Workspace, machine: str, model: str) -> None:
    base = ["-M", machine, "-device", f"{model},netdev=n0", "-netdev", "user,id=n0",
            "-drive", "file=a.img,if=virtio,format=raw", "-drive", "file=b.img,format=raw"]
    edited = ["-M", machine, "-device", "virtio-balloon-pci", "-drive",
              "file=d.img,if=virtio,format=raw", *reversed_options(base)[2:]]
    first = boot(marked, base, wrapped=True)
    assert first == boot(marked, base, wrapped=False)
    assert kept(first, boot(marked, edited, wrapped=True)) == []
    assert kept(first, boot(marked, edited, wrapped=False)), "plain QEMU moves the NIC"


QEMU10 = os.environ.get("QEMUWRAP_TEST_QEMU10", "/opt/qemuwrap-test/qemu-10.0/qemu-system-x86_64")


@pytest.mark.parametrize("base", [PC, Q35], ids=["pc", "q35"])
def test_the_guest_sees_nothing_of_an_upgrade_to_qemu_10(marked: Workspace,
                                                          base: list[str]) -> None:
    """QEMU 7.2, then 10.0 at its place: through qemuwrap (its machine pinned) the guest
    reports exactly what it reported before the upgrade."""
    before = boot(marked, base, wrapped=True)
    after = tinylinux.boot(WRAPPER, ["-name", "view", *base],
                           marked.env(QEMUWRAP_QEMU=QEMU10), marked.root)
    assert after == before
