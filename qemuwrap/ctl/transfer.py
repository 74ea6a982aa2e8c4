"""``qemuwrap-ctl export``, ``import`` and ``import-libvirt``: a state to and from a file."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from qemuwrap import state
from qemuwrap.ctl.common import Add, load_guest, state_directory
from qemuwrap.errors import RefusedError
from qemuwrap.state import GuestState

__all__ = ["cmd_export", "cmd_import", "cmd_import_libvirt"]


def cmd_export(args: argparse.Namespace) -> int:
    _, guest = load_guest(args.name)
    sys.stdout.write(state.render(guest))
    return 0


def _install(name: str, new: GuestState, force: bool) -> int:
    directory = state_directory()
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


def register(add: Add) -> None:
    """The parsers of this module's commands."""
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
