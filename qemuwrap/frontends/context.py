"""What every front-end shares while the command line is read: the devices so far, the
output items, and the facts of the command line as a whole (``-nodefaults``, the USB
bus, the ids it gives)."""

from __future__ import annotations

from qemuwrap import identity
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.facts import BinaryFacts
from qemuwrap.machine import Layout, UsbRoot
from qemuwrap.model import Device, Item, Phase
from qemuwrap.qemuopts import Opts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Context", "disk_key", "int_of", "text"]


class Context:
    """The state of one reading of a command line (``frontends.Builder``)."""

    def __init__(self, facts: BinaryFacts, layout: Layout, suffix: str) -> None:
        self.facts = facts
        self.layout = layout
        self.suffix = suffix
        """Ends every id qemuwrap makes up: a hot-plug's must differ from the guest's own."""
        self.items: list[Item] = []
        self.devices: list[Device] = []
        self.seq = 0
        self.virtio_index = 0
        self.nodefaults = False
        self.network_given = False
        self.vga_off = False
        self.cdrom_off = False
        self.drive_files: dict[str, str] = {}
        self.usb: UsbRoot | None = None
        """Where qemuwrap places USB devices; None: it does not (see ``usb_root``)."""
        self.usb_flag_given = False
        self.boot_index = 0
        self.scsi_hbas: set[int] = set()
        self.user_ids: set[str] = set()
        self.net_tokens: list[tuple[int, Token, Opts]] = []

    def add(self, device: Device) -> None:
        self.items.append(len(self.devices))
        self.devices.append(device)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def at(self, phase: Phase) -> tuple[int, ...]:
        """The next place in ``phase`` of QEMU's creation order."""
        return phase, self.next_seq()


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def disk_key(ident: str | None, file: str | None) -> str:
    if ident:
        return identity.of_id(ident)
    return identity.disk(file) if file else ""


def int_of(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise UsageError(f"invalid {what}={value}") from None
