"""``qemuwrap-ctl plug``, ``unplug`` and ``sync``: a running guest changed and recorded
through qemuwrap's own monitor (the socket beside its state, docs/live.md)."""

from __future__ import annotations

import argparse
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace

from qemuwrap import hotplug, identity, live, machine, monitor, qemuopts, qtree, spaces, state
from qemuwrap.config import GUARD
from qemuwrap.ctl.common import (
    PLUG_ARGS,
    Add,
    editing,
    find_key,
    qemu_binary,
    running_pid,
    state_directory,
)
from qemuwrap.errors import QemuwrapError, RefusedError, UsageError
from qemuwrap.launch import FactsSource
from qemuwrap.machine import Layout
from qemuwrap.options import IMPLIED_KEY
from qemuwrap.qmp import QMP
from qemuwrap.state import GuestState, Pin

__all__ = ["cmd_plug", "cmd_sync", "cmd_unplug", "guest_monitor", "live_drift", "qom_path",
           "send_all"]

MONITOR_COMMANDS = {"-device": "device_add", "-drive": "drive_add 0", "-netdev": "netdev_add",
                    "-object": "object_add", "-chardev": "chardev-add",
                    "-blockdev": "drive_add -n 0"}
"""The HMP command that does at run time what each option does at start (``drive_add -n``
takes a ``-blockdev``'s key=value text)."""
JSON_COMMANDS = {"-device": "device_add", "-blockdev": "blockdev-add"}
"""The QMP command that takes an option's JSON form as its arguments."""
UNDO = {"-device": "device_del", "-drive": "drive_del", "-netdev": "netdev_del",
        "-object": "object_del", "-chardev": "chardev-remove"}


def _qmp(path: str) -> QMP:
    """QMP on a monitor socket; OSError when nothing listens there."""
    raw = monitor.connect(path, 10)
    return QMP(path, connected=socket.socket(fileno=raw.detach()))


def _handed_over(path: str, current: QMP | None) -> QMP | None:
    """The monitor of a migration target started on this host (``monitor.incoming_path``)
    once the guest runs there: its source gone or ``postmigrate``. Its socket then takes
    ``path``, so that every later command finds the guest where it runs."""
    if current is not None and current.execute("query-status")["status"] != "postmigrate":
        return None
    incoming = monitor.incoming_path(path)
    try:
        target = _qmp(incoming)
    except OSError:
        return None
    if target.execute("query-status")["status"] in ("inmigrate", "postmigrate"):
        target.close()
        return None
    os.replace(incoming, path)
    return target


@contextmanager
def guest_monitor(name: str) -> Iterator[QMP]:
    """qemuwrap's monitor of a running guest; refused when the guest has none."""
    sock_path = monitor.socket_path(str(state.path_for(state_directory(), name)))
    current: QMP | None = None
    try:
        current = _qmp(sock_path)
    except OSError as exc:
        why = exc.strerror
    target = _handed_over(sock_path, current)
    if target is not None and current is not None:
        current.close()
    qmp = target or current
    if qmp is None:
        raise RefusedError(
            f"guest {name!r} is not running with qemuwrap's monitor ({sock_path}: "
            f"{why}); start it with qemuwrap, without 'monitor = false' in the config")
    with qmp:
        yield qmp


def _layout(guest: GuestState) -> Layout:
    found = machine.layout(guest.machine)
    if found is None:
        raise RefusedError(f"guest {guest.name!r} runs machine {guest.machine}, which "
                           "qemuwrap does not place devices on")
    return found


def _drift(qmp: QMP, guest: GuestState) -> live.Drift:
    layout = _layout(guest)
    text = qmp.hmp("info qtree")
    usb_buses = [bus for bus, _, _ in qtree.usb_buses(text)]
    return live.drift(guest, live.read(qmp, layout, text), layout, usb_buses)


def live_drift(guest: GuestState) -> live.Drift | None:
    """How the running guest differs from its state; None when it cannot be asked."""
    try:
        with guest_monitor(guest.name) as qmp:
            return _drift(qmp, guest)
    except QemuwrapError:
        return None


def _usb(guest: GuestState, buses: list[tuple[str, str, str]]) -> tuple[str, str, str] | None:
    """The USB bus a plugged USB device goes on: the recorded devices', else the only one."""
    recorded = {p.bus for p in guest.devices if p.port is not None and p.provides is None}
    chosen = [b for b in buses if b[0] in recorded] or (buses if len(buses) == 1 else [])
    return chosen[0] if len(chosen) == 1 else None


def _running_binary(name: str) -> str:
    """The QEMU qemuwrap launched the guest with (what it offers decides the plug), as the
    launch left it in the guest's environment; else the configured one."""
    import psutil

    pid = running_pid(name)
    try:
        launched = psutil.Process(pid).environ().get(GUARD) if pid else None
    except psutil.Error:
        launched = None
    return launched or qemu_binary()


def _send(qmp: QMP, option: str, value: str) -> None:
    if option in JSON_COMMANDS and qemuopts.is_json(value):
        qmp.execute(JSON_COMMANDS[option], **qemuopts.parse_json(value))
    elif option in MONITOR_COMMANDS:
        qmp.hmp_checked(f"{MONITOR_COMMANDS[option]} {value}")
    else:
        raise UsageError(f"{option} cannot be hot-plugged")


def _undo(qmp: QMP, done: list[tuple[str, str]]) -> None:
    """Take back what a failed plug added, as far as QEMU lets it (best effort)."""
    for option, value in reversed(done):
        props = qemuopts.properties(value, IMPLIED_KEY.get(option[1:]))
        if option == "-blockdev":
            _delete_node(qmp, props.get("node-name"))
        elif props.get("id") is not None:
            with suppress(QemuwrapError):
                qmp.hmp_checked(f"{UNDO[option]} {props['id']}")


def _delete_node(qmp: QMP, node: object) -> None:
    """A ``-blockdev`` node goes only when asked (a ``-drive`` goes with its device); one
    still in use, or a ``-drive``'s, stays."""
    if isinstance(node, str) and node:
        with suppress(QemuwrapError):
            qmp.execute("blockdev-del", **{"node-name": node})


def _nodes(qmp: QMP, path: str) -> list[str]:
    """The block nodes the device at QOM ``path`` (or a child of it: usb-storage's disk)
    has inserted."""
    return [str(b["inserted"]["node-name"]) for b in qmp.execute("query-block")
            if "inserted" in b and (b.get("qdev") == path
                                    or str(b.get("qdev", "")).startswith(path + "/"))]


def send_all(qmp: QMP, commands: list[tuple[str, str]]) -> None:
    """Every command, or, at the first QEMU refuses, none of them (as far as QEMU can)."""
    done: list[tuple[str, str]] = []
    for option, value in commands:
        try:
            _send(qmp, option, value)
        except QemuwrapError as exc:
            _undo(qmp, done)
            hint = ("; name a free pcie-root-port of the guest's with bus= (the root "
                    "complex takes no hot-plugged device)"
                    if "'pcie.0' does not support hotplugging" in str(exc) else "")
            raise RefusedError(f"QEMU refused {option} {value}: {exc}{hint}; nothing was "
                               "recorded") from None
        done.append((option, value))


def cmd_plug(args: argparse.Namespace) -> int:
    if not args.qemu_args:
        raise UsageError("plug takes the options to hot-plug after --: "
                         f"qemuwrap-ctl plug {args.name} -- -device ...")
    with editing(args.name) as (_, guest, out), guest_monitor(args.name) as qmp:
        layout = _layout(guest)
        facts = FactsSource(_running_binary(args.name), state_directory() / ".cache")()
        text = qmp.hmp("info qtree")
        here = {(d.pin.spot, d.pin.driver) for d in live.read(qmp, layout, text)}
        usb = _usb(guest, qtree.usb_buses(text))
        suffix = f".p{time.time_ns() // 1_000_000:x}"
        plug = hotplug.plan(args.qemu_args, guest, facts, layout, usb, here, state.now(),
                            suffix)
        send_all(qmp, plug.commands)
        out.append(plug.state)
    for p in plug.placed:
        mac = f", mac {p.mac}" if p.mac else ""
        print(f"plugged: {p.key} -> {p.describe()}{mac}")
        if identity.is_ordinal(p.key, p.driver):
            print(f"  ({p.key} is known by its order among the guest's {p.driver} devices: "
                  "write it after them on the command line, or give it an id=)")
    return 0


def qom_path(qmp: QMP, pin: Pin) -> str | None:
    """The QOM path of the device of ``pin``'s driver at ``pin``'s place."""
    for base in ("/machine/peripheral", "/machine/peripheral-anon"):
        for child in qmp.execute("qom-list", path=base):
            if child.get("type") != f"child<{pin.driver}>":
                continue
            path = f"{base}/{child['name']}"
            bus = str(qmp.execute("qom-get", path=path, property="parent_bus"))
            if bus.rpartition("/")[2] != pin.bus:
                continue
            prop, value = spaces.of(pin).qom(pin)
            if qmp.execute("qom-get", path=path, property=prop) == value:
                return path
    return None


def _netdev(qmp: QMP, path: str) -> str | None:
    try:
        value = qmp.execute("qom-get", path=path, property="netdev")
    except QemuwrapError:
        return None
    return str(value) if value else None


def cmd_unplug(args: argparse.Namespace) -> int:
    with editing(args.name) as (_, guest, out), guest_monitor(args.name) as qmp:
        key = find_key(guest, args.key)
        pin = next((p for p in guest.devices if p.key == key), None)
        if pin is None:
            raise RefusedError(f"{key!r} is removed already")
        if pin.provides is not None:
            raise RefusedError(f"{key!r} is a bridge or hub; qemuwrap keeps it while devices "
                               "are behind it, and leaves it out of the next launch without")
        path = qom_path(qmp, pin)
        if path is None:
            raise RefusedError(f"the guest has no {pin.driver} at {pin.describe()} now; "
                               f"'qemuwrap-ctl sync {args.name}' records what it has")
        netdev, nodes = _netdev(qmp, path), _nodes(qmp, path)
        qmp.execute("device_del", id=path)
        if qmp.wait_event("DEVICE_DELETED", lambda d: d.get("path") == path,
                          args.timeout) is None:
            raise RefusedError(
                f"the guest did not release {key} within {args.timeout:g} s (a PCI device "
                "goes only when the guest's OS lets it go: one not running, or not up yet, "
                f"never does); it stays recorded at {pin.describe()}; once it is gone, "
                f"'qemuwrap-ctl sync {args.name}' records that")
        if netdev:
            with suppress(QemuwrapError):
                qmp.hmp_checked(f"netdev_del {netdev}")
        for node in nodes:
            _delete_node(qmp, node)
        gone = replace(pin, last_seen=state.now())
        out.append(replace(guest, devices=tuple(p for p in guest.devices if p.key != key),
                           tombstones=tuple(sorted((*guest.tombstones, gone),
                                                   key=lambda p: p.key))))
    print(f"unplugged: {key} (was at {pin.describe()}; its place is kept for it)")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    with editing(args.name) as (_, guest, out), guest_monitor(args.name) as qmp:
        found = _drift(qmp, guest)
        if found.unrecorded or found.missing:
            out.append(live.recorded(guest, found, state.now()))
    if not (found.unrecorded or found.missing):
        print(f"in step: the running guest has the {found.matched} recorded devices, "
              "and no other")
    for d in found.unrecorded:
        print(f"recorded: {d.pin.key} -> {d.pin.describe()}")
    for p in found.missing:
        print(f"removed: {p.key} (was at {p.describe()}; its place is kept for it)")
    return 0


def register(add: Add) -> None:
    """The parsers of this module's commands."""
    p = add("plug", cmd_plug, "hot-plug devices into a running guest, at pinned places",
            "Hot-plug the devices of these options (-drive, -blockdev, -device, -netdev, -nic, "
            "-net, -object, -chardev, -usbdevice: the command line's own syntax) into a guest "
            "qemuwrap launched, through its monitor, at the places a launch would give them: "
            "a returning device its old place, a new one the lowest never used. They are "
            "recorded only when QEMU took them all; the next launch whose command line "
            "names them puts them at the same places.",
            f"%(prog)s [-h] NAME {PLUG_ARGS}")
    p.add_argument("name")
    p = add("unplug", cmd_unplug, "hot-unplug a device of a running guest",
            "Ask the guest to release a device (KEY as show lists it, or a disk's image "
            "path) and wait for it; its place is then kept for it, like a removed "
            "device's. PCI devices go only when the guest's OS lets them go.")
    p.add_argument("name")
    p.add_argument("key")
    p.add_argument("--timeout", type=float, default=10, metavar="SECONDS",
                   help="how long to wait for the guest to release it (default: 10)")
    p = add("sync", cmd_sync, "record what a running guest has now",
            "Read a running guest through qemuwrap's monitor and record the devices "
            "hot-plugged behind qemuwrap's back (another monitor, libvirt) where they are, "
            "under the keys a launch would give them (id, image, a MAC not of QEMU's own "
            "range, else driver and ordinal), and those unplugged as removed, so that the "
            "next launch keeps each where the guest saw it.")
    p.add_argument("name")
