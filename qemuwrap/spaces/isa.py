"""ISA: a NIC with no address qemuwrap chooses (``ne2k_isa``), pinned by its MAC alone."""

from __future__ import annotations

from qemuwrap.allocator import Spot
from qemuwrap.spaces.base import Placement, Space

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from qemuwrap.model import Device
    from qemuwrap.state import Pin

__all__ = ["BUS", "ISA"]

BUS = "isa"
"""The bus recorded for such a NIC."""


class _ISA(Space):
    name = "isa"
    place_keys = ()

    def explicit(self, device: Device) -> bool:
        return True

    def placement(self, spot: Spot) -> Placement:
        return Placement(BUS)

    def spot(self, pin: Pin) -> Spot:
        return BUS, 0, 0

    def describe(self, pin: Pin) -> str:
        return BUS

    def parse(self, bus: str, text: str) -> dict[str, Any]:
        raise ValueError("an ISA NIC has no address to pin")

    def at(self, pin: Pin, dev: dict[str, str]) -> bool:
        return dev.get("mac") == pin.mac


ISA = _ISA()
