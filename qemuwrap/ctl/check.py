"""``qemuwrap-ctl check``: a running guest read over QMP, compared with its state."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from qemuwrap import model, spaces, state
from qemuwrap.cmdline import tokenise
from qemuwrap.ctl.common import QEMU_ARGS, Add, load_guest, qemu_binary, state_directory
from qemuwrap.errors import RefusedError, UsageError
from qemuwrap.launch import FactsSource, plan_launch
from qemuwrap.qmp import QMP
from qemuwrap.qtree import parse as parse_qtree
from qemuwrap.state import Pin

__all__ = ["cmd_check", "compare", "qmp_socket", "report", "where_found"]


def qmp_socket(qemu_args: list[str]) -> str | None:
    for token in tokenise(qemu_args):
        if token.name in ("qmp", "qmp-pretty") and token.value and token.value.startswith("unix:"):
            return token.value[5:].split(",")[0]
    return None


def cmd_check(args: argparse.Namespace) -> int:
    if not args.libvirt and not args.qemu_args:
        return _check_own(args.name)
    binary = qemu_binary()
    if args.libvirt:
        qemu_args, qtree = _libvirt_guest(args.libvirt, args.connect)
    else:
        qemu_args, qtree = args.qemu_args, None
    name = model.guest_name(tokenise(qemu_args))
    wanted = args.name or args.libvirt
    if name is None or name != wanted:
        raise UsageError(f"the QEMU arguments name guest {name!r}, not {wanted!r}")
    path, old = load_guest(name)
    launch = plan_launch(qemu_args, FactsSource(binary, state_directory() / ".cache"), old,
                         state.now())
    if launch.plan is None:
        raise RefusedError(f"guest {name!r} is not one qemuwrap manages (a query or another "
                           "machine)")
    if qtree is None:
        socket_path = args.qmp or qmp_socket(qemu_args)
        if socket_path is None:
            raise UsageError("need the guest's QMP socket (--qmp PATH, or -qmp unix: in its "
                             "arguments), or --libvirt DOMAIN")
        with QMP(socket_path) as qmp:
            qtree = qmp.hmp("info qtree")
    # libvirt's argv places every device itself, so a plan of it would follow libvirt: a
    # libvirt guest is held to what the state recorded when it was launched.
    pins = old.devices if args.libvirt else launch.plan.state.devices
    return report(name, path, tuple(p for p in pins if p.key not in launch.plan.hidden), qtree)


def _check_own(name: str) -> int:
    """A guest qemuwrap launched, read through qemuwrap's own monitor: held to its state."""
    from qemuwrap.ctl.live import guest_monitor
    from qemuwrap.live import expected

    path, old = load_guest(name)
    with guest_monitor(name) as qmp:
        qtree = qmp.hmp("info qtree")
    return report(name, path, expected(old), qtree)


def report(name: str, path: Path, expected: tuple[Pin, ...], qtree: str) -> int:
    differences = compare(expected, parse_qtree(qtree))
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
    """The qtree device of ``pin``'s driver at ``pin``'s place (an ISA NIC: by its MAC)."""
    space = spaces.of(pin)
    return next((d for d in devices if d["driver"] == pin.driver and space.at(pin, d)
                 and (space.name == "isa" or d["bus"] == pin.bus)), None)


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


def register(add: Add) -> None:
    """The parsers of this module's commands."""
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
