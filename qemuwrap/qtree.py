"""Reading ``info qtree``: every device with the bus it sits on and what the guest sees of it.

Used by ``qemuwrap-ctl check`` on a running guest and by the tests; the PCI
address, IDE unit, USB port and MAC of each device are all in this one text.
"""

from __future__ import annotations

import re

__all__ = ["parse", "usb_buses"]

_DEV = re.compile(r'^(\s*)dev: ([^,]+), id "([^"]*)"')
_BUS = re.compile(r"^(\s*)bus: (\S+)")
_PROP = re.compile(r"^(\s*)([\w.-]+) = (.*)$")
_USB = re.compile(r"^\s*addr \S+, port (\S+), speed")
_PCI = re.compile(r"^\s*class (.*), addr (\S+), pci id (\S+) \(sub (\S+)\)")


def parse(text: str) -> list[dict[str, str]]:
    """One dict per device: ``driver``, ``id``, ``path`` (bus names from the root down),
    ``bus`` (the bus it sits on), ``parent`` (index of the device owning that bus, or -1),
    its properties, ``pciid`` for PCI functions and ``usbport`` for USB devices."""
    devices: list[dict[str, str]] = []
    stack: list[tuple[int, str, int]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if m := _BUS.match(line):
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2), len(devices) - 1))
            current = None
        elif m := _DEV.match(line):
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            current = {"driver": m.group(2), "id": m.group(3),
                       "path": "/".join(name for _, name, _ in stack),
                       "bus": stack[-1][1] if stack else "",
                       "parent": str(stack[-1][2]) if stack else "-1"}
            devices.append(current)
        elif current is not None and (m := _USB.match(line)):
            current["usbport"] = m.group(1)
        elif current is not None and (m := _PCI.match(line)):
            current["pciid"] = f"{m.group(3)} sub {m.group(4)} class {m.group(1)}"
        elif current is not None and (m := _PROP.match(line)):
            value = m.group(3).strip()
            if value.startswith('"') and value.endswith('"'):
                value = value[1:-1]
            current.setdefault(m.group(2), value)
    return devices


def usb_buses(qtree: str) -> list[tuple[str, str, str]]:
    """(bus, controller driver, controller id) of each USB bus a controller provides."""
    out: list[tuple[str, str, str]] = []
    owner = ("", "")
    lines = qtree.splitlines()
    for i, line in enumerate(lines):
        if m := _DEV.match(line):
            owner = (m.group(2), m.group(3))
        elif (m := _BUS.match(line)) and i + 1 < len(lines) \
                and lines[i + 1].strip() == "type usb-bus" and owner[0] != "usb-hub":
            out.append((m.group(2), *owner))
    return out
