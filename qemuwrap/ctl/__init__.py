"""``qemuwrap-ctl``: see, plan and manage the pinned state of guests.

The wrapper itself must accept every QEMU argument, so management lives here.
It reuses the wrapper's stages (``launch.plan_launch``, ``state``) and adds no
parser or allocator of its own. Exit status: 0 ok, 1 refused or different,
2 usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from qemuwrap import __version__
from qemuwrap.ctl.check import cmd_check
from qemuwrap.ctl.edit import cmd_forget, cmd_pin, cmd_rename
from qemuwrap.ctl.listing import cmd_list, cmd_show
from qemuwrap.ctl.live import cmd_plug, cmd_sync, cmd_unplug
from qemuwrap.ctl.plan import cmd_plan
from qemuwrap.ctl.transfer import cmd_export, cmd_import, cmd_import_libvirt
from qemuwrap.errors import QemuwrapError, UsageError

__all__ = ["QEMU_ARGS", "main", "parser"]


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
            "Read a running or paused guest's topology over QMP and compare it with its "
            "state; exit 1 on any difference. A guest qemuwrap launched is read through "
            "qemuwrap's own monitor (NAME alone); another through its QMP socket, held to "
            "the state for its QEMU arguments; a libvirt guest through libvirt itself "
            "(virsh), which holds its QMP monitor.",
            f"%(prog)s [-h] NAME\n       %(prog)s [-h] NAME [--qmp SOCKET] {QEMU_ARGS}\n"
            "       %(prog)s [-h] --libvirt DOMAIN [--connect URI]")
    p.add_argument("name", nargs="?")
    p.add_argument("--qmp", metavar="SOCKET", help="QMP socket (default: from -qmp unix:)")
    p.add_argument("--libvirt", metavar="DOMAIN",
                   help="a running libvirt domain: its argv and qtree from virsh")
    p.add_argument("--connect", metavar="URI", default="qemu:///system",
                   help="libvirt connection for --libvirt (default: qemu:///system)")
    p = add("plug", cmd_plug, "hot-plug devices into a running guest, at pinned places",
            "Hot-plug the devices of these options (-drive, -device, -netdev, -nic, -net, "
            "-object, -chardev, -usbdevice: the command line's own syntax) into a guest "
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
    return top


PLUG_ARGS = "-- OPTIONS..."
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
                f"{' '.join(extra[:2])} ..." if args.command in ("plan", "check", "plug")
                else "")
        top.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if qemu_args and args.command not in ("plan", "check", "plug"):
        top.error(f"{args.command} takes no QEMU arguments (nothing after --)")
    if args.command == "check" and bool(args.libvirt) == bool(args.name or qemu_args):
        top.error(f"check takes NAME, NAME [--qmp SOCKET] {QEMU_ARGS}, or --libvirt DOMAIN")
    if args.command == "check" and args.qmp and not qemu_args:
        top.error(f"check --qmp takes the guest's QEMU arguments: {QEMU_ARGS}")
    args.qemu_args = qemu_args
    try:
        result: int = args.func(args)
        return result
    except QemuwrapError as exc:
        print(f"qemuwrap-ctl: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except BrokenPipeError:
        return 0
