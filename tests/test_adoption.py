"""Promise 1: the first launch through qemuwrap shows the guest what plain QEMU would have.

Each command line runs twice on the real binary, plain and through qemuwrap
(no state yet), and the guest-visible topology (PCI slot.function and ids, MACs,
IDE bus/unit and serials, every other device of ``info qtree``) must be equal.
"""

from __future__ import annotations

import pytest

from conftest import Workspace

LINES = {
    "bare-pc": [],
    "virtio-disk-and-nic": ["-drive", "file=a.img,if=virtio,format=raw",
                            "-net", "nic,model=virtio", "-net", "user"],
    "hda-hdb-cdrom": ["-hda", "a.img", "-hdb", "b.img", "-cdrom", "c.img"],
    "three-ide-drives-no-cdrom": ["-drive", "file=a.img,format=raw", "-drive",
                                  "file=b.img,format=raw", "-drive", "file=c.img,format=raw"],
    "nic-before-net": ["-net", "nic,model=rtl8139", "-net", "user", "-nic", "user,model=virtio",
                       "-drive", "file=a.img,if=virtio,format=raw"],
    "two-nics-one-hub": ["-net", "nic", "-net", "nic,model=virtio", "-net", "user"],
    "vga-qxl-and-devices": ["-vga", "qxl", "-device", "virtio-balloon-pci",
                            "-device", "virtio-rng-pci",
                            "-drive", "file=a.img,if=virtio,format=raw"],
    "netdev-devices-explicit-addr": [
        "-vga", "none", "-netdev", "user,id=n1", "-device", "e1000,netdev=n1",
        "-netdev", "user,id=n2", "-device", "virtio-net-pci,netdev=n2,addr=0x3",
        "-device", '{"driver": "virtio-rng-pci", "id": "rng0"}'],
    "nodefaults-bridge": ["-nodefaults", "-device", "pci-bridge,id=br0,chassis_nr=1",
                          "-device", "e1000,bus=br0",
                          "-drive", "if=none,id=d0,file=a.img,format=raw",
                          "-device", "virtio-blk-pci,drive=d0", "-netdev", "user,id=n0",
                          "-device", "rtl8139,netdev=n0,mac=52:54:00:12:34:56"],
    "bare-image-and-index": ["a.img", "-drive", "file=b.img,index=3,format=raw",
                             "-drive", "file=c.img,format=raw"],
    "device-ide-turns-off-cdrom": ["-drive", "if=none,id=d0,file=a.img,format=raw",
                                   "-device", "ide-hd,drive=d0", "-hdb", "b.img"],
    "xhci-own-controller-hub": ["-device", "qemu-xhci", "-device", "usb-tablet",
                                "-device", "usb-kbd", "-device", "usb-mouse",
                                "-device", "usb-tablet,id=t2", "-device", "usb-kbd,id=k2"],
    "xhci-id-bus-named-q35": ["-M", "q35", "-device", "qemu-xhci,id=input",
                              "-device", "usb-kbd,bus=input.0", "-device", "usb-tablet"],
    "xhci-quickemu-style-hub": ["-M", "q35", "-device", "qemu-xhci,id=input",
                                "-device", "usb-kbd,bus=input.0", "-device", "usb-tablet",
                                "-device", "usb-mouse",
                                "-device", '{"driver": "usb-tablet", "id": "t2"}'],
    "xhci-json-hub": ["-device", '{"driver": "qemu-xhci", "id": "x"}',
                      *[w for i in range(5) for w in ("-device", '{"driver": "usb-kbd"}')]],
    "xhci-json-device-first-hub": ["-device", "qemu-xhci", "-device", '{"driver": "usb-tablet"}',
                                   *[w for i in range(4) for w in ("-device", "usb-kbd")]],
    "xhci-json-q35": ["-M", "q35", "-device", '{"driver": "nec-usb-xhci", "id": "x"}',
                      "-device", '{"driver": "usb-tablet"}',
                      "-device", '{"driver": "usb-kbd", "bus": "x.0"}'],
    "ohci-hub": ["-device", "pci-ohci,id=o", "-device", "usb-kbd", "-device", "usb-mouse",
                 "-device", "usb-tablet", "-device", "usb-kbd,id=k2"],
    "ehci-six-ports-no-hub": ["-device", "usb-ehci", *[w for i in range(6) for w in
                                                       ("-device", f"usb-kbd,id=k{i}")]],
    "uhci-ich9-q35": ["-M", "q35", "-device", "ich9-usb-uhci1", "-device", "usb-tablet",
                      "-device", "usb-kbd", "-device", "usb-mouse"],
    "two-controllers-left-to-qemu": ["-device", "qemu-xhci", "-device", "piix3-usb-uhci",
                                     "-device", "usb-tablet", "-device", "usb-kbd"],
    "q35-bare": ["-M", "q35"],
    "q35-disks-cdrom-virtio-nic": ["-machine", "q35", "-drive", "file=a.img,format=raw",
                                   "-drive", "file=b.img,media=cdrom",
                                   "-drive", "file=c.img,if=virtio,format=raw",
                                   "-nic", "user,model=virtio"],
    "q35-usb-vga-virtio": ["-M", "q35", "-usb", "-vga", "virtio", "-netdev", "user,id=n",
                           "-device", "virtio-net-pci,netdev=n", "-device", "virtio-balloon"],
    "q35-ide-device-and-root-port": [
        "-M", "q35", "-device", "pcie-root-port,id=rp1,chassis=1",
        "-drive", "if=none,id=cd,media=cdrom", "-device", "ide-cd,drive=cd",
        "-drive", "file=a.img,format=raw", "-device", "virtio-net-pci,bus=rp1,netdev=u",
        "-netdev", "user,id=u"],
    "isa-nic-among-pci-nics": ["-net", "nic,model=ne2k_isa", "-net", "nic,model=virtio",
                               "-nic", "user,model=ne2k_isa", "-net", "user"],
    "usb-auto-hub-pc": ["-usb", "-usbdevice", "tablet", "-device", "usb-kbd",
                        "-device", "usb-mouse", "-usbdevice", "keyboard"],
    "usb-q35-ehci": ["-M", "q35", "-device", "usb-kbd", "-usbdevice", "tablet",
                     "-device", "usb-tablet,id=t2", "-machine", "usb=on"],
}


@pytest.mark.qemu
@pytest.mark.parametrize("case", sorted(LINES))
def test_first_launch_matches_plain_qemu(ws: Workspace, case: str) -> None:
    args = ["-name", f"adopt-{case}", *LINES[case]]
    plain = ws.plain(args)
    wrapped = ws.wrapped(args)
    assert wrapped.pci == plain.pci
    assert wrapped.guest_view() == plain.guest_view()
    assert wrapped.identified() == plain.identified()
    assert (ws.state / f"adopt-{case}.toml").exists()
