"""``qemuwrap-ctl forget``, ``pin`` and ``rename``: changing a stopped guest's state by hand."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from qemuwrap import identity, model, pinning, state
from qemuwrap.ctl.common import confirm, editing, find_key, load_guest, refuse_if_running
from qemuwrap.errors import ConflictError, RefusedError, UsageError


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


def parse_address(text: str, root: str, usb_bus: str | None = None) -> dict[str, Any]:
    """``[BUS:]SLOT[.FN]`` (hex) for PCI, ``ide.N:UNIT``, ``scsiN.0:ID``; for a USB device
    (``usb_bus``: the bus it is on) ``[BUS:]PORT``, such as ``usb-bus.0:2`` or ``4.1``."""
    bus, sep, rest = text.rpartition(":")
    if not sep:
        bus, rest = usb_bus or root, text
    try:
        if usb_bus is not None:
            state.port_spot(bus, rest)
            return {"bus": bus, "port": rest, "slot": None, "function": None, "unit": None}
        if bus.startswith(("ide.", "scsi")):
            return {"bus": bus, "unit": int(rest), "slot": None, "function": None, "port": None}
        slot, fn = model.parse_addr(rest)
    except (ValueError, UsageError):
        raise UsageError(f"cannot read address {text!r}: use [BUS:]SLOT[.FN], ide.N:UNIT, "
                         "scsiN.0:ID or, for USB, [BUS:]PORT") from None
    return {"bus": bus, "slot": slot, "function": fn, "unit": None, "port": None}


def cmd_pin(args: argparse.Namespace) -> int:
    refuse_if_running(args.name)
    with editing(args.name) as (_, guest, out):
        key = find_key(guest, args.key)
        current = next((p for p in guest.devices if p.key == key), None)
        if current is None:
            raise RefusedError(f"{key!r} is removed; only a present device can be pinned")
        root = "pcie.0" if "q35" in guest.machine else "pci.0"
        usb_bus = current.bus if current.port is not None else None
        moved = replace(current, **parse_address(args.address, root, usb_bus))
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
