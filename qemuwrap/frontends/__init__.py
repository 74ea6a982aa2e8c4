"""Front-ends: each kind of option that makes devices, one module each.

The command line is read once, in order (``Builder.build``). ``drives`` reads ``-drive``
and its shorthands, ``devices`` ``-device``, ``nics`` ``-nic`` and ``-net``, ``usb``
``-usbdevice`` and where USB devices go, ``board`` the devices QEMU adds by itself;
``context`` is what they share. Each device gets its place in QEMU's creation order
(``model.Phase``), which decides where it lands when nothing pins it and the ordinal
in its identity key.
"""

from __future__ import annotations

from qemuwrap import identity, qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.facts import BinaryFacts
from qemuwrap.frontends.board import VGA_MODELS, Board
from qemuwrap.frontends.devices import Devices
from qemuwrap.frontends.drives import Drives
from qemuwrap.frontends.usb import Usb, usb_root
from qemuwrap.machine import Layout
from qemuwrap.model import Guest, MachineOption, guest_name, opts_of, requested_machine

__all__ = ["Builder", "build"]


class Builder(Drives, Devices, Board, Usb):
    """Walks the tokens once, collecting devices and the output items."""

    def build(self, tokens: list[Token]) -> None:
        self.survey(tokens)
        vga_model: str | None = None
        vga_at: int | None = None
        nics = 0
        for token in tokens:
            name = token.name
            if name in ("machine", "M"):
                self.items.append(MachineOption(token, opts_of(token)))
            elif name == "drive":
                self.drive(token, opts_of(token))
            elif name in ("hda", "hdb", "hdc", "hdd", "cdrom") or token.is_image:
                self.legacy_disk(token)
            elif name == "device":
                self.device(token)
            elif name == "nic":
                self.nic_option(token, opts_of(token), nics)
                nics += 1
            elif name == "net":
                self.net_tokens.append((len(self.items), token, opts_of(token)))
                self.items.append(token.raw)
            elif name == "usbdevice":
                self.usbdevice(token)
            else:
                if name == "vga":
                    vga_model, vga_at = token.value, len(self.items)
                self.usb_flag_given |= name == "usb"
                self.items.append(token.raw)
        self.net_group()
        if vga_model in VGA_MODELS and vga_at is not None:
            self.items[vga_at] = ()
        self.vga(vga_model if vga_at is not None else None)
        self.defaults()

    def survey(self, tokens: list[Token]) -> None:
        """What the whole line says before any device is made: the drives' images by id,
        ``-nodefaults``, the ids of ``-device``, whether a network option is given, and
        the USB bus USB devices go on."""
        for token in tokens:
            if token.name == "drive" and token.value is not None:
                opts = opts_of(token)
                if opts.get("id") and opts.get("file"):
                    self.drive_files[opts.get("id") or ""] = opts.get("file") or ""
            elif token.name == "nodefaults":
                self.nodefaults = True
            elif token.name == "device" and token.value and not qemuopts.is_json(token.value):
                self.user_ids.add(opts_of(token).get("id") or "")
            elif token.name in ("net", "nic", "netdev"):
                self.network_given = True
        self.usb = usb_root(tokens, self.facts, self.layout)


def build(tokens: list[Token], facts: BinaryFacts, layout: Layout, suffix: str = "") -> Guest:
    """The guest ``tokens`` describe, with every device it has in QEMU's creation order;
    ``suffix`` ends the ids of the backends qemuwrap adds (``qwnic0``, ``virtio0``)."""
    builder = Builder(facts, layout, suffix)
    builder.build(tokens)
    devices = builder.devices
    seen: dict[tuple[str, str], int] = {}
    for device in sorted(devices, key=lambda d: d.order):
        base = ("key", device.key) if device.key else ("driver", device.driver)
        n = seen.get(base, 0)
        seen[base] = n + 1
        if not device.key:
            device.key = identity.ordinal(device.driver, n)
        elif n:
            device.key = identity.twin(device.key, n)
    return Guest(name=guest_name(tokens) or "", machine=requested_machine(tokens),
                 items=builder.items, devices=devices, usb=builder.usb)
