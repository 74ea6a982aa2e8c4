"""``-device``, as QemuOpts or JSON: placed when its bus is one qemuwrap places on (PCI,
the board's IDE, the USB bus it knows), else passed on as it was."""

from __future__ import annotations

from typing import Any

from qemuwrap import identity, qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.frontends.context import Context, int_of, text
from qemuwrap.model import Device, Phase, opts_of, parse_addr
from qemuwrap.schema import USB_PORT
from qemuwrap.spaces import SPACES
from qemuwrap.spaces.ide import DRIVERS as IDE_DRIVERS

__all__ = ["CDROM_OFF_DRIVERS", "VGA_DRIVERS", "Devices"]

VGA_DRIVERS = frozenset({"VGA", "isa-vga", "cirrus-vga", "isa-cirrus-vga", "vmware-svga",
                         "qxl-vga", "virtio-vga", "ati-vga", "vhost-user-vga", "virtio-vga-gl"})
"""A ``-device`` of these turns off the board's own VGA (QEMU's ``default_list``)."""
CDROM_OFF_DRIVERS = frozenset({"ide-cd", "ide-hd", "ide-drive", "scsi-cd", "scsi-hd", "scsi-disk"})
"""A ``-device`` of these turns off the default CD-ROM."""


class Devices(Context):
    """``-device``."""

    def device(self, token: Token) -> None:
        assert token.value is not None
        if qemuopts.is_json(token.value):
            data = qemuopts.parse_json(token.value)
            driver = self.facts.driver(str(data.get("driver", "")))
            props: dict[str, Any] = data
            order = self.at(Phase.JSON_DEVICES)
        else:
            opts = opts_of(token)
            driver = self.facts.driver(opts.get("driver") or "")
            props = {k: v for k, v in opts.pairs}
            order = self.at(Phase.DEVICES)
        if driver in VGA_DRIVERS:
            self.vga_off = True
        if driver in CDROM_OFF_DRIVERS:
            self.cdrom_off = True
        bus_type = self.facts.bus_of(driver)
        space = ("pci" if bus_type == "PCI" else "ide" if driver in IDE_DRIVERS else
                 "usb" if bus_type == "usb-bus" and self.usb is not None
                 and props.get("bus") in (None, self.usb.bus) else None)
        if space is None:
            self.items.append(token.raw)
            return
        nic = self.facts.is_nic(driver)
        device = Device(driver=driver, space=space, order=order, nic=nic, raw=token.raw,
                        bus=text(props.get("bus")), mac=text(props.get("mac")))
        if space == "pci" and props.get("addr") is not None:
            device.slot, device.function = parse_addr(props["addr"])
        if space == "ide":
            device.unit = int_of(text(props.get("unit")), "unit")
            if device.bus is None:
                device.bus = self.layout.ide_spots[-1][0]
        if space == "usb":
            assert self.usb is not None
            device.port = text(props.get("port"))
            if device.port is not None and not USB_PORT.fullmatch(device.port):
                raise UsageError(f"invalid USB port={device.port} (a path like 2 or 2.1)")
            device.bus = self.usb.bus if device.port is not None else None
        drop = SPACES[space].place_keys
        if qemuopts.is_json(token.value):
            device.json = {k: v for k, v in props.items() if k not in drop}
        else:
            device.props = opts_of(token).without("driver", *drop)
        ident = text(props.get("id"))
        drive = text(props.get("drive"))
        device.key = (identity.of_id(ident) if ident else
                      identity.disk(self.drive_files[drive]) if drive in self.drive_files else
                      identity.mac(device.mac) if nic and device.mac else "")
        self.add(device)
