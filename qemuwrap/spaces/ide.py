"""IDE (and q35's AHCI ports, which QEMU names ide.N too): a unit on a bus."""

from __future__ import annotations

from qemuwrap.allocator import Bus, Spot
from qemuwrap.spaces.base import Placement, Space

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qemuwrap.machine import Layout
    from qemuwrap.model import Device, Guest
    from qemuwrap.state import Pin

__all__ = ["DRIVERS", "IDE"]

DRIVERS = frozenset({"ide-hd", "ide-cd"})


class _IDE(Space):
    name = "ide"
    place_keys = ("bus", "unit")

    def requested(self, device: Device, root: str) -> Spot | None:
        if device.bus is None or device.unit is None:
            return None
        return device.bus, device.unit, 0

    def buses(self, layout: Layout, guest: Guest, grown: list[Bus]) -> list[Bus]:
        names = dict.fromkeys(bus for bus, _ in layout.ide_spots)
        return [Bus(n, tuple(u for b, u in layout.ide_spots if b == n)) for n in names]

    def from_qtree(self, dev: dict[str, str], layout: Layout) -> Pin | None:
        from qemuwrap.state import Pin

        if dev["driver"] not in DRIVERS or not dev["bus"].startswith("ide."):
            return None
        return Pin(key="", driver=dev["driver"], bus=dev["bus"],
                   unit=int(dev["unit"].split()[0]))

    def drive_name(self, where: Placement, kind: str) -> str:
        return f"ide{where.bus.rpartition('.')[2]}-{kind}{where.unit}"


IDE = _IDE()
