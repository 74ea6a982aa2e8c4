"""Address spaces: the kinds of place qemuwrap gives a device, one module each.

``pci`` (a slot.function), ``ide`` and ``scsi`` (a unit on a bus), ``usb`` (a port
path), ``isa`` (none: an ISA NIC keeps only its MAC). Each answers the same questions
(``base.Space``): where a device asks to be, which buses there are, how a place
becomes ``bus=``/``addr=``/``unit=``/``port=``, how QEMU shows it and a user types it.
A new kind of bus is a new module here and an entry in ``SPACES``.
"""

from __future__ import annotations

from qemuwrap.spaces.base import Placement, Space
from qemuwrap.spaces.ide import IDE
from qemuwrap.spaces.isa import BUS as ISA_BUS
from qemuwrap.spaces.isa import ISA
from qemuwrap.spaces.pci import PCI
from qemuwrap.spaces.scsi import SCSI
from qemuwrap.spaces.usb import USB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qemuwrap.state import Pin

__all__ = ["ALLOCATED", "SPACES", "Placement", "Space", "infer", "of"]

SPACES: dict[str, Space] = {s.name: s for s in (PCI, IDE, SCSI, USB, ISA)}
ALLOCATED = (PCI, IDE, SCSI, USB)
"""The spaces whose places the allocator hands out, in the order it does."""


def infer(bus: str, unit: int | None, port: str | None) -> str:
    """The space of a place written without one (a state of schema 2 or older)."""
    if bus == ISA_BUS:
        return "isa"
    if port is not None:
        return "usb"
    if unit is not None:
        return "ide" if bus.startswith("ide.") else "scsi"
    return "pci"


def of(pin: Pin) -> Space:
    return SPACES.get(pin.space or "", SPACES[infer(pin.bus, pin.unit, pin.port)])
