"""What every address space answers: how a device asks for a place, which buses it has,
how a place is written on the command line, read back from QEMU, and typed by a user.

A place is an allocator ``Spot``, ``(bus, slot, function)``: a PCI slot.function, an IDE
or SCSI unit (function 0), a USB port on a bus (a hub's ports are a bus of their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from qemuwrap.allocator import Bus, Spot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from qemuwrap.machine import Layout
    from qemuwrap.model import Device, Guest
    from qemuwrap.state import Pin

__all__ = ["Placement", "Space"]


@dataclass(frozen=True)
class Placement:
    """Where a device goes, as the command line writes it."""

    bus: str
    slot: int | None = None
    function: int = 0
    unit: int | None = None
    port: str | None = None
    mac: str | None = None


class Space:
    """One kind of place. The defaults are for a space qemuwrap does not allocate."""

    name = ""
    place_keys: tuple[str, ...] = ("bus",)
    """The properties qemuwrap sets on a device of this space (the user's are replaced)."""

    def explicit(self, device: Device) -> bool:
        """The command line gives the device's place itself."""
        return device.bus is not None and device.unit is not None

    def requested(self, device: Device, root: str) -> Spot | None:
        """The place the device's own options name, if any (``root``: the board's bus)."""
        return None

    def buses(self, layout: Layout, guest: Guest, grown: list[Bus]) -> list[Bus]:
        """The buses devices of this space go on; ``grown``: the bridges or hubs qemuwrap
        added to this space."""
        return []

    def placement(self, spot: Spot) -> Placement:
        return Placement(spot[0], unit=spot[1])

    def props(self, where: Placement) -> list[tuple[str, str]]:
        """The place as ``-device`` properties."""
        return [("bus", where.bus), ("unit", str(where.unit))]

    def drive_name(self, where: Placement, kind: str) -> str:
        """QEMU's own name for a legacy ``-drive`` here (``ide0-hd0``): monitor commands
        that name it still work. ``kind``: ``hd`` or ``cd``."""
        raise ValueError(f"a {self.name} device has no legacy drive name")

    def spot(self, pin: Pin) -> Spot:
        assert pin.unit is not None
        return pin.bus, pin.unit, 0

    def describe(self, pin: Pin) -> str:
        return f"{pin.bus} unit {pin.unit}"

    def parse(self, bus: str, text: str) -> dict[str, Any]:
        """An address a user typed (``qemuwrap-ctl pin``), as Pin fields; ValueError if bad."""
        return {"bus": bus, "unit": int(text), "slot": None, "function": None, "port": None}

    def from_qtree(self, dev: dict[str, str], layout: Layout) -> Pin | None:
        """The place of one ``info qtree`` device, if it is one of this space's."""
        return None

    def at(self, pin: Pin, dev: dict[str, str]) -> bool:
        """Whether the ``info qtree`` device ``dev`` sits at ``pin``'s place."""
        unit = dev.get("unit", dev.get("scsi-id", "")).split(" ")[0]
        return pin.unit is not None and unit == str(pin.unit)

    def qom(self, pin: Pin) -> tuple[str, Any]:
        """The QOM property that holds the place, and its value at ``pin``."""
        return "unit", pin.unit
