"""``-device``, as QemuOpts or JSON: placed when its bus is one qemuwrap places on (PCI,
the board's IDE, the USB bus it knows), else passed on as it was."""

from __future__ import annotations

from qemuwrap import identity, qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.frontends.context import Context, int_of, text
from qemuwrap.model import Device, Phase, opts_of, parse_addr
from qemuwrap.schema import USB_PORT
from qemuwrap.spaces import SPACES
from qemuwrap.spaces.ide import DRIVERS as IDE_DRIVERS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
        as_json = qemuopts.is_json(token.value)
        props: dict[str, Any] = (qemuopts.parse_json(token.value) if as_json
                                 else dict(opts_of(token).pairs))
        driver = self.facts.driver(str(props.get("driver") or ""))
        self.vga_off |= driver in VGA_DRIVERS
        self.cdrom_off |= driver in CDROM_OFF_DRIVERS
        space = self.space_of(driver, props)
        if space is None:
            self.items.append(token.raw)
            return
        nic = self.facts.is_nic(driver)
        order = self.at(Phase.JSON_DEVICES if as_json else Phase.DEVICES)
        device = Device(driver=driver, space=space, order=order, nic=nic, raw=token.raw,
                        bus=text(props.get("bus")), mac=text(props.get("mac")))
        self.place_given(device, props)
        drop = SPACES[space].place_keys
        if as_json:
            device.json = {k: v for k, v in props.items() if k not in drop}
        else:
            device.props = opts_of(token).without("driver", *drop)
        ident = text(props.get("id"))
        drive = text(props.get("drive"))
        device.key = (identity.of_id(ident) if ident else
                      identity.disk(self.drive_files[drive]) if drive in self.drive_files else
                      identity.mac(device.mac) if nic and device.mac else "")
        self.add(device)

    def space_of(self, driver: str, props: dict[str, Any]) -> str | None:
        """The space qemuwrap places the device in; None: its bus is not one it places on."""
        bus_type = self.facts.bus_of(driver)
        if bus_type == "PCI":
            return "pci"
        if driver in IDE_DRIVERS:
            return "ide"
        usb = self.usb is not None and props.get("bus") in (None, self.usb.bus)
        return "usb" if bus_type == "usb-bus" and usb else None

    def place_given(self, device: Device, props: dict[str, Any]) -> None:
        """The place the device's own properties give (``addr=``, ``unit=``, ``port=``)."""
        if device.space == "pci" and props.get("addr") is not None:
            device.slot, device.function = parse_addr(props["addr"])
        if device.space == "ide":
            device.unit = int_of(text(props.get("unit")), "unit")
            if device.bus is None:
                device.bus = self.layout.ide_spots[-1][0]
        if device.space == "usb":
            assert self.usb is not None
            device.port = text(props.get("port"))
            if device.port is not None and not USB_PORT.fullmatch(device.port):
                raise UsageError(f"invalid USB port={device.port} (a path like 2 or 2.1)")
            device.bus = self.usb.bus if device.port is not None else None
