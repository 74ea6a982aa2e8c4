"""``qemuwrap-ctl list`` and ``show``: the guests with state, and one guest's pins."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from qemuwrap import replay, state
from qemuwrap.ctl.common import (
    Add,
    address_of,
    pin_json,
    print_json,
    running_pid,
    sort_key,
    state_directory,
)
from qemuwrap.ctl.live import live_drift
from qemuwrap.errors import RefusedError, StateError
from qemuwrap.state import GuestState, Pin

__all__ = ["cmd_list", "cmd_show"]


def _guest_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir()
                      if p.suffix == ".toml" and not p.name.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError(f"cannot read state directory {directory}: {exc.strerror}") from None


def cmd_list(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    rows: list[dict[str, Any]] = []
    replayed = replay.last_replayed(str(state_directory()))
    for path in _guest_files(state_directory()):
        try:
            guest = state.load(path)
        except StateError as exc:
            print(f"qemuwrap-ctl: {exc}", file=sys.stderr)
            continue
        if guest is None:
            continue
        last = guest.last_launch
        if str(path) in replayed:
            again = datetime.fromtimestamp(replayed[str(path)], UTC).replace(microsecond=0)
            last = max(last, again) if last else again
        pid = running_pid(guest.name)
        rows.append({"name": guest.name, "machine": guest.machine,
                     "devices": len([p for p in guest.devices if not p.added]),
                     "last_launch": last.isoformat() if last else None,
                     "running_pid": pid, "file": str(path),
                     "live": _live_json(guest) if pid else None})
    if args.json:
        print_json(rows)
        return 0
    print(f"{'NAME':20} {'MACHINE':16} {'DEVICES':>7}  {'LAST LAUNCH':25} {'RUNNING':12} LIVE")
    for r in rows:
        running = f"PID {r['running_pid']}" if r["running_pid"] else "-"
        print(f"{r['name']:20} {r['machine']:16} {r['devices']:>7}  "
              f"{r['last_launch'] or '-':25} {running:12} "
              f"{_live_word(r['live'], r['running_pid'] is not None)}")
    return 0


def _live_json(guest: GuestState) -> dict[str, Any] | None:
    """What the running guest has that its state does not, and the reverse; None when
    it cannot be asked (no qemuwrap monitor)."""
    found = live_drift(guest)
    if found is None:
        return None
    return {"unrecorded": [pin_json(d.pin) for d in found.unrecorded],
            "missing": [pin_json(p) for p in found.missing]}


def _live_word(live: dict[str, Any] | None, running: bool) -> str:
    if not running:
        return "-"
    if live is None:
        return "? (no qemuwrap monitor)"
    if not live["unrecorded"] and not live["missing"]:
        return "in step"
    return f"differs: {len(live['unrecorded'])} unrecorded, {len(live['missing'])} missing"


def _tree(guest: GuestState) -> list[str]:
    """Buses and what sits on them, like ``lspci -t``; bridges nest their bus."""
    children: dict[str, list[Pin]] = {}
    for pin in guest.devices:
        children.setdefault(pin.spot[0], []).append(pin)
    provided = {p.provides for p in guest.devices if p.provides}
    lines: list[str] = []

    def walk(bus: str, prefix: str) -> None:
        pins = sorted(children.get(bus, []), key=sort_key)
        for i, pin in enumerate(pins):
            last = i == len(pins) - 1
            where = pin.describe().split(" ", 1)[1]
            mac = f" {pin.mac}" if pin.mac else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{where} {pin.driver} "
                         f"[{pin.key}]{mac}")
            if pin.provides:
                walk(pin.provides, prefix + ("    " if last else "│   "))

    for bus in sorted(b for b in children if b not in provided):
        lines.append(bus)
        walk(bus, "")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    """Shows a state spoilt by hand too, marking its entries that are wrong (exit 1)."""
    path = state.path_for(state_directory(), args.name)
    found = state.load_as_written(path)
    if found is None:
        raise RefusedError(f"no state for guest {args.name!r} in {path.parent}")
    guest, problems = found
    pid = running_pid(guest.name)
    live = _live_json(guest) if pid and not problems else None
    if args.json:
        print_json({"name": guest.name, "machine": guest.machine, "problems": problems,
                    "devices": [pin_json(p) for p in sorted(guest.devices, key=sort_key)],
                    "tombstones": [pin_json(p) for p in sorted(guest.tombstones, key=sort_key)],
                    "running_pid": pid, "live": live})
        return 1 if problems else 0
    print(f"guest {guest.name}, machine {guest.machine}")
    if problems:
        print(f"{path} has values qemuwrap will not use; launches and changes are refused "
              "until they are fixed:")
        print("\n".join(f"  ! {line}" for line in problems))
    print("\n".join(_tree(guest) if args.tree and not problems else _table(guest, problems)))
    if pid:
        print(f"running: PID {pid}, {_live_word(live, True)}")
    for item in (live or {}).get("unrecorded", []):
        print(f"  live, not recorded: {item['key']} ({item['driver']} at {item['address']})")
    for item in (live or {}).get("missing", []):
        print(f"  recorded, not live: {item['key']} ({item['driver']} at {item['address']})")
    if live and (live["unrecorded"] or live["missing"]):
        print(f"  ('qemuwrap-ctl sync {guest.name}' records what the guest has)")
    return 1 if problems else 0


def _table(guest: GuestState, problems: list[str]) -> list[str]:
    wrong = {p.key for p in (*guest.devices, *guest.tombstones)
             if any(f"{p.key!r}:" in line for line in problems)}
    lines = [f"{'ADDRESS':22} {'DRIVER':20} {'MAC':18} {'LAST SEEN':26} KEY"]
    for label, pins in (("", guest.devices), (" (removed)", guest.tombstones)):
        for p in sorted(pins, key=sort_key):
            seen = p.last_seen.isoformat() if isinstance(p.last_seen, datetime) else "-"
            mark = "  <- wrong" if p.key in wrong else ""
            lines.append(f"{address_of(p):22} {p.driver!s:20} {p.mac or '-'!s:18} {seen:26} "
                         f"{p.key}{label}{mark}")
    return lines


def register(add: Add) -> None:
    """The parsers of this module's commands."""
    p = add("list", cmd_list, "list guests with state",
            "Every guest with a state file: machine, device count, last launch, and the PID "
            "of its QEMU if it runs now.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("show", cmd_show, "show a guest's pinned topology",
            "The pinned devices of a guest sorted by bus and address, then its tombstones.")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tree", action="store_true", help="a tree of buses, like lspci -t")
