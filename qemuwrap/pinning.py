"""Give every device of a guest its address, MAC and disk unit, from the state or anew.

Takes the guest the command line describes, the board layout, the resolved
machine type and the old state; returns where each device goes and the new
state. Pure: the caller reads and writes files.

Identity (README, "How a device is recognised"): an explicit ``id=``; for disks
the image path; for NICs an explicit MAC; the board's own VGA and CD-ROM by
role; otherwise driver plus ordinal among devices of that driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from qemuwrap import identity, spaces
from qemuwrap.allocator import Bus, Request, Retired, allocate
from qemuwrap.errors import ConflictError
from qemuwrap.machine import HUB_PORTS, Layout
from qemuwrap.model import Device, Guest
from qemuwrap.schema import BRIDGES, ISA_BUS
from qemuwrap.spaces import ALLOCATED, SPACES, Placement
from qemuwrap.spaces.pci import BRIDGE_SLOTS, PCI
from qemuwrap.spaces.usb import spot_port
from qemuwrap.state import GuestState, Pin

__all__ = [
    "MAC_BASE",
    "Plan",
    "pin",
    "pin_space",
    "scan_order",
    "shown_bridges",
    "vacated",
    "with_vacated",
]

MAC_BASE = "52:54:00:12:34:"
@dataclass
class Plan:
    machine: str
    placements: dict[int, Placement]
    """Device index to its place. A device with no entry is left out (the default
    CD-ROM when its spot is taken) or, on a bus qemuwrap does not know, left as given."""
    left_out: set[int]
    bridges: list[Pin]
    """Recorded bridges and hubs that are not on the command line but go to QEMU, parents
    first: qemuwrap's with a device behind them, and those kept for the bus numbers."""
    state: GuestState
    new_keys: list[str] = field(default_factory=list)
    hidden: frozenset[str] = frozenset()
    """Keys of recorded bridges and hubs that this launch leaves out (nothing needs them)."""
    chosen: tuple[str, ...] = ()
    """Devices whose place (or MAC) neither the command line nor the state gave: chosen now."""


def _requests(devices: list[tuple[int, Device]], root: str) -> list[Request]:
    out = []
    for _, d in devices:
        spot = SPACES[d.space].requested(d, root)
        only_at = (d.only_at[0], d.only_at[1], 0) if d.only_at else None
        out.append(Request(d.key, spot=spot, bus=d.bus if spot is None else None, only_at=only_at))
    return out


class _Bridges:
    """Adds the bridges that give a full bus more room, and remembers them."""

    def __init__(self, layout: Layout, existing: list[Pin], now: datetime,
                 hotplug: bool = False) -> None:
        self.layout = layout
        self.pins = list(existing)
        self.now = now
        self.hotplug = hotplug
        """Places chosen for a running guest, where a bridge's slot 0 is not to be had."""

    def next_number(self) -> int:
        return max((p.chassis or 0 for p in self.pins), default=0) + 1

    def grow(self, bus: str, slot: int) -> Bus:
        n = self.next_number()
        if bus == self.layout.root_bus and self.layout.bridge_chain[0] == "pcie-root-port":
            port = f"qwrp{n}"
            self.pins.append(Pin(key=identity.bridge(port), driver="pcie-root-port", bus=bus,
                                 slot=slot, function=0, provides=port, chassis=n,
                                 last_seen=self.now))
            bus, slot, driver = port, 0, "pcie-pci-bridge"
        else:
            driver = "pci-bridge"
        name = f"qwbr{n}"
        self.pins.append(Pin(key=identity.bridge(name), driver=driver, bus=bus, slot=slot,
                             function=0, provides=name, chassis=n, last_seen=self.now))
        return Bus(name, self.slots(driver), growable=True)

    def slots(self, driver: str) -> tuple[int, ...]:
        """The slots a device may take behind a bridge of ``driver``; hot-plugged, a
        bridge's standard hot-plug controller takes none at slot 0."""
        slots = BRIDGE_SLOTS[driver]
        return tuple(s for s in slots if s) if self.hotplug and len(slots) > 1 else slots

    def hub(self, bus: str, slot: int) -> Bus:
        """QEMU's own rule: a USB device that would take the last free port gets a hub there."""
        qemu_bus, port = spot_port((bus, slot, 0))
        provides = f"{qemu_bus}:{port}"
        self.pins.append(Pin(key=identity.bridge(provides), driver="usb-hub", bus=qemu_bus,
                             port=port, provides=provides, last_seen=self.now))
        return Bus(provides, HUB_PORTS, growable=True)

    def buses(self, space: str) -> list[Bus]:
        """The buses the added bridges (``pci``) or hubs (``usb``) provide."""
        if space == "usb":
            return [Bus(p.provides, HUB_PORTS, growable=True)
                    for p in self.pins if p.provides and p.driver == "usb-hub"]
        if space != "pci":
            return []
        return [Bus(p.provides, self.slots(p.driver), growable=p.driver != "pcie-root-port")
                for p in self.pins if p.provides and p.driver in BRIDGE_SLOTS]


def _macs(guest: Guest, keep: dict[str, str], used: set[str]) -> dict[int, str]:
    """QEMU's rule for NICs without a MAC: 52:54:00:12:34:56 upwards, first unused, in order."""
    out: dict[int, str] = {}
    taken = set(used)
    for index, device in sorted(enumerate(guest.devices), key=lambda p: p[1].order):
        if not device.nic:
            continue
        mac = device.mac or keep.get(device.key)
        if mac is None:
            free = next((f"{MAC_BASE}{n:02x}" for n in range(0x56, 0x100)
                         if f"{MAC_BASE}{n:02x}" not in taken), None)
            if free is None:
                raise ConflictError(f"no free default MAC address left for {device.key}")
            mac = free
        taken.add(mac.lower())
        out[index] = mac
    return out


def vacated(pin: Pin) -> Pin:
    """The tombstone a device leaves where it was when it is moved (by an explicit address
    or by hand): the spot is freed like a removed device's (promise 3, docs/promises.md)."""
    return replace(pin, key=identity.moved(pin.key, pin.describe()), mac=None)


def with_vacated(tombstones: list[Pin], pins: dict[str, Pin], placed: list[Pin]) -> list[Pin]:
    """Tombstones for the spots moved devices left (``pins``: where they were, ``placed``:
    where they are); none left where a device now is."""
    occupied = {p.spot for p in placed}
    moved = [vacated(old) for p in placed
             if (old := pins.get(p.key)) is not None and old.spot != p.spot]
    kept = [t for t in tombstones if not (identity.is_moved(t.key) and t.spot in occupied)]
    return list({t.key: t for t in [*kept, *moved]}.values())


def scan_order(bridges: list[Pin]) -> list[Pin]:
    """PCI bridges in the order the firmware numbers their buses: depth first, each bus
    in slot.function order (SeaBIOS and OVMF both scan so)."""
    on_bus: dict[str, list[Pin]] = {}
    for p in bridges:
        on_bus.setdefault(p.bus, []).append(p)
    provided = {p.provides for p in bridges}
    order: list[Pin] = []
    seen: set[str] = set()

    def walk(bus: str) -> None:
        seen.add(bus)
        for p in sorted(on_bus.get(bus, []), key=lambda p: (p.slot or 0, p.function or 0)):
            order.append(p)
            if p.provides and p.provides not in seen:
                walk(p.provides)

    for bus in sorted(b for b in on_bus if b not in provided):
        walk(bus)
    return order


def shown_bridges(recorded: list[Pin], present: list[Pin], occupied: set[str]) -> list[Pin]:
    """Which ``recorded`` bridges and hubs (not on the command line) go to QEMU.

    One is shown while a device or a shown bridge sits behind it (``occupied``: the
    buses devices sit on; ``present``: the command line's own bridges). A PCI bridge
    with nothing behind it is still shown while a bridge after it in the firmware's
    scan order is: the firmware numbers the buses behind bridges in the order it
    finds them, so taking one away renumbers every bus after it (``enp2s0`` becomes
    ``enp1s0``) although no slot changed. Parents come first in the result.
    """
    shown = {p.key for p in present}
    busy = set(occupied) | {p.spot[0] for p in present}
    grew = True
    while grew:
        grew = False
        for p in recorded:
            if p.key not in shown and p.provides in busy:
                shown.add(p.key)
                busy.add(p.spot[0])
                grew = True
    scanned = scan_order([p for p in [*recorded, *present] if p.slot is not None])
    later = False
    for p in reversed(scanned):
        if p.key in shown:
            later = True
        elif later:
            shown.add(p.key)
    order = {p.key: i for i, p in enumerate(scanned)}
    kept = [p for p in recorded if p.key in shown]
    return sorted(kept, key=lambda p: (p.port is not None, order.get(p.key, 0),
                                       (p.port or "").count(".")))


def pin_space(pin: Pin) -> str:
    return spaces.of(pin).name


@dataclass
class _Recorded:
    """What the old state says, sorted for this launch."""

    devices: list[Pin]
    tombstones: list[Pin]
    pins: dict[str, Pin]
    """The command line's own devices as recorded, by key (not qemuwrap's bridges)."""
    kept: list[Pin]
    """The user's bridges that left the command line: they keep their place."""
    gone: dict[str, Pin]
    """Tombstones, and recorded devices the command line no longer has."""


def _recorded(guest: Guest, old: GuestState | None) -> _Recorded:
    devices = list(old.devices) if old else []
    tombstones = list(old.tombstones) if old else []
    if guest.usb is not None:
        # Pins on another USB controller's bus (the line changed controllers) are void.
        root = guest.usb.bus
        devices = [p for p in devices if pin_space(p) != "usb" or p.bus == root]
        tombstones = [p for p in tombstones if pin_space(p) != "usb" or p.bus == root]
    pins = {p.key: p for p in devices if not p.added}
    present = {d.key for d in guest.devices}
    kept = [p for k, p in pins.items() if p.options is not None and k not in present]
    gone = {p.key: p for p in tombstones} | {k: p for k, p in pins.items()
                                           if k not in present and p.options is None}
    return _Recorded(devices, tombstones, pins, kept, gone)


def _place(guest: Guest, layout: Layout, rec: _Recorded, bridges: _Bridges,
           now: datetime) -> tuple[dict[int, Placement], set[str]]:
    """Each address space in turn: explicit places, then pinned, then never used. Returns
    the placements and the keys of tombstones whose place was given away."""
    present = {d.key for d in guest.devices}
    placements: dict[int, Placement] = {}
    reused: set[str] = set()
    for space in ALLOCATED:
        members = sorted(((i, d) for i, d in enumerate(guest.devices) if d.space == space.name),
                         key=lambda p: p[1].order)
        if not members and space is not PCI:
            continue
        mine = {p.key for p in [*rec.devices, *rec.tombstones] if spaces.of(p) is space}
        pinned = {k: p.spot for k, p in rec.pins.items() if k in present and k in mine}
        retired = {k: Retired(p.spot, p.last_seen or now) for k, p in rec.gone.items()
                   if k in mine}
        requests = [Request(p.key, spot=p.spot) for p in [*bridges.pins, *rec.kept]
                    if spaces.of(p) is space]
        requests += _requests(members, layout.root_bus)
        grow = {"pci": bridges.grow, "usb": bridges.hub}.get(space.name)
        buses = space.buses(layout, guest, bridges.buses(space.name))
        result = allocate(requests, buses, pinned, retired, grow)
        reused |= result.reused
        for index, device in members:
            if device.key in result.placed:
                placements[index] = space.placement(result.placed[device.key])
    for index, device in enumerate(guest.devices):
        if device.space == "isa":
            placements[index] = Placement(ISA_BUS)
    # A NIC that comes back gets its own MAC again, like its address (its tombstone's).
    used_macs = {p.mac.lower() for p in [*rec.devices, *rec.tombstones] if p.mac}
    keep_macs = {k: p.mac for k, p in [*rec.gone.items(), *rec.pins.items()] if p.mac}
    for index, mac in _macs(guest, keep_macs, used_macs).items():
        if index in placements:
            placements[index] = replace(placements[index], mac=mac)
    return placements, reused


def _new_pins(guest: Guest, placements: dict[int, Placement], rec: _Recorded,
              now: datetime) -> list[Pin]:
    """A pin for each placed device, with the unknown fields its recorded pin carried."""
    extra = {p.key: p.extra for p in [*rec.tombstones, *rec.devices] if p.extra}
    out = []
    for index, device in enumerate(guest.devices):
        if index in placements:
            where = placements[index]
            bridge = device.driver in BRIDGES and device.user_id is not None
            out.append(Pin(
                key=device.key, driver=device.driver, bus=where.bus, slot=where.slot,
                function=where.function if where.slot is not None else None, unit=where.unit,
                port=where.port, mac=where.mac, provides=device.user_id if bridge else None,
                options=device.own_option() if bridge else None, last_seen=now,
                extra=extra.get(device.key, {})))
    out.sort(key=lambda p: (p.bus, p.slot or 0, p.function or 0, p.unit or 0, p.port or ""))
    return out


def pin(guest: Guest, layout: Layout, machine: str, old: GuestState | None,
        now: datetime, hotplug: bool = False) -> Plan:
    """Place every device: explicit addresses, then pinned ones, then never-used ones.
    ``hotplug``: into a running guest (``hotplug.py``), where a new bridge's slot 0 is
    not to be had."""
    rec = _recorded(guest, old)
    bridges = _Bridges(layout, [p for p in rec.devices if p.added], now, hotplug)
    placements, reused = _place(guest, layout, rec, bridges, now)
    left_out = {i for i, d in enumerate(guest.devices) if d.only_at and i not in placements}
    new_pins = _new_pins(guest, placements, rec, now)
    placed_keys = {p.key for p in new_pins}
    gone = rec.gone | {k: p for k, p in rec.pins.items() if k not in placed_keys}
    tombstones = [p for k, p in gone.items() if k not in placed_keys and k not in reused]
    tombstones = with_vacated(tombstones, rec.pins, new_pins)
    state = GuestState(
        name=guest.name, machine=machine, devices=(*bridges.pins, *rec.kept, *new_pins),
        tombstones=tuple(sorted(tombstones, key=lambda p: p.key)),
        created=old.created if old and old.created else now, last_launch=now,
        extra=old.extra if old else {})
    recorded = [*bridges.pins, *rec.kept]
    shown = shown_bridges(recorded, [p for p in new_pins if p.provides],
                          {p.spot[0] for p in new_pins})
    hidden = frozenset(p.key for p in recorded) - {p.key for p in shown}
    new_keys = [p.key for p in new_pins if p.key not in rec.pins]
    given = {p.key for p in [*rec.devices, *rec.tombstones]}
    chosen = tuple(d.key for i, d in enumerate(guest.devices) if i in placements
                   and not d.explicit and d.only_at is None and d.key not in given)
    return Plan(machine, placements, left_out, shown, state, new_keys, hidden, chosen)
