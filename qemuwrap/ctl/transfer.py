"""``qemuwrap-ctl export``, ``import`` and ``import-libvirt``: a state to and from a file."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from qemuwrap import state
from qemuwrap.ctl.common import load_guest, state_directory
from qemuwrap.errors import RefusedError
from qemuwrap.state import GuestState


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
