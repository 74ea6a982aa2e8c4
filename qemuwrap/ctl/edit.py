"""``qemuwrap-ctl forget``, ``pin`` and ``rename``: changing a stopped guest's state by hand."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from qemuwrap import identity, pinning, spaces, state
from qemuwrap.ctl.common import (
    Add,
    confirm,
    editing,
    find_key,
    load_guest,
    refuse_if_running,
)
from qemuwrap.errors import ConflictError, RefusedError, UsageError
from qemuwrap.machine import layout
from qemuwrap.state import Pin

__all__ = ["cmd_forget", "cmd_pin", "cmd_rename", "parse_address"]


def cmd_forget(args: argparse.Namespace) -> int:
    refuse_if_running(args.name)
    if args.device is None:
        path, guest = load_guest(args.name)
        confirm(f"forget all {len(guest.devices)} pinned devices of {args.name!r}?", args.yes)
        with state.locked(path):
            path.unlink()
        print(f"forgot guest {args.name!r}", file=sys.stderr)
        return 0
    with editing(args.name) as (_, guest, out):
        key = find_key(guest, args.device)
        confirm(f"forget {key!r} of {args.name!r}?", args.yes)
        out.append(replace(guest, devices=tuple(p for p in guest.devices if p.key != key),
                           tombstones=tuple(p for p in guest.tombstones if p.key != key)))
    print(f"forgot {key!r}", file=sys.stderr)
    return 0


def parse_address(text: str, pin: Pin, root: str) -> dict[str, Any]:
    """An address for ``pin`` typed by a user, in its own space: ``[BUS:]SLOT[.FN]`` (hex)
    for PCI, ``ide.N:UNIT``, ``scsiN.0:ID``, ``[BUS:]PORT`` for USB (``usb-bus.0:2``, ``4.1``).
    Without a bus, the pin's own (the board's root bus for PCI)."""
    bus, sep, rest = text.rpartition(":")
    space = spaces.of(pin)
    if not sep:
        bus, rest = root if space.name == "pci" else pin.bus, text
    if bus.startswith("ide."):
        space = spaces.SPACES["ide"]
    elif bus.startswith("scsi"):
        space = spaces.SPACES["scsi"]
    try:
        return {**space.parse(bus, rest), "space": space.name}
    except ValueError:
        raise UsageError(f"cannot read address {text!r}: use [BUS:]SLOT[.FN], ide.N:UNIT, "
                         "scsiN.0:ID or, for USB, [BUS:]PORT") from None


def cmd_pin(args: argparse.Namespace) -> int:
    refuse_if_running(args.name)
    with editing(args.name) as (_, guest, out):
        key = find_key(guest, args.key)
        current = next((p for p in guest.devices if p.key == key), None)
        if current is None:
            raise RefusedError(f"{key!r} is removed; only a present device can be pinned")
        board = layout(guest.machine)
        root = board.root_bus if board else current.bus
        moved = replace(current, **parse_address(args.address, current, root))
        own = identity.moved(key, "")
        for other in (*guest.devices, *guest.tombstones):
            if other.key != key and not other.key.startswith(own) and other.spot == moved.spot:
                raise ConflictError(f"{moved.describe()} is held by {other.key!r}")
        tombstones = pinning.with_vacated(list(guest.tombstones), {key: current}, [moved])
        out.append(replace(guest, devices=tuple(moved if p.key == key else p
                                                for p in guest.devices),
                           tombstones=tuple(sorted(tombstones, key=lambda p: p.key))))
    print(f"pinned {key!r} to {moved.describe()}", file=sys.stderr)
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    with editing(args.name) as (_, guest, out):
        old = find_key(guest, args.old)
        new = args.new if ":" in args.new or "#" in args.new else identity.disk(args.new)
        if any(p.key == new for p in (*guest.devices, *guest.tombstones)):
            raise ConflictError(f"guest {args.name!r} already has a device {new!r}")
        out.append(replace(
            guest, devices=tuple(replace(p, key=new) if p.key == old else p
                                 for p in guest.devices),
            tombstones=tuple(replace(p, key=new) if p.key == old else p
                             for p in guest.tombstones)))
    print(f"renamed {old!r} to {new!r}", file=sys.stderr)
    return 0


def register(add: Add) -> None:
    """The parsers of this module's commands."""
    p = add("forget", cmd_forget, "drop a guest's state, or one device",
            "Drop the whole state of a guest, or one device or tombstone of it. The guest "
            "must not be running.")
    p.add_argument("name")
    p.add_argument("--device", metavar="KEY", help="forget only this device (or tombstone)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = add("pin", cmd_pin, "move a device to an address by hand",
            "Move a pinned device to ADDRESS: [BUS:]SLOT[.FN] (hex) for PCI, ide.N:UNIT, "
            "scsiN.0:ID or, for a USB device, [BUS:]PORT (usb-bus.0:2). An address held by "
            "another device is refused.")
    p.add_argument("name")
    p.add_argument("key")
    p.add_argument("address")
    p = add("rename", cmd_rename, "tell qemuwrap a device has a new identity",
            "Give a device a new identity key, keeping its address: after "
            "'mv old.qcow2 new.qcow2', 'rename NAME old.qcow2 new.qcow2'.")
    p.add_argument("name")
    p.add_argument("old", metavar="OLDKEY")
    p.add_argument("new", metavar="NEWKEY")
