"""Handing out addresses: pinned devices keep theirs, new ones get never-used ones.

Knows nothing of argv or files: requests come in QEMU's creation order, each
with an identity key, and the answer maps keys to spots ``(bus, slot, function)``
(an IDE unit is a slot with function 0). On a first launch, with nothing pinned,
"the lowest free slot in creation order" is exactly what QEMU itself does, which
is what makes adoption invisible.

Promise 3 (docs/promises.md): a spot that a removed device held (a tombstone) is not handed out
while never-used spots remain, or a new NIC would inherit the old one's
guest-side name and IP. A growable bus keeps its last never-used slot for a
bridge, so that there is always room for one more device.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from qemuwrap.errors import ConflictError

__all__ = ["Allocation", "Bus", "Grow", "Request", "Retired", "Spot", "allocate", "spot_name"]

Spot = tuple[str, int, int]


@dataclass(frozen=True)
class Bus:
    name: str
    slots: tuple[int, ...]
    growable: bool = False
    automatic: bool = True
    """Whether devices that name no bus may be put here. Not a bridge of the user's own:
    QEMU never puts such a device behind one, and the bridge may come later in the line."""


@dataclass(frozen=True)
class Request:
    key: str
    spot: Spot | None = None
    """An address the command line gives explicitly; it always wins over a pin."""
    bus: str | None = None
    """A bus the command line names without a slot."""
    only_at: Spot | None = None
    """The only spot this device may take; without it, the device is left out."""


@dataclass(frozen=True)
class Retired:
    spot: Spot
    last_seen: datetime


@dataclass
class Allocation:
    placed: dict[str, Spot] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    """Retired keys whose spot went to another device (when nothing never-used was left)."""


Grow = Callable[[str, int], Bus]
"""Put a bridge in slot ``slot`` of bus ``name``; return the bus it provides."""


def spot_name(spot: Spot) -> str:
    bus, slot, function = spot
    return f"{bus} {slot:02x}.{function}"


class _Allocator:
    def __init__(self, buses: Sequence[Bus], pinned: dict[str, Spot],
                 retired: dict[str, Retired], grow: Grow | None) -> None:
        self.buses = list(buses)
        self.pinned = pinned
        self.retired = dict(retired)
        self.grow = grow
        self.taken: dict[Spot, str] = {}
        self.result = Allocation()

    def bus(self, name: str) -> Bus | None:
        return next((b for b in self.buses if b.name == name), None)

    def claim(self, key: str, spot: Spot, why: str = "") -> None:
        holder = self.taken.get(spot)
        if holder is not None and holder != key:
            raise ConflictError(f"{key} {why}{spot_name(spot)}, which {holder} already holds")
        self.taken[spot] = key
        self.result.placed[key] = spot

    def slot_busy(self, bus: str, slot: int, key: str) -> bool:
        """Whether any function of the slot is taken now, or was held by another device."""
        if any(s[0] == bus and s[1] == slot for s in self.taken):
            return True
        return any(r.spot[0] == bus and r.spot[1] == slot and k != key
                   for k, r in self.retired.items())

    def free_slots(self, bus: Bus, key: str) -> list[int]:
        return [s for s in bus.slots if not self.slot_busy(bus.name, s, key)]

    def first_free(self, key: str, only_bus: str | None) -> Spot | None:
        if only_bus is not None:
            bus = self.bus(only_bus)
            if bus is None:
                return None
            free = self.free_slots(bus, key)
            return (bus.name, free[0], 0) if free else self.reuse(key, [bus])
        automatic = [b for b in self.buses if b.automatic]
        for bus in automatic:
            free = self.free_slots(bus, key)
            if len(free) > 1 or (free and not bus.growable):
                return bus.name, free[0], 0
        if self.grow is not None:
            for bus in automatic:
                free = self.free_slots(bus, key)
                if bus.growable and free:
                    new_bus = self.grow(bus.name, free[0])
                    self.taken[(bus.name, free[0], 0)] = f"bridge {new_bus.name}"
                    self.buses.append(new_bus)
                    return self.first_free(key, None)
        return self.reuse(key, automatic)

    def reuse(self, key: str, buses: list[Bus]) -> Spot | None:
        """Nothing never-used is left: take the spot of the device removed longest ago."""
        names = {b.name for b in buses}
        candidates = sorted((r.last_seen, k) for k, r in self.retired.items()
                            if r.spot[0] in names and r.spot not in self.taken)
        if not candidates:
            return None
        _, old = candidates[0]
        spot = self.retired.pop(old).spot
        self.result.reused.add(old)
        return spot

    def run(self, requests: Sequence[Request]) -> Allocation:
        for r in requests:
            if r.spot is not None:
                self.claim(r.key, r.spot, "asks for ")
        pending: list[Request] = []
        for r in requests:
            if r.spot is not None:
                continue
            pin = self.pinned.get(r.key)
            if pin is not None and (r.bus is None or r.bus == pin[0]) and self.bus(pin[0]):
                holder = self.taken.get(pin)
                if holder is not None and r.only_at is not None:
                    continue
                if holder is not None:
                    raise ConflictError(f"{holder} asks for {spot_name(pin)}, where {r.key} "
                                        "is pinned; give it another address or move the pin")
                self.claim(r.key, pin)
                continue
            old = self.retired.get(r.key)
            if old is not None and old.spot not in self.taken and self.bus(old.spot[0]) and (
                    r.bus is None or r.bus == old.spot[0]):
                del self.retired[r.key]
                self.claim(r.key, old.spot)
                continue
            pending.append(r)
        for r in pending:
            if r.only_at is not None:
                if not self.slot_busy(r.only_at[0], r.only_at[1], r.key):
                    self.claim(r.key, r.only_at)
                continue
            spot = self.first_free(r.key, r.bus)
            if spot is None:
                if r.bus is not None and self.bus(r.bus) is None:
                    continue
                raise ConflictError(f"no free address left for {r.key}")
            self.claim(r.key, spot)
        return self.result


def allocate(requests: Sequence[Request], buses: Sequence[Bus], pinned: dict[str, Spot],
             retired: dict[str, Retired], grow: Grow | None = None) -> Allocation:
    """Place every request: explicit spots, then pins, then never-used spots in order.

    ``pinned`` holds the recorded spots of the devices present now, ``retired`` those
    of devices that are gone (tombstones) or not on this command line. Raises
    ConflictError when an explicit spot collides with another device's.
    """
    return _Allocator(buses, pinned, retired, grow).run(requests)
