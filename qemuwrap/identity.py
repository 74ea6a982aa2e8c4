"""Identity keys: how a device is recognised on the next launch (README, "How a device is
recognised"). The key is what a state file maps to a place, so it must not depend on
where the device stands in the command line.

In order: an explicit ``id=`` (``id:NAME``); a disk's image path as written
(``disk:PATH``); a NIC's explicit MAC (``mac:52:54:00:aa:bb:cc``); the board's own VGA
and CD-ROM (``board:vga``, ``board:cdrom``); otherwise the driver and its ordinal in
QEMU's creation order (``virtio-net-pci#0``). A second device with the same key gets
``#N`` after it. qemuwrap's own bridges and hubs are ``bridge:BUS``; the place a moved
device left is ``moved:KEY@ADDRESS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["BOARD_CDROM", "BOARD_VGA", "PATTERN", "bridge", "disk", "is_moved", "is_ordinal",
           "mac", "moved", "next_ordinals", "of_id", "ordinal", "parse_ordinal", "twin"]

BOARD_VGA = "board:vga"
BOARD_CDROM = "board:cdrom"
MOVED = "moved:"
PATTERN = re.compile(
    r"(id|disk|mac|board|bridge):.+|moved:.+@.+|[A-Za-z0-9][A-Za-z0-9_.+,-]*#\d+", re.DOTALL)
"""Every form above, ``#N`` included: what a state file may hold as a key."""


def of_id(name: str) -> str:
    return f"id:{name}"


def disk(path: str) -> str:
    return f"disk:{path}"


def mac(address: str) -> str:
    return f"mac:{address.lower()}"


def bridge(bus: str) -> str:
    """A bridge or hub qemuwrap added, by the bus it provides."""
    return f"bridge:{bus}"


def moved(key: str, where: str) -> str:
    """The tombstone for the place a device left when it was moved (promise 3)."""
    return f"{MOVED}{key}@{where}"


def is_moved(key: str) -> bool:
    return key.startswith(MOVED)


def ordinal(driver: str, n: int) -> str:
    """A device known by nothing else: its driver and its ordinal among that driver's."""
    return f"{driver}#{n}"


def parse_ordinal(key: str) -> tuple[str, int] | None:
    """(driver, n) of an ordinal key (``e1000#1``); None for any other form. A twin of
    another key (``disk:a.img#1``) parses too: its head is no driver."""
    head, sep, n = key.rpartition("#")
    return (head, int(n)) if sep and head and n.isdigit() else None


def next_ordinals(keys: Iterable[str]) -> dict[str, int]:
    """Driver -> the ordinal a further device of it gets after those ``keys`` hold."""
    out: dict[str, int] = {}
    for key in keys:
        if (parsed := parse_ordinal(key)) is not None:
            out[parsed[0]] = max(out.get(parsed[0], 0), parsed[1] + 1)
    return out


def is_ordinal(key: str, driver: str) -> bool:
    """Whether ``key`` is ``driver``'s ordinal form: a device known by its order alone."""
    parsed = parse_ordinal(key)
    return parsed is not None and parsed[0] == driver


def twin(key: str, n: int) -> str:
    """The key of the n-th further device that has ``key`` too (two drives of one image)."""
    return f"{key}#{n}"
