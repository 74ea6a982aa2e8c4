"""``qemuwrap-ctl plan``: what a launch would run and change, changing nothing."""

from __future__ import annotations

import argparse
import shlex

from qemuwrap import model, monitor, state
from qemuwrap.config import load_config
from qemuwrap.ctl.common import (
    QEMU_ARGS,
    Add,
    pin_json,
    print_json,
    qemu_binary,
    state_directory,
)
from qemuwrap.launch import FactsSource, Launch, as_called, plan_exec, plan_launch
from qemuwrap.state import GuestState

__all__ = ["cmd_plan"]


def _planned(args: argparse.Namespace, binary: str) -> tuple[Launch, GuestState | None]:
    """What the launch would run, and the state it starts from (None: no state yet)."""
    directory = state_directory()
    qemu_args, tokens = as_called(args.called_as, binary, args.qemu_args)
    name = model.guest_name(tokens)
    source = FactsSource(binary, directory / ".cache")
    if name is None or model.is_query(tokens):
        return plan_launch(qemu_args, source, None, state.now(), tokens), None
    path = state.path_for(directory, name)
    old = state.load(path)
    fd = monitor.free_fd(qemu_args) if load_config().monitor else None
    return plan_exec(qemu_args, tokens, source, old, state.now(), path, fd), old


def cmd_plan(args: argparse.Namespace) -> int:
    binary = qemu_binary()
    launch, old = _planned(args, binary)
    plan = launch.plan
    new = [p for p in plan.state.devices if p.key in plan.new_keys] if plan else []
    old_keys = {p.key for p in old.devices} if old else set()
    gone = [p for p in plan.state.tombstones if p.key in old_keys] if plan else []
    put_back = [p for p in plan.bridges if p.options is not None] if plan else []
    machine = {"old": old.machine if old else None, "new": plan.machine if plan else None}
    if args.json:
        print_json({"argv": [binary, *launch.argv], "guest": launch.guest,
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


def register(add: Add) -> None:
    """The parsers of this module's commands."""
    p = add("plan", cmd_plan, "show what qemuwrap would run, changing nothing",
            "Show the argv qemuwrap would exec for these QEMU arguments (one shell-quoted line) "
            "and what would change in the guest's state. Starts nothing, writes nothing.",
            f"%(prog)s [-h] [--json] [--as PROGRAM] {QEMU_ARGS}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--as", dest="called_as", metavar="PROGRAM", default="qemuwrap",
                   help="the name qemuwrap is called by (qemu-kvm and kvm add -accel kvm)")
