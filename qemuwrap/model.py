"""The guest a command line describes: its devices in QEMU's creation order.

``frontends/`` reads the options that make devices (``-drive`` and its shorthands,
``-device``, ``-nic``, ``-net``, ``-usbdevice``, the board's own defaults) into
Device records; everything else stays as the words it was. Nothing here knows of
state files.

QEMU creates devices in an order (docs/promises.md) that decides where a device
lands when nothing pins it: ``Phase`` names its steps. IDE drives sit at their
``-drive`` index; an IDE ``-device`` without ``bus=`` goes to the board's last IDE
bus (ide.1 on pc, ide.5 on q35: QEMU searches buses newest first), at the first free
unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from qemuwrap import qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.facts import BinaryFacts
from qemuwrap.machine import Layout, UsbRoot
from qemuwrap.options import IMPLIED_KEY
from qemuwrap.qemuopts import Opts
from qemuwrap.spaces import SPACES, pci

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "HELP_CAPABLE",
    "QUERY_OPTIONS",
    "Device",
    "Guest",
    "Item",
    "MachineOption",
    "Phase",
    "build",
    "guest_name",
    "is_query",
    "opts_of",
    "parse_addr",
    "requested_machine",
]

QUERY_OPTIONS = frozenset({"h", "help", "version", "dump-vmstate"})
HELP_CAPABLE = frozenset({
    "machine", "M", "cpu", "accel", "device", "drive", "netdev", "nic", "net", "audiodev",
    "audio", "display", "vga", "chardev", "object", "blockdev", "global", "soundhw",
    "watchdog", "usbdevice", "fsdev", "tpmdev", "d", "trace", "smp", "numa", "icount",
    "boot", "m", "rtc", "spice", "vnc", "serial", "parallel", "monitor", "mon", "k",
})


class Phase(IntEnum):
    """The steps of QEMU's device creation, in order: a device's ``order`` is its phase and
    its place within it (the command line's order, or an index)."""

    PLACED = -1
    """A device whose place is known already (a running guest's, around a hot-plug)."""
    BOARD_VGA = 0
    """The board's VGA, created with the machine."""
    IDE_DRIVES = 1
    """``-drive if=ide`` and its shorthands, at their index."""
    BOARD_CDROM = 2
    """The board's empty CD-ROM (IDE index 2)."""
    NIC_OPTIONS = 3
    """NICs of ``-nic``."""
    NET_NICS = 4
    """NICs of ``-net nic`` (by position; the default NIC last)."""
    USBDEVICE = 5
    """``-usbdevice``, before any ``-device``."""
    DEVICES = 6
    """``-device`` as QemuOpts, in command-line order."""
    DRIVE_DEVICES = 7
    """The devices ``-drive if=virtio`` and ``if=scsi`` make."""
    JSON_DEVICES = 8
    """``-device`` as JSON, after all others."""


@dataclass
class Device:
    """One device qemuwrap places; ``space`` says which addresses it takes: ``pci`` slots,
    ``ide`` or ``scsi`` units, ``usb`` ports."""

    driver: str
    space: str
    order: tuple[int, ...]
    props: Opts = field(default_factory=Opts)
    """Properties to render, without driver, bus, addr, unit and mac."""
    json: dict[str, Any] | None = None
    """The user's JSON object, without bus and addr, when the device came as JSON."""
    key: str = ""
    bus: str | None = None
    slot: int | None = None
    function: int = 0
    unit: int | None = None
    port: str | None = None
    mac: str | None = None
    nic: bool = False
    drive: Opts | None = None
    """Backend options for a ``-drive if=none`` that qemuwrap writes before the device."""
    drive_id: str | None = None
    before: tuple[str, ...] = ()
    """Words to render before the device (its ``-netdev``)."""
    only_at: tuple[str, int] | None = None
    """The one spot this device may take; if it is taken, QEMU would not create it."""
    raw: tuple[str, ...] | None = None
    """The user's own words, used unchanged when nothing about the device is added."""
    legacy: tuple[str, Opts, str] | None = None
    """For a NIC that is not on PCI: (option, its options, the MAC key); it stays that
    option, with its MAC made explicit."""

    @property
    def user_id(self) -> str | None:
        """The ``id=`` the command line gives the device (for a bridge: its bus's name)."""
        ident = self.props.get("id") if self.json is None else self.json.get("id")
        return None if ident is None else str(ident)

    def own_option(self) -> str:
        """The device's ``-device`` argument without what qemuwrap sets (bus, addr, ...)."""
        if self.json is not None:
            return qemuopts.render_json(self.json)
        return qemuopts.render(Opts((("driver", self.driver), *self.props.pairs)), "driver")

    @property
    def explicit(self) -> bool:
        """The command line gives its place (and, for a NIC, its MAC) itself."""
        return SPACES[self.space].explicit(self) and (self.mac is not None or not self.nic)


@dataclass(frozen=True)
class MachineOption:
    token: Token
    opts: Opts


Item = tuple[str, ...] | int | MachineOption
"""A piece of the output argv: words as they were, a device (by index), or a -machine option."""


@dataclass
class Guest:
    name: str
    machine: str | None
    """The machine type the command line asks for (last ``-machine``), or None."""
    items: list[Item]
    devices: list[Device]
    usb: UsbRoot | None = None
    """The USB bus the devices of space ``usb`` go on."""


def opts_of(token: Token) -> Opts:
    assert token.name is not None and token.value is not None
    return qemuopts.parse(token.value, IMPLIED_KEY.get(token.name))


def guest_name(tokens: list[Token]) -> str | None:
    """The guest's name from ``-name`` (merged like QEMU), or None when there is none."""
    name: str | None = None
    for token in tokens:
        if token.name == "name":
            name = opts_of(token).get("guest", name)
    return name or None


def requested_machine(tokens: list[Token]) -> str | None:
    machine: str | None = None
    for token in tokens:
        if token.name in ("machine", "M") and token.value is not None:
            machine = opts_of(token).get("type", machine)
    return machine


def is_query(tokens: list[Token]) -> bool:
    """True for runs that start no guest: ``-version``, ``-device help``, ``-machine none`` ..."""
    for token in tokens:
        if token.name in QUERY_OPTIONS:
            return True
        value = token.value
        if token.name not in HELP_CAPABLE or value is None or qemuopts.is_json(value):
            continue
        if value.strip() in ("help", "?"):
            return True
        try:
            opts = opts_of(token)
        except UsageError:
            continue
        if any(k in ("help", "?") or v in ("help", "?") for k, v in opts.pairs):
            return True
    return requested_machine(tokens) in ("none", "help", "?")


def parse_addr(value: Any) -> tuple[int, int]:
    """A PCI ``addr`` the way QEMU reads it (``spaces.pci.parse_addr``), refused as usage."""
    try:
        return pci.parse_addr(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def build(tokens: list[Token], facts: BinaryFacts, layout: Layout, suffix: str = "") -> Guest:
    """The guest ``tokens`` describe (``frontends.build``)."""
    from qemuwrap import frontends

    return frontends.build(tokens, facts, layout, suffix)
