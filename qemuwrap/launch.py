"""The pipeline end to end, and the exec that hands the process over to QEMU.

``plan_launch`` is the pure part (argv, state, facts -> argv, state) that
``qemuwrap-ctl plan`` reuses; ``run`` adds the state file and the exec.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from qemuwrap import facts as qemu_facts
from qemuwrap import model, monitor, preflight, replay, state
from qemuwrap.cmdline import Token, tokenise
from qemuwrap.config import GUARD, Config, find_qemu, load_config, state_dir
from qemuwrap.errors import ConflictError, QemuwrapError, StateError
from qemuwrap.facts import BinaryFacts
from qemuwrap.legacy import modernize
from qemuwrap.machine import layout, resolve
from qemuwrap.pinning import Plan, pin
from qemuwrap.readconfig import expand_all
from qemuwrap.render import render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = [
    "ACCEL_OPTIONS",
    "KVM_NAMES",
    "FactsSource",
    "Launch",
    "as_called",
    "chooses_accel",
    "daemon_pid_file",
    "exec_qemu",
    "link_pid_file",
    "open_monitor",
    "plan_exec",
    "plan_launch",
    "prepare",
    "record",
    "refuse_unplaced_incoming",
    "run",
]

ACCEL_OPTIONS = frozenset({"accel", "enable-kvm", "no-kvm"})
KVM_NAMES = frozenset({"qemu-kvm", "kvm"})
"""Names under which distributions shipped QEMU with KVM on by default (``kvm`` is Debian's
old one): called so, qemuwrap adds ``-accel kvm`` unless the command line chooses."""


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    """What QEMU gets, without the program name."""
    guest: str | None
    """The guest whose state this launch writes, or None for a pass-through."""
    plan: Plan | None = None
    monitor: tuple[str, int] | None = None
    """qemuwrap's monitor of the guest: its socket's path and the descriptor QEMU gets."""


def chooses_accel(tokens: list[Token]) -> bool:
    return any(t.name in ACCEL_OPTIONS or (
        t.name in ("machine", "M") and t.value is not None and "accel=" in t.value)
        for t in tokens)


def plan_launch(args: list[str], facts_of: FactsSource, old: state.GuestState | None,
                now: datetime, tokens: list[Token] | None = None) -> Launch:
    """What qemuwrap would run for ``args`` given the guest's old state. Touches nothing
    (but ``-readconfig`` files); ``tokens``, when given, are ``args`` already read."""
    tokens = tokens if tokens is not None else expand_all(tokenise(args))
    name = model.guest_name(tokens)
    if name is None or model.is_query(tokens):
        return Launch(list(args), None)
    facts = facts_of()
    machine = resolve(model.requested_machine(tokens), facts, old.machine if old else None)
    board = layout(machine)
    if board is None:
        return Launch(list(args), None)
    modern = modernize(tokens, facts)
    preflight.check_offered(modern, facts, facts_of.binary)
    guest = model.build(modern, facts, board)
    plan = pin(guest, board, machine, old, now)
    if old is None and any(t.name == "incoming" for t in tokens):
        refuse_unplaced_incoming(name, plan, model.requested_machine(tokens))
    return Launch(render(guest, plan), name, plan)


def refuse_unplaced_incoming(name: str, plan: Plan, requested: str | None) -> None:
    """A migration target must have the source's devices at the source's places: with no
    state here, a place qemuwrap would choose now may differ from the source's, and the
    guest's disks can end up swapped under it (same drivers, other order) or QEMU refuses
    the stream. A line that places everything itself (libvirt's) needs no state."""
    chosen = list(plan.chosen)
    if requested != plan.machine:
        chosen.insert(0, f"machine {requested or 'default'}")
    if chosen:
        more = f" and {len(chosen) - 3} more" if len(chosen) > 3 else ""
        raise StateError(
            f"guest {name!r} has no state on this host, and this -incoming launch would have "
            f"to choose the place of {', '.join(chosen[:3])}{more} now; copy the state first: "
            f"'qemuwrap-ctl export {name} > {name}.toml' on the source host, then "
            f"'qemuwrap-ctl import {name} {name}.toml' here")


class FactsSource:
    """The binary's facts, asked for only when a launch needs them."""

    def __init__(self, binary: str, cache_dir: Path | None,
                 facts: BinaryFacts | None = None) -> None:
        """``facts``, when given, are the binary's as recorded (the golden tests' own)."""
        self.binary = binary
        self.cache_dir = cache_dir
        self._facts = facts

    def __call__(self) -> BinaryFacts:
        if self._facts is None:
            self._facts = qemu_facts.load(self.binary, self.cache_dir)
        return self._facts


def exec_qemu(binary: str, args: list[str]) -> NoReturn:
    """Become QEMU: same PID, same stdio, same environment (plus the recursion guard)."""
    if os.environ.get("QEMUWRAP_DEBUG"):
        print("qemuwrap: exec " + " ".join([binary, *args]), file=sys.stderr)
    os.environ[GUARD] = os.path.realpath(binary)
    try:
        os.execv(binary, [binary, *args])
    except OSError as exc:
        raise QemuwrapError(f"cannot execute {binary}: {exc.strerror}") from None


def prepare(argv: list[str], config: Config | None = None) -> tuple[str, list[str]]:
    """Everything up to the exec: find QEMU, plan, and save the state under the guest's lock."""
    config = config or load_config()
    self_paths = [argv[0], sys.argv[0]]
    binary = find_qemu(config, self_paths)
    args, tokens = as_called(argv[0], binary, list(argv[1:]))
    if any(t.name in ("h", "help") for t in tokens):
        print(f"qemuwrap: the help below is {binary}'s; qemuwrap passes every QEMU option on "
              "(see qemuwrap(1), and qemuwrap-ctl --help to manage pinned guests)",
              file=sys.stderr)
    name = model.guest_name(tokens)
    if name is None or model.is_query(tokens):
        return binary, args
    reserved = monitor.reserve(args) if config.monitor else None
    directory = state_dir(config)
    state.ensure_dir(directory)
    source = FactsSource(binary, directory / ".cache")
    path = state.path_for(directory, name)
    with state.locked(path):
        old = state.load(path)
        launch = plan_exec(args, tokens, source, old, state.now(), path, reserved)
        incoming = any(t.name == "incoming" for t in tokens)
        if launch.plan is not None and not incoming and record(path, name, old,
                                                                launch.plan.state):
            link_pid_file(tokens, path)
            saved = True
        else:
            saved = False
        launch = open_monitor(launch)
        if reserved is not None and launch.monitor is None:
            os.close(reserved)
        if saved:
            replay.store(str(directory), argv, str(path), binary, launch.argv, launch.monitor)
    return binary, launch.argv


def open_monitor(launch: Launch) -> Launch:
    """Listen on the monitor's socket for QEMU; a launch goes on without the monitor
    (and says why) rather than fail for it."""
    if launch.monitor is None:
        return launch
    path, fd = launch.monitor
    why = monitor.listen(path, fd)
    if why is None:
        return launch
    print(f"qemuwrap: starting the guest without qemuwrap's monitor: {why}", file=sys.stderr)
    ours = monitor.words(fd)
    at = next(i for i in range(len(launch.argv)) if launch.argv[i:i + len(ours)] == ours)
    return replace(launch, argv=launch.argv[:at] + launch.argv[at + len(ours):], monitor=None)


def as_called(program: str, binary: str, args: list[str]) -> tuple[list[str], list[Token]]:
    """The command line as qemuwrap runs it, read into tokens: called as ``qemu-kvm`` or
    ``kvm`` in front of a plain ``qemu-system-*``, with ``-accel kvm`` unless it chooses."""
    tokens = expand_all(tokenise(args))
    if (os.path.basename(program) in KVM_NAMES
            and os.path.basename(binary).startswith("qemu-system-")
            and not model.is_query(tokens) and not chooses_accel(tokens)):
        args = [*args, "-accel", "kvm"]
        tokens.append(Token("accel", "kvm", ("-accel", "kvm")))
    return args, tokens


def plan_exec(args: list[str], tokens: list[Token], facts_of: FactsSource,
              old: state.GuestState | None, now: datetime, path: Path,
              monitor_fd: int | None) -> Launch:
    """Exactly what a launch of the guest whose state is ``path`` executes: the plan, the
    monitor on descriptor ``monitor_fd`` (None: none) and the ``-pidfile`` a
    ``-daemonize``d guest gets; refused, like the launch, when a local image is missing.
    ``qemuwrap-ctl plan`` shows the same."""
    launch = plan_launch(args, facts_of, old, now, tokens)
    if launch.plan is None:
        return launch
    preflight.check_images(tokens)
    socket = monitor.socket_path(str(path))
    added: list[str] = []
    if monitor_fd is not None:
        live = monitor.is_live(socket)
        if live and any(t.name == "incoming" for t in tokens):
            socket = monitor.incoming_path(socket)  # the source runs on this host
            live = monitor.is_live(socket)
        if not live:
            added = [*monitor.default_monitor(t.name for t in tokens),
                     *monitor.words(monitor_fd)]
    return replace(launch, argv=launch.argv + added + daemon_pid_file(tokens, path),
                   monitor=(socket, monitor_fd) if added and monitor_fd is not None else None)


def daemon_pid_file(tokens: list[Token], path: Path) -> list[str]:
    """``-pidfile NAME.toml.pid`` for a ``-daemonize``d guest without one of its own: QEMU's
    daemon holds that file's lock, so the guest is still seen running (``state.pid_file``).
    Not for a migration target (``-incoming``): its source may hold that lock still."""
    names = {t.name for t in tokens}
    if "daemonize" in names and not names & {"pidfile", "incoming"}:
        return ["-pidfile", str(state.pid_file(path))]
    return []


def link_pid_file(tokens: list[Token], path: Path) -> None:
    """``NAME.toml.pid`` fitted to this launch: for a ``-daemonize``d guest with a
    ``-pidfile`` of its own, a symlink to that file, whose lock QEMU's daemon holds;
    otherwise never a symlink, which QEMU writing our own pid file would follow."""
    link = state.pid_file(path)
    own = next((t.value for t in reversed(tokens) if t.name == "pidfile" and t.value), None)
    linked = own is not None and any(t.name == "daemonize" for t in tokens)
    try:
        if os.path.islink(link) or (linked and os.path.lexists(link)):
            os.unlink(link)
        if linked and own is not None:
            os.symlink(os.path.abspath(own), link)
    except OSError as exc:
        raise StateError(f"cannot link {link} to the guest's pid file: {exc.strerror}") from None


def record(path: Path, name: str, old: state.GuestState | None,
           new: state.GuestState) -> bool:
    """Save the new state and hand the run lock to QEMU; refuse to change a running guest.
    True when the state was saved (a running guest's unchanged state is not).

    A migration target (``-incoming``) never gets here: it takes the state as it is.
    """
    run_fd = state.claim_running(path)
    if run_fd is None:
        if old is not None and state.same_topology(old, new):
            return False
        pid = state.run_lock_holder(path)
        raise ConflictError(f"guest {name!r} is running (PID {pid}) and this command line "
                            "would change its devices; stop it first")
    state.save(path, new)
    os.set_inheritable(run_fd, True)
    return True


def run(argv: list[str]) -> NoReturn:
    binary, args = prepare(argv)
    exec_qemu(binary, args)
