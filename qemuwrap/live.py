"""A running guest as its QEMU reports it, set against its state.

The devices at the kinds of places qemuwrap pins (PCI slots, IDE and SCSI units, USB
ports) are read from ``info qtree``, their disks' images from ``query-block``. A
device that sits where the state has one of its driver is that device; one that sits
elsewhere was hot-plugged behind qemuwrap's back, and a recorded device with nothing
of its driver at its place was unplugged. ``qemuwrap-ctl sync`` records both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from qemuwrap import identity
from qemuwrap.machine import Layout
from qemuwrap.pinning import MAC_BASE, shown_bridges, with_vacated
from qemuwrap.qmp import QMP
from qemuwrap.qtree import parse
from qemuwrap.schema import BRIDGES, ISA_BUS
from qemuwrap.spaces import ALLOCATED
from qemuwrap.state import GuestState, Pin

__all__ = ["CHASSIS_PROPS", "Drift", "LiveDevice", "drift", "expected", "read", "recorded"]

CHASSIS_PROPS = ("chassis_nr", "chassis", "slot")
"""A bridge's or root port's numbers that name its slots to the guest (not its address)."""



@dataclass(frozen=True)
class LiveDevice:
    pin: Pin
    """Where it is, with its MAC; its key is the one it would be recorded under."""
    qdev_id: str
    drive: str | None


@dataclass(frozen=True)
class Drift:
    unrecorded: list[LiveDevice]
    """Live devices at a place the state has no device of their driver."""
    missing: list[Pin]
    """Recorded devices with no device of their driver at their place."""
    matched: int


def _pin(dev: dict[str, str], layout: Layout) -> Pin | None:
    """The place of one qtree device, if it is one qemuwrap pins."""
    return next((p for space in ALLOCATED if (p := space.from_qtree(dev, layout))), None)


def read(qmp: QMP, layout: Layout, qtree: str) -> list[LiveDevice]:
    """The running guest's devices at places qemuwrap pins (``qtree``: its ``info qtree``),
    keyed as a launch would key them if the command line named them so (id, image, MAC;
    else unknown: ``""``)."""
    files = {b["device"]: b["inserted"]["file"] for b in qmp.execute("query-block")
             if b.get("device") and "inserted" in b}
    out = []
    devices = parse(qtree)
    for index, dev in enumerate(devices):
        # A virtio proxy's disk and MAC are its child's (virtio-blk-device on its bus).
        own = [dev, *(d for d in devices if d["parent"] == str(index))]
        dev = {**{k: v for d in reversed(own) for k, v in d.items() if k in ("drive", "mac")},
               **dev}
        pin = _pin(dev, layout)
        if pin is None:
            continue
        drive = dev.get("drive") or None
        # A MAC of QEMU's own range was most likely not given: the NIC is known by order.
        key = (identity.of_id(dev["id"]) if dev["id"] else
               identity.disk(files[drive]) if drive in files else
               identity.mac(pin.mac) if pin.mac and not pin.mac.startswith(MAC_BASE) else "")
        if pin.driver == "usb-hub" and not dev["id"]:
            provides = f"{pin.bus}:{pin.port}"
            pin, key = replace(pin, provides=provides), identity.bridge(provides)
        elif pin.driver in BRIDGES and dev["id"]:
            pin = replace(pin, provides=dev["id"], options=_bridge_options(dev))
        out.append(LiveDevice(replace(pin, key=key), dev["id"], drive))
    return out


def _bridge_options(dev: dict[str, str]) -> str:
    """A bridge's ``-device`` argument as recorded for one of the user's own (to put it
    back while a bridge after it is there), from what the guest has: its driver, id and
    chassis numbers (the rest as QEMU's defaults)."""
    words = [dev["driver"], f"id={dev['id']}"]
    for prop in CHASSIS_PROPS:
        number = dev.get(prop, "").split(" ")[0]
        if number.isdigit() and int(number):
            words.append(f"{prop}={int(number)}")
    return ",".join(words)


def _known(state: GuestState) -> list[Pin]:
    """The recorded devices a running guest must have: bridges and hubs only where a
    launch shows them (a device behind them, or a bridge after them)."""
    plain = [p for p in state.devices if p.provides is None and p.bus != ISA_BUS]
    bridges = [p for p in state.devices if p.provides is not None]
    return plain + shown_bridges(bridges, [], {p.spot[0] for p in plain})


def expected(state: GuestState) -> tuple[Pin, ...]:
    """What ``qemuwrap-ctl check NAME`` looks for: every recorded device the launch shows."""
    isa = [p for p in state.devices if p.bus == ISA_BUS]
    return tuple(_known(state) + isa)


def _placed_here(state: GuestState, layout: Layout, usb_buses: list[str]) -> set[str]:
    """The buses on which a launch places devices, and so records them: the board's root
    bus and IDE buses, the buses of recorded bridges, the SCSI buses recorded devices are
    on, and the USB bus recorded devices are on (or the guest's only one)."""
    pins = (*state.devices, *state.tombstones)
    buses = {layout.root_bus, *(bus for bus, _ in layout.ide_spots)}
    buses |= {p.provides for p in state.devices if p.provides and p.port is None}
    buses |= {p.bus for p in pins if p.space in ("scsi", "usb")}
    if not any(p.space == "usb" for p in pins) and len(usb_buses) == 1:
        buses.add(usb_buses[0])
    return buses


def drift(state: GuestState, live: list[LiveDevice], layout: Layout,
          usb_buses: list[str]) -> Drift:
    """How the running guest differs from its state, on the buses a launch places devices
    on (``usb_buses``: the guest's USB buses); unrecorded devices known by nothing else
    get the next ordinal of their driver."""
    known = _known(state)
    buses = _placed_here(state, layout, usb_buses)
    while grown := {d.pin.provides for d in live if d.pin.provides and d.pin.port is None
                    and d.pin.bus in buses} - buses:
        buses |= grown  # the buses of bridges plugged there: a launch places on them too
    live = [d for d in live if d.pin.bus in buses]
    at = {(d.pin.spot, d.pin.driver): d for d in live}
    missing = [p for p in known if (p.spot, p.driver) not in at]
    recorded = {(p.spot, p.driver) for p in known}
    unrecorded = [d for d in live if (d.pin.spot, d.pin.driver) not in recorded]
    ordinals = identity.next_ordinals(p.key for p in state.devices)
    named = []
    for d in unrecorded:
        if not d.pin.key:
            n = ordinals.get(d.pin.driver, 0)
            ordinals[d.pin.driver] = n + 1
            d = replace(d, pin=replace(d.pin, key=identity.ordinal(d.pin.driver, n)))
        named.append(d)
    return Drift(named, missing, len(known) - len(missing))


def recorded(state: GuestState, found: Drift, now: datetime) -> GuestState:
    """The state with the drift recorded: unrecorded devices pinned where they are (one
    whose key the state had elsewhere is moved), missing ones made tombstones."""
    new = {d.pin.key: replace(d.pin, last_seen=now) for d in found.unrecorded}
    gone = {p.key for p in found.missing} - set(new)
    old = {p.key: p for p in state.devices}
    devices = [p for p in state.devices if p.key not in new and p.key not in gone]
    tombs = [t for t in state.tombstones if t.key not in new]
    tombs += [replace(p, last_seen=now) for p in state.devices if p.key in gone]
    tombs = with_vacated(tombs, {k: p for k, p in old.items() if k in new}, list(new.values()))
    # A place the guest gave another device is that device's now; the removed one, if it
    # comes back, gets a new place.
    taken = {p.spot for p in new.values()}
    tombs = [t for t in tombs if t.spot not in taken]
    return replace(state, devices=(*devices, *new.values()),
                   tombstones=tuple(sorted(tombs, key=lambda p: p.key)))
