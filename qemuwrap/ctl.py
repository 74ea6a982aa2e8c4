"""``qemuwrap-ctl``: see, plan and manage the pinned state of guests.

The wrapper itself must accept every QEMU argument, so management lives here.
It reuses the wrapper's stages (``launch.plan_launch``, ``state``) and adds no
parser or allocator of its own. Exit status: 0 ok, 1 refused or different,
2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from qemuwrap import __version__, identity, model, pinning, replay, state
from qemuwrap.cmdline import tokenise
from qemuwrap.config import GUARD, find_qemu, load_config, state_dir
from qemuwrap.errors import ConflictError, QemuwrapError, RefusedError, StateError, UsageError
from qemuwrap.launch import FactsSource, as_called, plan_exec, plan_launch
from qemuwrap.schema import ISA_BUS
from qemuwrap.state import GuestState, Pin


def _directory() -> Path:
    return state_dir(load_config())


def _binary() -> str:
    return find_qemu(load_config(), [sys.argv[0]])


def _load(name: str) -> tuple[Path, GuestState]:
    path = state.path_for(_directory(), name)
    loaded = state.load(path)
    if loaded is None:
        raise RefusedError(f"no state for guest {name!r} in {path.parent}")
    return path, loaded


@contextmanager
def _editing(name: str) -> Iterator[tuple[Path, GuestState, list[GuestState]]]:
    """Load a guest's state under its lock; save what the caller puts in the list."""
    path = state.path_for(_directory(), name)
    with state.locked(path):
        loaded = state.load(path)
        if loaded is None:
            raise RefusedError(f"no state for guest {name!r} in {path.parent}")
        out: list[GuestState] = []
        yield path, loaded, out
        if out:
            state.save(path, out[-1])


def running_pid(name: str) -> int | None:
    """The PID of the guest's QEMU if it runs now: the holder of its run lock, else a
    QEMU process started with ``-name NAME`` without qemuwrap. One that qemuwrap started
    (``QEMUWRAP_EXEC`` in its environment) holds the run lock of its own state
    directory, which may be another: it is not this guest."""
    import psutil

    path = state.path_for(_directory(), name)
    if path.with_name(path.name + ".run").exists():
        fd = state.claim_running(path)
        if fd is None:
            return state.run_lock_holder(path)
        os.close(fd)

    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if not cmd or "qemu" not in os.path.basename(cmd[0]):
            continue
        try:
            if model.guest_name(tokenise(cmd[1:])) != name:
                continue
            if GUARD in proc.environ():
                continue
        except (QemuwrapError, psutil.Error):
            continue
        return int(proc.info["pid"])
    return None


def _refuse_if_running(name: str) -> None:
    pid = running_pid(name)
    if pid is not None:
        raise RefusedError(f"guest {name!r} is running (PID {pid}); stop it first")


def pin_json(pin: Pin) -> dict[str, Any]:
    data = {k: v for k, v in asdict(pin).items() if v is not None}
    if isinstance(pin.last_seen, datetime):
        data["last_seen"] = pin.last_seen.isoformat()
    data["address"] = _address(pin)
    return data


def _address(pin: Pin) -> str:
    """Where the pin says the device is; ``?`` where a hand-edit made that unreadable."""
    try:
        return pin.describe()
    except (TypeError, ValueError):
        return "?"


def _sort_key(pin: Pin) -> tuple[str, str]:
    return str(pin.bus), _address(pin)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


# -- plan ----------------------------------------------------------------------------------

def cmd_plan(args: argparse.Namespace) -> int:
    binary = _binary()
    directory = _directory()
    qemu_args, tokens = as_called(args.called_as, binary, args.qemu_args)
    name = model.guest_name(tokens)
    source = FactsSource(binary, directory / ".cache")
    if name is None or model.is_query(tokens):
        launch = plan_launch(qemu_args, source, None, state.now(), tokens)
        old = None
    else:
        path = state.path_for(directory, name)
        old = state.load(path)
        launch = plan_exec(qemu_args, tokens, source, old, state.now(), path)
    plan = launch.plan
    new = [p for p in plan.state.devices if p.key in plan.new_keys] if plan else []
    old_keys = {p.key for p in old.devices} if old else set()
    gone = [p for p in plan.state.tombstones if p.key in old_keys] if plan else []
    put_back = [p for p in plan.bridges if p.options is not None] if plan else []
    machine = {"old": old.machine if old else None, "new": plan.machine if plan else None}
    if args.json:
        _print_json({"argv": [binary, *launch.argv], "guest": launch.guest,
                     "passthrough": plan is None, "machine": machine,
                     "new_devices": [pin_json(p) for p in new],
                     "removed_devices": [pin_json(p) for p in gone],
                     "put_back": [pin_json(p) for p in put_back]})
        return 0
    print(shlex.join([binary, *launch.argv]))
    if plan is None:
        print("# passed through untouched: no guest name, a query, or an unmanaged machine")
        return 0
    pinned = ("kept" if machine["old"] == machine["new"] else
              "pinned now" if machine["old"] is None else f"changed from {machine['old']}")
    print(f"# machine: {plan.machine} ({pinned})")
    for p in new:
        print(f"# new: {p.key} -> {p.describe()}" + (f", mac {p.mac}" if p.mac else ""))
    for p in gone:
        print(f"# removed: {p.key} (was {p.describe()}; its place is kept for it)")
    for p in put_back:
        print(f"# put back: {p.key} ({p.driver} at {p.describe()}), empty: a bridge after it "
              "is still there, and the guest's bus numbers stay")
    return 0


# -- list and show -------------------------------------------------------------------------

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

    rows = []
    replayed = replay.last_replayed(str(_directory()))
    for path in _guest_files(_directory()):
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
        rows.append({"name": guest.name, "machine": guest.machine,
                     "devices": len([p for p in guest.devices if not p.added]),
                     "last_launch": last.isoformat() if last else None,
                     "running_pid": running_pid(guest.name), "file": str(path)})
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'NAME':20} {'MACHINE':16} {'DEVICES':>7}  {'LAST LAUNCH':25} RUNNING")
    for r in rows:
        pid = f"PID {r['running_pid']}" if r["running_pid"] else "-"
        print(f"{r['name']:20} {r['machine']:16} {r['devices']:>7}  "
              f"{r['last_launch'] or '-':25} {pid}")
    return 0


def _tree(guest: GuestState) -> list[str]:
    """Buses and what sits on them, like ``lspci -t``; bridges nest their bus."""
    children: dict[str, list[Pin]] = {}
    for pin in guest.devices:
        children.setdefault(pin.spot[0], []).append(pin)
    provided = {p.provides for p in guest.devices if p.provides}
    lines: list[str] = []

    def walk(bus: str, prefix: str) -> None:
        pins = sorted(children.get(bus, []), key=_sort_key)
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
    path = state.path_for(_directory(), args.name)
    found = state.load_as_written(path)
    if found is None:
        raise RefusedError(f"no state for guest {args.name!r} in {path.parent}")
    guest, problems = found
    if args.json:
        _print_json({"name": guest.name, "machine": guest.machine, "problems": problems,
                     "devices": [pin_json(p) for p in sorted(guest.devices, key=_sort_key)],
                     "tombstones": [pin_json(p) for p in sorted(guest.tombstones, key=_sort_key)]})
        return 1 if problems else 0
    print(f"guest {guest.name}, machine {guest.machine}")
    if problems:
        print(f"{path} has values qemuwrap will not use; launches and changes are refused "
              "until they are fixed:")
        print("\n".join(f"  ! {line}" for line in problems))
    if args.tree and not problems:
        print("\n".join(_tree(guest)))
        return 0
    wrong = {p.key for p in (*guest.devices, *guest.tombstones)
             if any(f"{p.key!r}:" in line for line in problems)}
    print(f"{'ADDRESS':22} {'DRIVER':20} {'MAC':18} {'LAST SEEN':26} KEY")
    for label, pins in (("", guest.devices), (" (removed)", guest.tombstones)):
        for p in sorted(pins, key=_sort_key):
            seen = p.last_seen.isoformat() if isinstance(p.last_seen, datetime) else "-"
            mark = "  <- wrong" if p.key in wrong else ""
            print(f"{_address(p):22} {p.driver!s:20} {p.mac or '-'!s:18} {seen:26} "
                  f"{p.key}{label}{mark}")
    return 1 if problems else 0


# -- changing the state --------------------------------------------------------------------

def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedError("not confirmed; nothing changed (use --yes to skip the question)")


def _find_key(guest: GuestState, key: str) -> str:
    """A key as given, or a disk path standing for ``disk:PATH``."""
    keys = {p.key for p in (*guest.devices, *guest.tombstones)}
    if key in keys:
        return key
    if identity.disk(key) in keys:
        return identity.disk(key)
    raise RefusedError(f"guest {guest.name!r} has no device {key!r}")


def cmd_forget(args: argparse.Namespace) -> int:
    _refuse_if_running(args.name)
    if args.device is None:
        path, guest = _load(args.name)
        _confirm(f"forget all {len(guest.devices)} pinned devices of {args.name!r}?", args.yes)
        with state.locked(path):
            path.unlink()
        print(f"forgot guest {args.name!r}", file=sys.stderr)
        return 0
    with _editing(args.name) as (_, guest, out):
        key = _find_key(guest, args.device)
        _confirm(f"forget {key!r} of {args.name!r}?", args.yes)
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
    _refuse_if_running(args.name)
    with _editing(args.name) as (_, guest, out):
        key = _find_key(guest, args.key)
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
    with _editing(args.name) as (_, guest, out):
        old = _find_key(guest, args.old)
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


def cmd_export(args: argparse.Namespace) -> int:
    _, guest = _load(args.name)
    sys.stdout.write(state.render(guest))
    return 0


def _install(name: str, new: GuestState, force: bool) -> int:
    directory = _directory()
    state.ensure_dir(directory, admin=True)
    path = state.path_for(directory, name)
    with state.locked(path):
        old = state.load(path)
        if old is not None and not state.same_topology(old, new) and not force:
            raise RefusedError(f"{path} holds a different state for {name!r}; --force replaces it")
        state.save(path, new)
    print(f"saved {path}", file=sys.stderr)
    return 0


def _read(source: Path) -> str:
    try:
        return source.read_text()
    except OSError as exc:
        raise RefusedError(f"cannot read {source}: {exc.strerror}") from None


def cmd_import(args: argparse.Namespace) -> int:
    source = Path(args.file)
    guest = state.parse(_read(source), source)
    return _install(args.name, replace(guest, name=args.name), args.force)


def cmd_import_libvirt(args: argparse.Namespace) -> int:
    from qemuwrap.libvirt import domain_state

    source = Path(args.xml)
    guest = domain_state(_read(source), str(source), state.now())
    return _install(args.name or guest.name, replace(guest, name=args.name or guest.name),
                    args.force)


# -- check ---------------------------------------------------------------------------------

def qmp_socket(qemu_args: list[str]) -> str | None:
    for token in tokenise(qemu_args):
        if token.name in ("qmp", "qmp-pretty") and token.value and token.value.startswith("unix:"):
            return token.value[5:].split(",")[0]
    return None


def cmd_check(args: argparse.Namespace) -> int:
    from qemuwrap.qtree import parse as parse_qtree

    binary = _binary()
    directory = _directory()
    if args.libvirt:
        qemu_args, qtree = _libvirt_guest(args.libvirt, args.connect)
    else:
        qemu_args, qtree = args.qemu_args, None
    name = model.guest_name(tokenise(qemu_args))
    wanted = args.name or args.libvirt
    if name is None or name != wanted:
        raise UsageError(f"the QEMU arguments name guest {name!r}, not {wanted!r}")
    path, old = _load(name)
    launch = plan_launch(qemu_args, FactsSource(binary, directory / ".cache"), old,
                         state.now())
    if qtree is None:
        socket_path = args.qmp or qmp_socket(qemu_args)
        if launch.plan is None or socket_path is None:
            raise UsageError("need the guest's QEMU arguments and its QMP socket (--qmp PATH), "
                             "or --libvirt DOMAIN")
        from qemuwrap.qmp import QMP

        with QMP(socket_path) as qmp:
            qtree = qmp.hmp("info qtree")
    if launch.plan is None:
        raise RefusedError(f"guest {name!r} is not one qemuwrap manages (a query or another "
                           "machine)")
    devices = parse_qtree(qtree)
    # libvirt's argv places every device itself, so a plan of it would follow libvirt: a
    # libvirt guest is held to what the state recorded when it was launched.
    pins = old.devices if args.libvirt else launch.plan.state.devices
    expected = tuple(p for p in pins if p.key not in launch.plan.hidden)
    differences = compare(expected, devices)
    for line in differences:
        print(line)
    if not differences:
        print(f"ok: the {len(expected)} pinned devices of {name!r} are where "
              f"{path.name} says")
    return 1 if differences else 0


def _virsh(uri: str, *args: str) -> str:
    from qemuwrap.command import output

    return output(["virsh", "-c", uri, *args], RefusedError)


def _libvirt_guest(domain: str, uri: str) -> tuple[list[str], str]:
    """A running libvirt guest, read through libvirt itself (which holds its QMP monitor):
    the command line libvirt makes for it, and its ``info qtree``."""
    words = shlex.split(_virsh(uri, "domxml-to-native", "qemu-argv", "--domain", domain))
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)  # the environment libvirt sets
    qtree = _virsh(uri, "qemu-monitor-command", domain, "--hmp", "info qtree")
    return words[1:], qtree


def where_found(pin: Pin, devices: list[dict[str, str]]) -> dict[str, str] | None:
    if pin.bus == ISA_BUS:
        return next((d for d in devices if d["driver"] == pin.driver and d.get("mac") == pin.mac),
                    None)
    for dev in devices:
        if dev["driver"] != pin.driver or dev["bus"] != pin.bus:
            continue
        if pin.slot is not None and dev.get("addr") == f"{pin.slot:02x}.{pin.function or 0}":
            return dev
        unit = dev.get("unit", dev.get("scsi-id", "")).split(" ")[0]
        if pin.unit is not None and unit == str(pin.unit):
            return dev
        if pin.port is not None and dev.get("usbport") == pin.port:
            return dev
    return None


def compare(pins: tuple[Pin, ...], devices: list[dict[str, str]]) -> list[str]:
    """What differs between the pinned topology and the one QEMU reports."""
    out = []
    for pin in pins:
        dev = where_found(pin, devices)
        if dev is None:
            out.append(f"differs: {pin.key}: no {pin.driver} at {pin.describe()}")
            continue
        if pin.mac:
            index = devices.index(dev)
            macs = {d.get("mac") for d in devices
                    if d is dev or d.get("parent") == str(index)} - {None}
            if pin.mac not in macs:
                out.append(f"differs: {pin.key}: MAC {', '.join(sorted(str(m) for m in macs))}"
                           f" instead of {pin.mac}")
    return out


# -- the parser ----------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="qemuwrap-ctl",
        description="See, plan and manage the device addresses qemuwrap pins for each guest.",
        epilog="The state lives in $QEMUWRAP_STATE_DIR (else /var/lib/qemuwrap for root, "
               "~/.local/state/qemuwrap otherwise). Exit status: 0 ok, 1 refused or "
               "different, 2 usage.")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str,
            description: str, usage: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description, usage=usage)
        p.set_defaults(func=func, qemu_args=[])
        return p

    p = add("plan", cmd_plan, "show what qemuwrap would run, changing nothing",
            "Show the argv qemuwrap would exec for these QEMU arguments (one shell-quoted line) "
            "and what would change in the guest's state. Starts nothing, writes nothing.",
            f"%(prog)s [-h] [--json] [--as PROGRAM] {QEMU_ARGS}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--as", dest="called_as", metavar="PROGRAM", default="qemuwrap",
                   help="the name qemuwrap is called by (qemu-kvm and kvm add -accel kvm)")
    p = add("list", cmd_list, "list guests with state",
            "Every guest with a state file: machine, device count, last launch, and the PID "
            "of its QEMU if it runs now.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("show", cmd_show, "show a guest's pinned topology",
            "The pinned devices of a guest sorted by bus and address, then its tombstones.")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tree", action="store_true", help="a tree of buses, like lspci -t")
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
    p = add("export", cmd_export, "print a guest's state",
            "Print the state file, to copy to another host (migration needs the same "
            "addresses on both ends).")
    p.add_argument("name")
    p = add("import", cmd_import, "install a state file for a guest",
            "Install an exported state as guest NAME's. A different existing state is kept "
            "unless --force.")
    p.add_argument("name")
    p.add_argument("file")
    p.add_argument("--force", action="store_true", help="replace a different existing state")
    p = add("import-libvirt", cmd_import_libvirt, "seed state from a libvirt domain XML",
            "Seed a guest's state from a libvirt domain (virsh dumpxml): its machine type, "
            "PCI addresses, disk units and MACs, so a guest leaving libvirt keeps its hardware.")
    p.add_argument("xml")
    p.add_argument("--name", help="the guest name (default: the domain's <name>)")
    p.add_argument("--force", action="store_true", help="replace a different existing state")
    p = add("check", cmd_check, "compare a running guest with its state",
            "Read a running or paused guest's topology over QMP and compare it with the state "
            "for these QEMU arguments; exit 1 on any difference. A libvirt guest is read "
            "through libvirt itself (virsh), which holds its QMP monitor.",
            f"%(prog)s [-h] NAME [--qmp SOCKET] {QEMU_ARGS}\n"
            "       %(prog)s [-h] --libvirt DOMAIN [--connect URI]")
    p.add_argument("name", nargs="?")
    p.add_argument("--qmp", metavar="SOCKET", help="QMP socket (default: from -qmp unix:)")
    p.add_argument("--libvirt", metavar="DOMAIN",
                   help="a running libvirt domain: its argv and qtree from virsh")
    p.add_argument("--connect", metavar="URI", default="qemu:///system",
                   help="libvirt connection for --libvirt (default: qemu:///system)")
    return top


QEMU_ARGS = "-- QEMU-ARGS..."
"""How plan and check take the guest's QEMU command line: everything after ``--``."""


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    own, qemu_args = words, []
    if "--" in words:
        own, qemu_args = words[:words.index("--")], words[words.index("--") + 1:]
    top = parser()
    args, extra = top.parse_known_args(own)
    if extra:
        hint = (f"; QEMU's arguments go after --: qemuwrap-ctl {args.command} ... -- "
                f"{' '.join(extra[:2])} ..." if args.command in ("plan", "check") else "")
        top.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if qemu_args and args.command not in ("plan", "check"):
        top.error(f"{args.command} takes no QEMU arguments (nothing after --)")
    if args.command == "check" and bool(args.libvirt) == bool(args.name or qemu_args):
        top.error(f"check takes NAME [--qmp SOCKET] {QEMU_ARGS}, or --libvirt DOMAIN")
    args.qemu_args = qemu_args
    try:
        result: int = args.func(args)
        return result
    except QemuwrapError as exc:
        print(f"qemuwrap-ctl: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
