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
from qemuwrap.ctl import check, edit, listing, live, plan, transfer
from qemuwrap.ctl.common import QEMU_ARGS
from qemuwrap.errors import QemuwrapError, UsageError

__all__ = ["main", "parser"]


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

    for module in (plan, listing, edit, transfer, check, live):
        module.register(add)
    return top



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
