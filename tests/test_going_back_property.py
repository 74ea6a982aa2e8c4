"""Going back to an earlier command line gives the guest exactly what it had, as a property.

For any sequence of command lines L1..Ln of one guest (devices added, removed and
reordered; NICs with and without MACs; USB devices, enough for QEMU's hub; the
user's bridges and enough devices for qemuwrap's own), launching an earlier Lk
again gives QEMU exactly the argv Lk gave it the last time: every device with
the same driver, bus, address, MAC, unit and port, and no device more.

The exceptions are the documented rules themselves (README, "How a device is
recognised"): once a bus has no never-used place left, a removed device's
place is handed to a new one; and an explicit address on the command line
(``-hda``, ``addr=``) wins over a device recorded there, which then keeps the
place it got instead. A line holding such a device is no longer compared.

At plan level for many sequences, and on the real QEMU for a handful.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qemuwrap import state
from qemuwrap.errors import QemuwrapError
from qemuwrap.launch import FactsSource, plan_launch
from qemuwrap.state import GuestState

import guest
from conftest import Workspace

pytestmark = pytest.mark.qemu
FACTS = FactsSource(guest.QEMU_PATH, None)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def parts(machine: str) -> list[list[str]]:
    """What lines are made of: each item is one device (or a block of devices)."""
    bridge = ("pci-bridge,id=ub{n},chassis_nr={n}" if machine == "pc"
              else "pcie-root-port,id=ub{n},chassis={n}")
    return [
        ["-drive", "file=d0.img,if=virtio"], ["-drive", "file=d1.img,if=virtio"],
        ["-drive", "file=d2.img,if=virtio"], ["-hda", "h.img"], ["-cdrom", "c.iso"],
        ["-drive", "file=i0.img"],
        ["-net", "nic,model=virtio", "-net", "user"], ["-nic", "user,model=e1000"],
        ["-nic", "user,model=rtl8139,mac=52:54:00:aa:00:01"], ["-device", "e1000,id=nic1"],
        ["-device", "virtio-net-pci"],
        ["-usb", "-usbdevice", "tablet"], ["-usb", "-device", "usb-kbd"],
        ["-usb", "-device", "usb-mouse,id=m1"], ["-usb", "-device", "usb-tablet,id=t2"],
        ["-device", bridge.format(n=1)], ["-device", bridge.format(n=2)],
        ["-device", "virtio-net-pci,bus=ub1,mac=52:54:00:bb:00:01"],
        ["-device", "virtio-blk-pci,bus=ub2,drive=u2", "-drive", "if=none,id=u2,file=u2.img"],
        [w for i in range(30) for w in ("-device", "virtio-rng-pci")],
        ["-device", "virtio-balloon-pci,addr=0x10"],
    ]


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    """A machine, and a sequence of launches drawn from a few lines (so lines come back)."""
    machine = draw(st.sampled_from(["pc", "q35"]))
    items = parts(machine)
    line = st.lists(st.sampled_from(range(len(items))), max_size=8, unique=True).map(
        lambda chosen: [w for i in chosen for w in items[i]])
    pool = draw(st.lists(line, min_size=2, max_size=4))
    order = draw(st.lists(st.sampled_from(range(len(pool))), min_size=1, max_size=9))
    order.append(order[0])  # and back to where it started
    return machine, [["-name", "prop", "-M", machine, *pool[i]] for i in order]


@dataclass
class Ledger:
    """What each line gave last time, and the lines that can no longer be compared."""

    last: dict[tuple[str, ...], object] = field(default_factory=dict)
    keys: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    compared: int = 0

    def launched(self, line: list[str], result: object, old: GuestState | None,
                 new: GuestState) -> None:
        """Record a launch's result (argv, or what the guest sees); compare it with the
        line's last one first."""
        key = tuple(line)
        if key in self.last:
            assert result == self.last[key], f"going back to {line} changed what it gets"
            self.compared += 1
        given_away = _given_away(old, new)
        for other, held in self.keys.items():
            if held & given_away:
                self.last.pop(other, None)
        self.last[key] = result
        self.keys[key] = {p.key for p in new.devices}


EXPLICIT = frozenset({"disk:h.img", "disk:c.iso", "virtio-balloon-pci#0"})
"""The devices of ``parts`` whose place the command line gives (IDE index, addr=)."""


def _given_away(old: GuestState | None, new: GuestState) -> set[str]:
    """Devices whose place went to another: to a new device (the bus was full), or to a
    device with an explicit address."""
    if old is None:
        return set()
    before = {p.key: p.spot for p in (*old.tombstones, *old.devices)}
    lost = set(before) - {p.key for p in (*new.devices, *new.tombstones)}
    explicit = {p.spot for p in new.devices if p.key in EXPLICIT}
    displaced = {p.key for p in new.devices
                 if p.key in before and p.spot != before[p.key] and before[p.key] in explicit}
    return lost | displaced


@settings(max_examples=int(os.environ.get("QEMUWRAP_PROPERTY_EXAMPLES", "1500")),
          deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=os.environ.get("CI") == "true")
@given(histories())
def test_going_back_gives_exactly_what_the_line_had(history: tuple[str, list[list[str]]]) -> None:
    _, lines = history
    ledger = Ledger()
    old: GuestState | None = None
    for step, line in enumerate(lines):
        try:
            launch = plan_launch(line, FACTS, old, T0 + timedelta(minutes=step))
        except QemuwrapError:
            continue  # refused: nothing was written, as for a launch QEMU refuses
        assert launch.plan is not None
        ledger.launched(line, launch.argv, old, launch.plan.state)
        written = state.parse(state.render(launch.plan.state), Path("prop.toml"))
        assert state.same_topology(written, launch.plan.state), "qemuwrap reads back its own"
        old = launch.plan.state


def runnable(line: list[str]) -> bool:
    """Lines the real QEMU starts: a device behind a user's bridge needs that bridge, and
    the explicit address is left out (a clash with a pin is refused, as it should be)."""
    text = " ".join(line)
    return "addr=0x10" not in text and all(
        f"bus=ub{n}" not in text or f"id=ub{n}," in text for n in (1, 2))


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(histories())
def test_going_back_on_the_real_qemu(history: tuple[str, list[list[str]]]) -> None:
    """What the guest sees (query-pci, info qtree) is the same each time a line comes back."""
    _, lines = history
    ledger = Ledger()
    with tempfile.TemporaryDirectory(prefix="qw-prop-") as tmp:
        ws = Workspace(Path(tmp))
        for name in ("d0", "d1", "d2", "h", "i0", "u2"):
            (ws.root / f"{name}.img").write_bytes(bytes(65536))
        (ws.root / "c.iso").write_bytes(bytes(65536))
        path = ws.state / "prop.toml"
        for line in (line for line in lines if runnable(line)):
            old = state.load(path) if path.exists() else None
            view = ws.wrapped(line).guest_view()
            new = state.load(path)
            assert new is not None
            ledger.launched(line, view, old, new)
