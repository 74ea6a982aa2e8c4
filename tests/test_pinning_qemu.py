"""Promises 2, 3 and 4 on the real QEMU: devices never move, freed slots wait, the machine stays.

A guest is launched through qemuwrap, then launched again with its command line
changed the way people change them (a disk inserted in front, a NIC added, a
device removed, options reordered); every device that survives must show the
guest the same slot.function, PCI ids, MAC and IDE unit as on the first launch.
"""

from __future__ import annotations

import random

import pytest

from qemuwrap.cmdline import tokenise

from conftest import Workspace

pytestmark = pytest.mark.qemu

BASE_PC = ["-drive", "file=a.img,if=virtio,format=raw", "-net", "nic,model=virtio",
           "-net", "user", "-hda", "b.img", "-device", "virtio-balloon-pci",
           "-device", "virtio-rng-pci", "-cdrom", "c.img", "-usbdevice", "tablet",
           "-device", "usb-kbd", "-device", "usb-mouse,id=mouse"]
BASE_Q35 = ["-M", "q35", "-drive", "file=a.img,if=virtio,format=raw", "-nic", "user,model=virtio",
            "-drive", "file=b.img,format=raw", "-device", "virtio-balloon-pci",
            "-device", "virtio-rng-pci", "-drive", "file=c.img,media=cdrom", "-usb",
            "-device", "usb-tablet", "-device", "usb-kbd,id=kbd"]


def pairs(args: list[str]) -> list[list[str]]:
    """Options with their arguments, so that a shuffle keeps them together."""
    return [list(token.raw) for token in tokenise(args)]


def shuffled(args: list[str], seed: int) -> list[str]:
    groups = pairs(args)
    random.Random(seed).shuffle(groups)
    return [w for g in groups for w in g]


def mutations(base: list[str]) -> dict[str, list[str]]:
    machine = base[:2] if base[0] == "-M" else []
    rest = base[len(machine):]
    return {
        "disk-inserted-in-front": [*machine, "-drive", "file=d.img,if=virtio,format=raw", *rest],
        "nic-added-in-front": [*machine, "-nic", "user,model=e1000", *rest],
        "usb-device-added-in-front": [*machine, "-device", "usb-tablet,id=t2", *rest],
        "balloon-removed": [w for g in pairs(base) if "virtio-balloon-pci" not in g for w in g],
        "reordered": [*machine, *shuffled(rest, 7)],
        "everything-at-once": [*machine, "-device", "virtio-scsi-pci", "-drive",
                               "file=e.img,if=virtio,format=raw",
                               *shuffled([w for g in pairs(rest) if "virtio-rng-pci" not in g
                                          for w in g], 3)],
    }


def assert_kept(first: dict[str, tuple[str, ...]], later: dict[str, tuple[str, ...]]) -> None:
    for ident, seen in first.items():
        if ident in later:
            assert later[ident] == seen, f"{ident} moved"


@pytest.mark.parametrize("base", [BASE_PC, BASE_Q35], ids=["pc", "q35"])
def test_devices_never_move(ws: Workspace, base: list[str]) -> None:
    name = ["-name", "keep"]
    first = ws.wrapped([*name, *base])
    by_driver = ("virtio-balloon-pci", "virtio-rng-pci", "VGA", "usb-mouse", "usb-kbd",
               "usb-tablet")
    moved_in_plain = 0
    for label, args in mutations(base).items():
        later = ws.wrapped([*name, *args])
        assert_kept(first.identified(), later.identified())
        for driver in by_driver:
            if later.by_driver(driver):
                assert set(first.addr_of(driver)) <= set(later.addr_of(driver)), (label, driver)
        assert later.machine == first.machine
        plain = ws.plain([*name, *args])
        moved_in_plain += plain.identified() != {
            k: v for k, v in later.identified().items() if k in plain.identified()}
    assert moved_in_plain, "the mutations should move something under plain QEMU"


@pytest.mark.parametrize("machine,controller", [("pc", "qemu-xhci"),
                                                ("q35", "qemu-xhci,id=input"),
                                                ("pc", "pci-ohci")])
def test_usb_devices_on_a_controller_of_ones_own_never_move(ws: Workspace, machine: str,
                                                             controller: str) -> None:
    name = ["-name", f"own-usb-{machine}", "-M", machine, "-device", controller]
    usb = ["-device", "usb-tablet", "-device", "usb-kbd,id=kbd", "-device", "usb-mouse"]
    first = ws.wrapped([*name, *usb])
    changes = {
        "added-in-front": ["-device", "usb-tablet,id=t2", *usb],
        "kbd-removed": ["-device", "usb-tablet", "-device", "usb-mouse"],
        "reordered": [*usb[4:], *usb[2:4], *usb[:2]],
        "beyond-the-root-ports": [*usb, "-device", "usb-kbd,id=k3", "-device", "usb-tablet,id=t4"],
    }
    moved_in_plain = 0
    for label, args in changes.items():
        later = ws.wrapped([*name, *args])
        assert_kept(first.identified(), later.identified())
        for driver in ("usb-tablet", "usb-kbd", "usb-mouse"):
            if later.by_driver(driver):
                assert set(first.addr_of(driver)) <= set(later.addr_of(driver)), (label, driver)
        plain = ws.plain([*name, *args])
        moved_in_plain += any(set(first.addr_of(d)) - set(plain.addr_of(d))
                              for d in ("usb-tablet", "usb-mouse") if plain.by_driver(d))
    assert moved_in_plain, "the changes should move something under plain QEMU"


def test_a_new_usb_controller_starts_its_ports_afresh(ws: Workspace) -> None:
    """Ports pinned on a bus that is gone (the line changed controllers) do not follow."""
    usb = ["-device", "usb-tablet", "-device", "usb-kbd", "-device", "usb-mouse"]
    for controller in (["-usb"], ["-device", "qemu-xhci,id=input"], ["-usb"]):
        args = ["-name", "switch", *controller, *usb]
        wrapped, plain = ws.wrapped(args), ws.plain(args)
        for driver in ("usb-tablet", "usb-kbd", "usb-mouse"):
            assert wrapped.addr_of(driver) == plain.addr_of(driver), (controller, driver)


def test_freed_slot_not_reused_while_fresh_ones_remain(ws: Workspace) -> None:
    name = ["-name", "tomb"]
    first = ws.wrapped([*name, "-drive", "file=a.img,if=virtio,format=raw",
                        "-drive", "file=b.img,if=virtio,format=raw",
                        "-netdev", "user,id=n", "-device", "virtio-net-pci,netdev=n"])
    freed = first.identified()["disk:a.img"]
    second = ws.wrapped([*name, "-drive", "file=b.img,if=virtio,format=raw",
                         "-netdev", "user,id=n", "-device", "virtio-net-pci,netdev=n",
                         "-drive", "file=c.img,if=virtio,format=raw"])
    new = second.identified()["disk:c.img"]
    assert new[4:6] != freed[4:6], "the new disk took the removed disk's slot"
    used = {v[4:6] for v in first.identified().values()}
    assert new[4:6] not in used
    assert "tombstone" in (ws.state / "tomb.toml").read_text()
    third = ws.wrapped([*name, "-drive", "file=a.img,if=virtio,format=raw",
                        "-drive", "file=b.img,if=virtio,format=raw",
                        "-netdev", "user,id=n", "-device", "virtio-net-pci,netdev=n"])
    assert third.identified()["disk:a.img"] == freed, "a returning disk gets its slot back"


def test_a_slot_left_by_an_explicit_move_waits_like_a_freed_one(ws: Workspace) -> None:
    """Promise 3 for moves: a NIC moved by addr= frees its slot, and a new NIC must not get
    it (it would inherit the old one's guest-side name and IP) while never-used ones remain."""
    name = ["-name", "mover", "-drive", "file=a.img,if=virtio,format=raw"]
    nic = ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0,mac=52:54:00:00:00:01"]
    first = ws.wrapped([*name, *nic])
    old = first.identified()["mac:52:54:00:00:00:01"][5]
    moved = ws.wrapped([*name, *nic[:3], nic[3] + ",addr=0x9"])
    assert moved.identified()["mac:52:54:00:00:00:01"][5] == "09.0"
    assert f"pci.0 {old}" in (ws.state / "mover.toml").read_text(), "a tombstone names the spot"
    other = ["-netdev", "user,id=n1", "-device", "e1000,netdev=n1,mac=52:54:00:00:00:02"]
    later = ws.wrapped([*name, *nic[:3], nic[3] + ",addr=0x9", *other])
    assert later.identified()["mac:52:54:00:00:00:02"][5] != old
    back = ws.wrapped([*name, *nic[:3], nic[3] + f",addr=0x{old.split('.')[0]}", *other])
    assert back.identified()["mac:52:54:00:00:00:01"][5] == old, "it may go back, explicitly"


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_full_root_bus_grows_a_pinned_bridge(ws: Workspace, machine: str) -> None:
    name = ["-name", f"many-{machine}", "-M", machine]
    disks = [f"d{i}.img" for i in range(40)]
    for disk in disks:
        with open(ws.root / disk, "wb") as f:
            f.truncate(1 << 16)
    drives = [w for d in disks for w in ("-drive", f"file={d},if=virtio,format=raw")]
    first = ws.wrapped([*name, *drives[:40]])
    second = ws.wrapped([*name, *drives])
    assert_kept(first.identified(), second.identified())
    assert len([k for k in second.identified() if k.startswith("disk:d")]) == 40
    bridge = "pci-bridge" if machine == "pc" else "pcie-pci-bridge"
    assert second.by_driver(bridge), "devices beyond the root bus sit behind a bridge"
    behind = [v for k, v in second.identified().items() if bridge in v[4] or "qwbr" in v[4]]
    assert behind
    third = ws.wrapped([*name, *[w for g in pairs(drives)[::-1] for w in g]])
    assert third.identified() == second.identified()


def test_machine_alias_resolved_once_and_kept(ws: Workspace) -> None:
    first = ws.wrapped(["-name", "mach", "-M", "pc-i440fx-7.1"])
    assert first.machine == "pc-i440fx-7.1"
    for args in (["-M", "pc"], [], ["-machine", "pc,usb=off"]):
        later = ws.wrapped(["-name", "mach", *args])
        assert later.machine == "pc-i440fx-7.1", args
    fresh = ws.wrapped(["-name", "fresh"])
    assert fresh.machine == ws.plain([]).machine
    assert f'machine = "{fresh.machine}"' in (ws.state / "fresh.toml").read_text()


def test_isa_nic_keeps_its_mac(ws: Workspace) -> None:
    base = ["-name", "isa", "-net", "nic,model=ne2k_isa", "-net", "user"]
    first = ws.wrapped(base)
    mac = first.by_driver("ne2k_isa")[0]["mac"]
    moved = ["-nic", "user,model=virtio", *base]
    assert ws.wrapped(moved).by_driver("ne2k_isa")[0]["mac"] == mac
    assert ws.plain(moved).by_driver("ne2k_isa")[0]["mac"] != mac, "plain QEMU would move it"
