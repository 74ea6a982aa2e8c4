"""What every qemuwrap-ctl command shares: where the state is, a guest's state under its
lock, whether its QEMU runs, how a pin is printed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from qemuwrap import identity, model, state
from qemuwrap.cmdline import tokenise
from qemuwrap.config import GUARD, find_qemu, load_config, state_dir
from qemuwrap.errors import QemuwrapError, RefusedError, UsageError
from qemuwrap.state import GuestState, Pin

__all__ = [
    "PLUG_ARGS",
    "QEMU_ARGS",
    "Add","address_of", "confirm", "editing", "find_key", "load_guest", "pin_json", "print_json",
           "qemu_binary", "refuse_if_running", "running_pid", "sort_key", "state_directory"]

QEMU_ARGS = "-- QEMU-ARGS..."
"""How plan and check take the guest's QEMU command line: everything after ``--``."""
PLUG_ARGS = "-- OPTIONS..."
"""How plug takes the options to hot-plug."""


class Add(Protocol):
    """Adds one command's parser (qemuwrap-ctl's ``parser``); each command module has a
    ``register(add)`` that adds its own."""

    def __call__(self, name: str, func: Callable[[argparse.Namespace], int], help: str,
                 description: str, usage: str | None = None) -> argparse.ArgumentParser: ...


def state_directory() -> Path:
    return state_dir(load_config())


def qemu_binary() -> str:
    return find_qemu(load_config(), [sys.argv[0]])


def load_guest(name: str) -> tuple[Path, GuestState]:
    path = state.path_for(state_directory(), name)
    loaded = state.load(path)
    if loaded is None:
        raise RefusedError(f"no state for guest {name!r} in {path.parent}")
    return path, loaded


@contextmanager
def editing(name: str) -> Iterator[tuple[Path, GuestState, list[GuestState]]]:
    """Load a guest's state under its lock; save what the caller puts in the list."""
    path = state.path_for(state_directory(), name)
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

    path = state.path_for(state_directory(), name)
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


def refuse_if_running(name: str) -> None:
    pid = running_pid(name)
    if pid is not None:
        raise RefusedError(f"guest {name!r} is running (PID {pid}); stop it first")


def pin_json(pin: Pin) -> dict[str, Any]:
    data = {k: v for k, v in asdict(pin).items() if v is not None}
    if isinstance(pin.last_seen, datetime):
        data["last_seen"] = pin.last_seen.isoformat()
    data["address"] = address_of(pin)
    return data


def address_of(pin: Pin) -> str:
    """Where the pin says the device is; ``?`` where a hand-edit made that unreadable."""
    try:
        return pin.describe()
    except (TypeError, ValueError):
        return "?"


def sort_key(pin: Pin) -> tuple[str, str]:
    return str(pin.bus), address_of(pin)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedError("not confirmed; nothing changed (use --yes to skip the question)")


def find_key(guest: GuestState, key: str) -> str:
    """A key as given, or a disk path standing for ``disk:PATH``, or an id for ``id:ID``."""
    keys = {p.key for p in (*guest.devices, *guest.tombstones)}
    if key in keys:
        return key
    found = [k for k in (identity.disk(key), identity.of_id(key)) if k in keys]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(f"{key!r} may be {found[0]!r} or {found[1]!r}; give the whole key")
    raise RefusedError(f"guest {guest.name!r} has no device {key!r}")
