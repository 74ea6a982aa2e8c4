"""PCI: a slot.function on the board's root bus or behind a bridge."""

from __future__ import annotations

from qemuwrap.allocator import Bus, Spot
from qemuwrap.spaces.base import Placement, Space

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from qemuwrap.machine import Layout
    from qemuwrap.model import Device, Guest
    from qemuwrap.state import Pin

__all__ = ["BRIDGE_SLOTS", "PCI", "addr", "parse_addr"]

BRIDGE_SLOTS = {
    "pci-bridge": tuple(range(32)),
    "pcie-pci-bridge": tuple(range(32)),
    "i82801b11-bridge": tuple(range(32)),
    "pcie-root-port": (0,),
    "ioh3420": (0,),
    "xio3130-downstream": (0,),
}
"""Buses that bridges provide, by bridge driver: the slots a device may take there."""


def addr(slot: int, function: int) -> str:
    """``addr=`` as qemuwrap writes it."""
    return f"0x{slot:x}" if function == 0 else f"0x{slot:x}.{function:x}"


def parse_addr(value: Any) -> tuple[int, int]:
    """A PCI ``addr`` the way QEMU reads it: ``"5"``/``"0x5"``/``"05.1"`` (hex) or a JSON
    devfn. ValueError when it is none of these or out of range."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 256:
            raise ValueError(f"PCI address addr={value} is out of range")
        return value >> 3, value & 7
    text = str(value).strip()
    slot_text, _, fn_text = text.partition(".")
    try:
        slot, fn = int(slot_text, 16), int(fn_text, 16) if fn_text else 0
    except ValueError:
        raise ValueError(f"invalid PCI address addr={text}") from None
    if not (0 <= slot < 32 and 0 <= fn < 8):
        raise ValueError(f"PCI address addr={text} is out of range")
    return slot, fn


class _PCI(Space):
    name = "pci"
    place_keys = ("bus", "addr", "mac")

    def explicit(self, device: Device) -> bool:
        return device.slot is not None

    def requested(self, device: Device, root: str) -> Spot | None:
        if device.slot is None:
            return None
        return device.bus or root, device.slot, device.function

    def buses(self, layout: Layout, guest: Guest, grown: list[Bus]) -> list[Bus]:
        """The root bus, qemuwrap's bridges, and the bridges of the line's own (which take
        only devices that name them)."""
        return [Bus(layout.root_bus, layout.root_slots, growable=True), *grown,
                *(Bus(d.user_id, BRIDGE_SLOTS[d.driver], automatic=False)
                  for d in guest.devices if d.driver in BRIDGE_SLOTS and d.user_id)]

    def placement(self, spot: Spot) -> Placement:
        return Placement(spot[0], spot[1], spot[2])

    def props(self, where: Placement) -> list[tuple[str, str]]:
        assert where.slot is not None
        return [("bus", where.bus), ("addr", addr(where.slot, where.function))]

    def spot(self, pin: Pin) -> Spot:
        assert pin.slot is not None
        return pin.bus, pin.slot, pin.function or 0

    def describe(self, pin: Pin) -> str:
        return f"{pin.bus} {pin.slot or 0:02x}.{pin.function or 0}"

    def parse(self, bus: str, text: str) -> dict[str, Any]:
        slot, fn = parse_addr(text)
        return {"bus": bus, "slot": slot, "function": fn, "unit": None, "port": None}

    def from_qtree(self, dev: dict[str, str], layout: Layout) -> Pin | None:
        from qemuwrap.state import Pin

        if "pciid" not in dev or "addr" not in dev:
            return None
        slot, fn = parse_addr(dev["addr"])
        if dev["bus"] == layout.root_bus and slot not in layout.root_slots:
            return None  # the board's own (host bridge, PIIX/ICH9)
        return Pin(key="", driver=dev["driver"], bus=dev["bus"], slot=slot, function=fn,
                   mac=dev.get("mac"))

    def at(self, pin: Pin, dev: dict[str, str]) -> bool:
        return pin.slot is not None and dev.get("addr") == f"{pin.slot:02x}.{pin.function or 0}"

    def qom(self, pin: Pin) -> tuple[str, Any]:
        assert pin.slot is not None
        return "addr", pin.slot << 3 | (pin.function or 0)


PCI = _PCI()
