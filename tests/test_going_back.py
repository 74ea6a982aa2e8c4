"""Going back to an earlier command line gives the guest exactly what it had (real QEMU).

A device that leaves for a launch and comes back gets everything back: slot,
MAC, port. A hub or bridge that qemuwrap added is there only while a device
sits behind it. An emptied bridge stays while a bridge after it is there, or the
firmware would number the buses after it anew.
"""

from __future__ import annotations

import pytest

from qemuwrap import state

from conftest import Workspace

pytestmark = pytest.mark.qemu


def launches(ws: Workspace, *lines: list[str]) -> list[list[tuple[str, ...]]]:
    """What the guest sees on each launch of ``lines``, one after the other."""
    return [ws.wrapped(["-name", "back", *line]).guest_view() for line in lines]


def test_a_nic_that_comes_back_gets_its_mac_back(ws: Workspace) -> None:
    nic = ["-net", "nic,model=virtio", "-net", "user"]
    first, gone, again = launches(ws, nic, ["-net", "none"], nic)
    assert not any(row[1] == "virtio-net-pci" for row in gone)
    assert again == first


def test_the_default_nic_comes_back_with_its_mac(ws: Workspace) -> None:
    first, other, again = launches(ws, [], ["-nic", "user,model=rtl8139"], [])
    assert [r for r in first if r[1] == "e1000"], "QEMU's default NIC"
    assert not [r for r in other if r[1] == "e1000"]
    assert again == first
    macs = {r[1]: next(f for f in r if f.startswith("mac=")) for r in [*first, *other]
            if r[1] in ("e1000", "rtl8139")}
    assert macs["e1000"] != macs["rtl8139"], "the NIC in between got a MAC of its own"


def test_a_hub_qemuwrap_added_goes_with_the_devices_behind_it(ws: Workspace) -> None:
    one = ["-usb", "-usbdevice", "tablet"]
    two = ["-usb", "-usbdevice", "mouse", "-usbdevice", "tablet"]
    first, with_hub, again, hub_again = launches(ws, one, two, one, two)
    assert [r for r in with_hub if r[1] == "usb-hub"], "QEMU's rule: a hub on the last port"
    assert not [r for r in again if r[1] == "usb-hub"]
    assert again == first
    assert hub_again == with_hub, "the hub goes back where it was, the mouse behind it"
    saved = state.load(ws.state / "back.toml")
    assert saved is not None and any(p.driver == "usb-hub" for p in saved.devices)


def rngs(n: int) -> list[str]:
    return [w for i in range(n) for w in ("-device", "virtio-rng-pci")]


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_a_bridge_qemuwrap_added_goes_with_the_devices_behind_it(ws: Workspace,
                                                                 machine: str) -> None:
    small = ["-M", machine, *rngs(4)]
    big = ["-M", machine, *rngs(31)]
    first, bridged, again, bridged_again = launches(ws, small, big, small, big)
    bridges = ("pci-bridge", "pcie-root-port", "pcie-pci-bridge")
    assert [r for r in bridged if r[1] in bridges]
    assert not [r for r in again if r[1] in bridges]
    assert again == first
    assert bridged_again == bridged


ROOT_PORTS = ["-M", "q35", "-nic", "none", "-device", "pcie-root-port,id=rp1,chassis=1",
              "-device", "pcie-root-port,id=rp2,chassis=2"]
NIC = ["-device", "e1000e,bus=rp1,mac=52:54:00:00:00:01"]
DISK = ["-drive", "if=none,id=d0,file=a.img,format=raw",
        "-device", "virtio-blk-pci,bus=rp2,drive=d0"]


def disk_bus(topology_pci: list[tuple[object, ...]]) -> int:
    """The bus number the firmware gave the virtio disk (1af4:1001 or 1af4:1042)."""
    return next(int(str(row[1])) for row in topology_pci
                if row[4] == 0x1AF4 and row[5] in (0x1001, 0x1042))


def test_an_emptied_root_port_keeps_the_bus_numbers_after_it(ws: Workspace) -> None:
    """Measured inside a Linux guest: without the first root port the disk moves from
    0000:02:00.0 to 0000:01:00.0. The bus numbers are the firmware's, read after it ran."""
    line = [*ROOT_PORTS, *NIC, *DISK]
    without_nic = ["-M", "q35", "-nic", "none", "-device", "pcie-root-port,id=rp2,chassis=2",
                   *DISK]
    plain = [ws.plain(["-name", "rp", *args], run=True) for args in (line, without_nic)]
    assert [disk_bus(t.pci) for t in plain] == [2, 1], "plain QEMU renumbers the bus"
    first = ws.wrapped(["-name", "rp", *line], run=True)
    later = ws.wrapped(["-name", "rp", *without_nic], run=True)
    assert disk_bus(first.pci) == disk_bus(later.pci) == 2
    assert later.by_driver("pcie-root-port") == first.by_driver("pcie-root-port")
    assert not later.by_driver("e1000e")
    back = ws.wrapped(["-name", "rp", *line], run=True)
    assert back.guest_view() == first.guest_view() and back.pci == first.pci


def test_a_removed_last_root_port_is_not_put_back(ws: Workspace) -> None:
    """Nothing after it to renumber: the guest gets the line as written."""
    ws.wrapped(["-name", "rp", *ROOT_PORTS, *NIC, *DISK])
    later = ws.wrapped(["-name", "rp", "-M", "q35", "-nic", "none", "-device",
                        "pcie-root-port,id=rp1,chassis=1", *NIC])
    assert [d["id"] for d in later.by_driver("pcie-root-port")] == ["rp1"]
