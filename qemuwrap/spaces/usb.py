"""USB: a port path on a controller's bus (``2.1``: port 1 of the hub in port 2).

For the allocator, a hub's ports are a bus of their own, ``usb-bus.0:2``: the spot of
port ``2.1`` on ``usb-bus.0`` is ``("usb-bus.0:2", 1, 0)``.
"""

from __future__ import annotations

from qemuwrap.allocator import Bus, Spot
from qemuwrap.spaces.base import Placement, Space

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from qemuwrap.machine import Layout
    from qemuwrap.model import Device, Guest
    from qemuwrap.state import Pin

__all__ = ["USB", "port_spot", "spot_port"]


def port_spot(bus: str, port: str) -> Spot:
    """A USB port path as an allocator spot."""
    hub, _, last = port.rpartition(".")
    return (f"{bus}:{hub}" if hub else bus), int(last), 0


def spot_port(spot: Spot) -> tuple[str, str]:
    """The inverse of port_spot: (QEMU bus, port path)."""
    bus, _, hub = spot[0].partition(":")
    return bus, f"{hub}.{spot[1]}" if hub else str(spot[1])


class _USB(Space):
    name = "usb"
    place_keys = ("bus", "port")

    def explicit(self, device: Device) -> bool:
        return device.port is not None

    def requested(self, device: Device, root: str) -> Spot | None:
        if device.port is None:
            return None
        assert device.bus is not None
        return port_spot(device.bus, device.port)

    def buses(self, layout: Layout, guest: Guest, grown: list[Bus]) -> list[Bus]:
        """The controller's root ports (where qemuwrap knows QEMU's choice), and hubs."""
        root = [Bus(guest.usb.bus, guest.usb.ports, growable=guest.usb.hubs)] if guest.usb else []
        return [*root, *grown]

    def placement(self, spot: Spot) -> Placement:
        bus, port = spot_port(spot)
        return Placement(bus, port=port)

    def props(self, where: Placement) -> list[tuple[str, str]]:
        assert where.port is not None
        return [("bus", where.bus), ("port", where.port)]

    def spot(self, pin: Pin) -> Spot:
        assert pin.port is not None
        return port_spot(pin.bus, pin.port)

    def describe(self, pin: Pin) -> str:
        return f"{pin.bus} port {pin.port}"

    def parse(self, bus: str, text: str) -> dict[str, Any]:
        port_spot(bus, text)
        return {"bus": bus, "port": text, "slot": None, "function": None, "unit": None}

    def from_qtree(self, dev: dict[str, str], layout: Layout) -> Pin | None:
        from qemuwrap.state import Pin

        if "usbport" not in dev:
            return None
        return Pin(key="", driver=dev["driver"], bus=dev["bus"], port=dev["usbport"])

    def at(self, pin: Pin, dev: dict[str, str]) -> bool:
        return pin.port is not None and dev.get("usbport") == pin.port

    def qom(self, pin: Pin) -> tuple[str, Any]:
        return "port", pin.port


USB = _USB()
