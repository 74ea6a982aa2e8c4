"""SCSI: an id on the bus of an HBA (the LSI controller the old ``-drive if=scsi`` made)."""

from __future__ import annotations

from qemuwrap.allocator import Bus, Spot
from qemuwrap.spaces.base import Placement, Space

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from qemuwrap.machine import Layout
    from qemuwrap.model import Device, Guest
    from qemuwrap.state import Pin

__all__ = ["SCSI", "UNITS"]

UNITS = 7
"""SCSI ids on the LSI 53C895A: 0 to 6."""


class _SCSI(Space):
    name = "scsi"
    place_keys = ("bus", "scsi-id", "lun")

    def requested(self, device: Device, root: str) -> Spot | None:
        if device.bus is None or device.unit is None:
            return None
        return device.bus, device.unit, 0

    def buses(self, layout: Layout, guest: Guest, grown: list[Bus]) -> list[Bus]:
        names = dict.fromkeys(d.bus for d in guest.devices if d.space == self.name and d.bus)
        return [Bus(name, tuple(range(UNITS))) for name in names]

    def props(self, where: Placement) -> list[tuple[str, str]]:
        return [("bus", where.bus), ("scsi-id", str(where.unit)), ("lun", "0")]

    def from_qtree(self, dev: dict[str, str], layout: Layout) -> Pin | None:
        from qemuwrap.state import Pin

        if not dev["driver"].startswith("scsi-") or "scsi-id" not in dev:
            return None
        return Pin(key="", driver=dev["driver"], bus=dev["bus"],
                   unit=int(dev["scsi-id"].split()[0]))

    def qom(self, pin: Pin) -> tuple[str, Any]:
        return "scsi-id", pin.unit

    def drive_name(self, where: Placement, kind: str) -> str:
        return f"{where.bus.partition('.')[0]}-{kind}{where.unit}"


SCSI = _SCSI()
