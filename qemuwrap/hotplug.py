"""Hot-plugging with the command line's own syntax, at the place a launch would give.

The options are read as if they ended the guest's command line: their devices get
the keys a launch would give them (an ordinal counts the guest's own devices of that
driver first) and are placed among the recorded devices by the launch's rules: a
returning device at its old place, a new one at the lowest never-used, a bridge or
hub added where a bus is full. The result is the monitor commands, in the order QEMU
needs them, and the state to record once QEMU took them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qemuwrap import identity, model, preflight, qemuopts
from qemuwrap.cmdline import Token, tokenise
from qemuwrap.errors import RefusedError, UsageError
from qemuwrap.facts import BinaryFacts
from qemuwrap.legacy import modernize
from qemuwrap.machine import Layout
from qemuwrap.model import Device, Guest, MachineOption, Phase
from qemuwrap.pinning import pin, pin_space
from qemuwrap.qemuopts import Opts
from qemuwrap.render import bridge_words, device_words
from qemuwrap.state import GuestState, Pin

__all__ = ["HOTPLUG_OPTIONS", "ROOT_PORTS", "Plug", "plan"]

HOTPLUG_OPTIONS = frozenset({"drive", "blockdev", "device", "netdev", "nic", "net", "object",
                             "chardev", "usbdevice"})
"""Options whose devices and backends a monitor can add to a running guest."""
ROOT_PORTS = frozenset({"pcie-root-port", "ioh3420"})
"""PCI Express root ports: on q35, where a hot-plugged PCI device goes."""


@dataclass(frozen=True)
class Plug:
    commands: list[tuple[str, str]]
    """(option, argument) in the order QEMU must get them: backends, bridges, devices."""
    state: GuestState
    """The state once QEMU took every command."""
    placed: list[Pin]
    """The new devices (and bridges) as recorded."""


def _placeholder(p: Pin) -> Device:
    """A recorded device as the launch's planner sees one the command line places itself."""
    props = Opts((("id", p.provides),)) if p.provides else Opts()
    return Device(driver=p.driver, space=pin_space(p), order=(Phase.PLACED, 0), props=props,
                  key=p.key, bus=p.bus, slot=p.slot, function=p.function or 0, unit=p.unit,
                  port=p.port, mac=p.mac, nic=p.mac is not None)


def _prefix(name: str, usb: tuple[str, str, str] | None) -> list[str]:
    """What the options are read after: the guest, no default devices, its USB controller."""
    words = ["-name", name, "-nodefaults"]
    if usb is not None:
        _, driver, ident = usb
        words += ["-device", f"{driver},id={ident}"] if ident else ["-usb"]
    return words


def _renumber(devices: list[Device], old: GuestState) -> None:
    """Ordinals as if the options came after the guest's own devices of that driver."""
    after = identity.next_ordinals(p.key for p in old.devices)
    for d in devices:
        parsed = identity.parse_ordinal(d.key)
        if parsed is not None and parsed[0] == d.driver:
            d.key = identity.ordinal(d.driver, parsed[1] + after.get(d.driver, 0))


def _pairs(words: list[str]) -> list[tuple[str, str]]:
    out = []
    for i in range(0, len(words), 2):
        if i + 1 >= len(words) or not words[i].startswith("-"):
            raise UsageError(f"{words[i]} cannot be hot-plugged: only options with an argument "
                             f"({', '.join(sorted('-' + o for o in HOTPLUG_OPTIONS))})")
        out.append((words[i], words[i + 1]))
    return out


def _devices(given: list[Token], old: GuestState, facts: BinaryFacts, layout: Layout,
             usb: tuple[str, str, str] | None, suffix: str) -> tuple[Guest, list[Device], int]:
    """The options read after the guest's line: (what they build, their devices keyed and
    with absolute image paths, how many items the prefix built)."""
    for token in given:
        if token.name not in HOTPLUG_OPTIONS:
            raise UsageError(f"{' '.join(token.raw)} cannot be hot-plugged; plug takes "
                             f"{', '.join(sorted('-' + o for o in HOTPLUG_OPTIONS))}")
    preflight.check_images(given)
    prefix = tokenise(_prefix(old.name, usb))
    built = model.build(modernize([*prefix, *given], facts), facts, layout, suffix)
    controller = {built.items[2]} if usb is not None and usb[2] else set()
    new = [d for i, d in enumerate(built.devices) if i not in controller]
    _renumber(new, old)
    keys = {p.key for p in old.devices}
    for d in new:
        if d.key in keys:
            raise RefusedError(f"guest {old.name!r} has {d.key} already; unplug it first")
        file = d.drive.get("file") if d.drive is not None else None
        if d.drive is not None and file and preflight.is_local_file(file):
            # QEMU's working directory is not ours (a daemon's is /); the key keeps the
            # path as written, as the command line will write it.
            d.drive = d.drive.with_("file", os.path.abspath(file))
    return built, new, len(prefix)


def _root_ports(new: list[Device], old: GuestState, layout: Layout,
                live: set[tuple[tuple[str, int, int], str]]) -> None:
    """On q35 the root complex takes no hot-plugged device, so each new PCI device that
    names no bus goes behind a root port with nothing behind it (as libvirt plugs into
    the spare ports it starts a guest with); one whose removed device left a tombstone
    only when no other is free."""
    if layout.family != "q35":
        return
    recorded = [*old.devices, *old.tombstones]
    known = {p.key for p in recorded}
    wanted = [d for d in new if d.space == "pci" and d.bus is None and d.slot is None
              and d.key not in known]
    if not wanted:
        return
    busy = {p.bus for p in old.devices} | {spot[0] for spot, _ in live}
    left = {p.bus for p in old.tombstones}
    ports = [p.provides for p in old.devices if p.driver in ROOT_PORTS and p.provides
             and p.provides not in busy]
    free = sorted(ports, key=lambda port: port in left)
    if len(free) < len(wanted):
        raise RefusedError(
            f"guest {old.name!r} has {len(free)} free pcie-root-port(s) and the plug needs "
            f"{len(wanted)}: on q35 a device is hot-plugged behind one (the root complex "
            "takes none); start the guest with spare ones, -device pcie-root-port,id=rpN,"
            "chassis=N")
    for device, port in zip(wanted, free, strict=False):
        device.bus = port


def _absolute_files(words: tuple[str, ...]) -> tuple[str, ...]:
    """A ``-blockdev`` whose relative file names are made absolute: QEMU's working
    directory is not ours (a daemon's is /). Others as they are."""
    if words[0] != "-blockdev" or len(words) != 2:
        return words

    def absolute(key: str, value: Any) -> Any:
        named = key == "filename" or key.endswith(".filename")
        local = named and isinstance(value, str) and preflight.is_local_file(value)
        return os.path.abspath(value) if local else value

    def walk(tree: dict[str, Any]) -> dict[str, Any]:
        return {k: walk(v) if isinstance(v, dict) else absolute(k, v) for k, v in tree.items()}

    if qemuopts.is_json(words[1]):
        return words[0], qemuopts.render_json(walk(qemuopts.parse_json(words[1])))
    pairs = tuple((k, absolute(k, v)) for k, v in qemuopts.parse(words[1]).pairs)
    return words[0], qemuopts.render(Opts(pairs))


def plan(options: list[str], old: GuestState, facts: BinaryFacts, layout: Layout,
         usb: tuple[str, str, str] | None, live: set[tuple[tuple[str, int, int], str]],
         now: datetime, suffix: str) -> Plug:
    """The plug of ``options`` into the running guest whose state is ``old``; ``usb``: its
    USB bus (bus, controller, controller id) if it has one; ``live``: (spot, driver) of
    the devices it has now; ``suffix``: ends the ids qemuwrap makes up for backends."""
    built, new, skip = _devices(tokenise(options), old, facts, layout, usb, suffix)
    _root_ports(new, old, layout, live)
    recorded = [_placeholder(p) for p in old.devices if not p.added]
    placed = pin(Guest(old.name, old.machine, [], [*recorded, *new], built.usb), layout,
                 old.machine, old, now, hotplug=True)
    index = {id(d): len(recorded) + i for i, d in enumerate(new)}
    backends: list[str] = []
    devices: list[str] = []
    for item in built.items[skip:]:
        if isinstance(item, MachineOption):
            raise UsageError("-machine cannot be hot-plugged")
        if isinstance(item, tuple):
            backends += _absolute_files(item)
            continue
        device = built.devices[item]
        where = placed.placements.get(index[id(device)])
        words = device_words(device, where) if where is not None else list(device.raw or ())
        backends += words[:-2]
        devices += words[-2:]
    bridges = [w for p in placed.bridges if (p.spot, p.driver) not in live
               for w in bridge_words(p)]
    keys = {p.key for p in old.devices}
    added = [p for p in placed.state.devices if p.key not in keys]
    state = GuestState(name=old.name, machine=old.machine, devices=(*old.devices, *added),
                       tombstones=placed.state.tombstones, created=old.created,
                       last_launch=old.last_launch, extra=old.extra)
    return Plug(_pairs(backends) + _pairs(bridges) + _pairs(devices), state, added)
