"""What a valid state file holds: the rule each value obeys.

The README invites users to edit a state by hand, so a state is checked, not
trusted: a typo in a bus name or a slot out of range must stop the launch with
a line that names the file, the entry and the field, never reach QEMU as an
argument (``bus = "pci.0,romfile=/etc/shadow"`` would add a property) nor make
qemuwrap place a device afresh. A value that is well formed but names a bus
the command line no longer creates is not an error here: the launch deals
with it as the README says.

``problems`` returns every problem of one ``[[device]]`` or ``[[tombstone]]``
table as ``(field, message)``; ``top_problems`` those of the document's own keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

from qemuwrap import identity, spaces
from qemuwrap.spaces import isa, scsi

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ADDED_BRIDGES", "BRIDGES", "DEVICE_FIELDS", "ISA_BUS", "SCSI_UNITS", "TOP_FIELDS",
           "TYPO", "USB_PORT", "problems", "top_problems"]

ISA_BUS = isa.BUS
"""The bus recorded for an ISA NIC, which has no address qemuwrap chooses, only a MAC."""
SCSI_UNITS = scsi.UNITS
"""SCSI ids on the LSI 53C895A that the old ``-drive if=scsi`` makes: 0 to 6."""
IDE_UNITS: dict[str, dict[str, tuple[int, ...]]] = {"pc": {"ide.0": (0, 1), "ide.1": (0, 1)},
             "q35": {f"ide.{n}": (0,) for n in range(6)}}
"""The board's IDE buses and their units (q35: one device per AHCI port); any other
IDE bus (a controller of the user's own) has units 0 and 1."""
ADDED_BRIDGES = frozenset({"pci-bridge", "pcie-root-port", "pcie-pci-bridge", "usb-hub"})
"""What a bridge qemuwrap added (key ``bridge:...``) can be."""
BRIDGES = frozenset({"pci-bridge", "pcie-pci-bridge", "i82801b11-bridge", "pcie-root-port",
                     "ioh3420", "xio3130-downstream", "x3130-upstream"})
"""Devices whose bus the firmware numbers, in the order it finds them: the bridges of the
user's own that a state records with their ``options``."""

ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
"""QEMU's rule for ids (``id_wellformed``), which bus names follow: ``pci.0``, ``rp1``."""
DRIVER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+,-]*")
MACHINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
USB_PORT = re.compile(r"[1-9]\d*(\.[1-9]\d*)*")
PLACES = ("slot", "unit", "port")
DEVICE_FIELDS = frozenset({"key", "driver", "bus", "space", "slot", "function", "unit", "port",
                           "mac", "provides", "chassis", "options", "last_seen"})
"""The fields of a ``[[device]]`` or ``[[tombstone]]`` entry (``state.Pin``'s)."""
TOP_FIELDS = frozenset({"schema_version", "name", "machine", "created", "last_launch", "device",
                        "tombstone"})
"""The document's own keys; any other is kept and written back, like a device's."""
TYPO = 0.6
"""How alike (difflib's ratio) an unknown field and a known one must be to be a typo:
``solt``/``slot`` 0.75, ``bsu``/``bus`` 0.67; ``note``/``port`` 0.5 is kept."""


def _int(data: dict[str, Any], field: str, low: int, high: int) -> str | None:
    value = data[field]
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{value!r} is not an integer"
    if not low <= value <= high:
        return f"{value} is out of range ({low} to {high})"
    return None


def _time(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return f"{value!r} is not a TOML date-time"
    if value.tzinfo is None:
        return f"{value.isoformat()} has no UTC offset"
    return None


def problems(data: Any, machine: str = "") -> list[tuple[str, str]]:
    """Every problem of one device or tombstone table; ``machine`` gives the board's buses."""
    if not isinstance(data, dict):
        return [("", "is not a table")]
    out = _typos(data, DEVICE_FIELDS)
    missing = [(field, "is missing" if field not in data else "is not a string")
               for field in ("key", "driver", "bus") if not isinstance(data.get(field), str)]
    if missing:
        return out + missing
    checks: dict[str, Callable[[], str | None]] = {
        "slot": lambda: _int(data, "slot", 0, 31),
        "function": lambda: (_int(data, "function", 0, 7) if "slot" in data
                             else "is only for a PCI slot"),
        "unit": lambda: _unit(data, machine),
        "port": lambda: _port(data["port"]),
        "mac": lambda: _mac(data["mac"]),
        "provides": lambda: _provides(data),
        "chassis": lambda: _int(data, "chassis", 0, 255),
        "options": lambda: _options(data),
        "last_seen": lambda: _time(data["last_seen"]),
        "space": lambda: _space(data),
    }
    out += _shape(data)
    for field, check in checks.items():
        if field in data and (message := check()) is not None:
            out.append((field, message))
    return out


def _typos(data: dict[str, Any], known: frozenset[str]) -> list[tuple[str, str]]:
    """An unknown field is kept and written back (a newer qemuwrap may have added it),
    unless it is so near a known one that it reads as a typo of it (``solt = 3``): the
    value the user meant would be silently ignored."""
    unknown = [field for field in data if field not in known]
    if not unknown:
        return []
    from difflib import get_close_matches

    return [(field, f"is not a field qemuwrap knows; a typo of {near[0]!r}?")
            for field in unknown if (near := get_close_matches(field, known, 1, TYPO))]


def _shape(data: dict[str, Any]) -> list[tuple[str, str]]:
    """What the entry as a whole must be: a key of a known form, a driver and bus by name,
    one place, and the bridge fields only on a bridge."""
    out: list[tuple[str, str]] = []
    key, driver, bus = data["key"], data["driver"], data["bus"]
    if not identity.PATTERN.fullmatch(key):
        out.append(("key", f"{key!r} is none of the documented forms (id:, disk:, mac:, "
                           "board:, bridge:, moved:, DRIVER#N)"))
    if not DRIVER.fullmatch(driver):
        out.append(("driver", f"{driver!r} is not a QEMU device name"))
    elif key.startswith("bridge:") and driver not in ADDED_BRIDGES:
        out.append(("driver", f"{driver!r} is not a bridge or hub qemuwrap adds"))
    if bus != ISA_BUS and not ID.fullmatch(bus):
        out.append(("bus", f"{bus!r} is not a bus name"))
    places = [f for f in PLACES if data.get(f) is not None]
    if len(places) != (0 if bus == ISA_BUS else 1):
        out.append(("", "needs exactly one of slot, unit or port (none on isa)"))
    if bus == ISA_BUS and "mac" not in data:
        out.append(("mac", "is missing (an ISA NIC's entry pins only its MAC)"))
    bridge = "port" if driver == "usb-hub" else "slot"
    for field in ("provides", "chassis", "options"):
        if field in data and (bridge not in data or "provides" not in data):
            out.append((field, f"is only for a bridge or hub (with provides and a {bridge})"))
    if "provides" in data and "options" not in data and not key.startswith("bridge:"):
        out.append(("provides", "is only for a bridge: a bridge: entry, or one with options"))
    if key.startswith("bridge:") and "provides" not in data:
        out.append(("provides", "is missing (a bridge: entry is a bus qemuwrap added)"))
    if "options" in data and driver not in BRIDGES:
        out.append(("options", f"is only for a bridge, not for {driver!r}"))
    return out


def _space(data: dict[str, Any]) -> str | None:
    """The space must be the one the place is in: a hand-edit that changes one of them
    must not leave the other saying something else."""
    value = data["space"]
    unit, port = data.get("unit"), data.get("port")
    place = spaces.infer(data["bus"], unit if isinstance(unit, int) else None,
                         port if isinstance(port, str) else None)
    if value not in spaces.SPACES:
        return f"{value!r} is none of {', '.join(sorted(spaces.SPACES))}"
    return None if value == place else f"{value!r} is not where the entry's place is ({place!r})"


def _provides(data: dict[str, Any]) -> str | None:
    """A bridge's bus is its id; a hub's ports are known as ``BUS:PORT`` (its own place)."""
    value = data["provides"]
    if data["driver"] == "usb-hub":
        own = f"{data['bus']}:{data.get('port')}"
        return None if value == own else f"{value!r} is not this hub's place ({own!r})"
    return None if isinstance(value, str) and ID.fullmatch(value) else (
        f"{value!r} is not a bus name")


def _unit(data: dict[str, Any], machine: str) -> str | None:
    bus, driver = data["bus"], data["driver"]
    if driver.startswith("scsi-"):
        return _int(data, "unit", 0, SCSI_UNITS - 1)
    family = "q35" if "q35" in machine else "pc"
    units = IDE_UNITS[family].get(bus, (0, 1))
    problem = _int(data, "unit", min(units), max(units))
    return f"{problem} on {bus}" if problem and "out of range" in problem else problem


def _port(value: Any) -> str | None:
    if not isinstance(value, str) or not USB_PORT.fullmatch(value):
        return f"{value!r} is not a USB port path like 2 or 2.1"
    if any(int(part) > 15 for part in value.split(".")):
        return f"{value!r} has a port above 15"
    return None


def _mac(value: Any) -> str | None:
    if not isinstance(value, str) or not MAC.fullmatch(value):
        return f"{value!r} is not a MAC address (six hex pairs, like 52:54:00:12:34:56)"
    if int(value[:2], 16) & 1:
        return f"{value} is a multicast address, not a NIC's"
    return None


def _options(data: dict[str, Any]) -> str | None:
    """A bridge of the user's own: its ``-device`` argument, put back as it is."""
    from qemuwrap import qemuopts
    from qemuwrap.errors import UsageError

    text = data["options"]
    if not isinstance(text, str):
        return f"{text!r} is not a string"
    props: Any
    try:
        props = (json.loads(text) if qemuopts.is_json(text)
                 else dict(qemuopts.parse(text, "driver").pairs))
    except (ValueError, UsageError):
        return f"{text!r} is not a -device argument"
    if not isinstance(props, dict) or props.get("driver") != data["driver"]:
        return f"{text!r} is not a -device argument for {data['driver']}"
    if "bus" in props or "addr" in props:
        return f"{text!r} has a bus or addr (those are the entry's own)"
    if props.get("id") != data.get("provides"):
        return f"{text!r} has another id than provides = {data.get('provides')!r}"
    return None


def top_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of the document's own keys (name, machine, times, the two lists)."""
    out = _typos(data, TOP_FIELDS)
    if not isinstance(data.get("name"), str) or not data["name"]:
        out.append(("name", "is missing or not a string"))
    machine = data.get("machine")
    if not isinstance(machine, str) or not MACHINE.fullmatch(machine):
        out.append(("machine", f"{machine!r} is not a machine type"))
    for field in ("created", "last_launch"):
        if field in data and (message := _time(data[field])) is not None:
            out.append((field, message))
    for field in ("device", "tombstone"):
        if field in data and not isinstance(data[field], list):
            out.append((field, "is not a list of tables ([[device]])"))
    return out
